"""Gather's decisions, driven by a fake fetcher and parser (tests/fakes_gather.py): no server.

The store is real (SQLite in a temporary folder): what these pin is what ends up in it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from digest.config import FeedSettings
from digest.errors import FeedError
from digest.gather import gather_feeds
from digest.gather_decide import Fetched, StoredFeed, decide
from digest.models import FeedReport
from digest.parse import ParsedFeed
from digest.store import FeedCache, Store, open_store
from tests.fakes_gather import FakeFetcher, FakeParser, post

NOW = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
LATER = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
A, B, C = "https://a.example/feed", "https://b.example/feed", "https://c.example/feed"
EVER = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(tmp_path / "state") as opened:
        yield opened


def _gather(
    store: Store, fetcher: FakeFetcher, parser: FakeParser, *urls: str, now: datetime = NOW
) -> list[FeedReport]:
    feeds = [FeedSettings(url=url, location=url) for url in urls]
    return gather_feeds(feeds, store, now=now, fetcher=fetcher, parser=parser)


def test_a_304_keeps_the_cache_and_adds_nothing(store: Store) -> None:
    fetcher, parser = FakeFetcher(), FakeParser({A: [post(A, "1")]})
    fetcher.serve(A, etag='"v1"')
    _gather(store, fetcher, parser, A)
    parser.feeds[A] = [post(A, "1"), post(A, "2")]  # would be new, were it asked for
    [report] = _gather(store, fetcher, parser, A, now=LATER)
    assert (report.status, report.new_posts, report.error) == ("not_modified", 0, None)
    assert fetcher.requests[1] == (A, FeedCache('"v1"'))  # asked conditionally
    assert parser.parsed == [A]  # the 304 was not parsed
    assert store.feed_cache(A) == FeedCache('"v1"')
    assert [p.id for p in store.posts_between(*EVER)] == [f"{A}#1"]


def test_a_410_marks_the_feed_gone_and_later_runs_skip_it(store: Store) -> None:
    fetcher, parser = FakeFetcher(), FakeParser()
    fetcher.serve(A, status=410)
    [first] = _gather(store, fetcher, parser, A)
    [second] = _gather(store, fetcher, parser, A, now=LATER)
    assert first.status == "error" and (first.error or "").startswith("410 Gone")
    assert store.gone_since(A) == NOW
    assert (second.status, second.error) == ("error", "gone")
    assert any("--retry-gone" in warning for warning in second.warnings)
    assert fetcher.locations == [A]  # the second run did not ask


def test_a_permanent_move_is_remembered_and_fetched_there_next_time(store: Store) -> None:
    new = "https://a.example/new-feed"
    fetcher, parser = FakeFetcher(), FakeParser({A: [post(A, "1")]})
    fetcher.serve(A, moved_to=new)
    fetcher.serve(new, moved_to=None)
    [first] = _gather(store, fetcher, parser, A)
    [second] = _gather(store, fetcher, parser, A, now=LATER)
    assert first.moved_to == new and any("moved permanently to" in w for w in first.warnings)
    assert store.moved_to(A) == new
    assert fetcher.locations == [A, new]
    assert (second.status, second.moved_to, second.warnings) == ("ok", None, ())


def test_a_move_to_something_that_is_not_a_feed_is_not_remembered(store: Store) -> None:
    fetcher, parser = FakeFetcher(), FakeParser({A: "an HTML page, not a feed"})
    fetcher.serve(A, moved_to="https://a.example/page")
    [report] = _gather(store, fetcher, parser, A)
    assert (report.status, report.error, report.moved_to) == ("error", "an HTML page, not a feed", None)
    assert store.moved_to(A) is None


def test_a_broken_feed_reports_an_error_and_the_others_go_on(store: Store) -> None:
    fetcher = FakeFetcher()
    parser = FakeParser({A: "not well-formed", B: RuntimeError("parser bug"), C: [post(C, "1")]})
    for url in (A, B, C):
        fetcher.serve(url)
    fetcher.fail("https://d.example/feed", "timed out (ReadTimeout) (tried 3 times)")
    reports = _gather(store, fetcher, parser, A, B, "https://d.example/feed", C)
    assert [(r.status, r.error) for r in reports] == [
        ("error", "not well-formed"),
        ("error", "unexpected RuntimeError: parser bug"),
        ("error", "timed out (ReadTimeout) (tried 3 times)"),
        ("ok", None),
    ]
    assert reports[3].new_posts == 1
    assert store.feed_cache(A) == FeedCache() and [p.feed for p in store.posts_between(*EVER)] == [C]


def test_an_entry_seen_before_is_not_counted_new(store: Store) -> None:
    fetcher, parser = FakeFetcher(), FakeParser({A: [post(A, "1"), post(A, "2")]})
    fetcher.serve(A)
    [first] = _gather(store, fetcher, parser, A)
    parser.feeds[A] = [post(A, "3"), post(A, "1"), post(A, "2")]
    [second] = _gather(store, fetcher, parser, A, now=LATER)
    assert (first.new_posts, second.new_posts) == (2, 1)
    assert len(store.posts_between(*EVER)) == 3


def test_an_edited_entry_is_updated_in_place_and_keeps_its_first_date(store: Store) -> None:
    fetcher, parser = FakeFetcher(), FakeParser({A: [post(A, "1", published=NOW)]})
    fetcher.serve(A)
    _gather(store, fetcher, parser, A)
    # Undated entries are dated "now" by the parser: the edit must not move the post to LATER.
    parser.feeds[A] = [post(A, "1", title="Corrected title", published=LATER)]
    [report] = _gather(store, fetcher, parser, A, now=LATER)
    [stored] = store.posts_between(*EVER)
    assert (report.status, report.new_posts) == ("ok", 0)
    assert (stored.title, stored.published) == ("Corrected title", NOW)


def test_a_new_id_whose_link_is_already_stored_is_a_new_post(store: Store) -> None:
    fetcher, parser = FakeFetcher(), FakeParser({A: [post(A, "1")], B: [post(B, "x", url=post(A, "1").url)]})
    fetcher.serve(A)
    fetcher.serve(B)
    [a] = _gather(store, fetcher, parser, A)
    [b] = _gather(store, fetcher, parser, B, now=LATER)
    # Distinct entries are never merged in the store: selection tells syndicated copies apart.
    assert (a.new_posts, b.new_posts) == (1, 1)
    assert sorted(p.feed for p in store.posts_between(*EVER)) == sorted([A, B])


def test_every_feed_is_reported_to_the_progress_callback_once(store: Store) -> None:
    fetcher, parser = FakeFetcher(), FakeParser({A: [post(A, "1")]})
    fetcher.serve(A)
    heard: list[str] = []
    feeds = [FeedSettings(url=url, location=url) for url in (A, B)]
    gather_feeds(feeds, store, now=NOW, on_done=lambda r: heard.append(r.url), fetcher=fetcher, parser=parser)
    assert sorted(heard) == [A, B]


# `decide` alone: a pure function of what is stored and what was fetched and parsed.


def _parsed(*posts: object) -> ParsedFeed:
    return ParsedFeed("Feed", "", None, tuple(posts), ("a warning",))  # type: ignore[arg-type]


def test_decide_on_a_200_saves_the_validators_title_and_only_unseen_posts() -> None:
    seen, unseen = post(A, "1"), post(A, "2")
    stored = StoredFeed(A, posts={seen.id: seen})
    intents = decide(stored, Fetched(200, b"x", {}, FeedCache('"e2"')), _parsed(seen, unseen, unseen))
    assert (intents.cache, intents.title, intents.new, intents.changed) == (
        FeedCache('"e2"'),
        "Feed",
        (unseen,),
        (),
    )
    assert (intents.report.status, intents.report.new_posts, intents.report.warnings) == (
        "ok",
        1,
        ("a warning",),
    )
    assert (intents.move_to, intents.gone) == (None, False)


def test_decide_leaves_a_post_another_feed_stored_to_that_feed() -> None:
    theirs = post(B, "1", id="tag:shared,2026:1")
    mine = post(A, "1", id="tag:shared,2026:1", title="Same post, our title")
    intents = decide(StoredFeed(A, posts={theirs.id: theirs}), Fetched(200, b"x"), _parsed(mine))
    assert (intents.new, intents.changed) == ((), ())


@pytest.mark.parametrize(
    ("fetched", "parsed", "error"),
    [
        (None, None, "gone"),
        (FeedError(A, "HTTP 404 Not Found"), None, "HTTP 404 Not Found"),
        (Fetched(200, b"x"), "an HTML page, not a feed", "an HTML page, not a feed"),
    ],
    ids=["still-gone", "fetch-failed", "parse-failed"],
)
def test_decide_writes_nothing_for_a_feed_that_failed(
    fetched: Fetched | FeedError | None, parsed: str | None, error: str
) -> None:
    stored = StoredFeed(A, FeedCache('"old"'), gone_since=NOW if fetched is None else None)
    intents = decide(stored, fetched, parsed)
    assert (intents.report.status, intents.report.error) == ("error", error)
    assert (intents.cache, intents.new, intents.changed, intents.move_to, intents.gone) == (
        None,
        (),
        (),
        None,
        False,
    )


def test_decide_remembers_a_move_once_only() -> None:
    new = "https://a.example/new"
    first = decide(StoredFeed(A), Fetched(304, moved_to=new), None)
    again = decide(StoredFeed(A, moved_to=new), Fetched(304, moved_to=new), None)
    assert (first.report.status, first.move_to, first.cache) == ("not_modified", new, None)
    assert (again.move_to, again.report.warnings) == (None, ())


def test_decide_marks_a_410_gone_even_after_a_permanent_move() -> None:
    intents = decide(StoredFeed(A), Fetched(410, moved_to="https://a.example/new"), None)
    assert (intents.gone, intents.move_to, intents.report.status) == (True, None, "error")
