"""What a `send` run reports: one outcome per reader, the books, and the exit code they mean."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from digest.subscribers import RowProblem

# Exit codes of `digest send` (docs/delivery.md): what a scheduler should do next.
DONE, ATTENTION, RUN_AGAIN, INTERRUPTED = 0, 1, 4, 130


@dataclass(frozen=True)
class Outcome:
    recipient: str
    status: str  # sent | failed | deferred | uncertain | earlier | would_send | needs_smtputf8 | not_active
    reply: str = ""


ProgressCallback = Callable[[Outcome], None]
COUNTED = ("sent", "earlier", "would_send", "not_active")  # counts; the other statuses are listed


@dataclass(frozen=True)
class SendReport:
    server: str
    sent: int
    earlier: int  # sent by an earlier run of the same command
    failed: tuple[Outcome, ...]
    deferred: tuple[Outcome, ...]
    uncertain: tuple[Outcome, ...]
    skipped: int  # not active: unsubscribed, bounced, cleaned (in the list or in the store)
    rejected: tuple[RowProblem, ...]
    warnings: tuple[RowProblem, ...]
    dry_run: bool = False
    would_send: int = 0
    total: int = 0  # every row of the list (of every edition)
    stopped: str = ""  # why the run stopped before the end: circuit open, journal, interrupted
    interrupted: bool = False
    seeds: tuple[Outcome, ...] = ()  # `[delivery] seed` addresses: outside the books
    needs_smtputf8: tuple[Outcome, ...] = ()  # a dry run's: would go out only if the server offers SMTPUTF8

    @property
    def balanced(self) -> bool:
        """The books: every row of the list is in exactly one count."""
        counted = self.sent + self.earlier + self.would_send + len(self.needs_smtputf8) + self.skipped
        problems = len(self.failed) + len(self.deferred) + len(self.uncertain) + len(self.rejected)
        return self.total == counted + problems

    @property
    def exit_code(self) -> int:
        """130 interrupted, 4 some remain (run the same command again), 1 finished but some
        failed for good or are uncertain (a decision, not a rerun), 0 every reader has it."""
        if self.interrupted:
            return INTERRUPTED
        if self.deferred or self.stopped:
            return RUN_AGAIN
        if self.failed or self.uncertain or self.rejected:
            return ATTENTION
        return DONE

    @property
    def complete(self) -> bool:
        """Every active, valid subscriber has the issue."""
        return self.exit_code == DONE


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
        total=sum(report.total for report in reports),
        stopped=next((report.stopped for report in reports if report.stopped), ""),
        interrupted=any(report.interrupted for report in reports),
        seeds=tuple(outcome for report in reports for outcome in report.seeds),
        needs_smtputf8=tuple(outcome for report in reports for outcome in report.needs_smtputf8),
    )
