from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from digest.errors import FeedError
from digest.parse import parse_feed
from digest.store import post_to_dict

NOW = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)


def _parse(text: str, url: str = "https://blog.example.org/feed.xml"):  # type: ignore[no-untyped-def]
    return parse_feed(text.encode("utf-8"), url, now=NOW)


def _rss(items: str, extra_ns: str = "") -> str:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0" {extra_ns}><channel><title>Blog</title>'
        f"<link>https://blog.example.org/</link><language>fr</language>{items}</channel></rss>"
    )


@pytest.mark.parametrize(
    "name", ["magazine-medias.rss.xml", "field-notes.atom.xml", "carnet-du-libre.atom.xml"]
)
def test_sample_feed_to_posts_matches_golden(
    samples: Path, golden: Callable[[str, str], None], name: str
) -> None:
    parsed = parse_feed((samples / "feeds" / name).read_bytes(), f"feeds/{name}", now=NOW)
    assert parsed.warnings == ()
    posts = [post_to_dict(post) for post in parsed.posts]
    golden(f"posts/{name}.json", json.dumps(posts, ensure_ascii=False, indent=2, sort_keys=True) + "\n")


def test_rss_entry_is_normalised(samples: Path) -> None:
    parsed = parse_feed((samples / "feeds" / "magazine-medias.rss.xml").read_bytes(), "feeds/m.xml", now=NOW)
    assert parsed.title == "Magazine Médias"
    assert parsed.language == "fr"
    first = parsed.posts[0]
    assert first.published == datetime(2026, 11, 22, 22, 45, tzinfo=UTC)  # 23:45 +0100
    assert first.author == "Ondes Courtes"
    assert "La Une" in first.categories
    assert first.comments == 14
    assert first.shares == 231
    assert first.image is not None and first.image.url.endswith(".jpg") and first.image.width == 600
    assert first.summary_html.startswith("<p>")
    assert "<strong>" in first.summary_html


def test_tracking_parameters_are_removed_from_links() -> None:
    parsed = _parse(
        _rss(
            "<item><title>A</title><link>https://Blog.Example.org/a?id=3&amp;utm_source=rss&amp;fbclid=x&amp;gclid=y#top</link></item>"
        )
    )
    assert parsed.posts[0].url == "https://blog.example.org/a?id=3"


def test_relative_links_are_resolved_against_the_feed() -> None:
    atom = (
        '<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://carnet.example.org/">'
        "<title>C</title><id>urn:x</id><updated>2026-11-20T10:00:00Z</updated>"
        '<entry><title>R</title><id>urn:r</id><link href="/2026/11/post"/><updated>2026-11-20T10:00:00Z</updated>'
        '<summary type="html">&lt;a href="/other"&gt;x&lt;/a&gt;</summary></entry></feed>'
    )
    post = _parse(atom).posts[0]
    assert post.url == "https://carnet.example.org/2026/11/post"
    assert 'href="https://carnet.example.org/other"' in post.summary_html


def test_title_has_no_markup_entities_or_line_breaks() -> None:
    parsed = _parse(
        _rss(
            "<item><title>Un &lt;b&gt;titre&lt;/b&gt;\r\nsur &amp;amp; deux lignes</title><link>https://b.example/1</link></item>"
        )
    )
    assert parsed.posts[0].title == "Un titre sur & deux lignes"


def test_undated_entry_gets_the_first_seen_time() -> None:
    parsed = _parse(_rss("<item><title>A</title><link>https://b.example/1</link></item>"))
    assert parsed.posts[0].published == NOW


def test_hostile_summary_is_sanitised() -> None:
    hostile = (
        '<p onclick="steal()">Hi<script>alert(1)</script><iframe src="https://evil.example"></iframe>'
        '<a href="javascript:alert(1)">x</a><img src="x" onerror="alert(1)"><form><input></form>'
        '<style>body{display:none}</style><meta http-equiv="refresh" content="0;url=https://evil.example"></p>'
    )
    parsed = _parse(
        _rss(
            f"<item><title>A</title><link>https://b.example/1</link><description><![CDATA[{hostile}]]></description></item>"
        )
    )
    html = parsed.posts[0].summary_html.lower()
    for banned in (
        "script",
        "onclick",
        "iframe",
        "javascript:",
        "onerror",
        "<form",
        "<input",
        "<style",
        "refresh",
        "alert",
    ):
        assert banned not in html


def test_same_guid_in_two_feeds_is_two_posts_unless_it_is_a_uri() -> None:
    item = "<item><title>A</title><guid>42</guid><link>https://b.example/{n}</link></item>"
    one = _parse(_rss(item.format(n=1)), "https://one.example/feed").posts[0]
    two = _parse(_rss(item.format(n=2)), "https://two.example/feed").posts[0]
    assert one.id != two.id
    uri = "<item><title>A</title><guid>https://b.example/p</guid><link>https://b.example/{n}</link></item>"
    assert (
        _parse(_rss(uri.format(n=1)), "https://one.example/f").posts[0].id
        == _parse(_rss(uri.format(n=2)), "https://two.example/f").posts[0].id
    )


def test_entry_language_overrides_the_feed_language(samples: Path) -> None:
    parsed = parse_feed((samples / "feeds" / "carnet-du-libre.atom.xml").read_bytes(), "feeds/c.xml", now=NOW)
    languages = {post.language for post in parsed.posts}
    assert languages == {"fr", "en"}


def test_long_summary_is_truncated_with_tags_closed(samples: Path) -> None:
    parsed = parse_feed((samples / "feeds" / "magazine-medias.rss.xml").read_bytes(), "feeds/m.xml", now=NOW)
    longest = max(parsed.posts, key=lambda post: len(post.summary_text))
    assert longest.summary_text.endswith("…")
    assert len(longest.summary_text) <= 430
    assert longest.summary_html.count("<p>") == longest.summary_html.count("</p>")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty"),
        (
            b"<!DOCTYPE html><html><head><title>Blog</title></head><body><p>Hello</p></body></html>",
            "HTML page",
        ),
        (b"this is not xml at all", "not"),
        (b'{"items": []}', "not"),
    ],
)
def test_a_document_that_is_not_a_feed_is_an_error(body: bytes, reason: str) -> None:
    with pytest.raises(FeedError, match=reason) as caught:
        parse_feed(body, "https://x.example/feed", now=NOW)
    assert caught.value.url == "https://x.example/feed"


def test_truncated_feed_keeps_what_it_can_with_a_warning() -> None:
    text = _rss(
        "<item><title>A</title><link>https://b.example/1</link></item><item><title>B</title><link>https://b.exa"
    )
    parsed = _parse(text[: text.rindex("<link>") + 20])
    assert len(parsed.posts) >= 1
    assert any("not well-formed" in warning for warning in parsed.warnings)
