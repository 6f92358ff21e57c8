"""One article, one post in an issue: syndicated copies are kept in the store and told apart at
selection, with a winner that does not depend on which fetch finished first."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from digest.config import FeedSettings, Settings
from digest.dedupe import unique_posts
from digest.gather import gather_feeds
from digest.models import Post
from digest.pipeline import editorial
from digest.selection import choose_posts
from digest.store import open_store
from tests.feedserver import Route, feed_server

NOW = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
ARTICLE = "https://served.example/2026/11/article"
END = datetime(2026, 11, 23, tzinfo=UTC)


def _rss(title: str, *items: tuple[str, str], site: str = "https://served.example/") -> bytes:
    """An RSS feed of (guid, link) items; the guids differ, so only the URL can tell they are one post."""
    entries = "".join(
        f"<item><title>Article</title><link>{link}</link><guid isPermaLink='false'>{guid}</guid>"
        "<pubDate>Wed, 18 Nov 2026 10:00:00 +0100</pubDate></item>"
        for guid, link in items
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{title}</title>'
        f"<link>{site}</link>{entries}</channel></rss>"
    ).encode()


def _gathered(tmp_path: Path, documents: dict[str, bytes]) -> tuple[tuple[FeedSettings, ...], list[Post]]:
    routes = {path: Route(body) for path, body in documents.items()}
    with feed_server(routes) as server:
        feeds = tuple(FeedSettings(url=server.url(p), location=server.url(p)) for p in documents)
        with open_store(tmp_path / "state") as store:
            reports = gather_feeds(feeds, store, now=NOW)
            stored = store.posts_between(datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    assert [report.status for report in reports] == ["ok"] * len(documents)
    return feeds, stored


def test_links_differing_only_by_tracking_parameters_are_one_post_in_the_issue(
    tmp_path: Path, settings: Settings
) -> None:
    one_feed = _rss("Served", ("101", ARTICLE), ("102", f"{ARTICLE}?utm_source=rss&amp;utm_medium=feed"))
    other_feed = _rss(
        "Mirror",
        ("mirror-7", f"{ARTICLE}?utm_campaign=la-une&amp;fbclid=abc#comments"),
        site="https://mirror.example/",
    )
    feeds, stored = _gathered(tmp_path, {"/a.xml": one_feed, "/b.xml": other_feed})
    assert len(stored) == 3  # every entry is kept: distinct entries are never merged in the store
    news = replace(editorial(settings), feeds=feeds)
    choice = choose_posts(stored, news, window_end=END.replace(day=25))
    assert [post.url for post in choice.posts] == [ARTICLE]
    assert choice.posts[0].feed == feeds[0].url  # the feed whose site hosts the link


def test_a_feed_that_renumbers_its_guids_does_not_bring_its_post_back_into_an_issue(
    tmp_path: Path, settings: Settings
) -> None:
    route = Route(_rss("Served", ("101", ARTICLE)))
    with feed_server({"/feed": route}) as server, open_store(tmp_path / "state") as store:
        feeds = (FeedSettings(url=server.url("/feed"), location=server.url("/feed")),)
        gather_feeds(feeds, store, now=NOW)
        route.body = _rss("Served", ("9001", f"{ARTICLE}?utm_source=newsletter"))
        gather_feeds(feeds, store, now=NOW)
        stored = store.posts_between(datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    news = replace(editorial(settings), feeds=feeds)
    choice = choose_posts(stored, news, window_end=END.replace(day=25))
    assert [post.url for post in choice.posts] == [ARTICLE]


def test_the_winner_is_the_same_whatever_the_order(make_post: Callable[..., Post]) -> None:
    hosted = make_post(feed="b", site="https://served.example/", url=ARTICLE)
    earlier = make_post(feed="a", site="https://aggregator.example/", url=ARTICLE + "?utm_source=x",
                        published=datetime(2026, 11, 17, tzinfo=UTC))  # fmt: skip
    later = make_post(
        feed="c", site="https://other.example/", url="http://www.served.example/2026/11/article/"
    )
    for order in itertools.permutations([hosted, earlier, later]):
        assert unique_posts(order, ["a", "b", "c"]) == [hosted]
    # Nobody hosts it: the earliest published; then digest.toml's order.
    assert unique_posts([earlier, later], ["c", "a"]) == [earlier]
    same_day = replace(later, published=earlier.published)
    assert unique_posts([earlier, same_day], ["c", "a"]) == [same_day]


def test_episodes_sharing_their_show_s_link_are_not_copies(make_post: Callable[..., Post]) -> None:
    show = "https://podcast.example/"
    episodes = [make_post(feed="p", url=show, title=f"Episode {n}") for n in range(5)]
    copy = make_post(feed="q", url=show, title="Episode 3")  # the same episode from another feed
    kept = unique_posts([*episodes, copy], ["p", "q"])
    assert sorted(post.title for post in kept) == [f"Episode {n}" for n in range(5)]
