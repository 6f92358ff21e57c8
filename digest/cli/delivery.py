"""Delivering an issue: `digest export` (files and service payloads) and `digest send` (SMTP)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand, TyperOption

from digest.cli.common import (
    IssueArgument,
    IssueConfigOption,
    JsonOption,
    SegmentOption,
    StateOption,
    SubscribersOption,
    environment,
    err,
    issue_settings,
    out,
)
from digest.cli.lazy import module
from digest.cli.reports import exported_json, print_rows, print_send, send_json, send_progress

if TYPE_CHECKING:
    from digest import exporters, pipeline, sender, sendqueue, smtp
    from digest.sender import SendReport
else:
    pipeline, sender = module("digest.pipeline"), module("digest.sender")
    sendqueue, smtp = module("digest.sendqueue"), module("digest.smtp")
    exporters = module("digest.exporters")


class ExportCommand(TyperCommand):
    """`export`, whose `--format` help lists the formats found when it is shown: the built-ins,
    the installed exporters (entry point group `digest.exporters`), and the broken ones, why."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        for param in self.params:
            if isinstance(param, TyperOption) and param.name == "fmt":
                param.help = exporters.describe(exporters.discover())
        super().format_help(ctx, formatter)


def export(
    issue_dir: IssueArgument,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the messages or request bodies.")],
    fmt: Annotated[str, typer.Option("--format", help="The formats found (shown by --help).")] = "eml",
    config: IssueConfigOption = None,
    subscribers: SubscribersOption = None,
    segment: SegmentOption = None,
    as_json: JsonOption = False,
) -> None:
    """Write one personalised message per active subscriber, or a mailing service's request bodies.

    eml: one file per recipient; mbox: one file; sendgrid, mailgun, ses, postmark, brevo,
    mailjet: JSON request bodies chunked to each API's limits, in the service's own merge
    syntax; listmonk, brevo-campaign: a campaign and a subscriber import file; an installed
    exporter (entry point group `digest.exporters`): its own (docs/delivery.md). Unsubscribed and bounced rows get nothing;
    rejected rows, and readers a format cannot serve (a non-ASCII address for a service that takes
    ASCII only), are listed with their line (exit 1) while the others still go out. Files appear
    only once the whole export is written; an export that fails publishes nothing (exit 4).
    Files an earlier export of the same issue left, not written again, are removed and listed.
    The secret that signs unsubscribe links comes from DIGEST_UNSUBSCRIBE_SECRET.

    Example: digest export issues/2026-W47 --format sendgrid --out outbox
    """
    exported = pipeline.export(
        issue_dir,
        issue_settings(issue_dir, config),
        environment(),
        out=out_dir,
        fmt=fmt,
        subscribers=subscribers,
        segment=segment,
    )
    print_rows(exported.rejected, exported.warnings)
    for path in exported.stale:
        err.print(
            f"removed    {path}: left by an earlier export of this issue, not written again", markup=False
        )
    if as_json:
        out.print_json(data=exported_json(exported))
    files = "" if fmt == "eml" else f" in {len(exported.files)} file(s)"
    err.print(
        f"Wrote {exported.written} messages{files} to {exported.directory} "
        f"({exported.skipped} not active, {len(exported.rejected)} rejected"
        + (
            f", {len(exported.stale)} stale messages of an earlier export removed)" if exported.stale else ")"
        ),
        markup=False,
    )
    if exported.rejected:
        raise typer.Exit(1)


SmtpUrlOption = Annotated[
    str,
    typer.Option("--smtp-url", help="smtp://[user@]host[:port] (STARTTLS, port 587) or smtps:// (TLS, 465)."),
]
ConcurrencyOption = Annotated[int, typer.Option("--concurrency", min=1, max=64, help="SMTP connections.")]
RateOption = Annotated[
    float, typer.Option("--rate", min=0, help="At most R messages a second (0: no limit).")
]
PerConnectionOption = Annotated[
    int, typer.Option("--per-connection", min=1, help="Messages per connection, then reconnect.")
]
TimeoutOption = Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds to wait for the server.")]
CaFileOption = Annotated[
    Path | None, typer.Option("--ca-file", help="CA certificates (PEM) that sign the server's certificate.")
]
InsecureOption = Annotated[
    bool, typer.Option("--insecure", help="Allow a server off this machine that offers no STARTTLS.")
]
DryRunOption = Annotated[bool, typer.Option("--dry-run", help="Build every message, connect to nothing.")]
ResendOption = Annotated[
    bool, typer.Option("--resend-uncertain", help="Send again the messages a crash left uncertain.")
]


