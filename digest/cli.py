"""The command line: parse arguments, call one pipeline function, report. Nothing else.

Exit codes: 0 success; 1 a failure was found; 2 usage or configuration error; 3 nothing to
publish. Machine output (--json) goes to stdout, human messages to stderr.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from digest import __version__, pipeline
from digest.check import Finding
from digest.cli_subscribers import subscribers_app, unsubscribe_app
from digest.errors import ConfigError, DigestError
from digest.models import FeedReport
from digest.sender import Outcome, SendOptions, SendReport
from digest.smtp import parse_smtp_url
from digest.subscribers import RowProblem

app = typer.Typer(
    name="digest",
    help="Weekly newsletter digests from RSS/Atom feeds: gather, build, check, export.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",  # paragraphs re-flow to the terminal width
)
app.add_typer(subscribers_app, name="subscribers")
app.add_typer(unsubscribe_app, name="unsubscribe")
err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="digest.toml (default: found in . or above).")
]
StateOption = Annotated[
    Path | None,
    typer.Option("--state", help="State folder (default: .digest/ beside digest.toml, or $DIGEST_STATE)."),
]
SegmentOption = Annotated[
    str | None, typer.Option("--segment", help="Only the subscribers with this tag (the CSV's tags column).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]


def _version(value: bool) -> None:
    if value:
        out.print(f"digest {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit."),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors on stderr.")] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Every check and warning, not only failures.")
    ] = False,
) -> None:
    """Weekly newsletter digests from RSS/Atom feeds.

    Exit codes: 0 success, 1 a failure was found, 2 usage or configuration error, 3 nothing to publish.

    Example: digest demo --out /tmp/digest-demo
    """
    err.quiet = quiet
    _verbosity["verbose"] = verbose and not quiet


_verbosity = {"verbose": False}


@contextmanager
def _errors() -> Iterator[None]:
    """Library errors become one clear message and an exit code, here and only here."""
    try:
        yield
    except DigestError as exc:
        # errors are printed even with --quiet
        errors = Console(
            stderr=True, highlight=False, soft_wrap=True, no_color=bool(os.environ.get("NO_COLOR"))
        )
        errors.print(f"[bold red]error:[/] {escape(str(exc))}")
        raise typer.Exit(exc.exit_code) from None


def _now() -> datetime:
    """The run's clock; DIGEST_NOW (ISO 8601) pins it for reproducible runs and tests."""
    pinned = os.environ.get("DIGEST_NOW")
    if not pinned:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(pinned)
    except ValueError:
        raise ConfigError(f"DIGEST_NOW={pinned!r} is not an ISO 8601 date-time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@app.command()
def demo(
    out_dir: Annotated[
        Path, typer.Option("--out", help="Folder for the demo newsletter and its output.")
    ] = Path("digest-demo"),
    as_json: JsonOption = False,
) -> None:
    """Run the whole pipeline offline on the bundled sample feeds and subscribers.

    Example: digest demo --out /tmp/digest-demo
    """
    with _errors():
        result = pipeline.demo(out_dir.resolve(), now=_now())
    if as_json:
        out.print_json(
            data={
                "feeds": [_feed_json(report) for report in result.reports],
                "issue": str(result.built.directory),
                "checks": [asdict(f) for f in result.built.findings],
                "messages": _exported_json(result.exported),
            }
        )
    _print_feeds(result.reports)
    _print_findings(result.built.findings)
    built, exported = result.built, result.exported
    err.print(f"\nIssue {built.issue.week}: {len(built.issue.posts)} posts, “{built.issue.subject}”")
    for name in ("issue.json", "email.html", "email.txt", "web.html"):
        err.print(f"  {built.directory / name}")
    err.print(
        f"Messages: {exported.written} .eml files in {exported.directory} ({exported.skipped} not active, {len(exported.rejected)} rejected)"
    )
    err.print(f"Newsletter folder: {result.root} (try: digest build --config {result.root / 'digest.toml'})")


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Folder to create the newsletter in.")] = Path("."),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing digest.toml.")] = False,
) -> None:
    """Scaffold a newsletter: digest.toml, templates/, subscribers.csv and sample feeds.

    Example: digest init my-newsletter && cd my-newsletter && digest gather && digest build
    """
    with _errors():
        config = pipeline.scaffold(directory.resolve(), force=force)
    err.print(f"Created {config}; edit [newsletter] and [[feeds]], then run `digest gather`.")


