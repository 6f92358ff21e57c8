"""Issue 13: the email holds up under any post, in text browsers, for every reader."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import lxml.html
import pytest

from digest.check import Documents, check_issue
from digest.deliver import greeting
from digest.findings import Measure
from digest.models import Image, Post, Subscriber
from digest.overflow import measured
from digest.pipeline import anonymous
from digest.postview import picture
from digest.render import render_issue
from tests.factories import issue_of
from tests.hostile import LONG_URL, hostile_issue

GOLDEN = Path(__file__).parent / "golden"


def _h9(html: str, text: str = "") -> list[tuple[bool, str, bool]]:
    findings = check_issue(Documents(hostile_issue(), html, text))
    return [(f.ok, f.message, f.warning) for f in findings if f.rule == "H9"]


def test_the_static_layout_pass_accepts_hostile_posts_and_says_the_browser_did_not_run() -> None:
    issue = hostile_issue()
    html, text = anonymous(render_issue(issue), issue)
    (ok, message, _), (_, note, warning) = _h9(html, text)
    assert ok, message
    assert warning and "browser layout check did not run" in note


def test_the_static_layout_pass_flags_what_cannot_wrap_and_names_the_post() -> None:
    issue = hostile_issue()
    html, _ = anonymous(render_issue(issue), issue)
    broken = re.sub(r"overflow-wrap:anywhere; word-break:break-word|white-space:pre-wrap", "", html)
    broken = broken.replace('max-width:536px">', 'max-width:536px; width:900px">', 1)
    ok, message, _ = _h9(broken)[0]
    assert not ok
    assert "cannot wrap (https://docs.example.n" in message and "«Links as text»" in message


def test_the_static_layout_pass_flags_pre_and_fixed_widths() -> None:
    page = (
        '<html><body><div role="article"><table role="presentation"><tr><td><h2>Du code</h2>'
        '<pre>{code}</pre><img src="https://i.example/a.jpg" width="900" alt=""></td></tr></table></div></body></html>'
    ).format(code="x = 1; " * 20)
    ok, message, _ = _h9(page)[0]
    assert not ok and "<pre> keeps a 140-character line" in message and "<img> fixed at 900 px" in message
    assert message.count("«Du code»") == 2


def test_a_browser_measure_decides_when_there_is_one() -> None:
    fine = [Measure(320, True, 320), Measure(320, False, 320)]
    assert measured(fine, {}).ok
    wide = [Measure(375, False, 843, ("https://hostile.example.org/3",))]
    finding = measured(wide, {"https://hostile.example.org/3": "Du code"})
    assert (
        not finding.ok
        and finding.message == "the email overflows: 843 px wide at 375 px without <style>, in «Du code»"
    )


@pytest.mark.parametrize(
    ("natural", "column", "shown"),
    [((300, 200), 536, (300, 200, False)), ((4000, 3000), 536, (536, 402, True)),
     ((550, None), 536, (536, None, False)), ((None, None), 536, (536, None, True)),
     ((4000, 3000), 600, (600, 450, True)), ((320, 240), 600, (320, 240, False))],
)  # fmt: skip
def test_pictures_are_never_upscaled_and_keep_their_proportions(
    natural: tuple[int | None, int | None], column: int, shown: tuple[int, int | None, bool]
) -> None:
    seen = picture(Image("https://img.example.org/a.jpg", "", *natural), column)
    assert seen and (seen.width, seen.height, seen.fill) == shown


def test_image_links_are_hidden_from_assistive_technology_and_alt_is_empty() -> None:
    issue = hostile_issue()
    tree = lxml.html.document_fromstring(render_issue(issue).html)
    for image in tree.iter("img"):
        link = image.getparent()
        assert image.get("alt") == "" and link.tag == "a"
        assert link.get("aria-hidden") == "true" and link.get("tabindex") == "-1"
    exposed = [a.get("href") for a in tree.iter("a") if a.get("aria-hidden") != "true"]
    # per post: the title and "Lire « titre » sur Source", nothing more
    assert exposed.count("https://hostile.example.org/1") == 2


def test_the_lead_story_comes_first_with_its_picture_across_the_email() -> None:
    html = render_issue(hostile_issue()).html
    kicker = html.index("À la une")
    assert kicker < html.index("huge.jpg") < html.index("Un guide") < html.index("Links as text")
    assert re.search(
        r'<img class="hero" src="https://img.example.org/huge.jpg" alt="" width="600" height="450"', html
    )


def test_every_href_of_the_html_part_is_in_the_text_part() -> None:
    for issue in (hostile_issue(), hostile_issue("en")):
        html, text = anonymous(render_issue(issue), issue)
        hrefs = {a.get("href") for a in lxml.html.document_fromstring(html).iter("a")}
        assert LONG_URL in hrefs and "https://e.example/a" in hrefs
        assert {href for href in hrefs if href not in text} == set()
        assert "this page [1]" in " ".join(text.split()) and "   [1] https://e.example/a" in text
        assert all(len(line) <= 78 or len(line.split()) == 1 for line in text.splitlines())


def test_the_golden_text_part_holds_every_link_of_the_golden_html() -> None:
    html = (GOLDEN / "issue" / "email.html").read_text(encoding="utf-8")
    text = (GOLDEN / "issue" / "email.txt").read_text(encoding="utf-8")
    hrefs = {a.get("href") for a in lxml.html.document_fromstring(html).iter("a")}
    assert len(hrefs) > 10 and {href for href in hrefs if href not in text} == set()


def test_twelve_posts_stay_under_60_kb(make_post: Callable[..., Post]) -> None:
    summary = (
        "<p>"
        + ("Un paragraphe de résumé assez long, avec <a href='https://x.example/lien'>un lien</a>. " * 8)
        + "</p>"
    )
    posts = [
        make_post(summary_html=summary, title="Un titre d’article de longueur ordinaire " * 2)
        for _ in range(12)
    ]
    issue = issue_of(posts)
    html, _ = anonymous(render_issue(issue), issue)
    assert len(html.encode("utf-8")) < 60 * 1024


def test_hidden_text_counts_neither_in_size_nor_in_contrast() -> None:
    html = (GOLDEN / "issue" / "email.html").read_text(encoding="utf-8")
    text = (GOLDEN / "issue" / "email.txt").read_text(encoding="utf-8")
    tiny = html.replace(
        '<div style="display: none;',
        '<div style="font-size:1px; color:#ffffff; line-height:1px; display:none;',
        1,
    )
    findings = check_issue(Documents(hostile_issue(), tiny, text))
    assert all(f.ok for f in findings if f.rule in ("H11", "H13"))


def _dump(program: list[str], html: str, tmp_path: Path) -> str:
    page = tmp_path / "email.html"
    page.write_text(html, encoding="utf-8")
    return subprocess.run(
        [*program, str(page)], capture_output=True, text=True, check=True, timeout=30
    ).stdout


@pytest.mark.parametrize(
    "program",
    [
        ["w3m", "-dump", "-T", "text/html", "-O", "UTF-8"],
        ["lynx", "-dump", "-force_html", "-display_charset=utf-8"],
    ],
    ids=["w3m", "lynx"],
)
def test_text_browsers_show_no_preheader_padding(program: list[str], tmp_path: Path) -> None:
    if shutil.which(program[0]) is None:
        pytest.skip(f"{program[0]} is not installed (.ci/run installs it)")
    dump = _dump(program, (GOLDEN / "issue" / "email.html").read_text(encoding="utf-8"), tmp_path)
    head = dump.split("Voir ce numéro", 1)[0]
    assert not re.search(r"[\u034f\u200b\u200c\u200d\u2007\ufeff\u00ad]", dump)
    assert not re.search(r"^[\s\u00a0]{8,}$", head, re.M)  # no line of spacer whitespace
    assert len(head.strip().splitlines()) <= 3  # the preheader sentence, at most


def test_the_greeting_uses_a_first_name_column_and_understands_last_comma_first() -> None:
    assert greeting("fr", Subscriber("a@example.org", "Lefèvre, Jérôme")) == "Bonjour Jérôme,"
    assert (
        greeting("fr", Subscriber("a@example.org", "Jérôme Lefèvre", fields={"first_name": "Jé"}))
        == "Bonjour Jé,"
    )
    assert greeting("en", Subscriber("a@example.org", "Ada Lovelace")) == "Hello Ada Lovelace,"
    assert greeting("en", Subscriber("a@example.org", "")) == "Hello,"
    assert greeting("fr", Subscriber("a@example.org", " , ")) == "Bonjour,"


def test_no_empty_space_after_the_greeting_and_a_dark_divider() -> None:
    html = render_issue(replace(hostile_issue(), intro="")).html
    assert re.search(r'<td class="card opening" style="[^"]*padding-bottom:0"', html)
    assert re.search(r'<p style="margin:0 0 16px;[^"]*; margin-bottom:0">%%\w+:greeting%%</p>', html)
    dark = html[html.index("prefers-color-scheme: dark") :]
    assert re.search(r"\.rule \{\s*border-top-color: #45413b !important", dark)