ToOption = Annotated[
    list[str] | None,
    typer.Option("--to", help="A test send to this address only (repeatable): subject [TEST], no journal."),
]
ForceOption = Annotated[
    bool,
    typer.Option("--force", help="Send although the state has no record of an issue recorded as sent."),
]


def send(
    issue_dir: IssueArgument,
    smtp_url: SmtpUrlOption,
    config: IssueConfigOption = None,
    state: StateOption = None,
    subscribers: SubscribersOption = None,
    segment: SegmentOption = None,
    concurrency: ConcurrencyOption = 4,
    rate: RateOption = 0,
    per_connection: PerConnectionOption = 50,
    timeout: TimeoutOption = 60,
    ca_file: CaFileOption = None,
    insecure: InsecureOption = False,
    dry_run: DryRunOption = False,
    resend_uncertain: ResendOption = False,
    to: ToOption = None,
    force: ForceOption = False,
    as_json: JsonOption = False,
) -> None:
    """Send the issue over SMTP; run the same command again until it exits 0 or 1.

    Each message is recorded in the journal (the state folder) before its end is sent and after
    the server's reply, keyed on the issue (its week or span), so every issue is sent once to
    each reader. 4xx replies, 421 and connections cut before the end of DATA are retried with
    back-off; 5xx fail that recipient; a message whose end was sent with no reply is uncertain:
    listed, and sent again only with --resend-uncertain. Every row of the list is accounted for.
    `--to ADDRESS` sends a test copy (subject [TEST]) to that address only, outside the journal.
    The password comes from DIGEST_SMTP_PASSWORD, a DKIM key from DIGEST_DKIM_KEY.

    Exit 0: every active reader has the issue (now or earlier). 1: finished, but some failed for
    good, are uncertain or rows were rejected (a decision; rerunning changes nothing). 4: some
    remain (deferred, circuit open, journal not writable): run the same command again. 130:
    interrupted (Ctrl-C): run it again too.

    Example: digest send issues/2026-W47 --smtp-url smtp://news@mail.example.org --to me@example.org
    """
    env = environment()
    target = smtp.parse_smtp_url(
        smtp_url, password=env.smtp_password, insecure=insecure, ca_file=ca_file, timeout=timeout
    )
    options = sender.SendOptions(concurrency, rate, per_connection, dry_run, resend_uncertain, force=force)
    settings = issue_settings(issue_dir, config, state)
    if to:
        report = pipeline.send_test(issue_dir, settings, env, target=target, options=options, addresses=to)
        _finish(report, as_json)
    interrupt = sendqueue.Interrupt()
    with send_progress() as advance, interrupts(interrupt):
        report = pipeline.send(
            issue_dir,
            settings,
            env,
            target=target,
            options=options,
            subscribers=subscribers,
            on_progress=advance,
            segment=segment,
            interrupt=interrupt,
        )
    _finish(report, as_json)


def _finish(report: SendReport, as_json: bool) -> None:
    print_rows(report.rejected, report.warnings)
    if as_json:
        out.print_json(data=send_json(report))
    else:
        print_send(report)
    raise typer.Exit(report.exit_code)


@contextmanager
def interrupts(interrupt: sendqueue.Interrupt) -> Iterator[None]:
    """Ctrl-C (and SIGTERM, what CI sends on cancel) asks the run to stop: messages in flight
    finish, the rest is reported, exit 130. A second Ctrl-C stops at once (the journal still
    never lets a message be sent twice)."""

    def handler(number: int, frame: FrameType | None) -> None:
        if interrupt.requested:
            raise KeyboardInterrupt
        interrupt.requested = True
        err.print(
            "stopping: the messages in flight finish, then the summary (Ctrl-C again: now)", markup=False
        )

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.signal(number, handler) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old)
