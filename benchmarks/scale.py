"""Benchmark: gather at an aggregator's scale, against feedparser alone on the same documents.

    .venv/bin/python -m benchmarks.scale [--feeds 2000 5000] [--items 20] [--hosts 20] [--latency 0.005]

For each size, the feeds (`benchmarks.gather.feed_xml`) are served by a separate process on
loopback with a small latency, and digest gathers them all, in a fresh spawned process, into a
throw-away store: fetching, parsing, sanitising and storing included. That time is compared with
the time feedparser alone takes to parse the same documents on this machine's cores (measured in
full: one process per CPU, `feedparser.parse(bytes)` on every document, no network, no storing).
Peak resident memory is reported for the gathering process and for its largest parse worker.
Exit status 1 when gathering 2,000 feeds is slower than feedparser alone, or either peak memory is
over 250 MB. Nothing is written in the repository.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from queue import Queue

from benchmarks.gather import NOW, feed_xml, serve

GOAL_MB = 250.0
JUDGED = 2000  # the size the goal is checked at; larger sizes are reported


Result = tuple[float, int, int, float, float, float, float]


def gather_in_fresh_process(urls: list[str]) -> Result:
    """(seconds, feeds ok, posts stored, peak MB of the process, peak MB of its largest worker,
    CPU seconds of the process, CPU seconds of its workers)."""
    context = multiprocessing.get_context("spawn")
    results: Queue[Result] = context.Queue()  # type: ignore[assignment]
    child = context.Process(target=_gather, args=(urls, results))
    child.start()
    try:
        return results.get(timeout=900)
    finally:
        child.join(timeout=60)


def _gather(urls: list[str], results: Queue[Result]) -> None:
    from digest.config import FeedSettings
    from digest.gather import gather_feeds
    from digest.store import open_store

    feeds = tuple(FeedSettings(url=url, location=url) for url in urls)
    with tempfile.TemporaryDirectory(prefix="digest-scale-") as state, open_store(Path(state)) as store:
        started = time.perf_counter()
        reports = gather_feeds(feeds, store, now=NOW)
        seconds = time.perf_counter() - started
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    ok = sum(report.status == "ok" for report in reports)
    posts = sum(report.new_posts for report in reports)
    results.put(
        (
            seconds,
            ok,
            posts,
            me.ru_maxrss / 1024,  # KB on Linux
            children.ru_maxrss / 1024,
            me.ru_utime + me.ru_stime,
            children.ru_utime + children.ru_stime,
        )
    )


def feedparser_alone(feeds: int, items: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds) for feedparser alone on every document, one process per CPU."""
    cpus = os.cpu_count() or 1
    documents = [feed_xml(number, items) for number in range(feeds)]
    chunks = [documents[start::cpus] for start in range(cpus)]
    with ProcessPoolExecutor(cpus, mp_context=multiprocessing.get_context("fork")) as pool:
        list(pool.map(_parse_all, [chunks[0][:2]] * cpus))  # workers started before the clock
        started = time.perf_counter()
        cpu = sum(pool.map(_parse_all, chunks))
        return time.perf_counter() - started, cpu


def _parse_all(documents: list[bytes]) -> float:
    import feedparser

    started = time.process_time()
    for document in documents:
        feedparser.parse(document)
    return time.process_time() - started


def one_size(feeds: int, args: argparse.Namespace) -> bool:
    context = multiprocessing.get_context("spawn")
    urls_queue: Queue[list[str]] = context.Queue()  # type: ignore[assignment]
    stop = context.Event()
    server = context.Process(
        target=serve, args=(feeds, args.items, args.hosts, args.latency, urls_queue, stop), daemon=True
    )
    server.start()
    try:
        urls = urls_queue.get(timeout=120)
        seconds, ok, posts, own, workers, own_cpu, workers_cpu = gather_in_fresh_process(urls)
    finally:
        stop.set()
        server.join(timeout=10)
    alone, cpu = feedparser_alone(feeds, args.items)
    cpus = os.cpu_count() or 1
    print(f"{feeds} feeds x {args.items} items, {args.latency * 1000:.0f} ms latency, {args.hosts} hosts:")
    print(f"  digest gather (fetch, parse, sanitise, store): {seconds:6.2f} s  ({ok} ok, {posts} posts)")
    print(
        f"  feedparser alone, parsing only, {cpus} processes: {alone:6.2f} s  "
        f"({cpu / feeds * 1000:.1f} ms of CPU a document, measured on all {feeds})"
    )
    print(f"  ratio: gather takes {seconds / alone:.2f}x feedparser alone's time")
    print(
        f"  CPU: gather {own_cpu + workers_cpu:.1f} s (main process {own_cpu:.1f} s, parse workers "
        f"{workers_cpu:.1f} s), feedparser alone {cpu:.1f} s: {(own_cpu + workers_cpu) / cpu:.2f}x"
    )
    print(f"  peak memory: gathering process {own:.0f} MB, largest parse worker {workers:.0f} MB")
    passed = own < GOAL_MB and workers < GOAL_MB
    if feeds == JUDGED:
        passed = passed and seconds <= alone
    return passed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--feeds", type=int, nargs="+", default=[JUDGED, 5000])
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.005, help="seconds before each answer")
    args = parser.parse_args(argv)
    passed = all([one_size(feeds, args) for feeds in args.feeds])
    print("PASS" if passed else "FAIL")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
