"""Benchmark: gather 200 feeds x 20 items behind 100 ms of latency, against sequential feedparser.

    .venv/bin/python -m benchmarks.gather [--feeds 200] [--items 20] [--hosts 20] [--latency 0.1]

The feeds are served by a separate process on 20 loopback addresses (127.0.0.1-127.0.0.20;
on Linux all of 127/8 is loopback; elsewhere 20 ports of 127.0.0.1), every answer held back by
the latency, with an ETag. Three runs:

1. digest's gather, into a throw-away store;
2. the baseline: `feedparser.parse(url)` one feed after the other. To keep the benchmark short it
   runs on the first `--baseline` feeds (40 by default) and is extrapolated to all of them, which
   the report says; `--full-baseline` runs it on every feed;
3. digest's gather again, against the same server: conditional GET should turn it into 304s.

It also prints two floors for digest's time: the latency's (feeds / feeds at once x latency)
and the parsing's (CPU per feed x feeds / CPUs). On a machine with few CPUs the second one, not
the network, sets the pace. Then `benchmarks.memory` reports the peak memory of gathering the shared
real-feed corpus plus eight gzip bombs (goal: under 150 MB), and `benchmarks.scale` gathers 2,000
and 5,000 local feeds against feedparser alone on all cores, with the peak memory of the gathering
process and of its parse workers (`--scale` to choose the sizes, `--scale` with none to skip).
Nothing is written in the repository.
Exit status 1 when digest is not 10x faster than the baseline, the second run gets fewer than 95%
of 304s, or the peak memory is over its goal.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from multiprocessing.synchronize import Event
from pathlib import Path
from queue import Queue

import feedparser

from benchmarks import memory
from digest.config import FeedSettings
from digest.gather import CONCURRENCY, PER_HOST, gather_feeds
from digest.models import FeedReport
from digest.parse import parse_feed
from digest.store import open_store

NOW = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
SPEED_UP = 10.0
NOT_MODIFIED = 0.95


def feed_xml(number: int, items: int) -> bytes:
    """A plausible RSS 2.0 feed: titles, links, guids, dates, authors, categories, HTML summaries."""
    host = f"blog{number}.example.org"
    entries = []
    for item in range(items):
        published = format_datetime(NOW - timedelta(hours=7 * item + number))
        entries.append(
            f"<item><title>Post {item} of blog {number}: notes &amp; links</title>"
            f"<link>https://{host}/{item}?utm_source=rss</link><guid>https://{host}/{item}</guid>"
            f"<pubDate>{published}</pubDate><author>editor@{host} (Editor {number})</author>"
            f"<category>Web</category><category>Email</category>"
            f"<description><![CDATA[<p>Summary of post {item}, with <em>some</em> markup and "
            f'<a href="/related/{item}">a relative link</a>. ' + "Words of the week. " * 12 + "</p>"
            f'<p><img src="https://{host}/img/{item}.jpg" alt="Picture {item}"></p>]]></description></item>'
        )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Blog {number}</title>'
        f"<link>https://{host}/</link><language>en</language>{''.join(entries)}</channel></rss>"
    ).encode()


def serve(feeds: int, items: int, hosts: int, latency: float, urls: Queue[list[str]], stop: Event) -> None:
    """In its own process, so that the servers' work does not compete with digest's interpreter."""
    asyncio.run(_serve(feeds, items, hosts, latency, urls, stop))


async def _serve(
    feeds: int, items: int, hosts: int, latency: float, urls: Queue[list[str]], stop: Event
) -> None:
    """A minimal asyncio HTTP/1.1 server per loopback address: keep-alive, ETags, a fixed delay.

    Not tests/feedserver.py: its thread per connection costs more CPU than digest's own work.
    """
    documents = {f"/feed/{n}.xml": (feed_xml(n, items), f'"feed-{n}-v1"'.encode()) for n in range(feeds)}

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
                await asyncio.sleep(latency)
                path = head.split(" ", 2)[1]
                body, etag = documents.get(path, (b"", b""))
                if not etag:
                    writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                elif f"if-none-match: {etag.decode()}" in head:
                    writer.write(
                        b"HTTP/1.1 304 Not Modified\r\nETag: " + etag + b"\r\nContent-Length: 0\r\n\r\n"
                    )
                else:
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml; charset=utf-8\r\nETag: "
                        + etag
                        + f"\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                        + body
                    )
                await writer.drain()
                if "connection: close" in head:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, IndexError):
            pass
        finally:
            writer.close()

    addresses = [f"127.0.0.{n + 1}" for n in range(hosts)]
    try:
        servers = [await asyncio.start_server(answer, address, 0) for address in addresses]
    except OSError:  # not Linux: only 127.0.0.1 is loopback; one port per "host" then
        addresses = ["127.0.0.1"] * hosts
        servers = [await asyncio.start_server(answer, "127.0.0.1", 0) for _ in addresses]
    ports = [server.sockets[0].getsockname()[1] for server in servers]
    urls.put([f"http://{addresses[n % hosts]}:{ports[n % hosts]}/feed/{n}.xml" for n in range(feeds)])
    for _ in range(6000):  # ten minutes at most, whatever happens to the parent
        if stop.is_set():
            break
        await asyncio.sleep(0.1)
    for server in servers:
        server.close()


def timed_gather(urls: list[str], state: Path) -> tuple[float, list[FeedReport]]:
    feeds = tuple(FeedSettings(url=url, location=url) for url in urls)
    with open_store(state) as store:
        started = time.perf_counter()
        reports = gather_feeds(feeds, store, now=NOW)
        return time.perf_counter() - started, reports


def timed_baseline(urls: list[str]) -> tuple[float, int]:
    started = time.perf_counter()
    entries = sum(len(feedparser.parse(url).entries) for url in urls)
    return time.perf_counter() - started, entries


def parse_cost(items: int, feeds: int = 20) -> tuple[float, float]:
    """CPU seconds per feed: digest's parse_feed, and feedparser alone (as in the baseline)."""
    documents = [feed_xml(number, items) for number in range(feeds)]
    started = time.process_time()
    for document in documents:
        parse_feed(document, "https://blog.example.org/feed", now=NOW)
    digest_cost = (time.process_time() - started) / feeds
    started = time.process_time()
    for document in documents:
        feedparser.parse(document)
    return digest_cost, (time.process_time() - started) / feeds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--hosts", type=int, default=20, help="loopback addresses 127.0.0.1 to 127.0.0.N")
    parser.add_argument("--latency", type=float, default=0.1, help="seconds before each answer")
    parser.add_argument("--baseline", type=int, default=40, help="feeds fetched by the sequential baseline")
    parser.add_argument(
        "--scale", type=int, nargs="*", default=[2000, 5000], help="feeds of the scale runs (none: skip)"
    )
    parser.add_argument(
        "--full-baseline", action="store_true", help="run the sequential baseline on every feed"
    )
    args = parser.parse_args(argv)

    context = multiprocessing.get_context("spawn")
    urls_queue: Queue[list[str]] = context.Queue()  # type: ignore[assignment]
    stop = context.Event()
    server = context.Process(
        target=serve, args=(args.feeds, args.items, args.hosts, args.latency, urls_queue, stop), daemon=True
    )
    server.start()
    try:
        urls = urls_queue.get(timeout=60)
        return run(urls, args)
    finally:
        stop.set()
        server.join(timeout=10)


