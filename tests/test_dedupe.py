"""One article, one post: entries whose canonical URLs agree are stored once, whoever links them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from digest.config import FeedSettings
from digest.gather import gather_feeds
from digest.store import open_store
from tests.feedserver import Route, feed_server

NOW = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
ARTICLE = "https://served.example/2026/11/article"


def _rss(title: str, *items: tuple[str, str]) -> bytes:
    """An RSS feed of (guid, link) items; the guids differ, so only the URL can tell they are one post."""
    entries = "".join(
        f"<item><title>Article</title><link>{link}</link><guid isPermaLink='false'>{guid}</guid>"
        "<pubDate>Wed, 18 Nov 2026 10:00:00 +0100</pubDate></item>"
        for guid, link in items
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{title}</title>'
        f"<link>https://served.example/</link>{entries}</channel></rss>"
    ).encode()


def test_links_differing_only_by_tracking_parameters_are_one_post(tmp_path: Path) -> None:
    one_feed = _rss("Served", ("101", ARTICLE), ("102", f"{ARTICLE}?utm_source=rss&amp;utm_medium=feed"))
    other_feed = _rss("Mirror", ("mirror-7", f"{ARTICLE}?utm_campaign=la-une&amp;fbclid=abc#comments"))
    with feed_server({"/a.xml": Route(one_feed), "/b.xml": Route(other_feed)}) as server:
        feeds = tuple(FeedSettings(url=server.url(p), location=server.url(p)) for p in ("/a.xml", "/b.xml"))
        with open_store(tmp_path / "state") as store:
            reports = gather_feeds(feeds, store, now=NOW)
            stored = store.posts_between(datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    assert [report.status for report in reports] == ["ok", "ok"]
    assert [post.url for post in stored] == [ARTICLE]
    assert sum(report.new_posts for report in reports) == 1


def test_a_feed_that_renumbers_its_guids_does_not_bring_its_posts_back(tmp_path: Path) -> None:
    route = Route(_rss("Served", ("101", ARTICLE)))
    with feed_server({"/feed": route}) as server, open_store(tmp_path / "state") as store:
        feeds = (FeedSettings(url=server.url("/feed"), location=server.url("/feed")),)
        [first] = gather_feeds(feeds, store, now=NOW)
        route.body = _rss("Served", ("9001", f"{ARTICLE}?utm_source=newsletter"))
        [again] = gather_feeds(feeds, store, now=NOW)
        stored = store.posts_between(datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    assert (first.new_posts, again.new_posts) == (1, 0)
    assert [post.url for post in stored] == [ARTICLE]
