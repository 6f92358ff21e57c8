"""The fast path and its oracle: wherever `fastfeed` accepts a document, feedparser agrees.

Every file of both shared corpora (feedparser's own test suite, and real feeds from other
readers' test suites) is parsed twice, with the fast path and with feedparser alone: the posts
(identity, title, link, dates, author, picture, sanitised summary and every other field), the
feed's title, link and language, and the warnings must be the same. The counts of accepted
documents are printed (`pytest -s`) and the fast path must accept most real feeds.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from digest.entries import ParsedFeed
from digest.errors import FeedError
from digest.parse import parse_feed, read_fast

SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpus"
REALFEEDS = SHARED / "realfeeds" / "feeds"
FEEDPARSER = SHARED / "feedparser"
NOW = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
URL = "https://example.org/feed.xml"


def _files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file())


def _parsed(data: bytes, fast: bool) -> ParsedFeed | str:
    try:
        return parse_feed(data, URL, now=NOW, fast=fast)
    except FeedError as exc:
        return f"error: {exc.reason}"


def _disagreements(folder: Path) -> tuple[int, int, dict[str, str]]:
    """(files, files the fast path accepts, the files where it disagrees with feedparser)."""
    files = _files(folder)
    accepted = 0
    wrong: dict[str, str] = {}
    for path in files:
        data = path.read_bytes()
        if not read_fast(data):
            continue
        accepted += 1
        fast, oracle = _parsed(data, True), _parsed(data, False)
        if fast != oracle:
            wrong[str(path.relative_to(folder))] = _first_difference(fast, oracle)
    return len(files), accepted, wrong


def _first_difference(fast: ParsedFeed | str, oracle: ParsedFeed | str) -> str:
    if isinstance(fast, str) or isinstance(oracle, str):
        return f"{str(fast)[:80]} / {str(oracle)[:80]}"
    for field in ("title", "link", "language", "warnings"):
        if getattr(fast, field) != getattr(oracle, field):
            return f"{field}: {getattr(fast, field)!r:.80} / {getattr(oracle, field)!r:.80}"
    if len(fast.posts) != len(oracle.posts):
        return f"{len(fast.posts)} posts / {len(oracle.posts)}"
    for mine, theirs in zip(fast.posts, oracle.posts, strict=True):
        for field in mine.__dataclass_fields__:
            if getattr(mine, field) != getattr(theirs, field):
                return f"{field}: {getattr(mine, field)!r:.80} / {getattr(theirs, field)!r:.80}"
    return "?"


@pytest.mark.skipif(not REALFEEDS.is_dir(), reason=f"real feed corpus not found at {REALFEEDS}")
def test_fast_path_gives_feedparsers_posts_on_real_feeds_and_accepts_most() -> None:
    files, accepted, wrong = _disagreements(REALFEEDS)
    print(f"\nfast path: accepted {accepted} of {files} real feeds; {len(wrong)} disagreements")
    assert wrong == {}
    assert accepted > files / 2


@pytest.mark.skipif(not FEEDPARSER.is_dir(), reason=f"feedparser corpus not found at {FEEDPARSER}")
def test_fast_path_gives_feedparsers_posts_on_feedparsers_own_corpus() -> None:
    started = time.perf_counter()
    files, accepted, wrong = _disagreements(FEEDPARSER)
    print(f"\nfast path: accepted {accepted} of {files} feedparser corpus files; {len(wrong)} disagreements")
    assert wrong == {}
    assert accepted > 500
    assert time.perf_counter() - started < 120  # a bound on the suite, not a benchmark


def test_documents_the_fast_path_does_not_understand_go_to_feedparser() -> None:
    xhtml = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><entry><id>1</id><title>x</title>'
        b'<link href="https://example.org/1"/><content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">'
        b"<p>Hi</p></div></content></entry></feed>"
    )
    latin1 = '<?xml version="1.0" encoding="iso-8859-1"?><rss version="2.0"><channel><item><title>é</title>'
    latin1 += "<link>https://example.org/1</link></item></channel></rss>"
    doctype = b'<!DOCTYPE rss [<!ENTITY x "y">]><rss version="2.0"><channel><item><title>&x;</title></item></channel></rss>'
    broken = b'<rss version="2.0"><channel><item><title>x</title><link>https://example.org/1</link></item>'
    for document in (xhtml, latin1.encode("latin-1"), doctype, broken):
        assert not read_fast(document)
        assert isinstance(_parsed(document, True), ParsedFeed)


def test_xml_base_resolves_relative_links_on_the_fast_path() -> None:
    document = (
        b'<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://example.org/blog/"><title>t</title>'
        b'<entry><id>1</id><title>One</title><link href="posts/1"/><summary type="html">'
        b'&lt;a href="more"&gt;more&lt;/a&gt; text</summary></entry></feed>'
    )
    assert read_fast(document)
    post = parse_feed(document, URL, now=NOW).posts[0]
    assert post.url == "https://example.org/blog/posts/1"
    assert 'href="https://example.org/blog/more"' in post.summary_html
    assert parse_feed(document, URL, now=NOW, fast=False) == parse_feed(document, URL, now=NOW)
