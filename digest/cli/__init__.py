"""The command line: one small module per group of commands, composed here.

Each command parses its arguments, calls one pipeline function and reports; errors become
messages and exit codes in one place, `common.Boundary`. Exit codes: 0 success; 1 a failure
was found; 2 usage, configuration or environment error; 3 nothing to publish. Machine output
(--json) goes to stdout, human messages to stderr.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Annotated

import typer

from digest import __version__
from digest.cli import delivery, feeds, issues, service, start
from digest.cli.common import Boundary, err, out, session
from digest.cli.edit import edit_app
from digest.cli.subscribers import subscribers_app, unsubscribe_app
from digest.environment import Environment

app = typer.Typer(
    name="digest",
    cls=Boundary,
    help="Weekly newsletter digests from RSS/Atom feeds: gather, build, check, export.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",  # paragraphs re-flow to the terminal width
)
COMMANDS: tuple[Callable[..., None], ...] = (
    start.demo,
    start.init,
    feeds.gather,
    feeds.posts,
    issues.build,
    issues.render,
    issues.check,
    issues.preview,
    delivery.export,
    delivery.send,
    issues.archive,
    service.serve,
)
for command in COMMANDS:
    app.command(cls=delivery.ExportCommand if command is delivery.export else None)(command)
app.add_typer(edit_app, name="edit")
app.add_typer(subscribers_app, name="subscribers")
app.add_typer(unsubscribe_app, name="unsubscribe")
app.add_typer(service.bounces_app, name="bounces")


def _version(value: bool) -> None:
    if value:
        out.print(f"digest {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors on stderr.")] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Every check and warning, not only failures.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show the traceback of an error.")] = False,
) -> None:
    """Weekly newsletter digests from RSS/Atom feeds.

    Exit codes: 0 success, 1 a failure was found, 2 usage or configuration error, 3 nothing to publish.

    Example: digest demo --out /tmp/digest-demo
    """
    err.quiet = quiet
    session.verbose = verbose and not quiet
    session.debug = debug
    session.env = None
    session.env = Environment.read(os.environ)  # the clock and the environment, read once


def main() -> None:
    app()
