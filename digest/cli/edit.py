"""`digest edit …`: change a built issue by post id, every edition and derived part following.

Each command reads the issue, applies one operation of `digest.edits` (the same operations a
web desk would call), writes issue.json atomically and renders every edition again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from digest.cli.common import IssueArgument, IssueConfigOption, JsonOption, err, issue_settings, out
from digest.cli.lazy import module
from digest.cli.reports import findings_json, print_findings

if TYPE_CHECKING:
    from digest import edits, pipeline
    from digest.check import Finding
    from digest.models import Issue
else:
    edits, pipeline = module("digest.edits"), module("digest.pipeline")

edit_app = typer.Typer(
    name="edit",
    help="Pin, drop, move, retitle or resummarise a post of a built issue, by id.",
    no_args_is_help=True,
)
PostArgument = Annotated[str, typer.Argument(help="The post: its id, a unique start of it, or its URL.")]


def _done(issue_dir: IssueArgument, result: tuple[Issue, list[Finding]], what: str, as_json: bool) -> None:
    shown, findings = result
    if as_json:
        out.print_json(
            data={"issue": str(issue_dir), "subject": shown.subject, "preheader": shown.preheader}
            | {"posts": len(shown.posts), "checks": findings_json(findings)}
        )
    print_findings(findings, only_failures=True)
    err.print(f"{what}; every edition rendered again ({len(shown.posts)} posts)", markup=False)
    if any(not finding.ok for finding in findings):
        raise typer.Exit(1)


@edit_app.command("list")
def list_posts(issue_dir: IssueArgument, as_json: JsonOption = False) -> None:
    """List the issue's posts in order, with the id that names each one.

    Example: digest edit list issues/2026-W47
    """
    rows = pipeline.listing(issue_dir)
    if as_json:
        out.print_json(data={"issue": str(issue_dir), "posts": rows})
        return
    for row in rows:
        section = f"[{row['section']}] " if row["section"] else ""
        only = f" (only {', '.join(map(str, row['editions']))})" if row["editions"] else ""  # type: ignore[call-overload]
        out.print(f"{row['id']}  {row['position']}. {section}{row['title']}{only}", markup=False)


@edit_app.command()
def pin(
    issue_dir: IssueArgument,
    post: PostArgument,
    config: IssueConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Put a post first: the issue's lead story.

    Example: digest edit pin issues/2026-W47 3f2a9c
    """
    settings = issue_settings(issue_dir, config)
    result = pipeline.edit(issue_dir, settings, lambda issue, _: edits.pin(issue, post))
    _done(issue_dir, result, f"Pinned {post}", as_json)


@edit_app.command()
def drop(
    issue_dir: IssueArgument,
    post: PostArgument,
    edition: Annotated[
        str | None, typer.Option("--edition", help="Only from this edition (its language code).")
    ] = None,
    config: IssueConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Leave a post out of every edition of the issue, or with --edition out of that one only.

    Example: digest edit drop issues/2026-W47 3f2a9c --edition en
    """
    settings = issue_settings(issue_dir, config)
    result = pipeline.edit(
        issue_dir, settings, lambda issue, locales: edits.drop(issue, post, edition=edition, editions=locales)
    )
    _done(issue_dir, result, f"Dropped {post}" + (f" from the {edition} edition" if edition else ""), as_json)


@edit_app.command()
def move(
    issue_dir: IssueArgument,
    post: PostArgument,
    to: Annotated[int, typer.Option("--to", min=1, help="Its new position in the section (1: first).")],
    section: Annotated[
        str | None, typer.Option("--section", help="The section to move it to, by title (default: its own).")
    ] = None,
    config: IssueConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Move a post to another position, or another section.

    Example: digest edit move issues/2026-W47 3f2a9c --to 2 --section Web
    """
    settings = issue_settings(issue_dir, config)
    result = pipeline.edit(issue_dir, settings, lambda issue, _: edits.move(issue, post, to, section))
    _done(issue_dir, result, f"Moved {post}", as_json)


@edit_app.command()
def retitle(
    issue_dir: IssueArgument,
    post: PostArgument,
    title: Annotated[str, typer.Argument(help="The new title.")],
    config: IssueConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Give a post a new title (the subject and preheader follow when they quote it).

    Example: digest edit retitle issues/2026-W47 3f2a9c "A better title"
    """
    settings = issue_settings(issue_dir, config)
    result = pipeline.edit(issue_dir, settings, lambda issue, _: edits.retitle(issue, post, title))
    _done(issue_dir, result, f"Retitled {post}", as_json)


@edit_app.command()
def resummarise(
    issue_dir: IssueArgument,
    post: PostArgument,
    summary: Annotated[str, typer.Argument(help="The new summary: text or HTML (sanitised).")],
    config: IssueConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Give a post a new summary; the HTML is sanitised and the text part made from it.

    Example: digest edit resummarise issues/2026-W47 3f2a9c "<p>Why it matters.</p>"
    """
    settings = issue_settings(issue_dir, config)
    result = pipeline.edit(issue_dir, settings, lambda issue, _: edits.resummarise(issue, post, summary))
    _done(issue_dir, result, f"New summary for {post}", as_json)
