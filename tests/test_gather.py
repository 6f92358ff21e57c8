"""Gather against real servers on loopback: caching, redirects, failures, limits, the CLI."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from digest import fetch as fetch_module
from digest import gather as gather_module
from digest import pipeline
from digest.cli import app
from digest.config import FeedSettings, Settings, load_settings
from digest.environment import Environment
from digest.gather import gather_feeds
from digest.models import FeedReport, Post
from digest.store import FeedCache, open_store, post_to_dict
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
ACCENTED = (
    '<?xml version="1.0" encoding="{declared}"?><rss version="2.0"><channel><title>Café</title>'
    "<link>https://served.example/</link><item><title>Noël à Paris — “vœux”</title>"
    "<link>https://served.example/noel</link></item></channel></rss>"
)
JSON_FEED = {
    "version": "https://jsonfeed.org/version/1.1",
    "title": "Served JSON",
    "home_page_url": "https://served.example/",
    "items": [
        {"id": "https://served.example/j1", "url": "https://served.example/j1", "title": "Jay"},
        {"id": "https://served.example/j2", "url": "https://served.example/j2", "content_html": "<p>x</p>"},
    ],
}


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries keep their number, but not their real waiting time."""
    monkeypatch.setattr(fetch_module, "BACKOFF", 0.01)


def _feeds(*urls: str) -> tuple[FeedSettings, ...]:
    return tuple(FeedSettings(url=url, location=url) for url in urls)


def _gather_one(tmp_path: Path, route: Route) -> tuple[FeedReport, int]:
    """One feed served by `route`: its report, and how many requests the server saw."""
    with feed_server({"/feed": route}) as server, open_store(tmp_path / "state") as store:
        [report] = gather_feeds(_feeds(server.url("/feed")), store, now=NOW)
    return report, len(server.requests)


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


@pytest.mark.parametrize(
    "route",
    [Route(RSS, etag='"v1"'), Route(RSS, last_modified="Wed, 25 Nov 2026 10:00:00 GMT")],
    ids=["etag", "last-modified"],
)
def test_conditional_get_turns_the_second_run_into_304_without_parsing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, route: Route
) -> None:
    with feed_server({"/feed.xml": route}) as server, open_store(tmp_path / "state") as store:
        first = gather_feeds(_feeds(server.url("/feed.xml")), store, now=NOW)
        monkeypatch.setattr(gather_module, "parse_or_reason", None)  # a 304 must not reach the parser
        second = gather_feeds(_feeds(server.url("/feed.xml")), store, now=NOW)
    assert (first[0].status, first[0].new_posts) == ("ok", 2)
    assert (second[0].status, second[0].new_posts, second[0].error) == ("not_modified", 0, None)
    sent = server.requests[1][1]
    assert sent.get("If-None-Match") == route.etag or sent.get("If-Modified-Since") == route.last_modified


def test_requests_name_digest_and_ask_for_feeds(tmp_path: Path) -> None:
    with feed_server({"/feed": Route(RSS)}) as server, open_store(tmp_path / "state") as store:
        gather_feeds(_feeds(server.url("/feed")), store, now=NOW)
    headers = server.requests[0][1]
    assert headers["User-Agent"].startswith("digest/") and "+http" in headers["User-Agent"]
    assert "application/rss+xml" in headers["Accept"] and "gzip" in headers["Accept-Encoding"]


