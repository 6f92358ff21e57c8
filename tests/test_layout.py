"""Layout in real headless Chromium: no horizontal overflow on phones, with or without <style>."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from digest.preview import find_chromium, screenshots, scroll_widths, without_styles

GOLDEN = Path(__file__).parent / "golden"
ARTEFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
CHROMIUM = find_chromium()
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (.ci/run installs Debian's chromium)"
)
WIDTHS = (320, 375, 600)
EMAILS = ["issue/email.html", "render/fr.email.html", "render/en.email.html"]


@needs_chromium
@pytest.mark.parametrize("name", EMAILS)
def test_no_horizontal_overflow_at_phone_and_tablet_widths(name: str) -> None:
    document = (GOLDEN / name).read_text(encoding="utf-8")
    assert CHROMIUM
    as_sent = scroll_widths(document, WIDTHS, CHROMIUM)
    stripped = scroll_widths(without_styles(document), WIDTHS, CHROMIUM)  # Gmail without <style>
    assert as_sent == {width: width for width in WIDTHS}
    assert stripped == {width: width for width in WIDTHS}


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
