"""Gather: fetch every feed concurrently, parse, store new posts.

The network and the files are touched here and nowhere else in the stage; parsing is
`parse.parse_feed`, storage is `store.Store`. One failing feed is reported and skipped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx

from digest import __version__
from digest.config import FeedSettings
from digest.errors import FeedError
from digest.models import FeedReport
from digest.parse import parse_feed
from digest.store import FeedCache, Store

USER_AGENT = f"digest/{__version__} (+https://github.com/digest-newsletter/digest)"
MAX_BYTES = 10 * 1024 * 1024
CONCURRENCY = 32
PER_HOST = 4
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
DEADLINE = 30.0  # seconds for one feed, retries included


@dataclass(frozen=True)
class Fetched:
    """What one fetch returned: a body to parse, or None when the server said 304."""

    body: bytes | None
    headers: dict[str, str]
    cache: FeedCache


ProgressCallback = Callable[[FeedReport], None]


def gather_feeds(
    feeds: Sequence[FeedSettings],
    store: Store,
    *,
    now: datetime,
    on_done: ProgressCallback | None = None,
) -> list[FeedReport]:
    """Fetch, parse and store every feed; one report per feed, in the order of `feeds`."""
    return asyncio.run(_gather(feeds, store, now, on_done))


async def _gather(
    feeds: Sequence[FeedSettings], store: Store, now: datetime, on_done: ProgressCallback | None
) -> list[FeedReport]:
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    semaphore = asyncio.Semaphore(CONCURRENCY)
    hosts: dict[str, asyncio.Semaphore] = {}
    async with httpx.AsyncClient(
        timeout=TIMEOUT, limits=limits, headers={"User-Agent": USER_AGENT}, follow_redirects=True
    ) as client:

        async def one(feed: FeedSettings) -> FeedReport:
            host = urlsplit(feed.location or feed.url).netloc
            per_host = hosts.setdefault(host, asyncio.Semaphore(PER_HOST))
            async with semaphore, per_host:
                report = await _gather_one(client, feed, store, now)
            if on_done:
                on_done(report)
            return report

        return list(await asyncio.gather(*(one(feed) for feed in feeds)))


async def _gather_one(
    client: httpx.AsyncClient, feed: FeedSettings, store: Store, now: datetime
) -> FeedReport:
    started = time.perf_counter()
    try:
        fetched = await asyncio.wait_for(
            _fetch(client, feed.location or feed.url, store.feed_cache(feed.url)), DEADLINE
        )
        if fetched.body is None:
            return FeedReport(feed.url, "not_modified", seconds=time.perf_counter() - started)
        parsed = parse_feed(fetched.body, feed.url, now=now, headers=fetched.headers, name=feed.name)
        new = store.add_posts(parsed.posts)
        store.save_feed(feed.url, parsed.title, fetched.cache, now)
        return FeedReport(
            feed.url,
            "ok",
            new_posts=new,
            warnings=parsed.warnings,
            seconds=time.perf_counter() - started,
        )
    except FeedError as exc:
        return FeedReport(feed.url, "error", error=exc.reason, seconds=time.perf_counter() - started)
    except TimeoutError:
        return FeedReport(
            feed.url,
            "error",
            error=f"no answer within {DEADLINE:.0f} s",
            seconds=time.perf_counter() - started,
        )


async def _fetch(client: httpx.AsyncClient, url: str, cache: FeedCache) -> Fetched:
    if not url.startswith(("http://", "https://")):
        return _read_file(url)
    headers = {"Accept": "application/atom+xml, application/rss+xml, application/xml;q=0.9, */*;q=0.5"}
    if cache.etag:
        headers["If-None-Match"] = cache.etag
    if cache.last_modified:
        headers["If-Modified-Since"] = cache.last_modified
    try:
        async with client.stream("GET", url, headers=headers) as response:
            if response.status_code == 304:
                return Fetched(None, dict(response.headers), cache)
            if response.status_code == 410:
                raise FeedError(url, "410 Gone: the feed was removed", hint="remove it from digest.toml")
            if response.status_code >= 400:
                raise FeedError(url, f"HTTP {response.status_code} {response.reason_phrase}")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_BYTES:
                    raise FeedError(url, f"response larger than {MAX_BYTES // (1024 * 1024)} MB; not read")
            new_cache = FeedCache(response.headers.get("ETag"), response.headers.get("Last-Modified"))
            return Fetched(bytes(body), dict(response.headers), new_cache)
    except httpx.TimeoutException as exc:
        raise FeedError(url, f"timed out ({type(exc).__name__})") from exc
    except httpx.HTTPError as exc:
        raise FeedError(url, f"{type(exc).__name__}: {exc}") from exc


def _read_file(url: str) -> Fetched:
    path = Path(unquote(urlsplit(url).path)) if url.startswith("file://") else Path(url)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise FeedError(url, f"file larger than {MAX_BYTES // (1024 * 1024)} MB; not read")
        return Fetched(path.read_bytes(), {}, FeedCache())
    except FileNotFoundError as exc:
        raise FeedError(
            url, "no such file", hint="check the path in digest.toml (relative to the file)"
        ) from exc
    except OSError as exc:
        raise FeedError(url, f"cannot read: {exc.strerror}") from exc