@pytest.mark.parametrize(
    ("route", "reason", "requests"),
    [
        (Route(b"gone", status=410), "410 Gone", 1),
        (Route(b"nope", status=404), "HTTP 404", 1),
        (Route(b"oops", status=500), "HTTP 500 Internal Server Error (tried 3 times)", 3),
        (Route(b"busy", status=429), "HTTP 429", 3),
        (
            Route(b"<html><body>Not a feed</body></html>", headers={"Content-Type": "text/html"}),
            "HTML page",
            1,
        ),
        (Route(b"{not json", headers={"Content-Type": "application/feed+json"}), "invalid JSON", 1),
        (Route(b"", status=204), "empty response", 1),
        (Route(drop=True), "connection failed (RemoteProtocolError", 3),
    ],
    ids=["410", "404", "500", "429", "html", "bad-json", "empty", "dropped"],
)
def test_failures_are_named_per_feed_and_the_others_go_on(
    tmp_path: Path, route: Route, reason: str, requests: int
) -> None:
    with feed_server({"/bad": route, "/good": Route(RSS)}) as server:
        with open_store(tmp_path / "state") as store:
            bad, good = gather_feeds(_feeds(server.url("/bad"), server.url("/good")), store, now=NOW)
    assert bad.status == "error" and reason in (bad.error or ""), bad.error
    assert "\n" not in (bad.error or "")
    assert route.hits == requests
    assert good.status == "ok" and good.new_posts == 2


def test_a_5xx_is_retried_and_then_the_feed_is_used(tmp_path: Path) -> None:
    route = Route(RSS, failures=2)
    report, requests = _gather_one(tmp_path, route)
    assert (report.status, report.new_posts, requests) == ("ok", 2, 3)


def test_a_read_timeout_is_retried_a_bounded_number_of_times(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fetch_module, "TIMEOUT", fetch_module.httpx.Timeout(0.2))
    report, requests = _gather_one(tmp_path, Route(RSS, delay=0.6))
    assert report.status == "error" and report.error == "timed out (ReadTimeout) (tried 3 times)"
    assert requests == 3


def test_a_slow_server_hits_the_deadline_without_holding_up_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fetch_module, "DEADLINE", 0.5)
    with feed_server({"/slow": Route(RSS, delay=2.0), "/fast": Route(RSS)}) as server:
        with open_store(tmp_path / "state") as store:
            slow, fast = gather_feeds(_feeds(server.url("/slow"), server.url("/fast")), store, now=NOW)
    assert slow.status == "error" and slow.error == "no complete answer within 0.5 s"
    assert fast.status == "ok"


def test_a_slow_loris_server_is_cut_off_by_the_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fetch_module, "DEADLINE", 1.0)
    started = time.monotonic()
    report, _ = _gather_one(tmp_path, Route(RSS, trickle=0.02))  # a byte every 20 ms, forever
    assert report.status == "error" and report.error == "no complete answer within 1 s"
    assert time.monotonic() - started < 3.0


@pytest.mark.parametrize(
    "route",
    [
        Route(RSS, filler=50 * 1024 * 1024),  # declared: refused before reading
        Route(RSS, filler=50 * 1024 * 1024, declare_length=False),  # undeclared: cut while reading
        Route(RSS + b" " * (8 * 1024 * 1024), gzip=True),  # small on the wire, huge once decoded
    ],
    ids=["content-length", "streamed", "gzip-bomb"],
)
def test_a_huge_response_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, route: Route) -> None:
    monkeypatch.setattr(fetch_module, "MAX_BYTES", 1024 * 1024)
    started = time.monotonic()
    report, _ = _gather_one(tmp_path, route)
    assert report.status == "error" and report.error == "response larger than 1 MB; not read"
    assert time.monotonic() - started < 5.0


def test_gzip_responses_are_decoded(tmp_path: Path) -> None:
    report, _ = _gather_one(tmp_path, Route(RSS, gzip=True))
    assert report.status == "ok" and report.new_posts == 2


def test_a_temporary_redirect_is_followed_but_not_remembered(tmp_path: Path) -> None:
    routes = {"/old": Route(status=302, headers={"Location": "/new"}), "/new": Route(RSS)}
    with feed_server(routes) as server, open_store(tmp_path / "state") as store:
        first = gather_feeds(_feeds(server.url("/old")), store, now=NOW)
        gather_feeds(_feeds(server.url("/old")), store, now=NOW)
    assert (first[0].status, first[0].new_posts, first[0].moved_to) == ("ok", 2, None)
    assert [path for path, _ in server.requests] == ["/old", "/new", "/old", "/new"]


