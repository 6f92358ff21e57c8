from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from digest.errors import FeedError
from digest.parse import parse_feed, parse_or_reason
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


def test_links_are_shown_as_published_minus_tracking_parameters() -> None:
    parsed = _parse(
        _rss(
            "<item><title>A</title><link>https://Blog.Example.org/a?id=3&amp;utm_source=rss&amp;fbclid=x&amp;gclid=y#top</link></item>"
            "<item><title>B</title><link>https://b.example/p%20q?print&amp;x=a%20b</link></item>"
        )
    )
    assert [post.url for post in parsed.posts] == [
        "https://Blog.Example.org/a?id=3#top",
        "https://b.example/p%20q?print&x=a%20b",
    ]


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


def test_post_ids_belong_to_their_feed() -> None:
    item = "<item><title>A</title><guid>42</guid><link>https://b.example/{n}</link></item>"
    one = _parse(_rss(item.format(n=1)), "https://one.example/feed").posts[0]
    two = _parse(_rss(item.format(n=2)), "https://two.example/feed").posts[0]
    assert one.id != two.id
    # Even a URI guid: syndicated copies are told apart at selection, not merged in the store.
    uri = "<item><title>A</title><guid>https://b.example/p</guid><link>https://b.example/{n}</link></item>"
    assert (
        _parse(_rss(uri.format(n=1)), "https://one.example/f").posts[0].id
        != _parse(_rss(uri.format(n=2)), "https://two.example/f").posts[0].id
    )


def test_entry_language_overrides_the_feed_language(samples: Path) -> None:
    parsed = parse_feed((samples / "feeds" / "carnet-du-libre.atom.xml").read_bytes(), "feeds/c.xml", now=NOW)
    languages = {post.language for post in parsed.posts}
    assert languages == {"fr", "en"}


def test_long_summary_is_truncated_with_tags_closed(samples: Path) -> None:
    parsed = parse_feed((samples / "feeds" / "magazine-medias.rss.xml").read_bytes(), "feeds/m.xml", now=NOW)
    longest = max(parsed.posts, key=lambda post: len(post.summary_text))
    assert longest.summary_text.endswith(("…", "."))  # on a word, or on a sentence that ends late enough
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


JSON_FEED = {
    "version": "https://jsonfeed.org/version/1.1",
    "title": "Carnet <JSON> & co",
    "home_page_url": "https://json.example.org/",
    "language": "fr-FR",
    "authors": [{"name": "Rédaction"}],
    "items": [
        {
            "id": "https://json.example.org/1",
            "url": "https://json.example.org/1?utm_source=feed",
            "title": "Les balises <b> en texte",
            "content_html": '<p onclick="x()">Bonjour <script>alert(1)</script><a href="/a">lien</a></p>'
            '<img src="/img/1.jpg" alt="Une image">',
            "date_published": "2026-11-20T10:00:00+01:00",
            "tags": ["Web", "web", "Email"],
            "language": "en",
        },
        {
            "id": 2,
            "external_url": "https://elsewhere.example/story",
            "summary": "Texte <brut>",
            "content_text": "ignored when there is a summary",
            "date_modified": "2026-11-21T08:00:00Z",
            "image": "https://json.example.org/cover.png",
            "authors": [{"name": "Ada"}, {"name": "Grace"}],
        },
        {"id": "3", "content_text": "no link at all"},
        "not an object",
    ],
}


def _json(document: object) -> bytes:
    return json.dumps(document).encode("utf-8")


def test_json_feed_items_become_posts_through_the_same_helpers() -> None:
    parsed = parse_feed(_json(JSON_FEED), "https://json.example.org/feed.json", now=NOW)
    assert (parsed.title, parsed.link, parsed.language) == (
        "Carnet <JSON> & co",
        "https://json.example.org/",
        "fr-fr",
    )
    first, second = parsed.posts
    assert first.url == "https://json.example.org/1"
    assert first.title == "Les balises <b> en texte"  # a JSON title is text, not markup
    assert first.published == datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    assert first.categories == ("Web", "Email")
    assert first.language == "en" and first.author == "Rédaction"
    assert first.summary_html == '<p>Bonjour <a href="https://json.example.org/a" rel="noopener">lien</a></p>'
    assert first.image is not None and first.image.url == "https://json.example.org/img/1.jpg"
    assert first.image.alt == "Une image"
    assert second.url == "https://elsewhere.example/story"
    assert second.summary_text == "Texte <brut>" and second.author == "Ada, Grace"
    assert second.published == datetime(2026, 11, 21, 8, 0, tzinfo=UTC) and second.language == "fr-fr"
    assert second.image is not None and second.image.url == "https://json.example.org/cover.png"
    skipped = "skipped: no link, guid URL or title"
    assert parsed.warnings == (f"entry 3 {skipped}", f"entry 4 {skipped}")


