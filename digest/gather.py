"""Gather: fetch every feed concurrently, parse, store new posts.

The network and the feed files are touched here and nowhere else; parsing is `parse.parse_feed`,
storage is `store.Store`. One failing feed is reported and skipped: the others go on, and what is
already stored stays. docs/gather.md explains the limits, retries, redirects and gone feeds.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import ssl
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import httpx

from digest import __version__
from digest.config import FeedSettings
from digest.errors import FeedError
from digest.models import FeedReport
from digest.parse import ParsedFeed, parse_or_reason
from digest.store import FeedCache, Store

USER_AGENT = f"digest/{__version__} (newsletter digest; +https://github.com/digest-newsletter/digest)"
ACCEPT = (
    "application/atom+xml, application/rss+xml, application/feed+json, "
    "application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5"
)
MAX_BYTES = 10 * 1024 * 1024  # a feed larger than this is refused, compressed or not
CONCURRENCY = 32  # feeds fetched at once, over all hosts
PER_HOST = 4  # ... and from any one host, so that a big site is not hammered
TIMEOUT = httpx.Timeout(10.0, connect=5.0)  # between two bytes; see DEADLINE for the whole
BATCH_PAUSE = 0.05  # seconds; at most this much later in the store, never lost
DEADLINE = 30.0  # seconds for one feed's fetch, redirects and retries included
RETRIES = 2  # more attempts after a timeout, a dropped connection, a 5xx or a 429
BACKOFF = 0.5  # seconds before the first retry, doubled for each next one
MAX_REDIRECTS = 5
PARSE_WORKERS = 4  # processes that parse in a big run (at most one per CPU)
POOL_FROM = 24  # feeds in a run from which parsing moves to worker processes


@dataclass(frozen=True)
class Fetched:
    """What one fetch returned: a body to parse, or None when the server said 304."""

    body: bytes | None
    headers: dict[str, str]
    cache: FeedCache
    moved_to: str | None = None  # where every redirect followed was permanent (301/308)


ProgressCallback = Callable[[FeedReport], None]


class _Gone(FeedError):
    """410 Gone: the feed is marked in the store and skipped by later runs."""


class _Transient(Exception):
    """A failure worth another try: a timeout, a dropped connection, a 5xx or a 429."""


def gather_feeds(
    feeds: Sequence[FeedSettings],
    store: Store,
    *,
    now: datetime,
    on_done: ProgressCallback | None = None,
) -> list[FeedReport]:
    """Fetch, parse and store every feed; one report per feed, in the order of `feeds`."""
    with store.light_sync():
        return asyncio.run(_gather(feeds, store, now, on_done))


@dataclass(frozen=True)
class _Outcome:
    """One feed fetched (and parsed), waiting to be recorded in the store."""

    index: int
    feed: FeedSettings
    result: Fetched | FeedError  # a FeedError when fetching or parsing failed
    parsed: ParsedFeed | None = None  # None for a 304, or a failure
    seconds: float = 0.0


async def _gather(
    feeds: Sequence[FeedSettings], store: Store, now: datetime, on_done: ProgressCallback | None
) -> list[FeedReport]:
    """Fetch and parse concurrently; record in the store here only, a batch at a time."""
    done: asyncio.Queue[_Outcome] = asyncio.Queue()
    reports: list[FeedReport] = [FeedReport(feed.url, "error") for feed in feeds]
    async with _Clients() as clients, _Parser(len(feeds)) as parser:
        run = _Run(clients, store, parser, now)
        tasks = [asyncio.create_task(run.one(index, feed, done)) for index, feed in enumerate(feeds)]
        remaining = len(feeds)
        while remaining:
            # Whatever finished meanwhile is recorded together: one commit, not one per feed. A
            # short pause lets a batch fill up while the other feeds are still arriving.
            batch = [await done.get()]
            if remaining > 1:
                await asyncio.sleep(BATCH_PAUSE)
            while not done.empty():
                batch.append(done.get_nowait())
            for outcome, report in zip(batch, _record(store, batch, now), strict=True):
                reports[outcome.index] = report
                if on_done:
                    on_done(report)
            remaining -= len(batch)
        await asyncio.gather(*tasks)
    return reports


class _Clients:
    """One HTTP client per host, each pooling at most PER_HOST connections.

    httpcore scans its whole pool on every request state change; one big shared pool made that
    scan the main cost of a large gather (measured with benchmarks/gather.py).
    """

    def __init__(self) -> None:
        self.clients: dict[str, httpx.AsyncClient] = {}
        self.tls = ssl.create_default_context()  # built once: loading the CA bundle costs ~50 ms

    def for_host(self, host: str) -> httpx.AsyncClient:
        if host not in self.clients:
            self.clients[host] = httpx.AsyncClient(
                timeout=TIMEOUT,
                verify=self.tls,
                limits=httpx.Limits(max_connections=PER_HOST, max_keepalive_connections=PER_HOST),
                headers={"User-Agent": USER_AGENT, "Accept": ACCEPT},
                follow_redirects=False,  # followed by hand, to tell permanent moves from temporary ones
            )
        return self.clients[host]

    async def __aenter__(self) -> _Clients:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await asyncio.gather(*(client.aclose() for client in self.clients.values()))


class _Run:
    """One gather run: the shared client, limits and parser; fetches and parses one feed at a time."""

    def __init__(self, clients: _Clients, store: Store, parser: _Parser, now: datetime) -> None:
        self.clients, self.store, self.parser, self.now = clients, store, parser, now
        self.slots = asyncio.Semaphore(CONCURRENCY)
        self.hosts: defaultdict[str, asyncio.Semaphore] = defaultdict(lambda: asyncio.Semaphore(PER_HOST))

    async def one(self, index: int, feed: FeedSettings, done: asyncio.Queue[_Outcome]) -> None:
        try:
            outcome = await self.outcome(index, feed)
        except Exception as exc:  # a bug met on one feed must neither stall nor lose the run
            reason = f"unexpected {type(exc).__name__}: {_one_line(exc)}"
            outcome = _Outcome(index, feed, FeedError(feed.url, reason))
        done.put_nowait(outcome)

    async def outcome(self, index: int, feed: FeedSettings) -> _Outcome:
        if self.store.gone_since(feed.url):
            return _Outcome(index, feed, _StillGone(feed.url, "gone"))
        location = self.store.moved_to(feed.url) or feed.location or feed.url
        # The host's slot first: a feed waiting for its host must not hold a global slot.
        host = urlsplit(location).netloc
        async with self.hosts[host], self.slots:
            started = time.perf_counter()
            try:
                fetched = await _fetch(self.clients.for_host(host), location, self.store.feed_cache(feed.url))
            except FeedError as exc:
                return _Outcome(index, feed, exc, seconds=time.perf_counter() - started)
        try:
            parsed = (
                None
                if fetched.body is None
                else await self.parser.parse(fetched.body, fetched.headers, feed, self.now)
            )
        except FeedError as exc:
            return _Outcome(index, feed, exc, seconds=time.perf_counter() - started)
        return _Outcome(index, feed, fetched, parsed, seconds=time.perf_counter() - started)


class _StillGone(FeedError):
    """Marked gone by an earlier run: not fetched."""


def _record(store: Store, batch: list[_Outcome], now: datetime) -> list[FeedReport]:
    """Store a batch's posts in one transaction, note moves and gone feeds; one report each."""
    gathered = [
        (o.feed.url, o.parsed.title, o.result.cache, o.parsed.posts)
        for o in batch
        if o.parsed and isinstance(o.result, Fetched)
    ]
    counts = iter(store.save_gathered(gathered, now))
    return [_report(store, o, next(counts) if o.parsed else 0, now) for o in batch]