@pytest.mark.parametrize("status", [301, 308])
def test_a_permanent_redirect_is_remembered_and_reported(tmp_path: Path, status: int) -> None:
    routes = {"/old": Route(status=status, headers={"Location": "/new"}), "/new": Route(RSS, etag='"n"')}
    with feed_server(routes) as server, open_store(tmp_path / "state") as store:
        [first] = gather_feeds(_feeds(server.url("/old")), store, now=NOW)
        [second] = gather_feeds(_feeds(server.url("/old")), store, now=NOW)
        assert store.moved_to(server.url("/old")) == server.url("/new")
    assert first.status == "ok" and first.moved_to == server.url("/new")
    assert any("moved permanently to" in warning for warning in first.warnings)
    assert second.status == "not_modified" and second.moved_to is None
    assert [path for path, _ in server.requests] == ["/old", "/new", "/new"]


def test_a_move_to_something_that_is_not_a_feed_is_not_remembered(tmp_path: Path) -> None:
    routes = {"/old": Route(status=301, headers={"Location": "/page"}), "/page": Route(b"<html></html>")}
    with feed_server(routes) as server, open_store(tmp_path / "state") as store:
        [report] = gather_feeds(_feeds(server.url("/old")), store, now=NOW)
        assert store.moved_to(server.url("/old")) is None
    assert report.status == "error" and "HTML page" in (report.error or "")


@pytest.mark.parametrize(
    ("routes", "reason"),
    [
        (
            {
                "/a": Route(status=302, headers={"Location": "/b"}),
                "/b": Route(status=301, headers={"Location": "/a"}),
            },
            "redirect loop",
        ),
        (
            {f"/{n}": Route(status=307, headers={"Location": f"/{n + 1}"}) for n in range(10)},
            "more than 5 redirects",
        ),
        ({"/a": Route(status=302, headers={"Location": "ftp://files.example/feed"})}, "not an http(s) URL"),
    ],
    ids=["loop", "too-many", "not-http"],
)
def test_bad_redirects_are_errors(tmp_path: Path, routes: dict[str, Route], reason: str) -> None:
    first = next(iter(routes))
    with feed_server(routes) as server, open_store(tmp_path / "state") as store:
        [report] = gather_feeds(_feeds(server.url(first)), store, now=NOW)
    assert report.status == "error" and reason in (report.error or "")
    assert len(server.requests) <= 6


