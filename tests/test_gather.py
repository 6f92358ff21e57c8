from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from digest import gather as gather_module
from digest.config import FeedSettings, Settings
from digest.gather import gather_feeds
from digest.store import open_store
from tests.feedserver import Route, feed_server

NOW = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
RSS = (
    b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Served</title>'
    b"<link>https://served.example/</link>"
    b"<item><title>Un</title><link>https://served.example/1</link><guid>https://served.example/1</guid>"
    b"<pubDate>Wed, 18 Nov 2026 10:00:00 +0100</pubDate></item>"
    b"<item><title>Deux</title><link>https://served.example/2</link><guid>https://served.example/2</guid>"
    b"<pubDate>Thu, 19 Nov 2026 10:00:00 +0100</pubDate></item></channel></rss>"
)


def _feeds(*urls: str) -> tuple[FeedSettings, ...]:
    return tuple(FeedSettings(url=url, location=url) for url in urls)


def test_sample_feeds_are_gathered_into_the_store(settings: Settings) -> None:
    with open_store(settings.state) as store:
        reports = gather_feeds(settings.feeds, store, now=NOW)
        assert [report.status for report in reports] == ["ok", "ok", "ok"]
        assert sum(report.new_posts for report in reports) == 33
        assert (
            len(store.posts_between(datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))) == 33
        )
        again = gather_feeds(settings.feeds, store, now=NOW)
    assert sum(report.new_posts for report in again) == 0  # nothing stored twice


def test_a_missing_feed_file_is_reported_and_the_others_go_on(settings: Settings, tmp_path: Path) -> None:
    feeds = (*settings.feeds, FeedSettings(url="feeds/missing.xml", location=str(tmp_path / "missing.xml")))
    with open_store(settings.state) as store:
        reports = gather_feeds(feeds, store, now=NOW)
    assert [report.status for report in reports] == ["ok", "ok", "ok", "error"]
    assert reports[-1].url == "feeds/missing.xml"
    assert reports[-1].error == "no such file"


def test_file_urls_are_read(settings: Settings) -> None:
    feed = settings.feeds[1]
    with open_store(settings.state) as store:
        [report] = gather_feeds((replace(feed, location=Path(feed.location).as_uri()),), store, now=NOW)
    assert report.status == "ok" and report.new_posts == 10


def test_conditional_get_turns_the_second_run_into_304(tmp_path: Path) -> None:
    with (
        feed_server(
            {"/feed.xml": Route(RSS, etag='"v1"', headers={"Content-Type": "application/rss+xml"})}
        ) as server,
        open_store(tmp_path / "state") as store,
    ):
        first = gather_feeds(_feeds(server.url("/feed.xml")), store, now=NOW)
        second = gather_feeds(_feeds(server.url("/feed.xml")), store, now=NOW)
    assert (first[0].status, first[0].new_posts) == ("ok", 2)
    assert (second[0].status, second[0].new_posts) == ("not_modified", 0)
    assert server.requests[1][1].get("If-None-Match") == '"v1"'
    assert "digest/" in server.requests[0][1]["User-Agent"]


@pytest.mark.parametrize(
    ("route", "reason"),
    [
        (Route(b"gone", status=410), "410 Gone"),
        (Route(b"oops", status=500), "HTTP 500"),
        (Route(b"<html><body>Not a feed</body></html>", headers={"Content-Type": "text/html"}), "HTML page"),
    ],
)
def test_http_failures_are_named_per_feed(tmp_path: Path, route: Route, reason: str) -> None:
    with feed_server({"/bad": route, "/good": Route(RSS)}) as server:
        with open_store(tmp_path / "state") as store:
            reports = gather_feeds(
                _feeds(server.url("/bad"), server.url("/good"), server.url("/absent")), store, now=NOW
            )
    assert reports[0].status == "error" and reason in (reports[0].error or "")
    assert reports[1].status == "ok" and reports[1].new_posts == 2
    assert reports[2].status == "error" and "404" in (reports[2].error or "")


def test_gzip_responses_are_decoded(tmp_path: Path) -> None:
    with feed_server({"/feed.xml": Route(RSS, gzip=True)}) as server:
        with open_store(tmp_path / "state") as store:
            [report] = gather_feeds(_feeds(server.url("/feed.xml")), store, now=NOW)
    assert report.status == "ok" and report.new_posts == 2


def test_a_slow_server_times_out_without_holding_up_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gather_module, "DEADLINE", 0.5)
    with feed_server({"/slow": Route(RSS, delay=2.0), "/fast": Route(RSS)}) as server:
        with open_store(tmp_path / "state") as store:
            slow, fast = gather_feeds(_feeds(server.url("/slow"), server.url("/fast")), store, now=NOW)
    assert slow.status == "error" and "no answer within" in (slow.error or "")
    assert fast.status == "ok"


def test_a_huge_response_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gather_module, "MAX_BYTES", 1000)
    with feed_server({"/huge": Route(RSS + b" " * 5000)}) as server:
        with open_store(tmp_path / "state") as store:
            [report] = gather_feeds(_feeds(server.url("/huge")), store, now=NOW)
    assert report.status == "error" and "larger than" in (report.error or "")


def test_the_same_post_from_two_feeds_is_stored_once(tmp_path: Path) -> None:
    with feed_server({"/a.xml": Route(RSS), "/b.xml": Route(RSS.replace(b"Served", b"Mirror"))}) as server:
        with open_store(tmp_path / "state") as store:
            reports = gather_feeds(_feeds(server.url("/a.xml"), server.url("/b.xml")), store, now=NOW)
    assert sorted(report.new_posts for report in reports) == [0, 2]
