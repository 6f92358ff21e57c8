"""Real feeds, faithfully: the shared half of 152 feeds from other readers' test suites.

feedparser is the oracle: every entry with a link or a title that it finds is stored (exact
duplicates within a feed are reported, not lost); entries added later are stored on the next
gather; no picture is audio, video, a tracker or declared tiny; every summary of the email sits
in a styled block; fresh gathers give byte-identical issues whatever the fetch order.
"""

from __future__ import annotations

import random
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import lxml.html
import pytest

from digest.config import FeedSettings, Settings
from digest.gather import gather_feeds
from digest.gather_decide import Fetched
from digest.images import not_a_picture
from digest.issuefile import issue_to_json
from digest.models import Post
from digest.pipeline import editorial
from digest.render import render_issue
from digest.selection import build_issue, choose_posts, day_window
from digest.storage import FeedCache
from digest.store import open_store
from tests.fakes_gather import FakeFetcher

FEEDS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "realfeeds" / "feeds"
NOW = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
EVER = (datetime(1900, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))

pytestmark = pytest.mark.skipif(not FEEDS.is_dir(), reason=f"real feed corpus not found at {FEEDS}")


def _files() -> list[Path]:
    return sorted(path for path in FEEDS.iterdir() if path.is_file())


def _oracle(data: bytes) -> tuple[int, int]:
    """(entries with a link or a title, exact duplicates among them) as feedparser reads them."""
    entries = [e for e in feedparser.parse(data).entries if e.get("link") or e.get("title")]
    seen = {repr(sorted((k, str(v)) for k, v in e.items())) for e in entries}
    return len(entries), len(entries) - len(seen)


def _gather(tmp_path: Path, documents: dict[str, bytes], order: int = 0) -> list[Post]:
    fetcher = FakeFetcher()
    for url, body in documents.items():
        fetcher.answers[url] = Fetched(200, body, {}, FeedCache())
    urls = list(documents)
    random.Random(order).shuffle(urls)  # another order of arrival, as fetches would finish
    feeds = tuple(FeedSettings(url=url, location=url) for url in urls)
    with open_store(tmp_path) as store:
        gather_feeds(feeds, store, now=NOW, fetcher=fetcher)
        return store.posts_between(*EVER)


def _documents(files: list[Path]) -> dict[str, bytes]:
    return {f"https://feeds.example/{path.name}": path.read_bytes() for path in files}


def test_every_entry_feedparser_finds_is_stored(tmp_path: Path) -> None:
    files = _files()
    stored = _gather(tmp_path, _documents(files))
    by_feed: dict[str, int] = {}
    for post in stored:
        by_feed[post.feed] = by_feed.get(post.feed, 0) + 1
    lost = {}
    for path in files:
        expected, duplicates = _oracle(path.read_bytes())
        got = by_feed.get(f"https://feeds.example/{path.name}", 0)
        if got < expected - duplicates:
            lost[path.name] = (got, expected, duplicates)
    print(f"\n{len(files)} feeds, {len(stored)} posts stored")
    assert lost == {}


_ITEM = re.compile(rb"<(item|entry)\b.*?</\1>", re.S)


def _without_first(body: bytes, count: int) -> bytes:
    seen = iter(range(len(_ITEM.findall(body)) + 1))
    return _ITEM.sub(lambda match: b"" if next(seen) < count else match.group(0), body)


def test_entries_added_later_are_stored_on_the_next_gather(tmp_path: Path) -> None:
    files = [path for path in _files() if len(_ITEM.findall(path.read_bytes())) >= 4]
    full = _documents(files)
    # The first gather sees each feed without its first (newest) two entries.
    older = {url: _without_first(body, 2) for url, body in full.items()}
    first = _gather(tmp_path, older)
    second = _gather(tmp_path, full)
    fresh = _gather(tmp_path / "fresh", full)
    assert len(second) > len(first)
    assert {(p.feed, p.id) for p in fresh} <= {(p.feed, p.id) for p in second}


def test_no_picture_is_audio_video_a_tracker_or_tiny(tmp_path: Path) -> None:
    stored = _gather(tmp_path, _documents(_files()))
    pictures = [post.image for post in stored if post.image]
    bad = [(i.url, why) for i in pictures if (why := not_a_picture(i.url, i.width, i.height))]
    media = {
        str(link.get("href"))
        for path in _files()
        for entry in feedparser.parse(path.read_bytes()).entries
        for link in entry.get("links", [])
        if str(link.get("type", "")).startswith(("audio/", "video/"))
    }
    assert bad == [] and not {i.url for i in pictures} & media
    print(f"\n{len(pictures)} pictures among {len(stored)} posts")


def _issue_json(posts: list[Post], settings: Settings, feeds: tuple[FeedSettings, ...]) -> tuple[str, str]:
    news = replace(editorial(settings), feeds=feeds)
    news = replace(news, rules=replace(news.rules, max_posts=60, per_source_max=60, per_author_max=60))
    window = day_window(datetime(1995, 1, 1).date(), datetime(2026, 11, 25).date(), news.zone)
    choice = choose_posts(posts, news, window_end=window.end)
    issue = build_issue(choice.posts, news, window)
    return issue_to_json(issue), render_issue(issue).html


def test_every_summary_sits_in_a_styled_block(tmp_path: Path, settings: Settings) -> None:
    documents = _documents(_files())
    feeds = tuple(FeedSettings(url=url, location=url) for url in documents)
    _, html = _issue_json(_gather(tmp_path, documents), settings, feeds)
    tree = lxml.html.document_fromstring(html.encode())
    blocks = tree.find_class("summary")
    assert blocks and all("font-family" in block.get("style", "") for block in blocks)
    # No text directly in a card outside a styled element.
    assert all(not (block.text or "").strip() or block.get("style") for block in blocks)


def test_fresh_gathers_in_any_order_give_the_same_issue(tmp_path: Path, settings: Settings) -> None:
    documents = _documents(_files())
    feeds = tuple(FeedSettings(url=url, location=url) for url in documents)
    issues = {
        _issue_json(_gather(tmp_path / str(order), documents, order), settings, feeds)[0]
        for order in range(4)
    }
    assert len(issues) == 1