def _report(store: Store, outcome: _Outcome, new: int, now: datetime) -> FeedReport:
    url, result, seconds = outcome.feed.url, outcome.result, outcome.seconds
    if isinstance(result, _StillGone):
        return FeedReport(url, "error", error="gone", warnings=(_GONE_HINT,))
    if isinstance(result, _Gone):
        store.mark_gone(url, now)
        return FeedReport(url, "error", error=result.reason, warnings=(_GONE_HINT,), seconds=seconds)
    if isinstance(result, FeedError):
        return FeedReport(url, "error", error=result.reason, seconds=seconds)
    # A move is remembered only once its target has answered with a feed (or a 304).
    moved = _remember_move(result, outcome.feed, store, now)
    if outcome.parsed is None:
        return FeedReport(
            url, "not_modified", warnings=_moved_warning(moved), seconds=seconds, moved_to=moved
        )
    warnings = _moved_warning(moved) + outcome.parsed.warnings
    return FeedReport(url, "ok", new_posts=new, warnings=warnings, seconds=seconds, moved_to=moved)


class _Parser:
    """`parse_feed` off the event loop: in worker processes for a big run, else in a thread.

    Parsing is pure Python and CPU-bound: with hundreds of feeds it, not the network, sets the
    pace, so a big run spreads it over the machine's cores. A small one is not worth the start.
    """

    def __init__(self, feeds: int) -> None:
        big = feeds >= POOL_FROM and sys.platform == "linux"  # see `parse` for why only Linux
        self.workers = min(PARSE_WORKERS, os.cpu_count() or 1) if big else 1
        self.pool: ProcessPoolExecutor | None = None

    async def __aenter__(self) -> _Parser:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self.pool:
            self.pool.shutdown(wait=True, cancel_futures=True)

    async def parse(
        self, body: bytes, headers: dict[str, str], feed: FeedSettings, now: datetime
    ) -> ParsedFeed:
        if self.workers > 1 and self.pool is None:  # started on the first body: a run of 304s needs none
            # "fork" starts a worker in milliseconds; "spawn" re-imports the whole command line in
            # each (seconds). The children only parse: no event loop, store or terminal, so the
            # threads left behind do not matter. (On macOS, system libraries make fork unsafe.)
            self.pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("fork"))
        loop = asyncio.get_running_loop()
        job = (body, feed.url, headers, now, feed.name)
        try:
            result = await loop.run_in_executor(self.pool, parse_or_reason, *job)
        except BrokenProcessPool:  # a worker died (out of memory?): go on in a thread
            self.workers, self.pool = 1, None
            result = await loop.run_in_executor(None, parse_or_reason, *job)
        if isinstance(result, str):
            raise FeedError(feed.url, result)
        return result


