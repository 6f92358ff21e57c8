"""Benchmark: the web app under 200 one-click unsubscribes a second for 30 s, on both backends.

    .venv/bin/python -m benchmarks.unsubscribe_load [--rate 200] [--seconds 30] [--backend sqlite|postgresql|both]

The app (`digest.web:create_app`) runs under waitress (8 threads) in its own process on
127.0.0.1, as in production. A client in this process sends RFC 8058 POSTs at a fixed rate
(open loop: a slow answer does not slow the arrivals), each for a different reader of a list of
`rate × seconds` addresses, and measures each request's latency. Then the store is read: every
unsubscribe must be recorded (none lost), and every answer must be 200.

PostgreSQL: DIGEST_TEST_DATABASE_URL, else a throwaway cluster (initdb + pg_ctl, Unix socket);
skipped when PostgreSQL is not installed. Exit 1 on any error, lost unsubscribe, or a missed rate.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

from digest.config import load_settings
from digest.newsletter import scaffold
from digest.store import open_store
from digest.tokens import unsubscribe_token
from tests.pgserver import TEST_URL, fresh_schema, own_cluster
from tests.smtpserver import free_port

SECRET = "benchmark-secret"


async def fire(base: str, paths: list[str], rate: float) -> tuple[list[float], list[str], float]:
    latencies: list[float] = []
    errors: list[str] = []
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits, trust_env=False) as client:

        async def one(path: str) -> None:
            started = time.perf_counter()
            try:
                answer = await client.post(path, data={"List-Unsubscribe": "One-Click"})
                if answer.status_code != 200:
                    errors.append(f"{answer.status_code} {path[-12:]}")
            except httpx.HTTPError as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
            latencies.append(time.perf_counter() - started)

        start = time.perf_counter()
        tasks = []
        for index, path in enumerate(paths):
            delay = start + index / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(path)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    print(f"  sent {len(paths)} requests in {elapsed:.1f} s ({len(paths) / elapsed:.0f}/s)")
    return latencies, errors, len(paths) / elapsed


def wait_up(base: str, process: subprocess.Popen[bytes]) -> None:
    for _ in range(200):
        if process.poll() is not None:
            raise SystemExit(f"the app exited: {process.stderr.read().decode() if process.stderr else ''}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1, trust_env=False).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit("the app did not start")


def run(backend: str, database_url: str, rate: float, seconds: float, root: Path) -> bool:
    count = int(rate * seconds)
    config = scaffold(root / backend)
    settings = load_settings(config)
    addresses = [f"reader{n:06d}@example.org" for n in range(count)]
    settings.delivery.subscribers.write_text(
        "email,name\n" + "".join(f"{a},Reader\n" for a in addresses), encoding="utf-8"
    )
    paths = [f"/unsubscribe/{unsubscribe_token(SECRET.encode(), settings.list_id, a)}" for a in addresses]
    port = free_port()
    env = {
        **os.environ,
        "DIGEST_CONFIG": str(config),
        "DIGEST_UNSUBSCRIBE_SECRET": SECRET,
        "DIGEST_DATABASE_URL": database_url,
    }
    command = [
        sys.executable,
        "-m",
        "waitress",
        "--listen",
        f"127.0.0.1:{port}",
        "--threads",
        "8",
        "--call",
        "digest.web:create_app",
    ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_up(base, process)
        print(f"{backend}: {count} one-click unsubscribes at {rate:.0f}/s for {seconds:.0f} s")
        latencies, errors, achieved = asyncio.run(fire(base, paths, rate))
    finally:
        process.terminate()
        process.wait(10)
    with open_store(settings.state, database_url) as store:
        recorded = len(store.unsubscribed(settings.list_id))
    cuts = statistics.quantiles(latencies, n=100)
    print(f"  answers: {len(latencies) - len(errors)} × 200, {len(errors)} errors {errors[:3]}")
    print(f"  recorded: {recorded} of {count} (lost {count - recorded})")
    print(
        f"  latency: p50 {cuts[49] * 1000:.1f} ms, p99 {cuts[98] * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms"
    )
    if achieved < 0.95 * rate:
        print(f"  MISSED: {achieved:.0f}/s instead of {rate:.0f}/s (the app or this machine fell behind)")
    return not errors and recorded == count and achieved >= 0.95 * rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    ok = True
    with tempfile.TemporaryDirectory(prefix="digest-bench-") as folder, ExitStack() as stack:
        if args.backend in ("sqlite", "both"):
            ok &= run("sqlite", "", args.rate, args.seconds, Path(folder))
        if args.backend in ("postgresql", "both"):
            try:
                base = os.environ.get(TEST_URL) or stack.enter_context(own_cluster(durable=True))
            except (LookupError, OSError, subprocess.CalledProcessError) as exc:
                print(f"postgresql: skipped ({exc})")
            else:
                ok &= run("postgresql", fresh_schema(base), args.rate, args.seconds, Path(folder))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
