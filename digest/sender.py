"""Send an issue over SMTP: N connections, a rate limit, retries, and the journal for exactly-once.

The main thread streams subscribers into a small queue; each worker thread owns one SMTP
connection, builds the message (bytes, no `email.message`), and sends it. Per message:

- already `sent` (or `failed` for good) in the journal → skipped; `sending` → uncertain, skipped
  unless `resend_uncertain`;
- 2xx → `sent`; 5xx → `failed` with the server's words; 4xx or a lost connection before the
  final `.` → retried after a back-off, on a fresh connection when needed, then `deferred`;
- no reply after the final `.` → left `sending`: uncertain, never retried in this run.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Container, Iterable, Sequence
from dataclasses import dataclass, field, replace

from digest.audience import Tally, recipients
from digest.deliver import Prepared, Sign, message_id, render_message
from digest.envelope import envelope, smtputf8_reason
from digest.models import Subscriber
from digest.smtp import RETRY, UNCERTAIN, Connection, SmtpTarget, Unreachable
from digest.smtp import SENT as DELIVERED
from digest.storage import DEFERRED, FAILED, SENDING, SENT, JournalKey, SendJournal
from digest.subscribers import Row, RowProblem


@dataclass(frozen=True)
class SendOptions:
    concurrency: int = 4
    rate: float = 0.0  # messages per second over all connections; 0: as fast as the server takes
    per_connection: int = 50  # then reconnect (SES allows 50 messages per session)
    dry_run: bool = False
    resend_uncertain: bool = False
    retry_delays: tuple[float, ...] = (2.0, 10.0, 30.0, 60.0)  # after each 4xx or lost connection


@dataclass(frozen=True)
class Outcome:
    recipient: str
    status: str  # sent | failed | deferred | uncertain | earlier (sent by a previous run) | would_send
    reply: str = ""


ProgressCallback = Callable[[Outcome], None]
_COUNTED = ("sent", "earlier", "would_send")  # needs_smtputf8: a dry run's would_send, listed


@dataclass(frozen=True)
class SendReport:
    server: str
    sent: int
    earlier: int  # sent by an earlier run of the same command
    failed: tuple[Outcome, ...]
    deferred: tuple[Outcome, ...]
    uncertain: tuple[Outcome, ...]
    skipped: int  # not active
    rejected: tuple[RowProblem, ...]
    warnings: tuple[RowProblem, ...]
    dry_run: bool = False
    would_send: int = 0
    needs_smtputf8: tuple[Outcome, ...] = ()  # a dry run's: sent only if the server offers SMTPUTF8

    @property
    def complete(self) -> bool:
        """Every active, valid subscriber has the issue."""
        return not (self.failed or self.deferred or self.uncertain or self.rejected)


def combine(reports: Sequence[SendReport]) -> SendReport:
    """One report for the editions of an issue sent one after the other."""
    first = reports[0]
    return replace(
        first,
        sent=sum(report.sent for report in reports),
        earlier=sum(report.earlier for report in reports),
        failed=tuple(outcome for report in reports for outcome in report.failed),
        deferred=tuple(outcome for report in reports for outcome in report.deferred),
        uncertain=tuple(outcome for report in reports for outcome in report.uncertain),
        skipped=sum(report.skipped for report in reports),
        rejected=tuple(problem for report in reports for problem in report.rejected),
        warnings=tuple(problem for report in reports for problem in report.warnings),
        would_send=sum(report.would_send for report in reports),
        needs_smtputf8=tuple(outcome for report in reports for outcome in report.needs_smtputf8),
    )


@dataclass
class _Run:
    """State shared by the workers of one run."""

    prepared: Prepared
    target: SmtpTarget
    journal: SendJournal
    options: SendOptions
    sign: Sign | None
    on_progress: ProgressCallback | None
    jobs: queue.Queue[Subscriber | None]
    limiter: _Limiter
    lock: threading.Lock = field(default_factory=threading.Lock)
    abort: threading.Event = field(default_factory=threading.Event)
    fatal: BaseException | None = None
    connected: bool = False  # once a connection worked, a refused one is a hiccup, not a wrong URL
    fresh: bool = False  # nothing in the journal for this issue and list: no lookups needed
    problems: dict[str, list[Outcome]] = field(default_factory=dict)  # failed, deferred, uncertain
    counts: Counter[str] = field(default_factory=Counter)  # sent, earlier, would_send: no lists

    def key(self, email: str) -> JournalKey:
        return JournalKey(self.prepared.issue.ref.journal_key, self.prepared.list_id, email.lower())

    def note(self, outcome: Outcome) -> None:
        with self.lock:
            if outcome.status in _COUNTED:
                self.counts[outcome.status] += 1
            else:
                self.problems.setdefault(outcome.status, []).append(outcome)
        if self.on_progress:
            self.on_progress(outcome)

    def fail(self, error: BaseException) -> None:
        with self.lock:
            self.fatal = self.fatal or error
        self.abort.set()


def send_issue(
    prepared: Prepared,
    rows: Iterable[Row],
    target: SmtpTarget,
    journal: SendJournal,
    options: SendOptions,
    *,
    sign: Sign | None = None,
    on_progress: ProgressCallback | None = None,
    unsubscribed: Container[str] = (),
) -> SendReport:
    run = _Run(
        prepared,
        target,
        journal,
        options,
        sign,
        on_progress,
        queue.Queue(maxsize=options.concurrency * 4),
        _Limiter(options.rate),
    )
    tally = Tally()
    run.fresh = not journal.has_any(prepared.issue.ref.journal_key, prepared.list_id)
    workers = (
        []
        if options.dry_run
        else [
            threading.Thread(target=_work, args=(run,), name=f"smtp-{n}", daemon=True)
            for n in range(max(1, options.concurrency))
        ]
    )
    for worker in workers:
        worker.start()
    try:
        for subscriber in recipients(rows, tally, unsubscribed):
            if run.abort.is_set():
                break
            if _to_send(run, subscriber):
                _put(run, subscriber)
    except BaseException:
        run.abort.set()  # Ctrl-C or an unreadable list: finish the messages in flight, no more
        raise
    finally:
        for _ in workers:
            _put(run, None, force=True)
        for worker in workers:
            worker.join()
        journal.flush()  # the report and the journal agree when this returns
    if run.fatal:
        raise run.fatal
    return _report(run, tally)


def _to_send(run: _Run, subscriber: Subscriber) -> bool:
    """What the journal says about this recipient decides whether to send now."""
    entry = None if run.fresh else run.journal.get(run.key(subscriber.email))
    state = entry.state if entry else None
    if state == SENT:
        run.note(Outcome(subscriber.email, "earlier"))
    elif state == FAILED:
        run.note(Outcome(subscriber.email, "failed", f"(earlier run) {entry.reply if entry else ''}"))
    elif state == SENDING and not run.options.resend_uncertain:
        run.note(Outcome(subscriber.email, "uncertain", "the end of DATA was sent but no reply recorded"))
    elif (problem := envelope(subscriber.email).problem) and run.options.dry_run:
        run.note(Outcome(subscriber.email, "failed", problem))  # what the real run would record
    elif run.options.dry_run:
        _build(run, subscriber)  # what would go out is made, signed, and thrown away
        run.note(_would_send(subscriber))
    else:
        return True
    return False


def _would_send(subscriber: Subscriber) -> Outcome:
    """A dry run connects to nothing: an address that needs SMTPUTF8 goes out only if the server
    offers it, and is listed as such."""
    if envelope(subscriber.email).smtputf8:
        return Outcome(
            subscriber.email, "needs_smtputf8", smtputf8_reason(subscriber.email, "if the server offers it")
        )
    return Outcome(subscriber.email, "would_send")


def _put(run: _Run, item: Subscriber | None, *, force: bool = False) -> None:
    while True:
        try:
            run.jobs.put(item, timeout=0.2)
            return
        except queue.Full:
            if run.abort.is_set() and not force:
                return
            if force:  # the workers stopped early: make room for the stop signal
                with contextlib.suppress(queue.Empty):
                    run.jobs.get_nowait()


def _work(run: _Run) -> None:
    connection = Connection(run.target)
    try:
        while (subscriber := run.jobs.get()) is not None:
            if run.abort.is_set():
                continue  # drain: the run is stopping
            run.note(_deliver(run, connection, subscriber))
    except BaseException as exc:  # a DeliveryError that stops the run, or a bug: stop them all
        run.fail(exc)
        while run.jobs.get() is not None:
            pass
    finally:
        connection.close()


def _build(run: _Run, subscriber: Subscriber) -> bytes:
    message = render_message(run.prepared, subscriber)
    return run.sign(message) if run.sign else message


def _deliver(run: _Run, connection: Connection, subscriber: Subscriber) -> Outcome:
    key, mid = run.key(subscriber.email), message_id(run.prepared, subscriber.email)
    address = envelope(subscriber.email)
    if address.problem:  # no server could take it: that recipient fails, the run goes on
        run.journal.record(key, mid, FAILED, address.problem)
        return Outcome(subscriber.email, "failed", address.problem)
    message = _build(run, subscriber)
    reply = ""
    for delay in (0.0, *run.options.retry_delays):
        if delay and run.abort.wait(delay):
            break
        if connection.messages >= run.options.per_connection:
            connection.close()
        try:
            connection.open()
            run.connected = True
        except Unreachable as exc:
            if not run.connected:
                raise  # the very first connection failed: most likely a wrong URL
            reply = exc.message
            continue
        run.limiter.wait()
        result = connection.send(
            run.prepared.sender.addr_spec,
            address.address,
            message,
            before_end=lambda: run.journal.mark_sending(key, mid),
        )
        if result.status == UNCERTAIN:
            return Outcome(subscriber.email, "uncertain", result.reply)
        if result.status != RETRY:
            state = SENT if result.status == DELIVERED else FAILED
            run.journal.record(key, mid, state, result.reply)
            return Outcome(subscriber.email, state, result.reply)
        reply = result.reply
        run.journal.record(key, mid, DEFERRED, reply)  # not `sending` any more: the server said no
    return Outcome(subscriber.email, "deferred", reply or "stopped")


def _report(run: _Run, tally: Tally) -> SendReport:
    def of(status: str) -> tuple[Outcome, ...]:
        return tuple(sorted(run.problems.get(status, []), key=lambda o: o.recipient))

    return SendReport(
        server=run.target.name,
        sent=run.counts["sent"],
        earlier=run.counts["earlier"],
        failed=of("failed"),
        deferred=of("deferred"),
        uncertain=of("uncertain"),
        skipped=tally.skipped,
        rejected=tuple(tally.rejected),
        warnings=tuple(tally.warnings),
        dry_run=run.options.dry_run,
        would_send=run.counts["would_send"],
        needs_smtputf8=of("needs_smtputf8"),
    )


class _Limiter:
    """At most `rate` messages a second over all connections (0: no limit)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.next = time.monotonic()
        self.lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self.lock:
            now = time.monotonic()
            slot = max(self.next, now)
            self.next = slot + self.interval
        if slot > now:
            time.sleep(slot - now)
