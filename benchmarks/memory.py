"""Benchmark: peak memory of gathering the shared real-feed corpus plus eight gzip bombs.

    .venv/bin/python -m benchmarks.memory [--corpus ../shared/corpus/realfeeds/feeds] [--bombs 8]

Run by `benchmarks.gather` too. In a fresh process (spawned, so nothing of the caller counts), a
loopback HTTP server serves every corpus file and `--bombs` gzip bombs (1 GiB of zeros in about
1 MB, `Content-Encoding: gzip`); digest gathers them all into a throw-away store. The peak
resident memory of that process, and of its largest parse worker, is reported. Goal: under
150 MB. Exit status 1 when it is not, or when a bomb was not refused.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
import tempfile
import threading
import zlib
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from queue import Queue

GOAL_MB = 150.0
BOMB_BYTES = 1 << 30
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "realfeeds" / "feeds"


def bomb(size: int = BOMB_BYTES) -> bytes:
    """`size` zero bytes, gzipped: about a thousandth of that on the wire."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(1 << 20)
    parts = [packer.compress(zeros) for _ in range(size >> 20)]
    return b"".join(parts) + packer.flush()


def measure(corpus: Path, bombs: int) -> tuple[float, float, int, int]:
    """(peak MB of the gathering process, of its largest worker, feeds read, bombs refused)."""
    context = multiprocessing.get_context("spawn")
    results: Queue[tuple[float, float, int, int]] = context.Queue()  # type: ignore[assignment]
    child = context.Process(target=_gather_all, args=(str(corpus), bombs, results))
    child.start()
    try:
        return results.get(timeout=600)
    finally:
        child.join(timeout=30)


def _gather_all(corpus: str, bombs: int, results: Queue[tuple[float, float, int, int]]) -> None:
    from digest.config import FeedSettings
    from digest.gather import gather_feeds
    from digest.store import open_store

    files = {f"/{path.name}": path.read_bytes() for path in sorted(Path(corpus).iterdir()) if path.is_file()}
    packed = bomb()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(files, packed))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    urls = [f"{base}{path}" for path in files] + [f"{base}/bomb/{n}.xml" for n in range(bombs)]
    feeds = tuple(FeedSettings(url=url, location=url) for url in urls)
    try:
        with tempfile.TemporaryDirectory(prefix="digest-memory-") as state, open_store(Path(state)) as store:
            reports = gather_feeds(feeds, store, now=datetime(2026, 11, 26, 6, 0, tzinfo=UTC))
    finally:
        server.shutdown()
    read = sum(report.status == "ok" for report in reports)
    refused = sum("larger than" in (report.error or "") for report in reports if "/bomb/" in report.url)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    results.put((own, workers, read, refused))


def _handler(files: dict[str, bytes], packed: bytes) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = packed if self.path.startswith("/bomb/") else files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            if body is packed:
                self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


def report(corpus: Path, bombs: int) -> bool:
    own, workers, read, refused = measure(corpus, bombs)
    feeds = len([path for path in corpus.iterdir() if path.is_file()])
    print(
        f"peak memory, {feeds} real feeds + {bombs} gzip bombs: {own:6.1f} MB "
        f"(largest parse worker {workers:.1f} MB; needs < {GOAL_MB:.0f} MB); "
        f"{read} feeds read, {refused}/{bombs} bombs refused"
    )
    return own < GOAL_MB and workers < GOAL_MB and refused == bombs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--bombs", type=int, default=8)
    args = parser.parse_args(argv)
    if not args.corpus.is_dir():
        print(f"corpus not found: {args.corpus}")
        return 1
    passed = report(args.corpus, args.bombs)
    print("PASS" if passed else "FAIL")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
