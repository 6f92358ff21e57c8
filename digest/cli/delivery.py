"""Delivering an issue: `digest export` (files and service payloads) and `digest send` (SMTP)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from digest import pipeline
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
from digest.cli.reports import exported_json, print_rows, print_send, send_json, send_progress
from digest.sender import SendOptions
from digest.smtp import parse_smtp_url


def export(
    issue_dir: IssueArgument,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the messages or request bodies.")],
    fmt: Annotated[
        str, typer.Option("--format", help="eml, mbox, sendgrid, mailgun, ses, postmark or listmonk.")
    ] = "eml",
    config: IssueConfigOption = None,
    subscribers: SubscribersOption = None,
    segment: SegmentOption = None,
    as_json: JsonOption = False,
) -> None:
    """Write one personalised message per active subscriber, or a mailing service's request bodies.

    eml: one file per recipient; mbox: one file; sendgrid, mailgun, ses, postmark: JSON request
    bodies chunked to each API's limit, in the service's own merge syntax; listmonk: a campaign
    and a subscriber import file (docs/delivery.md). Unsubscribed and bounced rows get nothing;
    rejected rows are listed with their line (exit 1) while the others still go out. The secret
    that signs unsubscribe links comes from DIGEST_UNSUBSCRIBE_SECRET.

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
    if as_json:
        out.print_json(data=exported_json(exported))
    files = "" if fmt == "eml" else f" in {len(exported.files)} file(s)"
    err.print(
        f"Wrote {exported.written} messages{files} to {exported.directory} "
        f"({exported.skipped} not active, {len(exported.rejected)} rejected"
        + (f", {exported.removed} stale messages of an earlier export removed)" if exported.removed else ")"),
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
    as_json: JsonOption = False,
) -> None:
    """Send the issue over SMTP; after a crash, the same command resumes and never sends twice.

    Each message is recorded in the journal (the state folder) before its end is sent and after
    the server's reply, keyed on the issue (its week or span), so every issue is sent once to
    each reader. A message whose end was sent with no reply recorded (a crash at that moment) is
    uncertain: listed, and sent again only with --resend-uncertain. 4xx replies are retried, 5xx
    fail that recipient. The password comes from DIGEST_SMTP_PASSWORD, a DKIM key from
    DIGEST_DKIM_KEY. Exit 1 when a message was not delivered.

    Example: digest send issues/2026-W47 --smtp-url smtp://news@mail.example.org
    """
    env = environment()
    target = parse_smtp_url(
        smtp_url, password=env.smtp_password, insecure=insecure, ca_file=ca_file, timeout=timeout
    )
    with send_progress() as advance:
        report = pipeline.send(
            issue_dir,
            issue_settings(issue_dir, config, state),
            env,
            target=target,
            options=SendOptions(concurrency, rate, per_connection, dry_run, resend_uncertain),
            subscribers=subscribers,
            on_progress=advance,
            segment=segment,
        )
    print_rows(report.rejected, report.warnings)
    if as_json:
        out.print_json(data=send_json(report))
    else:
        print_send(report)
    if not report.complete:
        raise typer.Exit(1)