def run(urls: list[str], args: argparse.Namespace) -> int:
    hosts = len({url.split("/")[2].split(":")[0] for url in urls})
    print(
        f"{len(urls)} feeds x {args.items} items on {hosts} loopback addresses, {args.latency * 1000:.0f} ms latency"
    )
    with tempfile.TemporaryDirectory(prefix="digest-bench-") as state:
        first_time, first = timed_gather(urls, Path(state))
        second_time, second = timed_gather(urls, Path(state))
    subset = urls if args.full_baseline else urls[: args.baseline]
    base_time, base_entries = timed_baseline(subset)
    base_all = base_time * len(urls) / len(subset)

    ok = sum(r.status == "ok" for r in first)
    new = sum(r.new_posts for r in first)
    not_modified = sum(r.status == "not_modified" for r in second) / len(second)
    speed_up = base_all / first_time
    print(f"digest gather, first run:    {first_time:6.2f} s  ({ok}/{len(first)} ok, {new} new posts)")
    how = (
        f"measured on all {len(urls)} feeds, {base_entries} entries"
        if len(subset) == len(urls)
        else f"EXTRAPOLATED: measured {base_time:.2f} s on the first {len(subset)} feeds, {base_entries} entries"
    )
    print(f"sequential feedparser.parse: {base_all:6.2f} s  ({how})")
    print(f"speed-up:                    {speed_up:6.1f}x  (needs >= {SPEED_UP:.0f}x)")
    print(
        f"digest gather, second run:   {second_time:6.2f} s  ({not_modified:.0%} answered 304, needs >= 95%)"
    )
    latency_bound = len(urls) / min(CONCURRENCY, hosts * PER_HOST) * args.latency
    digest_cost, feedparser_cost = parse_cost(args.items)
    cpus = os.cpu_count() or 1
    print(
        f"floor set by latency:        {latency_bound:6.2f} s  (at most {CONCURRENCY} at once, {PER_HOST} a host)"
    )
    print(
        f"floor set by parsing:        {len(urls) * digest_cost / cpus:6.2f} s  (measured: {digest_cost * 1000:.1f} ms of CPU "
        f"a feed, feedparser alone {feedparser_cost * 1000:.1f} ms; {cpus} CPUs)"
    )
    passed = speed_up >= SPEED_UP and not_modified >= NOT_MODIFIED
    if memory.CORPUS.is_dir():  # peak memory on real feeds plus eight gzip bombs (benchmarks/memory.py)
        passed = memory.report(memory.CORPUS, 8) and passed
    else:
        print(f"peak memory: skipped, no corpus at {memory.CORPUS}")
    if args.scale:
        from benchmarks import scale  # (it builds on this module's feeds and server)

        passed = scale.main(["--feeds", *map(str, args.scale), "--items", str(args.items)]) == 0 and passed
    print("PASS" if passed else "FAIL")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
