"""The issue's commands: build, render, check, preview, archive."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from digest.cli.common import (
    PREVIEW_PORT,
    ConfigOption,
    IssueArgument,
    IssueConfigOption,
    JsonOption,
    StateOption,
    environment,
    err,
    issue_settings,
    out,
    settings,
)
from digest.cli.lazy import module
from digest.cli.reports import findings_json, print_findings
from digest.errors import ConfigError

WeekOption = Annotated[
    str | None, typer.Option("--week", help="ISO week, e.g. 2026-W48 (default: the last complete week).")
]
OutOption = Annotated[
    Path | None, typer.Option("--out", help="Issues folder (default: issues/ beside digest.toml).")
]
PinOption = Annotated[
    list[str] | None, typer.Option("--pin", help="URL of a post to keep and put first (repeatable).")
]
DropOption = Annotated[
    list[str] | None, typer.Option("--drop", help="URL of a post to leave out (repeatable).")
]
SinceOption = Annotated[str | None, typer.Option("--since", help="First day of another span, YYYY-MM-DD.")]
UntilOption = Annotated[
    str | None, typer.Option("--until", help="Last day of that span, YYYY-MM-DD (inclusive).")
]
ForceOption = Annotated[
    bool, typer.Option("--force", help="Replace an issue.json that differs (edited, or new posts).")
]
KeepOption = Annotated[
    bool, typer.Option("--keep", help="An issue built already is kept (edits included), only rendered again.")
]

if TYPE_CHECKING:
    from digest import pipeline
    from digest.check import Finding
else:
    pipeline = module("digest.pipeline")


def build(
    config: ConfigOption = None,
    state: StateOption = None,
    week: WeekOption = None,
    out_dir: OutOption = None,
    pin: PinOption = None,
    drop: DropOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    force: ForceOption = False,
    keep: KeepOption = False,
    as_json: JsonOption = False,
) -> None:
    """Select the week's featured posts and render the issue into OUT/WEEK/.

    A span of days (--since/--until) that is not one ISO week makes an issue of its own, in
    OUT/FIRST--LAST/. A week without posts writes nothing and exits 3. An issue.json edited since
    the last build is never replaced without --force (use `digest render` to keep the edits);
    with --keep (the weekly workflow's way) an issue built already is kept and rendered again.

    Example: digest build --week 2026-W47 --pin https://blog.example.org/a-post
    """
    built = pipeline.build(
        settings(config, state),
        environment(),
        week=week,
        out=out_dir,
        pins=pin or (),
        drops=drop or (),
        since=since,
        until=until,
        existing="keep" if keep else "replace" if force else "refuse",
    )
    for warning in built.warnings:
        err.print(f"warning: {warning}", markup=False)
    if as_json:
        data = {"issue": str(built.directory), "slug": built.issue.ref.slug, "week": built.issue.week}
        out.print_json(
            data={
                **data,
                "number": built.issue.number,
                "posts": len(built.issue.posts),
                "subject": built.issue.subject,
            }
            | {"checks": findings_json(built.findings)}
        )
    else:
        print_findings(built.findings, only_failures=True)
        err.print(
            f"Built {built.issue.ref} (issue {built.issue.number}): {len(built.issue.posts)} posts in {built.directory}",
            markup=False,
        )
    _fail_on(built.findings)


def render(issue_dir: IssueArgument, config: IssueConfigOption = None, as_json: JsonOption = False) -> None:
    """Render an (edited) issue.json again; the same issue.json gives the same bytes.

    The templates are those of the newsletter the issue was built for, wherever this runs.

    Example: digest render issues/2026-W47
    """
    findings = pipeline.rerender(issue_dir, issue_settings(issue_dir, config))
    if as_json:
        out.print_json(data={"issue": str(issue_dir), "checks": findings_json(findings)})
    print_findings(findings, only_failures=True)
    err.print(f"Rendered {issue_dir}", markup=False)
    _fail_on(findings)


def check(
    issue_dir: IssueArgument,
    as_json: JsonOption = False,
    browser: Annotated[
        bool,
        typer.Option("--browser/--no-browser", help="Measure the layout in Chromium (when one is found)."),
    ] = True,
) -> None:
    """Run the email quality gates (EMAIL_RULES.md) on a built issue; exit 1 when one fails.

    The layout gate renders the email in headless Chromium ($DIGEST_CHROMIUM, else the first on
    PATH) at 320, 375 and 600 px, with and without <style>, and fails on any overflow, naming
    the post. Without Chromium (or with --no-browser) a static pass flags what cannot wrap.

    Example: digest check issues/2026-W47 --json
    """
    try:
        newsletter = issue_settings(issue_dir, None)
    except ConfigError:  # no newsletter found: the files are checked as they are
        newsletter = None
    findings = pipeline.check(issue_dir, environment(), browser=browser, settings=newsletter)
    if as_json:
        out.print_json(data={"ok": all(f.ok for f in findings), "checks": findings_json(findings)})
    else:
        print_findings(findings)
    _fail_on(findings)


def preview(
    issue_dir: IssueArgument,
    config: IssueConfigOption = None,
    host: Annotated[
        str, typer.Option("--host", help="Loopback address to listen on (127.0.0.1, ::1).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on (0: any free port).")] = PREVIEW_PORT,
    shots: Annotated[
        bool, typer.Option("--screenshots", help="Write phone, desktop and dark PNGs instead of serving.")
    ] = False,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Folder for --screenshots.")] = None,
) -> None:
    """The editor's desk: the issue at phone and desktop widths, light and dark, with its text
    part, and its posts and texts to reorder, lead, pin, drop, restore, add and edit, with undo.

    Every change is saved to issue.json (as `digest edit` does) and every edition rendered
    again; a change made in an editor or by `digest edit` shows up. Loopback only: open the
    address printed, with its token. --screenshots uses headless Chromium ($DIGEST_CHROMIUM,
    else the first Chromium on PATH).

    Example: digest preview issues/2026-W47 --screenshots --out shots
    """
    if shots:
        for path in pipeline.screenshots(issue_dir, out_dir or issue_dir / "screenshots", environment()):
            err.print(f"  {path}", markup=False)
        return
    settings = issue_settings(issue_dir, config)
    server = pipeline.preview_server(issue_dir, settings, host=host, port=port, env=environment())
    err.print(f"Desk for {issue_dir} at {server.url} (Ctrl-C to stop)", markup=False)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        err.print("stopped")


def archive(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the static site.")],
    config: ConfigOption = None,
    issues: Annotated[
        Path | None, typer.Option("--issues", help="Issues folder (default: issues/ beside digest.toml).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Write a static web archive of the built issues: index.html, one page each, an Atom feed.

    Publish the folder at <base_url>/issues/: each page is then where the email's "view in
    browser" link points, for every edition. Links between pages are relative.

    Example: digest archive --out public
    """
    written = pipeline.archive(settings(config), out=out_dir, issues=issues)
    if as_json:
        out.print_json(data={"out": str(out_dir), "files": [str(path) for path in written]})
    err.print(
        f"Wrote {len(written)} files to {out_dir} (index.html, feed.xml, {len(written) - 2} pages)",
        markup=False,
    )


def _fail_on(findings: list[Finding] | tuple[Finding, ...]) -> None:
    if any(not finding.ok for finding in findings):
        raise typer.Exit(1)