_GONE_HINT = "the server said 410 Gone, so it is skipped; `digest gather --retry-gone` fetches it again"


def _remember_move(fetched: Fetched, feed: FeedSettings, store: Store, now: datetime) -> str | None:
    if fetched.moved_to and fetched.moved_to != store.moved_to(feed.url):
        store.record_move(feed.url, fetched.moved_to, now)
        return fetched.moved_to
    return None


def _moved_warning(moved: str | None) -> tuple[str, ...]:
    if not moved:
        return ()
    return (f"moved permanently to {moved}; fetched there from now on (update digest.toml to match)",)


async def _fetch(client: httpx.AsyncClient, url: str, cache: FeedCache) -> Fetched:
    """One feed's fetch, within DEADLINE whatever the server does (slow-loris included)."""
    if not url.startswith(("http://", "https://")):
        return _read_file(url)
    try:
        async with asyncio.timeout(DEADLINE):
            return await _fetch_with_retries(client, url, cache)
    except TimeoutError:
        raise FeedError(url, f"no complete answer within {DEADLINE:g} s") from None


async def _fetch_with_retries(client: httpx.AsyncClient, url: str, cache: FeedCache) -> Fetched:
    for attempt in range(RETRIES + 1):
        try:
            return await _follow(client, url, cache)
        except _Transient as exc:
            if attempt == RETRIES:
                raise FeedError(url, f"{exc} (tried {RETRIES + 1} times)") from exc
        await asyncio.sleep(BACKOFF * 2**attempt)
    raise AssertionError("unreachable")  # pragma: no cover


async def _follow(client: httpx.AsyncClient, url: str, cache: FeedCache) -> Fetched:
    """GET `url`, following redirects by hand; `moved_to` is set when every hop was permanent."""
    seen, current, permanent = [url], url, True
    for _ in range(MAX_REDIRECTS + 1):
        try:
            async with client.stream("GET", current, headers=_conditional(cache)) as response:
                if not (response.status_code in _REDIRECTS and "Location" in response.headers):
                    fetched = await _read(response, url, cache)
                    moved = current if permanent and current != url else None
                    return replace(fetched, moved_to=moved)
                target = urljoin(current, response.headers["Location"])
                permanent = permanent and response.status_code in (301, 308)
        except httpx.TimeoutException as exc:
            raise _Transient(f"timed out ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise _Transient(f"connection failed ({type(exc).__name__}: {_one_line(exc)})") from exc
        except httpx.HTTPError as exc:
            raise FeedError(url, f"{type(exc).__name__}: {_one_line(exc)}") from exc
        if urlsplit(target).scheme not in ("http", "https"):
            raise FeedError(url, f"redirected to {target[:100]!r}, which is not an http(s) URL")
        if target in seen:
            raise FeedError(url, f"redirect loop: {target[:100]} was already visited")
        seen.append(target)
        current = target
    raise FeedError(url, f"more than {MAX_REDIRECTS} redirects")


_REDIRECTS = (301, 302, 303, 307, 308)


def _conditional(cache: FeedCache) -> dict[str, str]:
    headers = {}
    if cache.etag:
        headers["If-None-Match"] = cache.etag
    if cache.last_modified:
        headers["If-Modified-Since"] = cache.last_modified
    return headers


async def _read(response: httpx.Response, url: str, cache: FeedCache) -> Fetched:
    status = response.status_code
    if status == 304:
        await response.aread()  # nothing to parse, but reading the (empty) end keeps the connection
        return Fetched(None, {}, cache)
    if status == 410:
        raise _Gone(url, "410 Gone: the feed was removed", hint="remove it from digest.toml")
    if status >= 500 or status == 429:
        raise _Transient(f"HTTP {status} {response.reason_phrase}")
    if not 200 <= status < 300:
        raise FeedError(url, f"HTTP {status} {response.reason_phrase}")
    too_big = f"response larger than {MAX_BYTES // (1024 * 1024)} MB; not read"
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > MAX_BYTES:
        raise FeedError(url, too_big)
    body = bytearray()
    async for chunk in response.aiter_bytes():  # decoded: the cap also stops gzip bombs
        body += chunk
        if len(body) > MAX_BYTES:
            raise FeedError(url, too_big)
    headers = {
        name: response.headers[name]
        for name in ("Content-Type", "Content-Language", "Content-Location")
        if name in response.headers
    }
    headers.setdefault("Content-Location", str(response.url))  # relative links resolve against it
    new_cache = FeedCache(response.headers.get("ETag"), response.headers.get("Last-Modified"))
    return Fetched(bytes(body), headers, new_cache)


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


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__
