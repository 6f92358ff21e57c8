"""Send an issue over SMTP: N connections, a rate limit, retries, and the journal for exactly-once.

The main thread streams subscribers into a small queue (`sendqueue.Jobs`); each worker thread
owns one SMTP connection, builds the message (bytes, no `email.message`), and sends it. Per
message:

- already `sent` (or `failed` for good) in the journal → reported, not sent; `sending` → uncertain,
  not sent unless `resend_uncertain`;
- unsubscribed meanwhile (the store is read again every few seconds) → not active;
- 2xx → `sent`; 5xx → `failed` with the server's words; 4xx, a 421 or a connection lost before the
  final `.` → back in the queue after a back-off (the connection goes on with others), then
  `deferred`;
- no reply after the final `.` → left `sending`: uncertain, never retried in this run.

Every row of the list ends in exactly one count (the books balance: `SendReport.balanced`),
whatever stops the run: the circuit breaker (the server failed as a whole too many times in a
row), a journal that cannot be written, Ctrl-C. What was not sent then is `deferred`, and the
exit code (`SendReport.exit_code`) says to run the same command again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Container, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from threading import Lock, Thread

from digest.audience import Tally, recipients
from digest.deliver import Prepared, Sign, dated, message_id, render_message
from digest.envelope import envelope, smtputf8_reason
from digest.errors import DeliveryError, JournalBroken
from digest.models import Subscriber
from digest.sendqueue import Circuit, Interrupt, Job, Jobs, Limiter, Reader, Suppressions
from digest.sendreport import COUNTED, Outcome, ProgressCallback, SendReport, combine
from digest.smtp import RETRY, UNCERTAIN, Connection, SmtpTarget, Unreachable
from digest.smtp import SENT as DELIVERED
from digest.storage import DEFERRED, FAILED, SENDING, SENT, JournalKey, SendJournal
from digest.subscribers import Row

__all__ = ["Live", "Outcome", "ProgressCallback", "SendOptions", "SendReport", "combine", "send_issue"]


@dataclass(frozen=True)
class SendOptions:
    concurrency: int = 4
    rate: float = 0.0  # messages per second over all connections; 0: as fast as the server takes
    per_connection: int = 50  # then reconnect (SES allows 50 messages per session)
    dry_run: bool = False
    resend_uncertain: bool = False
    retry_delays: tuple[float, ...] = (2.0, 10.0, 30.0, 60.0)  # after each 4xx or lost connection
    breaker: int = 0  # host faults in a row (timeouts, cuts, 421) that stop the run; 0: concurrency + 2
    recheck: float = 2.0  # seconds between two readings of the unsubscribes
    force: bool = False  # send although the state lacks the journal of an issue recorded as sent


@dataclass(frozen=True)
class Live:
    """What the world tells a run while it goes on."""

    suppressions: Reader | None = None  # who unsubscribed, now; read every `recheck` seconds
    clock: Callable[[], datetime] | None = None  # dates each message (None: the issue's date)
    interrupt: Interrupt | None = None  # set by a signal handler: stop, report, exit 130
    halt: str = ""  # start stopped (an earlier edition's run stopped): every row only reported


@dataclass
class _Run:
    """State shared by the workers of one run."""

    prepared: Prepared
    target: SmtpTarget
    journal: SendJournal
    options: SendOptions
    sign: Sign | None
    on_progress: ProgressCallback | None
    jobs: Jobs
    limiter: Limiter
    circuit: Circuit
    suppressed: Suppressions
    interrupt: Interrupt
    clock: Callable[[], datetime] | None = None
    lock: Lock = field(default_factory=Lock)
    stop_reason: str = ""
    fatal: BaseException | None = None
    interrupted: bool = False
    connected: bool = False  # once a connection worked, a refused one is a hiccup, not a wrong URL
    fresh: bool = False  # nothing in the journal for this issue and list: no lookups needed
    problems: dict[str, list[Outcome]] = field(default_factory=dict)  # failed, deferred, uncertain
    counts: Counter[str] = field(default_factory=Counter)  # sent, earlier, would_send, not_active
    stamped: tuple[int, Prepared] | None = None  # the issue with this second's Date header

    def key(self, email: str) -> JournalKey:
        return JournalKey(self.prepared.issue.ref.journal_key, self.prepared.list_id, email.lower())

    def note(self, outcome: Outcome) -> None:
        with self.lock:
            if outcome.status in COUNTED:
                self.counts[outcome.status] += 1
            else:
                self.problems.setdefault(outcome.status, []).append(outcome)
        if self.on_progress:
            self.on_progress(outcome)

    def stop(self, reason: str) -> None:
        with self.lock:
            self.stop_reason = self.stop_reason or reason
        self.jobs.stop()

    def poll(self) -> None:
        """Called while the main thread waits: turns a Ctrl-C into a stop."""
        if self.interrupt.requested and not self.interrupted:
            self.interrupted = True
            self.stop("interrupted")

    def unsent(self, subscriber: Subscriber, reply: str = "") -> None:
        reason = reply or f"not sent: {self.stop_reason or 'stopped'}"
        self.note(Outcome(subscriber.email, "deferred", reason))


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
    live: Live = Live(),
) -> SendReport:
    """Send `prepared` to the active readers of `rows` but `unsubscribed` and those `live` says
    left meanwhile; see `Live` for the rest."""
    suppressions, clock, interrupt, halt = live.suppressions, live.clock, live.interrupt, live.halt
    run = _Run(
        prepared,
        target,
        journal,
        options,
        sign,
        on_progress,
        Jobs(options.concurrency * 4),
        Limiter(options.rate),
        Circuit(options.breaker or options.concurrency + 2),
        Suppressions(unsubscribed, suppressions, options.recheck),
        interrupt or Interrupt(),
        clock,
    )
    if halt:
        run.interrupted = halt == "interrupted"
        run.stop(halt)
    tally = Tally()
    run.fresh = not journal.has_any(prepared.issue.ref.journal_key, prepared.list_id)
    count = 0 if options.dry_run or halt else max(1, options.concurrency)
    workers = [Thread(target=_work, args=(run,), name=f"smtp-{n}", daemon=True) for n in range(count)]
    for worker in workers:
        worker.start()
    try:
        _feed(run, recipients(rows, tally, run.suppressed))
    finally:
        run.jobs.close()
        _join(run, workers)
        for job in run.jobs.leftovers():
            run.unsent(job.subscriber, f"{job.reply}; not sent: {run.stop_reason}" if job.reply else "")
        _flush(run)
    if run.fatal:
        raise run.fatal
    return _report(run, tally)


def _feed(run: _Run, readers: Iterator[Subscriber]) -> None:
    """Every reader of the list into the queue, or into the report once the run stopped."""
    try:
        for subscriber in readers:
            run.poll()
            if _to_send(run, subscriber) and not run.jobs.put(subscriber, run.poll):
                run.unsent(subscriber)
    except KeyboardInterrupt:  # without the CLI's handler: stop, and still account for every row
        run.interrupted = True
        run.stop("interrupted")
        for subscriber in readers:
            if _to_send(run, subscriber):
                run.unsent(subscriber)
    except DeliveryError as exc:  # the store of unsubscribes cannot be read, for example
        run.stop(exc.message)
        for subscriber in readers:
            if _to_send(run, subscriber):
                run.unsent(subscriber)


def _join(run: _Run, workers: list[Thread]) -> None:
    for worker in workers:
        while worker.is_alive():
            try:
                worker.join(0.2)
                run.poll()
            except KeyboardInterrupt:
                run.interrupted = True
                run.stop("interrupted")


def _flush(run: _Run) -> None:
    """The report and the journal agree when this returns (or the journal broke: see stop)."""
    try:
        run.journal.flush()
    except DeliveryError as exc:
        run.stop(exc.message)


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
    elif run.jobs.stopped:
        run.unsent(subscriber)
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


def _work(run: _Run) -> None:
    connection = Connection(run.target)
    try:
        while (job := run.jobs.take()) is not None:
            try:
                _attempt(run, connection, job)
            except DeliveryError as exc:  # the journal broke, or the server refused us for good
                run.unsent(job.subscriber, f"not sent: {exc.message}")
                if not run.connected and not isinstance(exc, JournalBroken):
                    run.fatal = run.fatal or exc  # the first connection failed: a wrong URL, AUTH, TLS
                run.stop(exc.message)
            except BaseException as exc:  # a bug: stop them all, and say so
                run.unsent(job.subscriber, "not sent: internal error")
                run.fatal = run.fatal or exc
                run.stop(f"internal error: {exc!r}")
            finally:
                run.jobs.done()
    finally:
        connection.close()


def _attempt(run: _Run, connection: Connection, job: Job) -> None:
    subscriber = job.subscriber
    if subscriber.email in run.suppressed:
        run.note(Outcome(subscriber.email, "not_active", "unsubscribed during the send"))
        return
    if connection.messages >= run.options.per_connection:
        connection.close()
    try:
        if connection.open():  # a new batch: read the unsubscribes again first
            run.suppressed.refresh(unless_younger_than=0.2)
            if subscriber.email in run.suppressed:
                run.note(Outcome(subscriber.email, "not_active", "unsubscribed during the send"))
                return
    except Unreachable as exc:
        if not (exc.temporary or run.connected):
            raise  # the very first connection was refused: most likely a wrong URL
        _again(run, job, exc.message, host_fault=True)
        return
    run.connected = True
    key, mid = run.key(subscriber.email), message_id(run.prepared, subscriber.email)
    address = envelope(subscriber.email)
    if address.problem:  # no server could take it: that recipient fails, the run goes on
        run.journal.record(key, mid, FAILED, address.problem)
        run.note(Outcome(subscriber.email, FAILED, address.problem))
        return
    run.limiter.wait()
    result = connection.send(
        run.prepared.sender.addr_spec,
        address.address,
        _build(run, subscriber),
        before_end=lambda: run.journal.mark_sending(key, mid),
    )
    if result.status == UNCERTAIN:
        run.note(Outcome(subscriber.email, "uncertain", result.reply))
        if result.host_fault:
            _fault(run, result.reply)
    elif result.status != RETRY:
        run.circuit.ok()
        state = SENT if result.status == DELIVERED else FAILED
        run.journal.record(key, mid, state, result.reply)
        run.note(Outcome(subscriber.email, state, result.reply))
    else:
        run.journal.record(key, mid, DEFERRED, result.reply)  # not `sending` any more: certain
        _again(run, job, result.reply, host_fault=result.host_fault)


def _again(run: _Run, job: Job, reply: str, *, host_fault: bool) -> None:
    """A later try after the next back-off delay, or `deferred` when none is left."""
    if host_fault:
        _fault(run, reply)
    delays = run.options.retry_delays
    if job.attempt < len(delays) and not run.jobs.stopped:
        run.jobs.again(job, delays[job.attempt], reply)
    else:
        run.unsent(job.subscriber, reply if not run.jobs.stopped else f"{reply}; not sent: {run.stop_reason}")


def _fault(run: _Run, reply: str) -> None:
    if run.circuit.fault():
        run.stop(
            f"circuit open: {run.target.name} failed {run.circuit.limit} times in a row "
            f"(timeouts, cuts or 421), last: {reply}"
        )


def _build(run: _Run, subscriber: Subscriber) -> bytes:
    message = render_message(_stamped(run), subscriber)
    return run.sign(message) if run.sign else message


def _stamped(run: _Run) -> Prepared:
    """The issue with `Date:` the moment of sending (to the second), when a clock is given."""
    if run.clock is None:
        return run.prepared
    now = run.clock()
    second = int(now.timestamp())
    stamped = run.stamped
    if stamped is None or stamped[0] != second:
        stamped = (second, dated(run.prepared, now))
        run.stamped = stamped
    return stamped[1]


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
        skipped=tally.skipped + run.counts["not_active"],
        rejected=tuple(tally.rejected),
        warnings=tuple(tally.warnings),
        dry_run=run.options.dry_run,
        would_send=run.counts["would_send"],
        total=tally.rows,
        stopped=run.stop_reason,
        interrupted=run.interrupted,
        needs_smtputf8=of("needs_smtputf8"),
    )