def test_json_feed_1_0_author_and_attachments() -> None:
    document = {
        "version": "https://jsonfeed.org/version/1",
        "title": "Old",
        "author": {"name": "Solo"},
        "items": [
            {
                "id": "a",
                "url": "https://old.example/a",
                "content_text": "Line one\nline two",
                "attachments": [{"url": "https://old.example/a.jpg", "mime_type": "image/jpeg"}],
            }
        ],
    }
    [post] = parse_feed(_json(document), "https://old.example/feed.json", now=NOW).posts
    assert post.author == "Solo" and post.published == NOW
    assert post.summary_text == "Line one line two"
    assert post.image is not None and post.image.url == "https://old.example/a.jpg"


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": [', "invalid JSON"),
        (b'{"version": "1.0", "items": []}', "not a JSON Feed"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": {}}', "without an items list"),
        (b"[1, 2]", "not a JSON Feed"),
    ],
)
def test_broken_json_feeds_are_errors(document: bytes, reason: str) -> None:
    headers = {"Content-Type": "application/feed+json"}
    with pytest.raises(FeedError, match=re.escape(reason)):
        parse_feed(document, "https://x.example/feed.json", now=NOW, headers=headers)


ACCENTED = (
    '<?xml version="1.0" encoding="{declared}"?><rss version="2.0"><channel><title>Café</title>'
    "<item><title>Noël — “vœux”</title><link>https://b.example/noel</link></item></channel></rss>"
)


@pytest.mark.parametrize(
    ("declared", "encoding", "content_type", "warned"),
    [
        ("utf-8", "utf-8", "application/rss+xml; charset=ISO-8859-1", True),
        ("iso-8859-1", "utf-8", "", True),
        ("windows-1252", "utf-8", "text/xml", True),
        ("utf-8", "utf-8", "text/xml", False),  # RFC 3023's us-ascii default is not worth a warning
        ("windows-1252", "cp1252", "application/xml; charset=windows-1252", False),
        ("utf-8", "cp1252", "application/xml; charset=utf-8", True),
    ],
)
def test_text_is_right_whatever_the_charset_declarations_say(
    declared: str, encoding: str, content_type: str, warned: bool
) -> None:
    data = ACCENTED.format(declared=declared).encode(encoding)
    headers = {"Content-Type": content_type} if content_type else {}
    parsed = parse_feed(data, "https://b.example/feed", now=NOW, headers=headers)
    assert parsed.title == "Café" and parsed.posts[0].title == "Noël — “vœux”"
    assert any(warning.startswith("charset:") for warning in parsed.warnings) is warned


def test_a_utf16_feed_is_left_to_feedparser() -> None:
    data = ACCENTED.format(declared="utf-16").encode("utf-16")
    parsed = parse_feed(data, "https://b.example/feed", now=NOW)
    assert parsed.posts[0].title == "Noël — “vœux”"


MEDIA = 'xmlns:media="http://search.yahoo.com/mrss/" xmlns:slash="http://purl.org/rss/1.0/modules/slash/"'


@pytest.mark.parametrize(
    ("markup", "image"),
    [
        (
            '<media:content url="https://i.example/c.jpg" medium="image" width="640"/>',
            "https://i.example/c.jpg",
        ),
        ('<media:thumbnail url="https://i.example/t.jpg"/>', "https://i.example/t.jpg"),
        ('<enclosure url="https://i.example/e.png" type="image/png" length="1"/>', "https://i.example/e.png"),
        (
            '<description>&lt;p&gt;x&lt;img src="/i/f.jpg"&gt;&lt;/p&gt;</description>',
            "https://b.example/i/f.jpg",
        ),
        ('<enclosure url="https://i.example/a.mp3" type="audio/mpeg" length="1"/>', None),
        ('<description>&lt;img src="javascript:alert(1)"&gt;</description>', None),
        ('<media:thumbnail url="https://i.example/t.svg"/>', None),
    ],
    ids=["media-content", "media-thumbnail", "enclosure", "first-img", "audio", "javascript", "svg"],
)
def test_the_image_comes_from_media_enclosure_or_the_first_img(markup: str, image: str | None) -> None:
    parsed = _parse(_rss(f"<item><title>A</title><link>https://b.example/a/</link>{markup}</item>", MEDIA))
    post = parsed.posts[0]
    assert (post.image.url if post.image else None) == image
    if post.image:
        assert post.image.alt == "A"