@app.command()
def gather(
    config: ConfigOption = None,
    state: StateOption = None,
    as_json: JsonOption = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 when any feed fails (default: only when all do).")
    ] = False,
    retry_gone: Annotated[
        bool, typer.Option("--retry-gone", help="Fetch again the feeds marked gone after a 410 answer.")
    ] = False,
) -> None:
    """Fetch every feed concurrently and store new posts; one broken feed never stops the others.

    A progress bar shows on a terminal, then a table of feed, status, new posts, time and error.
    Exit 0 when every feed is fine or only some failed, 1 when every feed failed, or with
    --strict when any did. See docs/gather.md for limits, retries, redirects and gone feeds.

    Example: digest gather --config news/digest.toml --strict
    """
    with _errors():
        settings = pipeline.find_config(config, state=state)
        with _gather_progress(len(settings.feeds)) as advance:
            reports = pipeline.gather(settings, now=_now(), on_done=advance, retry_gone=retry_gone)
    if as_json:
        out.print_json(data={"feeds": [_feed_json(report) for report in reports]})
    else:
        _print_feeds(reports)
    failed = sum(report.status == "error" for report in reports)
    if failed and (strict or failed == len(reports)):
        raise typer.Exit(1)


@contextmanager
def _gather_progress(total: int) -> Iterator[Callable[[FeedReport], None] | None]:
    """A progress bar on stderr while feeds are fetched; none when stderr is not a terminal."""
    if not err.is_terminal or not total:
        yield None
        return
    columns = (TextColumn("gathering"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task("gather", total=total)
        yield lambda report: progress.advance(task)


@app.command()
def build(
    config: ConfigOption = None,
    state: StateOption = None,
    week: Annotated[
        str | None,
        typer.Option("--week", help="ISO week, e.g. 2026-W48 (default: the last complete week)."),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Issues folder (default: issues/ beside digest.toml)."),
    ] = None,
    pin: Annotated[
        list[str] | None,
        typer.Option("--pin", help="URL of a post to keep and put first (repeatable)."),
    ] = None,
    drop: Annotated[
        list[str] | None, typer.Option("--drop", help="URL of a post to leave out (repeatable).")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="First day of another span, YYYY-MM-DD.")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Last day of that span, YYYY-MM-DD (inclusive).")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an issue.json that differs (edited, or new posts).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Select the week's featured posts and render the issue into OUT/WEEK/.

    A week without posts writes nothing and exits 3. An issue.json edited since the last build
    is never replaced without --force (use `digest render` to keep the edits).

    Example: digest build --week 2026-W47 --pin https://blog.example.org/a-post
    """
    with _errors():
        settings = pipeline.find_config(config, state=state)
        built = pipeline.build(
            settings,
            now=_now(),
            week=week,
            out=out_dir,
            pins=pin or (),
            drops=drop or (),
            since=since,
            until=until,
            force=force,
        )
    for warning in built.warnings:
        err.print(f"warning: {warning}")
    failed = [finding for finding in built.findings if not finding.ok]
    if as_json:
        out.print_json(
            data={
                "issue": str(built.directory),
                "week": built.issue.week,
                "posts": len(built.issue.posts),
                "checks": [asdict(f) for f in built.findings],
            }
        )
    else:
        _print_findings(built.findings, only_failures=True)
        err.print(f"Built {built.issue.week}: {len(built.issue.posts)} posts in {built.directory}")
    if failed:
        raise typer.Exit(1)


@app.command()
def render(
    issue_dir: Annotated[Path, typer.Argument(help="An issue folder holding issue.json.")],
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Render an (edited) issue.json again; the same issue.json gives the same bytes.

    Example: digest render issues/2026-W47
    """
    with _errors():
        templates = _templates(config)
        findings = pipeline.rerender(issue_dir, templates)
    if as_json:
        out.print_json(data={"issue": str(issue_dir), "checks": [asdict(f) for f in findings]})
    _print_findings(findings, only_failures=True)
    err.print(f"Rendered {issue_dir}")
    if any(not finding.ok for finding in findings):
        raise typer.Exit(1)


@app.command()
def check(
    issue_dir: Annotated[Path, typer.Argument(help="An issue folder.")], as_json: JsonOption = False
) -> None:
    """Run the email quality gates (EMAIL_RULES.md) on a built issue; exit 1 when one fails.

    Example: digest check issues/2026-W47 --json
    """
    with _errors():
        findings = pipeline.check(issue_dir)
    if as_json:
        out.print_json(data={"ok": all(f.ok for f in findings), "checks": [asdict(f) for f in findings]})
    else:
        _print_findings(findings)
    if any(not finding.ok for finding in findings):
        raise typer.Exit(1)


@app.command()
def preview(
    issue_dir: Annotated[Path, typer.Argument(help="An issue folder.")],
    config: ConfigOption = None,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (loopback by default).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on (0: any free port).")] = 8025,
    shots: Annotated[
        bool, typer.Option("--screenshots", help="Write phone, desktop and dark PNGs instead of serving.")
    ] = False,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Folder for --screenshots.")] = None,
) -> None:
    """Show the issue at phone and desktop widths, light and dark, with its text part.

    The page reloads when issue.json or a template changes. --screenshots uses headless Chromium.

    Example: digest preview issues/2026-W47 --screenshots --out shots
    """
    with _errors():
        if shots:
            written = pipeline.screenshots(issue_dir, out_dir or issue_dir / "screenshots")
            for path in written:
                err.print(f"  {path}")
            return
        server = pipeline.preview_server(issue_dir, _templates(config), host=host, port=port)
    err.print(f"Previewing {issue_dir} at {server.url} (Ctrl-C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        err.print("stopped")


@app.command()
def export(
    issue_dir: Annotated[Path, typer.Argument(help="An issue folder.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the messages or request bodies.")],
    fmt: Annotated[
        str,
        typer.Option("--format", help="eml, mbox, sendgrid, mailgun, ses, postmark or listmonk."),
    ] = "eml",
    config: ConfigOption = None,
    subscribers: Annotated[
        Path | None,
        typer.Option("--subscribers", help="Subscriber CSV (default: [delivery] subscribers)."),
    ] = None,
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
    with _errors():
        settings = pipeline.find_config(config)
        exported = pipeline.export(
            issue_dir, settings, out=out_dir, fmt=fmt, subscribers=subscribers, segment=segment
        )
    _print_rows(exported.rejected, exported.warnings)
    if as_json:
        out.print_json(data=_exported_json(exported))
    files = "" if fmt == "eml" else f" in {len(exported.files)} file(s)"
    err.print(
        f"Wrote {exported.written} messages{files} to {exported.directory} ({exported.skipped} not active, {len(exported.rejected)} rejected)"
    )
    if exported.rejected:
        raise typer.Exit(1)


@app.command()
def send(
    issue_dir: Annotated[Path, typer.Argument(help="An issue folder.")],
    smtp_url: Annotated[
        str,
        typer.Option(
            "--smtp-url", help="smtp://[user@]host[:port] (STARTTLS, port 587) or smtps:// (TLS, 465)."
        ),
    ],
    config: ConfigOption = None,
    state: StateOption = None,
    subscribers: Annotated[
        Path | None,
        typer.Option("--subscribers", help="Subscriber CSV (default: [delivery] subscribers)."),
    ] = None,
    segment: SegmentOption = None,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, max=64, help="SMTP connections.")] = 4,
    rate: Annotated[
        float, typer.Option("--rate", min=0, help="At most R messages a second (0: no limit).")
    ] = 0,
    per_connection: Annotated[
        int, typer.Option("--per-connection", min=1, help="Messages per connection, then reconnect.")
    ] = 50,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.1, help="Seconds to wait for the server.")
    ] = 60,
    ca_file: Annotated[
        Path | None,
        typer.Option("--ca-file", help="CA certificates (PEM) that sign the server's certificate."),
    ] = None,
    insecure: Annotated[
        bool, typer.Option("--insecure", help="Allow a server off this machine that offers no STARTTLS.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Build every message, connect to nothing.")
    ] = False,
    resend_uncertain: Annotated[
        bool, typer.Option("--resend-uncertain", help="Send again the messages a crash left uncertain.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Send the issue over SMTP; after a crash, the same command resumes and never sends twice.

    Each message is recorded in the journal (the state folder) before its end is sent and after
    the server's reply. A message whose end was sent with no reply recorded (a crash at that
    moment) is uncertain: listed, and sent again only with --resend-uncertain. 4xx replies are
    retried, 5xx fail that recipient. The password comes from DIGEST_SMTP_PASSWORD, a DKIM key
    from DIGEST_DKIM_KEY. Exit 1 when a message was not delivered.

    Example: digest send issues/2026-W47 --smtp-url smtp://news@mail.example.org
    """
    with _errors():
        settings = pipeline.find_config(config, state=state)
        target = parse_smtp_url(smtp_url, insecure=insecure, ca_file=ca_file, timeout=timeout)
        options = SendOptions(concurrency, rate, per_connection, dry_run, resend_uncertain)
        with _send_progress() as advance:
            report = pipeline.send(
                issue_dir,
                settings,
                target=target,
                options=options,
                subscribers=subscribers,
                on_progress=advance,
                segment=segment,
            )
    _print_rows(report.rejected, report.warnings)
    if as_json:
        out.print_json(data=_send_json(report))
    else:
        _print_send(report)
    if not report.complete:
        raise typer.Exit(1)


@contextmanager
def _send_progress() -> Iterator[Callable[[Outcome], None] | None]:
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


def _print_send(report: SendReport) -> None:
    for outcome in report.failed:
        err.print(f"failed     {outcome.recipient}: {outcome.reply}", markup=False)
    for outcome in report.deferred:
        err.print(f"deferred   {outcome.recipient}: {outcome.reply} (the next run tries again)", markup=False)
    for outcome in report.uncertain:
        err.print(
            f"uncertain  {outcome.recipient}: {outcome.reply} (not sent again; --resend-uncertain would)",
            markup=False,
        )
    verb = f"Would send {report.would_send}" if report.dry_run else f"Sent {report.sent}"
    err.print(
        f"{verb} messages via {report.server}: {report.earlier} sent earlier, {len(report.failed)} failed, "
        f"{len(report.deferred)} deferred, {len(report.uncertain)} uncertain, {report.skipped} not active, "
        f"{len(report.rejected)} rejected",
        markup=False,
    )


def _send_json(report: SendReport) -> dict[str, Any]:
    def outcomes(items: tuple[Outcome, ...]) -> list[dict[str, str]]:
        return [{"recipient": o.recipient, "reply": o.reply} for o in items]

    return {
        "server": report.server,
        "dry_run": report.dry_run,
        "sent": report.sent,
        "would_send": report.would_send,
        "earlier": report.earlier,
        "failed": outcomes(report.failed),
        "deferred": outcomes(report.deferred),
        "uncertain": outcomes(report.uncertain),
        "skipped": report.skipped,
        "rejected": [asdict(problem) for problem in report.rejected],
    }


def _print_rows(rejected: tuple[RowProblem, ...], warnings: tuple[RowProblem, ...]) -> None:
    for problem in rejected:
        err.print(f"rejected line {problem.line}: {problem.reason}", markup=False)
    for problem in warnings:
        err.print(f"warning line {problem.line}: {problem.reason}", markup=False)


@app.command()
def archive(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the static site.")],
    config: ConfigOption = None,
    issues: Annotated[
        Path | None, typer.Option("--issues", help="Issues folder (default: issues/ beside digest.toml).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Write a static web archive of the built issues: index.html, one page each, an Atom feed.

    Links between pages are relative, so the folder can be served from any path.

    Example: digest archive --out public
    """
    with _errors():
        settings = pipeline.find_config(config)
        written = pipeline.archive(settings, out=out_dir, issues=issues)
    if as_json:
        out.print_json(data={"out": str(out_dir), "files": [str(path) for path in written]})
    err.print(f"Wrote {len(written)} files to {out_dir} (index.html, feed.xml, {len(written) - 2} issues)")


def _exported_json(exported: pipeline.Exported) -> dict[str, Any]:
    return {
        "out": str(exported.directory),
        "written": exported.written,
        "skipped": exported.skipped,
        "files": [str(path) for path in exported.files],
        "rejected": [{"line": p.line, "reason": p.reason} for p in exported.rejected],
        "warnings": [{"line": p.line, "reason": p.reason} for p in exported.warnings],
    }


def _templates(config: Path | None) -> Path | None:
    """The newsletter's templates when a digest.toml is given or found; else the shipped ones."""
    try:
        return pipeline.find_config(config).templates
    except ConfigError:
        if config:
            raise
        return None


def _feed_json(report: FeedReport) -> dict[str, Any]:
    return {
        "url": report.url,
        "status": report.status,
        "new_posts": report.new_posts,
        "error": report.error,
    }


def _print_feeds(reports: list[FeedReport] | tuple[FeedReport, ...]) -> None:
    table = Table(title="Feeds", title_justify="left")
    for column in ("feed", "status", "new posts", "time", "error"):
        table.add_column(column, justify="right" if column in ("new posts", "time") else "left")
    for report in reports:
        # Text, not markup: a feed's URL or a server's message may hold "[brackets]".
        table.add_row(
            Text(report.url),
            report.status,
            str(report.new_posts),
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


def _print_findings(findings: list[Finding] | tuple[Finding, ...], *, only_failures: bool = False) -> None:
    for finding in findings:
        if only_failures and finding.ok and not finding.warning and not _verbosity["verbose"]:
            continue
        mark = "FAIL" if not finding.ok else ("warn" if finding.warning else "ok")
        err.print(f"{mark:>4}  {finding.rule:<7} {finding.message}", markup=False)


def main() -> None:
    app()
