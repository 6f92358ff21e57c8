"""`digest init` and `digest demo`: a new newsletter folder, and the whole pipeline on samples."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from digest.cli.common import JsonOption, environment, err, out
from digest.cli.lazy import module
from digest.cli.reports import exported_json, feed_json, findings_json, print_feeds, print_findings

if TYPE_CHECKING:
    from digest import newsletter, pipeline
else:
    newsletter, pipeline = module("digest.newsletter"), module("digest.pipeline")


def demo(
    out_dir: Annotated[
        Path, typer.Option("--out", help="Folder for the demo newsletter and its output.")
    ] = Path("digest-demo"),
    as_json: JsonOption = False,
) -> None:
    """Run the whole pipeline offline on the bundled sample feeds and subscribers.

    Example: digest demo --out /tmp/digest-demo
    """
    result = pipeline.demo(out_dir.resolve(), environment())
    built, exported = result.built, result.exported
    if as_json:
        out.print_json(
            data={
                "feeds": [feed_json(report) for report in result.reports],
                "issue": str(built.directory),
                "checks": findings_json(built.findings),
                "messages": exported_json(exported),
            }
        )
    print_feeds(result.reports, {})
    print_findings(built.findings)
    err.print(
        f"\nIssue {built.issue.ref}: {len(built.issue.posts)} posts, “{built.issue.subject}”", markup=False
    )
    for name in ("issue.json", "email.html", "email.txt", "web.html"):
        err.print(f"  {built.directory / name}", markup=False)
    err.print(
        f"Messages: {exported.written} .eml files in {exported.directory} "
        f"({exported.skipped} not active, {len(exported.rejected)} rejected)",
        markup=False,
    )
    err.print(
        f"Newsletter folder: {result.root} (try: digest build --config {result.root / 'digest.toml'})",
        markup=False,
    )


def init(
    directory: Annotated[Path, typer.Argument(help="Folder to create the newsletter in.")] = Path("."),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing digest.toml.")] = False,
) -> None:
    """Scaffold a newsletter: digest.toml, templates/, subscribers.csv and sample feeds.

    Example: digest init my-newsletter && cd my-newsletter && digest gather && digest build
    """
    config = newsletter.scaffold(directory.resolve(), force=force)
    err.print(f"Created {config}; edit [newsletter] and [[feeds]], then run `digest gather`.", markup=False)