def test_slash_comments_is_a_ranking_signal() -> None:
    item = (
        "<item><title>A</title><link>https://b.example/a</link><slash:comments>1,204</slash:comments></item>"
    )
    assert _parse(_rss(item, MEDIA)).posts[0].comments == 1204


def test_an_empty_summary_falls_back_to_the_content_as_html() -> None:
    atom = (
        '<feed xmlns="http://www.w3.org/2005/Atom"><title>C</title><id>urn:c</id>'
        '<entry><title>E</title><id>urn:e</id><link href="https://c.example/e"/><summary></summary>'
        '<content type="html">&lt;p&gt;Le &lt;em&gt;vrai&lt;/em&gt; contenu&lt;/p&gt;</content></entry></feed>'
    )
    post = _parse(atom).posts[0]
    assert post.summary_html == "<p>Le <em>vrai</em> contenu</p>" and post.summary_text == "Le vrai contenu"


def test_relative_links_in_content_follow_its_xml_base() -> None:
    atom = (
        '<feed xmlns="http://www.w3.org/2005/Atom"><title>C</title><id>urn:c</id>'
        '<entry><title>E</title><id>urn:e</id><link href="https://c.example/2026/11/e"/>'
        '<content type="html" xml:base="https://c.example/blog/">&lt;a href="other"&gt;o&lt;/a&gt;</content>'
        "</entry></feed>"
    )
    assert 'href="https://c.example/blog/other"' in _parse(atom).posts[0].summary_html


def test_relative_entry_links_resolve_against_where_the_feed_was_fetched() -> None:
    data = _rss("<item><title>A</title><link>/2026/a</link></item>").encode()
    headers = {"Content-Location": "https://moved.example/feed.xml"}
    post = parse_feed(data, "https://b.example/feed", now=NOW, headers=headers).posts[0]
    assert post.url == "https://moved.example/2026/a"


def test_an_impossible_date_falls_back_to_the_next_one() -> None:
    item = (
        "<item><title>A</title><link>https://b.example/a</link><pubDate>Sat, 01 Jan 99999 00:00:00 GMT</pubDate>"
        "</item>"
    )
    assert _parse(_rss(item)).posts[0].published == NOW


def test_a_broken_feed_with_no_entry_left_is_an_error() -> None:
    with pytest.raises(FeedError, match="no entry could be read"):
        _parse(_rss("")[:-25])


def test_a_feed_served_as_html_with_entries_is_used_with_a_warning() -> None:
    headers = {"Content-Type": "text/html; charset=utf-8"}
    data = _rss("<item><title>A</title><link>https://b.example/a</link></item>").encode()
    parsed = parse_feed(data, "https://b.example/feed", now=NOW, headers=headers)
    assert len(parsed.posts) == 1 and any("not served as XML" in warning for warning in parsed.warnings)


def test_parse_or_reason_turns_every_failure_into_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    headers = {"Content-Type": "text/html"}
    assert parse_or_reason(b"<html><p>x</p></html>", "u", headers, NOW) == "an HTML page, not a feed"

    def broken(*args: object, **kwargs: object) -> None:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr("digest.parse.feedparser.parse", broken)
    monkeypatch.setattr("digest.parse.fastfeed.read", broken)  # the fast path falls back to feedparser
    reason = parse_or_reason(_rss("").encode(), "u", {}, NOW)
    assert reason == "could not be parsed (RecursionError: maximum recursion depth exceeded)"


def test_a_broken_url_costs_its_entry_or_its_link_not_the_feed() -> None:
    items = (
        "<item><title>A</title><link>http://[broken/a</link></item>"
        '<item><title>B</title><link>https://b.example/b</link><media:thumbnail url="https://[x/i.jpg"/>'
        '<description>&lt;a href="http://[x/y"&gt;lien&lt;/a&gt; &lt;a href="../z"&gt;z&lt;/a&gt;</description></item>'
    )
    parsed = _parse(_rss(items, MEDIA))
    first, post = parsed.posts
    assert first.title == "A" and first.url == "https://blog.example.org/"  # the feed's link stands in
    assert parsed.warnings == ()
    assert post.image is None
    assert post.summary_html == 'lien <a href="https://b.example/z" rel="noopener">z</a>'  # unwrapped
