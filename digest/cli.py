"""The command line: parse arguments, call one pipeline function, report. Nothing else.

Exit codes: 0 success; 1 a failure was found; 2 usage or configuration error; 3 nothing to
publish. Machine output (--json) goes to stdout, human messages to stderr.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from digest import __version__, pipeline
from digest.check import Finding
from digest.errors import ConfigError, DigestError
from digest.models import FeedReport

app = typer.Typer(
    name="digest",
    help="Weekly newsletter digests from RSS/Atom feeds: gather, build, check, export.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="digest.toml (default: found in . or above).")
]
StateOption = Annotated[
    Path | None,
    typer.Option("--state", help="State folder (default: .digest/ beside digest.toml, or $DIGEST_STATE)."),
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
) -> None:
    """Weekly newsletter digests from RSS/Atom feeds.

    Example: digest demo --out /tmp/digest-demo
    """


@contextmanager
def _errors() -> Iterator[None]:
    """Library errors become one clear message and an exit code, here and only here."""
    try:
        yield
    except DigestError as exc:
        err.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False) if not os.environ.get(
            "NO_COLOR"
        ) else err.print(f"error: {exc}", markup=False)
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
) -> None:
    """Run the whole pipeline offline on the bundled sample feeds and subscribers.

    Example: digest demo --out /tmp/digest-demo
    """
    with _errors():
        result = pipeline.demo(out_dir.resolve(), now=_now())
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
def gather(config: ConfigOption = None, state: StateOption = None, as_json: JsonOption = False) -> None:
    """Fetch every feed concurrently and store new posts; one broken feed never stops the others.

    Example: digest gather --config news/digest.toml
    """
    with _errors():
        settings = pipeline.find_config(config, state=state)
        reports = pipeline.gather(settings, now=_now())
    if as_json:
        out.print_json(data={"feeds": [_feed_json(report) for report in reports]})
    else:
        _print_feeds(reports)
    if reports and all(report.status == "error" for report in reports):
        raise typer.Exit(1)


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
    as_json: JsonOption = False,
) -> None:
    """Select the week's featured posts and render the issue into OUT/WEEK/.

    Example: digest build --week 2026-W47 --pin https://blog.example.org/a-post
    """
    with _errors():
        settings = pipeline.find_config(config, state=state)
        built = pipeline.build(settings, now=_now(), week=week, out=out_dir, pins=pin or (), drops=drop or ())
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
) -> None:
    """Render an (edited) issue.json again; the same issue.json gives the same bytes.

    Example: digest render issues/2026-W47
    """
    with _errors():
        templates = _templates(config)
        findings = pipeline.rerender(issue_dir, templates)
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
def export(
    issue_dir: Annotated[Path, typer.Argument(help="An issue folder.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the messages.")],
    fmt: Annotated[str, typer.Option("--format", help="eml (more formats to come).")] = "eml",
    config: ConfigOption = None,
    subscribers: Annotated[
        Path | None,
        typer.Option("--subscribers", help="Subscriber CSV (default: [delivery] subscribers)."),
    ] = None,
) -> None:
    """Write one personalised message per active subscriber.

    The secret that signs unsubscribe links comes from DIGEST_UNSUBSCRIBE_SECRET.

    Example: digest export issues/2026-W47 --format eml --out outbox
    """
    with _errors():
        settings = pipeline.find_config(config)
        exported = pipeline.export(issue_dir, settings, out=out_dir, fmt=fmt, subscribers=subscribers)
    for problem in exported.rejected:
        err.print(f"rejected line {problem.line}: {problem.reason}")
    for problem in exported.warnings:
        err.print(f"warning line {problem.line}: {problem.reason}")
    err.print(
        f"Wrote {exported.written} messages to {exported.directory} ({exported.skipped} not active, {len(exported.rejected)} rejected)"
    )
    if exported.rejected:
        raise typer.Exit(1)


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
        table.add_row(
            report.url,
            report.status,
            str(report.new_posts),
            f"{report.seconds:.2f}s",
            report.error or "",
        )
    err.print(table)
    for report in reports:
        for warning in report.warnings:
            err.print(f"warning: {report.url}: {warning}")


def _print_findings(findings: list[Finding] | tuple[Finding, ...], *, only_failures: bool = False) -> None:
    for finding in findings:
        if only_failures and finding.ok and not finding.warning:
            continue
        mark = "FAIL" if not finding.ok else ("warn" if finding.warning else "ok")
        err.print(f"{mark:>4}  {finding.rule:<7} {finding.message}", markup=False)


def main() -> None:
    app()
