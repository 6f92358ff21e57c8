"""Gather: for every feed, concurrently, fetch → decide → write.

Per feed: read what the store knows of it (`StoredFeed`), fetch it (a `fetch.Fetcher`: the
network and feed files are touched there and nowhere else), parse the bytes (a `Parser`), then
`gather_decide.decide` says, purely, what to store and what to report. `write` applies the
intents of a batch of feeds to the store in one transaction. One failing feed is reported and
skipped: the others go on, and what is already stored stays. The fetcher and the parser can be
swapped (tests/fakes_gather.py). docs/gather.md explains the limits, retries, redirects and gone
feeds.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol
from urllib.parse import urlsplit

from digest import article
from digest.config import FeedSettings
from digest.entries import SUMMARY_CHARS
from digest.errors import FeedError
from digest.fetch import PER_HOST, Fetcher, HttpFetcher, reason_of
from digest.gather_decide import Fetched, Intents, StoredFeed, decide, location
from digest.models import FeedReport, Post
from digest.parse import ParsedFeed, parse_or_reason
from digest.storage import FeedCache, FeedStore

CONCURRENCY = 128  # feeds fetched at once, over all hosts (and PER_HOST from any one host)
BATCH_PAUSE = 0.05  # seconds; at most this much later in the store, never lost
PARSE_WORKERS = 4  # processes that parse in a big run (at most one per CPU)
POOL_FROM = 24  # feeds in a run from which parsing moves to worker processes

ProgressCallback = Callable[[FeedReport], None]


class Parser(Protocol):
    async def parse(
        self, body: bytes, headers: Mapping[str, str], feed: FeedSettings, now: datetime
    ) -> ParsedFeed | str:
        """The feed in `body` (with the answer's `headers`), or the reason it could not be read."""
        ...


def gather_feeds(
    feeds: Sequence[FeedSettings],
    store: FeedStore,
    *,
    now: datetime,
    on_done: ProgressCallback | None = None,
    fetcher: Fetcher | None = None,
    parser: Parser | None = None,
) -> list[FeedReport]:
    """Fetch, parse and store every feed; one report per feed, in the order of `feeds`.

    `fetcher` defaults to `fetch.HttpFetcher`, `parser` to `WorkerParser` (`parse.parse_feed`).
    """
    with store.light_sync():
        return asyncio.run(_gather(feeds, store, now, on_done, fetcher, parser))


@dataclass(frozen=True)
class _Outcome:
    """One feed fetched (and parsed), waiting for its decision."""

    index: int
    stored: StoredFeed
    fetched: Fetched | FeedError | None = None  # None: not fetched (gone)
    parsed: ParsedFeed | str | None = None  # None: nothing to parse; str: why parsing failed
    seconds: float = 0.0


async def _gather(
    feeds: Sequence[FeedSettings],
    store: FeedStore,
    now: datetime,
    on_done: ProgressCallback | None,
    fetcher: Fetcher | None,
    parser: Parser | None,
) -> list[FeedReport]:
    """Fetch and parse concurrently; decide and write here only, a batch at a time."""
    done: asyncio.Queue[_Outcome] = asyncio.Queue()
    reports: list[FeedReport] = [FeedReport(feed.url, "error") for feed in feeds]
    async with AsyncExitStack() as stack:
        if fetcher is None:
            fetcher = await stack.enter_async_context(HttpFetcher())
        if parser is None:
            parser = await stack.enter_async_context(WorkerParser(len(feeds)))
        run = _Run(fetcher, parser, store, now)
        tasks = [asyncio.create_task(run.one(index, feed, done)) for index, feed in enumerate(feeds)]
        remaining = len(feeds)
        while remaining:
            # Whatever finished meanwhile is written together: one commit, not one per feed. A
            # short pause lets a batch fill up while the other feeds are still arriving.
            batch = [await done.get()]
            if remaining > 1:
                await asyncio.sleep(BATCH_PAUSE)
            while not done.empty():
                batch.append(done.get_nowait())
            for outcome, report in zip(batch, _decide_and_write(store, batch, now), strict=True):
                reports[outcome.index] = report
                if on_done:
                    on_done(report)
            remaining -= len(batch)
        await asyncio.gather(*tasks)
    return reports


class _Run:
    """One gather run: the fetcher, parser and limits; reads, fetches and parses one feed at a time."""

    def __init__(self, fetcher: Fetcher, parser: Parser, store: FeedStore, now: datetime) -> None:
        self.fetcher, self.parser, self.store, self.now = fetcher, parser, store, now
        self.slots = asyncio.Semaphore(CONCURRENCY)
        self.hosts: defaultdict[str, asyncio.Semaphore] = defaultdict(lambda: asyncio.Semaphore(PER_HOST))

    async def one(self, index: int, feed: FeedSettings, done: asyncio.Queue[_Outcome]) -> None:
        try:
            outcome = await self.outcome(index, feed)
        except Exception as exc:  # a bug met on one feed must neither stall nor lose the run
            reason = f"unexpected {type(exc).__name__}: {reason_of(exc)}"
            outcome = _Outcome(index, StoredFeed(feed.url), FeedError(feed.url, reason))
        done.put_nowait(outcome)

    async def outcome(self, index: int, feed: FeedSettings) -> _Outcome:
        stored = _stored(self.store, feed.url)
        where = location(feed, stored)
        if where is None:
            return _Outcome(index, stored)
        # The host's slot first: a feed waiting for its host must not hold a global slot.
        async with self.hosts[urlsplit(where).netloc], self.slots:
            started = time.perf_counter()
            try:
                fetched = await self.fetcher.fetch(where, stored.cache)
            except FeedError as exc:
                return _Outcome(index, stored, exc, seconds=time.perf_counter() - started)
        parsed = None
        if 200 <= fetched.status < 300:
            parsed = await self.parser.parse(fetched.body, fetched.headers, feed, self.now)
            if feed.enrich and isinstance(parsed, ParsedFeed):
                parsed = await self.enrich(parsed)
        return _Outcome(index, stored, fetched, parsed, seconds=time.perf_counter() - started)

    async def enrich(self, parsed: ParsedFeed) -> ParsedFeed:
        """New posts with no picture or a teaser, completed from their article pages (docs/gather.md):
        fetched concurrently, with the feeds' limits, once (the store caches what was read)."""
        known = self.store.stored_posts([post.id for post in parsed.posts])
        wanted = [post for post in parsed.posts if post.id not in known and article.wants(post)]
        if not wanted:
            return parsed
        cached = self.store.articles(post.url for post in wanted)
        done = await asyncio.gather(*(self.enriched(post, cached.get(post.url)) for post in wanted))
        by_id = {post.id: post for post in done}
        return replace(parsed, posts=tuple(by_id.get(post.id, post) for post in parsed.posts))

    async def enriched(self, post: Post, cached: str | None) -> Post:
        if cached is not None:
            return article.enriched(post, article.Article.from_json(cached), SUMMARY_CHARS)
        page = b""
        async with self.hosts[urlsplit(post.url).netloc], self.slots:
            try:
                fetched = await self.fetcher.fetch(post.url, FeedCache())
                page = fetched.body if 200 <= fetched.status < 300 else b""
            except FeedError:
                pass  # the post stays as its feed gave it; the next new post of its page tries again
        names = (post.source, post.author)
        found = await asyncio.to_thread(article.read_article, page, post.url, title=post.title, names=names)
        self.store.save_articles([(post.url, found.to_json())], self.now)
        return article.enriched(post, found, SUMMARY_CHARS)


def _stored(store: FeedStore, url: str) -> StoredFeed:
    return StoredFeed(url, store.feed_cache(url), store.moved_to(url), store.gone_since(url))


def _decide_and_write(store: FeedStore, batch: Sequence[_Outcome], now: datetime) -> list[FeedReport]:
    """Decide each feed of a batch, then write all their intents at once; one report each."""
    ids = [post.id for o in batch if isinstance(o.parsed, ParsedFeed) for post in o.parsed.posts]
    known = store.stored_posts(ids) if ids else {}
    intents = [decide(replace(o.stored, posts=known), o.fetched, o.parsed) for o in batch]
    counts = write(store, intents, now)
    return [
        replace(i.report, new_posts=count, seconds=o.seconds, title=i.title)
        for o, i, count in zip(batch, intents, counts, strict=True)
    ]


def write(store: FeedStore, batch: Sequence[Intents], now: datetime) -> list[int]:
    """Apply a batch of feeds' intents in one transaction, dated `now`; how many posts of each
    feed were stored as new (fewer than intended when another feed stored one under its URL)."""
    counts = iter(
        store.save_gathered(
            [(i.url, i.title, i.cache, i.new) for i in batch if i.cache is not None],
            now,
            updated=[post for i in batch for post in i.changed],
            moves=[(i.url, i.move_to) for i in batch if i.move_to],
            gone=[i.url for i in batch if i.gone],
        )
    )
    return [next(counts) if i.cache is not None else 0 for i in batch]


class WorkerParser:
    """The default parser: `parse_or_reason` off the event loop, in worker processes for a big
    run, else in a thread. Use it as an async context manager (it owns the pool).

    Parsing is pure Python and CPU-bound: with hundreds of feeds it, not the network, sets the
    pace, so a big run spreads it over the machine's cores. A small one is not worth the start.
    """

    def __init__(self, feeds: int) -> None:
        big = feeds >= POOL_FROM and sys.platform == "linux"  # see `parse` for why only Linux
        self.workers = min(PARSE_WORKERS, os.cpu_count() or 1) if big else 1
        self.pool: ProcessPoolExecutor | None = None

    async def __aenter__(self) -> WorkerParser:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self.pool:
            self.pool.shutdown(wait=True, cancel_futures=True)

    async def parse(
        self, body: bytes, headers: Mapping[str, str], feed: FeedSettings, now: datetime
    ) -> ParsedFeed | str:
        if self.workers > 1 and self.pool is None:  # started on the first body: a run of 304s needs none
            # "fork" starts a worker in milliseconds; "spawn" re-imports the whole command line in
            # each (seconds). The children only parse: no event loop, store or terminal, so the
            # threads left behind do not matter. (On macOS, system libraries make fork unsafe.)
            self.pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("fork"))
        loop = asyncio.get_running_loop()
        job = (body, feed.url, headers, now, feed.name)
        try:
            return await loop.run_in_executor(self.pool, parse_or_reason, *job)
        except BrokenProcessPool:  # a worker died (out of memory?): go on in a thread
            self.workers, self.pool = 1, None
            return await loop.run_in_executor(None, parse_or_reason, *job)