def test_a_gone_feed_is_marked_skipped_then_tried_again_on_request(tmp_path: Path, newsletter: Path) -> None:
    route = Route(b"", status=410)
    with feed_server({"/feed": route}) as server:
        url = server.url("/feed")
        newsletter.write_text(f'[[feeds]]\nurl = "{url}"\n', encoding="utf-8")
        settings = load_settings(newsletter)
        with open_store(settings.state) as store:
            [first] = gather_feeds(settings.feeds, store, now=NOW)
            [second] = gather_feeds(settings.feeds, store, now=NOW)
        assert route.hits == 1  # the second run did not ask
        route.status, route.body = 200, RSS
        [third] = pipeline.gather(settings, Environment(now=NOW), retry_gone=True)
        [fourth] = pipeline.gather(settings, Environment(now=NOW))
    assert first.status == "error" and (first.error or "").startswith("410 Gone")
    assert (second.status, second.error) == ("error", "gone")
    assert any("--retry-gone" in warning for warning in second.warnings)
    assert (third.status, third.new_posts) == ("ok", 2)
    assert fourth.status == "ok" and route.hits == 3


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (ACCENTED.format(declared="utf-8").encode("utf-8"), "application/rss+xml; charset=iso-8859-1"),
        (ACCENTED.format(declared="iso-8859-1").encode("utf-8"), "application/rss+xml"),
        (ACCENTED.format(declared="utf-8").encode("cp1252"), "application/rss+xml; charset=utf-8"),
        (ACCENTED.format(declared="utf-8").encode("utf-8"), "text/xml"),
    ],
    ids=["header-says-latin1", "declaration-says-latin1", "utf8-declared-cp1252-sent", "text-xml"],
)
def test_wrong_charset_declarations_still_give_the_right_text(
    tmp_path: Path, body: bytes, content_type: str
) -> None:
    with feed_server({"/feed": Route(body, headers={"Content-Type": content_type})}) as server:
        with open_store(tmp_path / "state") as store:
            [report] = gather_feeds(_feeds(server.url("/feed")), store, now=NOW)
            [post] = store.posts_between(datetime(1970, 1, 2, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
    assert report.status == "ok"
    assert post.title == "Noël à Paris — “vœux”" and post.source == "Café"


def test_a_truncated_feed_is_used_with_a_warning_or_refused_when_nothing_is_left(tmp_path: Path) -> None:
    cut = RSS[: RSS.index(b"<item><title>Deux") + 30]
    routes = {"/cut": Route(cut), "/stub": Route(RSS[: RSS.index(b"<link>")])}
    with feed_server(routes) as server, open_store(tmp_path / "state") as store:
        cut_report, stub = gather_feeds(_feeds(server.url("/cut"), server.url("/stub")), store, now=NOW)
    assert cut_report.status == "ok" and cut_report.new_posts >= 1
    assert any("not well-formed" in warning for warning in cut_report.warnings)
    assert stub.status == "error" and "no entry could be read" in (stub.error or "")


def test_a_json_feed_is_gathered(tmp_path: Path) -> None:
    body = json.dumps(JSON_FEED).encode()
    report, _ = _gather_one(tmp_path, Route(body, headers={"Content-Type": "application/feed+json"}))
    assert (report.status, report.new_posts, report.warnings) == ("ok", 2, ())


def test_the_same_post_from_two_feeds_is_stored_for_each_feed(tmp_path: Path) -> None:
    # Each feed's entries are its own; the copies are told apart at selection (tests/test_dedupe.py).
    with feed_server({"/a.xml": Route(RSS), "/b.xml": Route(RSS.replace(b"Served", b"Mirror"))}) as server:
        with open_store(tmp_path / "state") as store:
            reports = gather_feeds(_feeds(server.url("/a.xml"), server.url("/b.xml")), store, now=NOW)
    assert sorted(report.new_posts for report in reports) == [2, 2]


def test_a_failing_run_loses_nothing_already_stored(tmp_path: Path) -> None:
    route = Route(RSS)
    with feed_server({"/feed": route}) as server, open_store(tmp_path / "state") as store:
        gather_feeds(_feeds(server.url("/feed")), store, now=NOW)
        route.body, route.headers = b"<html>maintenance</html>", {"Content-Type": "text/html"}
        [broken] = gather_feeds(_feeds(server.url("/feed")), store, now=NOW)
        kept = store.posts_between(datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    assert broken.status == "error" and len(kept) == 2


def test_fetching_is_concurrent_within_the_global_and_per_host_limits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gather_module, "PER_HOST", 3)
    monkeypatch.setattr(gather_module, "CONCURRENCY", 5)
    routes = {
        f"/{n}": Route(RSS.replace(b"served.example/", f"h{n}.example/".encode()), delay=0.2)
        for n in range(9)
    }
    with (
        feed_server(routes, host="127.0.0.1") as one,
        feed_server(routes, host="127.0.0.2") as two,
        open_store(tmp_path / "state") as store,
    ):
        started = time.monotonic()
        urls = [server.url(path) for path in routes for server in (one, two)]
        reports = gather_feeds(_feeds(*urls), store, now=NOW)
        elapsed = time.monotonic() - started
    assert all(report.status == "ok" for report in reports)
    assert one.peak <= 3 and two.peak <= 3 and one.peak + two.peak >= 5
    assert elapsed < 18 * 0.2 / 2  # far from one after the other (3.6 s)


def test_a_big_run_parses_in_worker_processes_and_still_names_failures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pools: list[object] = []

    class Recorded(gather_module.ProcessPoolExecutor):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            pools.append(self)

    monkeypatch.setattr(gather_module, "ProcessPoolExecutor", Recorded)
    monkeypatch.setattr(gather_module, "POOL_FROM", 2)
    monkeypatch.setattr(gather_module.os, "cpu_count", lambda: 2)
    with feed_server({"/a": Route(RSS), "/b": Route(b"<html><p>hi</p></html>")}) as server:
        with open_store(tmp_path / "state") as store:
            a, b = gather_feeds(_feeds(server.url("/a"), server.url("/b")), store, now=NOW)
    assert len(pools) == 1
    assert (a.status, a.new_posts) == ("ok", 2)
    assert (b.status, b.error) == ("error", "an HTML page, not a feed")


def test_the_default_limits_fetch_200_feeds_on_20_hosts_16_or_more_at_a_time() -> None:
    assert min(gather_module.CONCURRENCY, 20 * gather_module.PER_HOST) >= 16


# The command line: --json keeps its shape, exit codes follow failures, --strict, --retry-gone.

runner = CliRunner()


def _cli(config: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(
        app,
        ["gather", "--config", str(config), *args],
        env={"DIGEST_NOW": "2026-11-26T06:00:00+00:00", "NO_COLOR": "1"},
    )
    return result.exit_code, result.stdout, result.stderr


def test_cli_reports_each_feed_and_exits_0_when_only_some_failed(tmp_path: Path) -> None:
    with feed_server({"/good": Route(RSS), "/gone": Route(b"", status=410)}) as server:
        config = tmp_path / "digest.toml"
        config.write_text(
            f'[[feeds]]\nurl = "{server.url("/good")}"\n[[feeds]]\nurl = "{server.url("/gone")}"\n',
            encoding="utf-8",
        )
        code, out, _ = _cli(config, "--json")
        strict_code, _, err = _cli(config, "--strict")
        retried = json.loads(_cli(config, "--json", "--retry-gone")[1])
    assert code == 0
    feeds = json.loads(out)["feeds"]
    keys = {"url", "status", "new_posts", "error", "warnings", "moved_to"}
    assert [set(feed) for feed in feeds] == [keys] * 2
    assert feeds[0] == {
        "url": server.url("/good"),
        "status": "ok",
        "new_posts": 2,
        "error": None,
        "warnings": [],
        "moved_to": None,
    }
    assert feeds[1]["status"] == "error" and feeds[1]["error"].startswith("410 Gone")
    assert feeds[1]["warnings"] and "retry-gone" in feeds[1]["warnings"][0]  # the table's warnings too
    assert strict_code == 1
    assert "gone" in err and "not_modified" not in err and "2 feeds, 1 failed" in err
    assert retried["feeds"][1]["error"].startswith("410 Gone")  # asked again, not skipped


def test_cli_exits_1_when_every_feed_failed(tmp_path: Path) -> None:
    with feed_server({}) as server:
        config = tmp_path / "digest.toml"
        config.write_text(f'[[feeds]]\nurl = "{server.url("/absent")}"\n', encoding="utf-8")
        code, _, err = _cli(config)
    assert code == 1 and "HTTP 404" in err and "Traceback" not in err


def test_cli_prints_feed_text_literally(tmp_path: Path) -> None:
    config = tmp_path / "digest.toml"
    config.write_text('[[feeds]]\nurl = "[/bold].xml"\n', encoding="utf-8")  # not Rich markup
    code, _, err = _cli(config)
    assert code == 1 and "[/bold].xml" in err and "Traceback" not in err


def test_posts_are_stored_as_post_to_dict_would_store_them(
    make_post: Callable[..., Post], tmp_path: Path
) -> None:
    posts = [make_post(), make_post(image=None, categories=(), comments=3)]
    for post in posts:  # the fast, shallow serialiser agrees with the dataclass's own
        reference = {
            **asdict(post),
            "published": post.published.isoformat(),
            "categories": list(post.categories),
        }
        assert post_to_dict(post) == reference
    with open_store(tmp_path / "state") as store:
        store.save_gathered([("feed", "Feed", FeedCache('"e"'), posts)], NOW)
        with store.light_sync():
            assert store.db.execute("PRAGMA synchronous").fetchone() == (1,)
        assert store.db.execute("PRAGMA synchronous").fetchone() == (2,)
        assert (
            store.posts_between(datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)) == posts
        )
