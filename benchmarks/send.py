"""Benchmark: send messages to two local SMTP sinks, against bare smtplib clients.

    .venv/bin/python -m benchmarks.send [--messages 4000] [--concurrency 8] [--rounds 3] [--plain]
                                        [--sinks aiosmtpd,smtp-sink]

Two sinks, each in its own process on 127.0.0.1, counting what they accept and keeping nothing:

- aiosmtpd (Python), with STARTTLS as any server off the machine must have for digest
  (`--plain`: none), and an RSA 2048 certificate (self-signed, made for the run). It saturates
  a core at about 650 messages/s, so it hides the sender's own ceiling;
- Postfix's `smtp-sink` (C, plain SMTP: it has no TLS), which uses a fraction of a core: the
  sender is the limit. Skipped, with a note, when `smtp-sink` is not installed (Debian: postfix).

The same personalised messages (the bundled sample issue, about 30 KiB each) go to each from:

1. bare: 8 threads, each with one persistent smtplib connection, sending messages built
   beforehand: the transport alone, no building, no journal;
2. connection-per-message, 1 thread (the naive script), on `--messages / 4` messages a round;
3. connection-per-message with the same 8 threads as 1;
4. digest: `sender.send_issue` with 8 connections and a fresh journal, streaming the subscriber
   list, building each message and recording it in the journal (fsynced before each end of
   DATA): what `digest send` does once the issue is rendered (rendering, once, is left out, as
   the building is for 1-3).

Each runs `--rounds` times, interleaved so that a busy moment of the machine hits all of them;
the medians are compared, and the CPU time of this process per message (the sender's, since
the sinks run elsewhere) is reported. Everything is written into a temporary folder, removed at
the end. Exit status 1 when, on any sink, digest sends at less than 90% of the bare client's
rate (1), or less than twice the eight connection-per-message clients' (3).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import queue
import shutil
import smtplib
import socket
import ssl
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

from benchmarks.export import SECRET, newsletter, subscriber_list, subscribers
from digest import pipeline
from digest.config import load_settings
from digest.deliver import prepare, render_message
from digest.issuefile import read_issue
from digest.journal import Journal
from digest.render import render_issue
from digest.sender import SendOptions, send_issue
from digest.smtp import SmtpTarget
from digest.subscribers import read_subscribers
from tests.smtpserver import PostfixSink, self_signed

SENDER = "redaction@digest.example.org"


class _Counter:
    def __init__(self, count: Synchronized[int]) -> None:
        self.count = count

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.count.get_lock():
            self.count.value += 1
        return "250 2.0.0 queued"


def _sink(port: int, ready: Event, stop: Event, count: Synchronized[int], cert: str, key: str) -> None:
    from aiosmtpd.controller import Controller

    tls: dict[str, Any] = {}
    if cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        tls = {"tls_context": context, "require_starttls": True}
    controller = Controller(
        _Counter(count), hostname="127.0.0.1", port=port, server_hostname="sink.local", **tls
    )
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()


Message = tuple[str, bytes]


def threaded(
    messages: list[Message], threads: int, work: Callable[[queue.Queue[Message | None]], None]
) -> float:
    jobs: queue.Queue[Message | None] = queue.Queue()
    for message in messages:
        jobs.put(message)
    for _ in range(threads):
        jobs.put(None)
    workers = [threading.Thread(target=work, args=(jobs,)) for _ in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return time.perf_counter() - started


def connect(port: int, context: ssl.SSLContext | None) -> smtplib.SMTP:
    smtp = smtplib.SMTP("127.0.0.1", port)
    # As digest does: without it, Nagle's algorithm and delayed ACKs slow the small commands.
    assert smtp.sock is not None
    smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if context:
        smtp.starttls(context=context)
    return smtp


def bare(port: int, context: ssl.SSLContext | None) -> Callable[[queue.Queue[Message | None]], None]:
    def work(jobs: queue.Queue[Message | None]) -> None:
        with connect(port, context) as smtp:
            while (job := jobs.get()) is not None:
                smtp.sendmail(SENDER, [job[0]], job[1])

    return work


def per_message(port: int, context: ssl.SSLContext | None) -> Callable[[queue.Queue[Message | None]], None]:
    def work(jobs: queue.Queue[Message | None]) -> None:
        while (job := jobs.get()) is not None:
            with connect(port, context) as smtp:
                smtp.sendmail(SENDER, [job[0]], job[1])

    return work


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class AiosmtpdSink:
    """aiosmtpd in a process of its own, STARTTLS unless plain."""

    name = "aiosmtpd"

    def __init__(self, root: Path, plain: bool) -> None:
        self.cert, self.key = ("", "") if plain else map(str, self_signed(root, rsa_bits=2048))
        self.tls = None if plain else ssl.create_default_context(cafile=self.cert)
        processes = multiprocessing.get_context("spawn")
        self.ready, self.stop_event, self.counter = (
            processes.Event(),
            processes.Event(),
            processes.Value("i", 0),
        )
        self.port = free_port()
        self.process = processes.Process(
            target=_sink,
            args=(self.port, self.ready, self.stop_event, self.counter, self.cert, self.key),
            daemon=True,
        )
        self.label = f"aiosmtpd (Python, {'plain' if plain else 'STARTTLS, RSA 2048'})"

    def start(self) -> None:
        self.process.start()
        if not self.ready.wait(30):
            raise RuntimeError("the aiosmtpd sink did not start")

    def count(self) -> int:
        return int(self.counter.value)

    def stop(self) -> None:
        self.stop_event.set()
        self.process.join(10)


@dataclass
class Measures:
    rates: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)  # seconds of this process per message

    def median(self, name: str) -> float:
        return statistics.median(self.rates[name])

    def cpu_us(self, name: str) -> float:
        return statistics.median(self.cpu[name]) * 1e6


def measure(sink: Any, args: argparse.Namespace, root: Path) -> Measures:
    settings, issue_dir = newsletter(root)
    settings = load_settings(settings.path, state=root / "state")
    csv = subscriber_list(root / "subscribers.csv", args.messages)
    issue = read_issue(issue_dir)
    prepared = prepare(render_issue(issue, settings.templates), issue, pipeline.sender(settings), SECRET)
    messages = [(s.email, render_message(prepared, s)) for s in subscribers(csv, "fr", args.messages)]
    port, tls = sink.port, sink.tls
    found = Measures()

    def run(label: str, send: Callable[[], object], expected: int) -> None:
        before = sink.count()
        started, cpu = time.perf_counter(), time.process_time()
        send()
        elapsed, used = time.perf_counter() - started, time.process_time() - cpu
        deadline = time.monotonic() + 5
        while sink.count() - before < expected and time.monotonic() < deadline:
            time.sleep(0.01)  # smtp-sink's counters arrive through a pipe
        if sink.count() - before != expected:
            raise RuntimeError(f"{label}: the sink got {sink.count() - before} of {expected} messages")
        found.rates.setdefault(label, []).append(expected / elapsed)
        found.cpu.setdefault(label, []).append(used / expected)

    def digest(state: Path) -> None:
        rows = read_subscribers(csv, default_locale="fr")
        options = SendOptions(concurrency=args.concurrency)
        with Journal.open(state) as journal:
            target = SmtpTarget("smtp", "127.0.0.1", port, ca_file=Path(sink.cert) if sink.cert else None)
            report = send_issue(prepared, rows, target, journal, options)
        assert report.sent == args.messages and report.complete, report

    few = messages[: max(1, args.messages // 4)]
    clients: dict[str, tuple[Callable[[], object], int]] = {
        "bare": (partial(threaded, messages, args.concurrency, bare(port, tls)), len(messages)),
        "per_message": (partial(threaded, few, 1, per_message(port, tls)), len(few)),
        "per_message_8": (
            partial(threaded, messages, args.concurrency, per_message(port, tls)),
            len(messages),
        ),
        "digest": (lambda: None, args.messages),
    }
    for round_ in range(args.rounds):
        for name, (send, expected) in clients.items():
            if name == "digest":
                send = partial(digest, root / f"state-{sink.name}-{round_}")
            run(name, send, expected)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.send", description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=4_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--plain", action="store_true", help="no STARTTLS on the aiosmtpd sink")
    parser.add_argument("--rounds", type=int, default=3, help="each client runs this many times; medians")
    parser.add_argument("--sinks", default="aiosmtpd,smtp-sink", help="comma-separated: aiosmtpd, smtp-sink")
    args = parser.parse_args(argv)
    kinds = {"aiosmtpd": AiosmtpdSink, "smtp-sink": PostfixSink}
    lines: list[str] = []
    ok = True
    for name in args.sinks.split(","):
        if name == "smtp-sink" and not shutil.which("smtp-sink"):
            lines.append("smtp-sink: not installed (Debian: apt-get install postfix); skipped")
            ok = False
            continue
        with tempfile.TemporaryDirectory(prefix="digest-bench-send-") as temporary:
            sink = kinds[name](Path(temporary), args.plain)
            sink.start()
            try:
                found = measure(sink, args, Path(temporary))
            finally:
                sink.stop()
        lines.append(_report(args, sink.label, found))
        bare_ok = found.median("digest") >= 0.9 * found.median("bare")
        naive_ok = found.median("digest") >= 2 * found.median("per_message_8")
        ok = ok and bare_ok and naive_ok
    print("\n".join(lines))
    print(
        "targets on every sink (>= 90% of bare, >= 2x eight connection-per-message clients):",
        "met" if ok else "NOT MET",
    )
    return 0 if ok else 1


def _report(args: argparse.Namespace, label: str, found: Measures) -> str:
    n, digest = args.concurrency, found.median("digest")
    return "\n".join(
        [
            f"{args.messages:,} messages to {label} on 127.0.0.1, {os.cpu_count()} CPUs; "
            f"median of {args.rounds} interleaved rounds",
            "  every round: " + _rounds(found.rates),
            f"  bare smtplib, {n} threads, persistent connections: {found.median('bare'):6.0f} messages/s"
            f"  ({found.cpu_us('bare'):4.0f} µs CPU/message)",
            f"  smtplib, 1 thread, a connection per message:       {found.median('per_message'):6.0f} messages/s",
            f"  smtplib, {n} threads, a connection per message:      {found.median('per_message_8'):6.0f} messages/s"
            f"  ({found.cpu_us('per_message_8'):4.0f} µs CPU/message)",
            f"  digest ({n} connections; build + journal + send):    {digest:6.0f} messages/s"
            f"  ({found.cpu_us('digest'):4.0f} µs CPU/message)",
            f"  digest = {digest / found.median('bare'):.0%} of bare (target 90%), "
            f"{digest / found.median('per_message_8'):.1f}x {n} connection-per-message clients (target 2x), "
            f"{digest / found.median('per_message'):.1f}x the 1-thread one",
        ]
    )


def _rounds(samples: dict[str, list[float]]) -> str:
    return "; ".join(
        f"{name} " + "/".join(f"{rate:.0f}" for rate in rates) for name, rates in samples.items()
    )


if __name__ == "__main__":
    sys.exit(main())
