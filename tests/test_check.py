"""The quality gates: what the project builds passes them, and copies broken on purpose fail."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from digest import caniemail
from digest.check import Documents, check_issue
from digest.models import Image, Issue, Post
from digest.parse import parse_feed
from digest.pipeline import anonymous
from digest.render import render_issue
from tests.factories import issue_of

CORPUS = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "corpus"
    / "feedparser"
    / "tests"
    / "wellformed"
    / "sanitize"
)
SNAPSHOT = Path(__file__).parent / "golden" / "caniemail-unsupported.json"
NOW = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)


def _issue(
    posts: list[Post], locale: str = "fr", subject: str = "Le Digest des Médias — semaine 47 de 2026"
) -> Issue:
    return issue_of(
        posts,
        locale=locale,
        subject=subject,
        preheader="Cinq articles, à commencer par « Podcasts : la forme courte ! »",
        first_day="2026-11-16",
        last_day="2026-11-22",
        number=47,
    )


def _documents(issue: Issue) -> Documents:
    html, text = anonymous(render_issue(issue), issue)
    return Documents(issue, html, text)


def _failures(documents: Documents) -> dict[str, str]:
    return {finding.rule: finding.message for finding in check_issue(documents) if not finding.ok}


@pytest.fixture
def tricky_posts(make_post: Callable[..., Post]) -> list[Post]:
    """Accents, « guillemets », : ; ! ?, an emoji, an English post, a very long title and URL."""
    long_url = "https://blog.example.org/" + "/".join(["un-chemin-tres-long"] * 12) + "?page=2&ordre=recent"
    return [
        make_post(
            title="Podcasts : la forme courte reprend la main !",
            language="fr",
            author="Ondes Courtes",
            summary_html="<p>Pourquoi ? Parce que « l’attention » se mérite ; et ça se mesure : <strong>10 minutes</strong>.</p>",
            summary_text="Pourquoi ? Parce que « l’attention » se mérite ; et ça se mesure : 10 minutes.",
            shares=231,
            comments=14,
        ),
        make_post(
            title="Dark mode is a negotiation: what I learned 🌙",
            language="en",
            source="Field Notes on Email",
            summary_html="<p>Logos vanish; colours invert! Here is what works?</p>",
            summary_text="Logos vanish; colours invert! Here is what works?",
        ),
        make_post(
            title="Un titre d’une longueur déraisonnable, écrit par quelqu’un qui ne savait vraiment pas s’arrêter "
            "et qui a tenu à tout dire dans le titre plutôt que dans l’article lui-même",
            url=long_url,
            language="fr",
            image=None,
        ),
        make_post(title="Sans résumé ni image", summary_html="", summary_text="", image=None, language="fr"),
        make_post(
            title="Élégance & sobriété : l’écriture inclusive·e",
            language="fr",
            image=Image(url="https://img.example.org/hero.png", alt="", width=600),
        ),
    ]


@pytest.mark.parametrize("locale", ["fr", "en"])
def test_golden_renders_in_french_and_english(
    tricky_posts: list[Post], golden: Callable[[str, str], None], locale: str
) -> None:
    documents = _documents(_issue(tricky_posts, locale))
    golden(f"render/{locale}.email.html", documents.html)
    golden(f"render/{locale}.email.txt", documents.text)
    assert _failures(documents) == {}


def test_french_punctuation_gets_no_break_spaces_and_english_posts_keep_theirs(
    tricky_posts: list[Post],
) -> None:
    documents = _documents(_issue(tricky_posts, "fr"))
    assert "Podcasts\u00a0: la forme courte reprend la main\u00a0!" in documents.text
    assert "«\u00a0l’attention\u00a0»" in documents.html
    assert "Dark mode is a negotiation: what I learned 🌙" in documents.text  # English: untouched
    assert 'lang="en"' in documents.html
    assert '<html lang="fr"' in documents.html


def test_every_long_line_in_the_text_part_is_an_unbreakable_url(tricky_posts: list[Post]) -> None:
    text = _documents(_issue(tricky_posts)).text
    assert all(len(line) <= 78 or line.strip().startswith("https://") for line in text.splitlines())


def _broken(documents: Documents, html: str) -> Documents:
    return Documents(documents.issue, html, documents.text)


@pytest.mark.parametrize(
    ("breakage", "rule"),
    [
        (lambda html: html.replace(' alt="', ' data-alt="', 1), "H4"),
        (lambda html: html.replace("</body>", "<script>alert(1)</script></body>"), "H5"),
        (lambda html: html.replace("</body>", "<p>" + "x" * 120_000 + "</p></body>"), "H7"),
        (lambda html: html.replace('<table role="presentation"', "<table", 2), "H3"),
        (lambda html: html.replace('<html lang="fr"', "<html", 1), "H1"),
        (lambda html: html.replace("<h2", "<h4", 1).replace("</h2>", "</h4>", 1), "H10"),
        (lambda html: html.replace("<![endif]", "", 1), "H8"),
        (lambda html: html.replace('href="https://', 'href="/', 1), "links"),
        (
            lambda html: re.sub(r'src="https://[^"]+"', 'src="data:image/png;base64,AAAA"', html, count=1),
            "images",
        ),
        (
            lambda html: html.replace(
                "</body>", '<p><a href="https://x.example/">cliquez ici</a></p></body>'
            ),
            "H12",
        ),
        (lambda html: html.replace("</body>", '<p style="color:#bbbbbb">pâle</p></body>'), "H11"),
        (lambda html: html.replace("</body>", '<p style="font-size:11px">minuscule</p></body>'), "H11"),
        (lambda html: html.replace("</body>", '<div style="display:flex">x</div></body>'), "H5"),
        (lambda html: html.replace('content="light dark"', 'content="light"', 1), "H14"),
        (lambda html: html.replace("</body>", "<svg></svg></body>"), "clients"),
    ],
)
def test_check_fails_copies_broken_on_purpose(
    tricky_posts: list[Post], breakage: Callable[[str], str], rule: str
) -> None:
    documents = _documents(_issue(tricky_posts))
    assert rule in _failures(_broken(documents, breakage(documents.html)))


def test_check_fails_a_text_part_missing_a_post(tricky_posts: list[Post]) -> None:
    documents = _documents(_issue(tricky_posts))
    text = documents.text.replace(tricky_posts[0].url, "")
    assert "M8" in _failures(Documents(documents.issue, documents.html, text))


def test_client_support_gaps_never_grow(settings_issue_html: str) -> None:
    """caniemail: features with fallbacks may be unsupported somewhere; the list must not grow."""
    current = sorted(
        f"{entry.feature}: {client}"
        for entry in caniemail.support(caniemail.features_used(settings_issue_html))
        for client in entry.unsupported
    )
    allowed = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    assert sorted(set(current) - set(allowed)) == []


@pytest.fixture
def settings_issue_html() -> str:
    return (Path(__file__).parent / "golden" / "issue" / "email.html").read_text(encoding="utf-8")


def _with_links(feed: bytes, name: str) -> bytes:
    """Most corpus entries have no link, and a post without one is skipped: give each a link."""
    feed = re.sub(
        rb"<item([ >])",
        lambda m: (
            b"<item" + m.group(1) + f"<link>https://corpus.example/{name}</link>".encode()
            if m.group(1) == b">"
            else m.group(0)
        ),
        feed,
    )
    return re.sub(
        rb"<entry>", f'<entry><link rel="alternate" href="https://corpus.example/{name}"/>'.encode(), feed
    )


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"feedparser's corpus is not at {CORPUS}")
def test_no_active_content_from_the_sanitize_corpus_reaches_an_email() -> None:
    posts: list[Post] = []
    for path in sorted(CORPUS.glob("*.xml")):
        try:
            posts.extend(
                parse_feed(_with_links(path.read_bytes(), path.stem), f"corpus/{path.name}", now=NOW).posts
            )
        except Exception as exc:  # a FeedError is fine: that feed is reported, nothing rendered
            assert type(exc).__name__ == "FeedError", f"{path.name}: {exc!r}"
    assert len(posts) > 500
    banned = re.compile(
        r"<script|<iframe|<object|<embed|<form|<applet|<meta[^>]+refresh|javascript:|vbscript:|"
        r"\son[a-z]+\s*=|<link[^>]+stylesheet|expression\(",
        re.I,
    )
    for start in range(0, len(posts), 60):
        issue = _issue(posts[start : start + 60])
        rendered = render_issue(issue)
        for name, document in (("email.html", rendered.html), ("web.html", rendered.web)):
            found = banned.search(document)
            assert found is None, (
                f"{name}, posts {start}–{start + 60}: {document[max(0, found.start() - 80) : found.end() + 80]}"
            )


@pytest.mark.skipif(
    shutil.which("spamassassin") is None, reason="spamassassin is not installed (.ci/run installs it)"
)
def test_spamassassin_finds_nothing_to_object_to(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from digest.cli import app

    env = {"DIGEST_NOW": "2026-11-26T06:00:00+00:00", "NO_COLOR": "1", "DIGEST_UNSUBSCRIBE_SECRET": "s" * 32}
    assert CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "demo")], env=env).exit_code == 0
    message = sorted((tmp_path / "demo" / "messages").glob("*.eml"))[0].read_bytes()
    report = subprocess.run(
        ["spamassassin", "-L", "-t"], input=message, capture_output=True, timeout=120, check=True
    ).stdout.decode("utf-8", "replace")
    score = float(re.search(r"Content analysis details:\s+\((-?[\d.]+) points", report).group(1))  # type: ignore[union-attr]
    assert score < 2, report
    for rule in ("MIME_HTML_ONLY", "MPART_ALT_DIFF", "HTML_FONT_LOW_CONTRAST", "MISSING_MID", "MISSING_DATE"):
        assert rule not in report
