"""How results are shown: tables and lines on stderr for people, JSON shapes on stdout for scripts."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from digest.cli.common import err, session

if TYPE_CHECKING:  # types only: importing them would cost every command their stages
    from digest import pipeline
    from digest.check import Finding
    from digest.models import FeedReport, Post
    from digest.sender import Outcome, SendReport
    from digest.subscribers import RowProblem


def feed_json(report: FeedReport) -> dict[str, Any]:
    return {
        "url": report.url,
        "status": report.status,
        "new_posts": report.new_posts,
        "error": report.error,
        "warnings": list(report.warnings),  # every one the table prints: dates, skipped entries, moves
        "moved_to": report.moved_to,
    }


def print_feeds(reports: Sequence[FeedReport], names: Mapping[str, str] | None = None) -> None:
    """A table of feeds: each named by its configured name (`names`, by URL) or its own title,
    its URL below; long URLs and errors fold onto more lines, so 80 columns stay legible."""
    table = Table(title="Feeds", title_justify="left")
    table.add_column("feed", overflow="fold", ratio=3)
    table.add_column("status", no_wrap=True)
    table.add_column("new", justify="right", no_wrap=True)
    table.add_column("warn", justify="right", no_wrap=True)
    table.add_column("time", justify="right", no_wrap=True)
    table.add_column("error", overflow="fold", ratio=2)
    for report in reports:
        name = (names or {}).get(report.url) or report.title
        # Text, not markup: a feed's name, URL or a server's message may hold "[brackets]".
        feed = Text(name, style="bold") + Text("\n" + report.url, style="dim") if name else Text(report.url)
        table.add_row(
            feed,
            report.status,
            str(report.new_posts),
            str(len(report.warnings)),
            f"{report.seconds:.2f}s",
            Text(report.error or ""),
        )
    err.print(table)
    for report in reports:
        for warning in report.warnings:
            err.print(f"warning: {report.url}: {warning}", markup=False)
    failed = sum(report.status == "error" for report in reports)
    new = sum(report.new_posts for report in reports)
    err.print(f"{len(reports)} feeds, {failed} failed, {new} new posts", markup=False)


def print_posts(posts: Sequence[Post]) -> None:
    table = Table(title="Posts", title_justify="left")
    for column in ("published", "from", "source", "title"):
        table.add_column(column)
    for post in posts:
        table.add_row(post.published.isoformat(), post.published_from, Text(post.source), Text(post.title))
    err.print(table)
    err.print(f"{len(posts)} posts", markup=False)


def findings_json(findings: Sequence[Finding]) -> list[dict[str, Any]]:
    return [asdict(finding) for finding in findings]


def print_findings(findings: Sequence[Finding], *, only_failures: bool = False) -> None:
    for finding in findings:
        if only_failures and finding.ok and not finding.warning and not session.verbose:
            continue
        mark = "FAIL" if not finding.ok else ("warn" if finding.warning else "ok")
        err.print(f"{mark:>4}  {finding.rule:<7} {finding.message}", markup=False)


def print_rows(rejected: Sequence[RowProblem], warnings: Sequence[RowProblem]) -> None:
    for problem in rejected:
        err.print(f"rejected line {problem.line}: {problem.reason}", markup=False)
    for problem in warnings:
        err.print(f"warning line {problem.line}: {problem.reason}", markup=False)


def print_send(report: SendReport) -> None:
    for outcome in report.seeds:
        err.print(f"seed       {outcome.recipient}: {outcome.status} {outcome.reply}".rstrip(), markup=False)
    for outcome in report.failed:
        err.print(f"failed     {outcome.recipient}: {outcome.reply}", markup=False)
    for outcome in report.deferred:
        err.print(f"deferred   {outcome.recipient}: {outcome.reply} (the next run tries again)", markup=False)
    for outcome in report.uncertain:
        err.print(
            f"uncertain  {outcome.recipient}: {outcome.reply} (not sent again; --resend-uncertain would)",
            markup=False,
        )
    if report.stopped:
        err.print(f"stopped: {report.stopped}", markup=False)
    for outcome in report.needs_smtputf8:
        err.print(f"would send {outcome.recipient}: {outcome.reply}", markup=False)
    verb = (
        f"Would send {report.would_send + len(report.needs_smtputf8)}"
        if report.dry_run
        else f"Sent {report.sent}"
    )
    err.print(
        f"{verb} messages via {report.server} to a list of {report.total}: {report.earlier} sent earlier, "
        f"{len(report.failed)} failed, {len(report.deferred)} deferred, {len(report.uncertain)} uncertain, "
        f"{report.skipped} not active, {len(report.rejected)} rejected",
        markup=False,
    )
    err.print(NEXT_STEP[report.exit_code], markup=False)


NEXT_STEP = {
    0: "Done: every active reader has the issue.",
    1: "Finished, with failures or uncertain messages to look at: running again changes nothing.",
    4: "Not finished: run the same command again (nothing is sent twice).",
    130: "Interrupted: run the same command again (nothing is sent twice).",
}


def send_json(report: SendReport) -> dict[str, Any]:
    """The shape of docs/delivery.md (and PRODUCT.md): total = sent + sent_earlier + failed +
    deferred + uncertain + not_active + rejected (+ would_send in a dry run)."""

    def outcomes(items: tuple[Outcome, ...]) -> list[dict[str, str]]:
        return [{"email": o.recipient, "reason": o.reply} for o in items]

    return {
        "total": report.total,
        "sent": report.sent,
        "sent_earlier": report.earlier,
        "needs_smtputf8": outcomes(report.needs_smtputf8),
        "failed": outcomes(report.failed),
        "deferred": outcomes(report.deferred),
        "uncertain": outcomes(report.uncertain),
        "not_active": report.skipped,
        "rejected": [asdict(problem) for problem in report.rejected],
        "would_send": report.would_send,
        "dry_run": report.dry_run,
        "server": report.server,
        "stopped": report.stopped or None,
        "interrupted": report.interrupted,
        "exit_code": report.exit_code,
        "seeds": [{"email": o.recipient, "status": o.status, "reason": o.reply} for o in report.seeds],
    }


@contextmanager
def feed_progress(total: int) -> Iterator[Callable[[FeedReport], None] | None]:
    """A progress bar on stderr while feeds are fetched; none when stderr is not a terminal."""
    if not err.is_terminal or not total:
        yield None
        return
    columns = (TextColumn("gathering"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task("gather", total=total)
        yield lambda report: progress.advance(task)


@contextmanager
def send_progress() -> Iterator[Callable[[Outcome], None] | None]:
    """Messages handled so far, on stderr when it is a terminal (the list is streamed: no total)."""
    if not err.is_terminal:
        yield None
        return
    columns = (
        TextColumn("sending"),
        BarColumn(),
        TextColumn("{task.completed} messages"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task("send", total=None)
        yield lambda outcome: progress.advance(task)


def exported_json(exported: pipeline.Exported) -> dict[str, object]:
    return {
        "out": str(exported.directory),
        "written": exported.written,
        "skipped": exported.skipped,
        "files": [str(path) for path in exported.files],
        "stale_removed": [str(path) for path in exported.stale],
        "rejected": [{"line": p.line, "reason": p.reason} for p in exported.rejected],
        "warnings": [{"line": p.line, "reason": p.reason} for p in exported.warnings],
    }
