"""Benchmark: send 2,000 messages to a local SMTP sink, against bare smtplib clients.

    .venv/bin/python -m benchmarks.send [--messages 2000] [--concurrency 8] [--rounds 3] [--plain]

The sink is aiosmtpd on 127.0.0.1 in a separate process (it counts what it accepts and keeps
nothing), with STARTTLS, as any server off the machine must have for digest (`--plain`: none),
and an RSA 2048 certificate, the kind most mail servers present (self-signed, made for the run).
The same personalised messages (the bundled sample issue, about 30 KiB each) go to it from:

1. bare: 8 threads, each with one persistent smtplib connection, sending messages built
   beforehand: the transport alone, no building, no journal;
2. connection-per-message, the naive script: one thread, a new connection (connect, EHLO,
   STARTTLS, QUIT) for every message. Slow, so measured on `--messages / 4` messages a round;
3. connection-per-message with the same 8 threads as 1, for comparison;
4. digest: `sender.send_issue` with 8 connections and a fresh journal, streaming the subscriber
   list, building each message and recording it in the journal (fsynced before each end of
   DATA): what `digest send` does once the issue is rendered (rendering, once, is left out, as
   the building is for 1-3).

Each runs `--rounds` times, interleaved so that a busy moment of the machine hits all of them;
the medians are compared. Everything is written into a temporary folder, removed at the end.
Exit status 1 when digest sends at less than 85% of the bare client's rate (1), or less than
twice the connection-per-message client's (2).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import queue
import smtplib
import socket
import ssl
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
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
from tests.smtpserver import self_signed

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.send", description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--plain", action="store_true", help="no STARTTLS")
    parser.add_argument("--rounds", type=int, default=3, help="each client runs this many times; medians")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="digest-bench-send-") as temporary:
        root = Path(temporary)
        cert, key = ("", "") if args.plain else map(str, self_signed(root, rsa_bits=2048))
        tls = None if args.plain else ssl.create_default_context(cafile=cert)
        processes = multiprocessing.get_context("spawn")
        ready, stop, count = processes.Event(), processes.Event(), processes.Value("i", 0)
        port = free_port()
        sink = processes.Process(target=_sink, args=(port, ready, stop, count, cert, key), daemon=True)
        sink.start()
        try:
            if not ready.wait(30):
                raise RuntimeError("the SMTP sink did not start")
            settings, issue_dir = newsletter(root)
            settings = load_settings(settings.path, state=root / "state")
            csv = subscriber_list(root / "subscribers.csv", args.messages)
            issue = read_issue(issue_dir)
            prepared = prepare(
                render_issue(issue, settings.templates), issue, pipeline.sender(settings), SECRET
            )
            messages = [(s.email, render_message(prepared, s)) for s in subscribers(csv, "fr", args.messages)]

            def run(label: str, send: Callable[[], object], count_: int) -> float:
                count.value = 0
                started = time.perf_counter()
                send()
                elapsed = time.perf_counter() - started
                if count.value != count_:
                    raise RuntimeError(f"{label}: the sink got {count.value} of {count_} messages")
                return count_ / elapsed

            def digest(state: Path) -> None:
                rows = read_subscribers(csv, default_locale="fr")
                options = SendOptions(concurrency=args.concurrency)
                with Journal.open(state) as journal:
                    target = SmtpTarget("smtp", "127.0.0.1", port, ca_file=Path(cert) if cert else None)
                    report = send_issue(prepared, rows, target, journal, options)
                assert report.sent == args.messages and report.complete

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
            samples: dict[str, list[float]] = {name: [] for name in clients}
            for round_ in range(args.rounds):
                for name, (send, expected) in clients.items():
                    if name == "digest":
                        send = partial(digest, root / f"state-{round_}")
                    samples[name].append(run(name, send, expected))
            rates = {name: statistics.median(values) for name, values in samples.items()}
        finally:
            stop.set()
            sink.join(10)
    print(_report(args, messages, samples, rates))
    ok = rates["digest"] >= 0.85 * rates["bare"] and rates["digest"] >= 2 * rates["per_message"]
    print("targets (>= 85% of bare, >= 2x connection-per-message):", "met" if ok else "NOT MET")
    return 0 if ok else 1


def _report(
    args: argparse.Namespace,
    messages: list[Message],
    samples: dict[str, list[float]],
    rates: dict[str, float],
) -> str:
    size = sum(len(data) for _, data in messages) / len(messages)
    n = args.concurrency
    digest = rates["digest"]
    return "\n".join(
        [
            f"sending {args.messages:,} messages ({size / 1024:.1f} KiB each) to an aiosmtpd sink on 127.0.0.1"
            f" (separate process, {'plain' if args.plain else 'STARTTLS, RSA 2048'}), {os.cpu_count()} CPUs",
            f"  median of {args.rounds} interleaved rounds; every round: " + _rounds(samples),
            f"  bare smtplib, {n} threads, persistent connections:  {rates['bare']:6.0f} messages/s",
            f"  smtplib, 1 thread, a connection per message:        {rates['per_message']:6.0f} messages/s",
            f"  smtplib, {n} threads, a connection per message:       {rates['per_message_8']:6.0f} messages/s",
            f"  digest ({n} connections; build + journal + send):     {digest:6.0f} messages/s"
            f" = {digest / rates['bare']:.0%} of bare, {digest / rates['per_message']:.1f}x connection-per-message"
            f" ({digest / rates['per_message_8']:.1f}x its {n}-thread variant)",
        ]
    )


def _rounds(samples: dict[str, list[float]]) -> str:
    return "; ".join(
        f"{name} " + "/".join(f"{rate:.0f}" for rate in rates) for name, rates in samples.items()
    )


if __name__ == "__main__":
    sys.exit(main())
