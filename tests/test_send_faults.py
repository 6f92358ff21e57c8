"""Sending you can trust: under every class of fault, the books balance, the exit code says
what to do, and running again until it says "done" delivers every reader exactly once.

The schedules below are examples of each class (451, 421 at the greeting and mid-session, 550,
cuts between messages, in DATA and after the final dot, a hung server); the assertions are the
same for all of them and hold for any schedule.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from digest.deliver import Prepared
from digest.errors import JournalBroken
from digest.journal import SENDING, Journal, Key
from digest.sender import Live, Outcome, SendOptions, SendReport, send_issue
from digest.smtp import SmtpTarget
from digest.storage import JournalEntry, JournalKey
from tests.smtpserver import Faults, Mailbox, PostfixSink, hung_server, smtp_server
from tests.test_send import people, rows

FAST = SendOptions(concurrency=3, retry_delays=(0.05, 0.1, 0.2, 0.3))
COUNT = 60


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal.open(tmp_path / "state") as opened:
        yield opened


def target(port: int, timeout: float = 0.5) -> SmtpTarget:
    return SmtpTarget("smtp", "127.0.0.1", port, timeout=timeout)


def run(
    prepared: Prepared,
    emails: list[str],
    port: int,
    journal: Journal,
    options: SendOptions = FAST,
    **live: object,
) -> SendReport:
    report = send_issue(prepared, rows(emails), target(port), journal, options, live=Live(**live))  # type: ignore[arg-type]
    assert report.balanced and report.total == len(emails), report
    return report


def until_done(prepared: Prepared, emails: list[str], port: int, journal: Journal) -> list[SendReport]:
    """What a scheduler does: run the same command again while it exits 4."""
    reports = [run(prepared, emails, port, journal)]
    while reports[-1].exit_code == 4 and len(reports) < 8:
        reports.append(run(prepared, emails, port, journal))
    return reports


def names(outcomes: tuple[Outcome, ...]) -> set[str]:
    return {outcome.recipient for outcome in outcomes}


SCHEDULES = {
    "451 every 7th, 421 closing every 11th MAIL": Faults(later_every=7, busy_every=11),
    "421 greeting for the first 4 connections": Faults(greet_421=4),
    "550 every 13th RCPT, 451 at RCPT for two": Faults(
        rejected_every=13, temporary_rcpt={"reader005@example.org"}
    ),
    "cut between messages every 5th": Faults(cut_every=5),
    "cut in DATA every 9th": Faults(cut_in_data_every=9),
    "cut after the dot every 10th, message kept": Faults(cut_after_dot_every=10),
    "cut after the dot every 10th, message lost": Faults(cut_after_dot_every=10, keep_cut=False),
    "everything at once": Faults(
        later_every=6,
        busy_every=17,
        rejected_every=23,
        cut_in_data_every=8,
        cut_after_dot_every=19,
        greet_421=1,
    ),
}


@pytest.mark.parametrize("faults", SCHEDULES.values(), ids=SCHEDULES.keys())
def test_the_books_balance_and_rerunning_until_done_delivers_exactly_once(
    prepared: Prepared, journal: Journal, faults: Faults
) -> None:
    emails = people(COUNT)
    mailbox = Mailbox(faults, keep=False)
    with smtp_server(mailbox) as server:
        reports = until_done(prepared, emails, server.port, journal)
        final = reports[-1]
        failed, uncertain = names(final.failed), names(final.uncertain)
        assert final.exit_code == (1 if failed or uncertain else 0), final
        assert not final.deferred and not final.stopped
        for email in emails:
            if email in uncertain:  # the server may or may not have it: never sent twice
                assert mailbox.counts[email] <= (1 if faults.keep_cut else 0), (email, final)
            else:
                assert mailbox.counts[email] == (0 if email in failed else 1), (email, final)
        sent_in_all = sum(report.sent for report in reports)
        kept = sum(mailbox.counts[email] for email in uncertain)
        assert sent_in_all + kept == sum(mailbox.counts.values())  # what we said we sent arrived
        if uncertain and not faults.keep_cut:  # the editor knows they were lost: sends them again
            mailbox.faults = Faults()
            forced = run(prepared, emails, server.port, journal, replace(FAST, resend_uncertain=True))
            assert forced.sent == len(uncertain) and forced.exit_code == (1 if failed else 0), forced
            assert all(mailbox.counts[email] == 1 for email in uncertain)


def test_a_cut_in_the_middle_of_data_is_certain_non_delivery_and_retried(
    prepared: Prepared, journal: Journal
) -> None:
    emails = people(5)
    mailbox = Mailbox(Faults(cut_in_data={emails[1], emails[3]}))
    with smtp_server(mailbox) as server:
        report = run(prepared, emails, server.port, journal, replace(FAST, concurrency=1))
    assert report.exit_code == 0 and report.sent == 5 and not report.uncertain
    assert mailbox.counts == dict.fromkeys(emails, 1)


def test_a_cut_after_the_final_dot_is_uncertain_and_not_retried_unasked(
    prepared: Prepared, journal: Journal
) -> None:
    emails = people(4)
    mailbox = Mailbox(Faults(cut_after_dot={emails[2]}))
    with smtp_server(mailbox) as server:
        report = run(prepared, emails, server.port, journal)
        again = run(prepared, emails, server.port, journal)
    assert names(report.uncertain) == {emails[2]} and report.exit_code == 1
    assert names(again.uncertain) == {emails[2]} and again.exit_code == 1 and again.earlier == 3
    assert mailbox.counts == dict.fromkeys(emails, 1)
    assert journal.get(Key("2026-W47", "digest.example.org", emails[2])).state == SENDING  # type: ignore[union-attr]


def test_a_hung_server_opens_the_circuit_in_seconds_and_the_rest_is_run_again(
    prepared: Prepared, journal: Journal
) -> None:
    emails = people(30)
    mailbox = Mailbox(Faults(hang_from_mail=8), keep=False)
    with smtp_server(mailbox) as server:
        started = time.monotonic()
        report = run(prepared, emails, server.port, journal)
        elapsed = time.monotonic() - started
        assert report.stopped.startswith("circuit open") and report.exit_code == 4, report
        assert elapsed < 8, elapsed  # not the sum of every message's back-off
        assert len(report.deferred) == 30 - report.sent and not report.uncertain
    healthy = Mailbox(keep=False)
    with smtp_server(healthy) as server:
        again = run(prepared, emails, server.port, journal)
    assert again.exit_code == 0 and again.earlier == report.sent and again.sent == 30 - report.sent
    assert sum(mailbox.counts.values()) + sum(healthy.counts.values()) == 30
    assert not (set(mailbox.counts) & set(healthy.counts))


def test_a_server_that_never_greets_is_a_run_again_not_a_crash(prepared: Prepared, journal: Journal) -> None:
    with hung_server() as port:
        started = time.monotonic()
        report = run(prepared, people(6), port, journal)
    assert report.exit_code == 4 and report.stopped.startswith("circuit open") and len(report.deferred) == 6
    assert time.monotonic() - started < 8


def test_a_421_greeting_every_time_is_a_run_again_with_the_books_balanced(
    prepared: Prepared, journal: Journal
) -> None:
    mailbox = Mailbox(Faults(greet_421=10_000))
    with smtp_server(mailbox) as server:
        report = run(prepared, people(8), server.port, journal)
    assert report.exit_code == 4 and len(report.deferred) == 8 and "421" in report.deferred[0].reply


class _BreaksAfter:
    """The real journal, until its disk fills up after `marks` durable marks."""

    def __init__(self, journal: Journal, marks: int) -> None:
        self.journal, self.left = journal, marks
        self.marked: list[str] = []

    def mark_sending(self, key: JournalKey, message_id: str) -> None:
        if self.left <= 0:
            raise JournalBroken("cannot write the send journal: database or disk is full")
        self.left -= 1
        self.journal.mark_sending(key, message_id)
        self.marked.append(key.recipient)

    def get(self, key: JournalKey) -> JournalEntry | None:
        return self.journal.get(key)

    def record(self, key: JournalKey, message_id: str, state: str, reply: str) -> None:
        self.journal.record(key, message_id, state, reply)

    def flush(self) -> None:
        self.journal.flush()

    def has_any(self, issue: str, list_id: str) -> bool:
        return self.journal.has_any(issue, list_id)

    def uncertain(self, issue: str, list_id: str) -> list[str]:
        return self.journal.uncertain(issue, list_id)


def test_a_journal_that_cannot_write_stops_sending_at_once(prepared: Prepared, journal: Journal) -> None:
    emails = people(40)
    broken = _BreaksAfter(journal, marks=12)
    mailbox = Mailbox(keep=False)
    with smtp_server(mailbox) as server:
        report = send_issue(prepared, rows(emails), target(server.port), broken, FAST)
        assert report.balanced and report.exit_code == 4 and "journal" in report.stopped
        assert set(mailbox.counts) == set(broken.marked)  # no message without a durable mark
        again = run(prepared, emails, server.port, journal)
    assert again.exit_code == 0 and mailbox.counts == dict.fromkeys(emails, 1)


def test_an_unsubscribe_recorded_during_the_send_is_honoured(prepared: Prepared, journal: Journal) -> None:
    emails = people(20)
    gone: set[str] = set()
    mailbox = Mailbox(keep=False)

    def progress(outcome: Outcome) -> None:
        if outcome.status == "sent" and len(gone) == 0:
            gone.update(emails[10:15])  # the one-click app records them while the run goes on

    options = SendOptions(concurrency=1, recheck=0.0, retry_delays=())
    with smtp_server(mailbox) as server:
        report = send_issue(
            prepared, rows(emails), target(server.port), journal, options, on_progress=progress,
            live=Live(suppressions=lambda: frozenset(gone)),
        )  # fmt: skip
    assert report.balanced and report.skipped == 5 and report.sent == 15 and report.exit_code == 0
    assert not set(mailbox.counts) & gone


def test_the_date_header_is_the_moment_of_sending(prepared: Prepared, journal: Journal) -> None:
    moment = datetime(2026, 12, 2, 14, 3, 7, 250_000, tzinfo=UTC)
    mailbox = Mailbox()
    with smtp_server(mailbox) as server:
        run(prepared, people(2), server.port, journal, clock=lambda: moment)
    date = parsedate_to_datetime(mailbox.parsed(people(2)[0])["Date"])
    assert date == moment.replace(microsecond=0) and date.utcoffset() is not None


def test_dry_run_books_balance_with_would_send(prepared: Prepared, journal: Journal) -> None:
    report = send_issue(prepared, rows(people(7)), target(1), journal, SendOptions(dry_run=True))
    assert report.balanced and report.would_send == 7 and report.exit_code == 0


# Postfix's smtp-sink offers PIPELINING (aiosmtpd does not): MAIL, RCPT and DATA in one write.

needs_sink = pytest.mark.skipif(not shutil.which("smtp-sink"), reason="smtp-sink (postfix) not installed")


@contextmanager
def postfix(*options: str) -> Iterator[PostfixSink]:
    sink = PostfixSink(options=options)
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()


def settled(sink: PostfixSink, expected: int) -> int:
    deadline = time.monotonic() + 3
    while sink.count() < expected and time.monotonic() < deadline:
        time.sleep(0.01)  # its counters come through a pipe
    return sink.count()


@needs_sink
def test_pipelined_envelopes_deliver_to_smtp_sink(prepared: Prepared, journal: Journal) -> None:
    with postfix() as sink:
        report = run(prepared, people(30), sink.port, journal)
        assert report.exit_code == 0 and report.sent == 30 and settled(sink, 30) == 30


@needs_sink
@pytest.mark.parametrize(
    ("options", "outcome"),
    [
        (("-Q", "RCPT"), "deferred"),  # 421 and disconnect at RCPT, pipelined: nothing sent
        (("-q", "DATA"), "deferred"),  # disconnect at DATA, before the content: certain
        (("-q", "."), "uncertain"),  # disconnect after the final dot, no reply: may have it
    ],
)
def test_smtp_sink_faults_balance_the_books(
    prepared: Prepared, journal: Journal, options: tuple[str, ...], outcome: str
) -> None:
    with postfix(*options) as sink:
        report = run(prepared, people(12), sink.port, journal)
    assert report.exit_code == (4 if outcome == "deferred" else 4 if report.deferred else 1), report
    assert report.sent == 0 and getattr(report, outcome), report
    if outcome == "deferred":
        assert not report.uncertain
