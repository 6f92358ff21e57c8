from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from hypothesis import given
from hypothesis import strategies as st

from digest.sanitize import (
    _TRACKING,
    canonical_url,
    one_line,
    plain_text,
    safe_html,
    safe_html_text,
    shorten,
    truncate_html,
)


def test_safe_html_keeps_the_email_safe_subset() -> None:
    html = '<p>Un <em>vrai</em> <strong>texte</strong> avec <a href="https://x.example/a">un lien</a>.</p><ul><li>un</li></ul>'
    cleaned = safe_html(html)
    assert "<em>vrai</em>" in cleaned
    assert '<a href="https://x.example/a" rel="noopener">un lien</a>' in cleaned
    assert "<li>un</li>" in cleaned


def test_safe_html_drops_active_content_and_its_text() -> None:
    cleaned = safe_html(
        '<script>alert("x")</script><svg><text>svg</text></svg><p style="position:fixed">ok</p>'
    )
    assert cleaned == "<p>ok</p>"


def test_safe_html_removes_links_that_are_not_http() -> None:
    cleaned = safe_html(
        '<a href="javascript:alert(1)">a</a><a href="data:text/html,x">b</a><a href="vbscript:x">c</a>'
    )
    assert "href" not in cleaned


def test_safe_html_drops_images_from_summaries() -> None:
    # A remote image in a summary is a tracking pixel in every reader's inbox; the post's own
    # picture is chosen, sized and given its alt text apart (Post.image).
    cleaned = safe_html(
        '<p>Texte <img src="https://tracker.example/pixel.gif?u=1" width="1" height="1" alt="">'
        '<a href="https://x.example/a"><img src="https://x.example/a.jpg" alt="photo"></a></p>'
    )
    assert cleaned == "<p>Texte </p>"  # and the link left empty goes too


def test_plain_text_keeps_paragraphs() -> None:
    assert plain_text("<p>Un&nbsp;deux</p><p>trois <b>quatre</b></p>") == "Un deux\n\ntrois quatre"


def test_one_line_removes_control_characters() -> None:
    assert one_line("Titre\r\nBcc: x@example.org\x00") == "Titre Bcc: x@example.org"


def test_shorten_cuts_at_a_word() -> None:
    assert shorten("un deux trois quatre", 12) == "un deux…"


def test_truncate_html_closes_open_tags() -> None:
    html = "<p>Un <em>long texte qui continue</em> encore et encore</p><p>Second</p>"
    cut = truncate_html(html, 15)
    assert cut.endswith("…</em></p>")
    assert "Second" not in cut


def test_canonical_url_removes_tracking_and_fragment() -> None:
    url = "HTTPS://Blog.Example.org/a/b?utm_campaign=x&page=2&mc_cid=1&mc_eid=2#comments"
    assert canonical_url(url) == "https://blog.example.org/a/b?page=2"


@given(st.text())
def test_safe_html_never_lets_a_script_through(fragment: str) -> None:
    cleaned = safe_html(fragment + "<script>x</script>").lower()
    assert "<script" not in cleaned


@given(st.text(min_size=0, max_size=200), st.integers(min_value=1, max_value=100))
def test_truncated_text_is_never_longer_than_asked(text: str, limit: int) -> None:
    result = shorten(text, limit)
    assert len(result) <= limit + 1


@given(st.text())
def test_one_line_is_one_line_with_or_without_markup(text: str) -> None:
    line = one_line(text)
    assert "\n" not in line and "\r" not in line and line == line.strip()
    assert one_line(line.replace("&", "&amp;").replace("<", "&lt;")) == line


def test_truncate_html_leaves_short_fragments_untouched() -> None:
    fragment = '<p>Court <a href="https://x.example/">lien</a></p>'
    assert truncate_html(fragment, 400) is fragment


_PIECES = [
    "a",
    "b",
    " ",
    "&",
    ";",
    "<",
    ">",
    "/",
    '"',
    "'",
    "=",
    "\n",
    "<p>",
    "</p>",
    "<br>",
    "<li>",
    '<a href="',
    "&amp;",
]


@given(st.lists(st.sampled_from(_PIECES)).map("".join))
def test_the_fast_text_of_safe_html_is_the_parsers_text(fragment: str) -> None:
    safe = safe_html(fragment, "https://x.example/")
    assert safe_html_text(safe) == plain_text(safe)
    assert safe_html_text(truncate_html(safe, 20)) == plain_text(truncate_html(safe, 20))


_URL_PIECES = [
    "https://",
    "http://",
    "HTTP://",
    "//",
    "/",
    "./",
    "../",
    "a",
    "B.",
    "?",
    "&",
    "=",
    "#",
    ";",
    ":",
]


@given(
    st.lists(st.sampled_from([*_URL_PIECES, "utm_source", "mailto:", "%2e"])).map("".join),
    st.sampled_from(["", "https://Base.example/dir/page", "http://b.example/", "relative/base"]),
)
def test_canonical_url_shortcuts_change_nothing(url: str, base: str) -> None:
    """canonical_url skips urljoin when it cannot change anything: the result is the long way's."""
    parts = urlsplit(urljoin(base, url.strip()) if base else url.strip())
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING.match(k)]
    expected = urlunsplit(
        (parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", urlencode(query), "")
    )
    assert canonical_url(url, base) == expected
