"""Layout in real headless Chromium: no horizontal overflow on phones, with or without <style>."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from digest.check import Documents, check_issue
from digest.layout import WIDTHS, measure
from digest.pipeline import anonymous
from digest.preview import find_chromium, screenshots, scroll_widths
from digest.render import render_issue
from tests.hostile import hostile_issue

GOLDEN = Path(__file__).parent / "golden"
ARTEFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
CHROMIUM = find_chromium()
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (.ci/run installs Debian's chromium)"
)
EMAILS = ["issue/email.html", "render/fr.email.html", "render/en.email.html"]
EVERY_WIDTH = {(width, styled): width for width in WIDTHS for styled in (True, False)}


def _widths(document: str) -> dict[tuple[int, bool], int]:
    assert CHROMIUM
    return {(m.width, m.styled): m.scroll_width for m in measure(document, CHROMIUM)}


@needs_chromium
@pytest.mark.parametrize("name", EMAILS)
def test_no_horizontal_overflow_at_phone_and_tablet_widths(name: str) -> None:
    document = (GOLDEN / name).read_text(encoding="utf-8")
    assert _widths(document) == EVERY_WIDTH  # as sent, and without <style> (Gmail's mobile webmail)


@needs_chromium
@pytest.mark.parametrize("locale", ["fr", "en"])
def test_posts_with_long_urls_code_wide_tables_and_big_images_do_not_overflow(locale: str) -> None:
    issue = hostile_issue(locale)
    html, _ = anonymous(render_issue(issue), issue)
    assert _widths(html) == EVERY_WIDTH


@needs_chromium
def test_check_fails_on_an_overflowing_email_and_names_the_post() -> None:
    issue = hostile_issue()
    html, text = anonymous(render_issue(issue), issue)
    broken = re.sub(r"overflow-wrap:anywhere; word-break:break-word|white-space:pre-wrap", "", html)
    assert CHROMIUM
    layout = measure(broken, CHROMIUM)
    assert all(m.scroll_width > m.width for m in layout)
    findings = [f for f in check_issue(Documents(issue, broken, text, layout=layout)) if f.rule == "H9"]
    assert len(findings) == 1 and not findings[0].ok
    assert "at 320 px without <style>" in findings[0].message
    assert "«Du code»" in findings[0].message and "«Links as text»" in findings[0].message


@needs_chromium
def test_overflow_is_detected() -> None:
    assert CHROMIUM
    wide = '<!DOCTYPE html><html><body><img src="https://x.example/i.jpg" width="536" alt=""></body></html>'
    assert scroll_widths(wide, (320,), CHROMIUM)[320] > 320


@needs_chromium
def test_screenshots_of_phone_desktop_and_dark_are_kept_as_artefacts(tmp_path: Path) -> None:
    issue = tmp_path / "2026-W47"
    issue.mkdir()
    shutil.copyfile(GOLDEN / "issue" / "email.html", issue / "email.html")
    written = screenshots(issue, ARTEFACTS / "screenshots")
    assert {path.name for path in written} == {
        "phone.png",
        "phone-dark.png",
        "desktop.png",
        "desktop-dark.png",
    }
    for path in written:
        assert path.read_bytes().startswith(b"\x89PNG") and path.stat().st_size > 10_000
