"""What every command shares: the consoles, the run's environment, the error boundary, options.

The boundary is here and only here: `Boundary` is the click group class of the whole app, so
every command and sub-command runs inside it. A `DigestError` becomes one line naming the file,
key or flag and what to do, with its exit code; an `OSError` or a `sqlite3` error that escaped a
stage becomes the same kind of line; anything else is an internal error. A traceback is shown
only with `--debug`.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from digest.environment import Environment
from digest.errors import DigestError, InputError, OutputError, StateError

if TYPE_CHECKING:
    from digest.config import Settings

# Default ports, distinct from each other and from the usual local SMTP test servers (aiosmtpd's
# 8025, Mailpit's and MailHog's 1025 and 8025); tests ask for any free port (0).
PREVIEW_PORT = 8001
WEB_PORT = 8080

err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)


@dataclass
class Session:
    """Set once per run by the main callback: what the user asked for globally, and the world."""

    verbose: bool = False
    debug: bool = False
    env: Environment | None = field(default=None, repr=False)


session = Session()


def environment() -> Environment:
    """The clock and the environment variables, read once when the run started."""
    if session.env is None:  # a sub-app invoked on its own, as tests may do
        session.env = Environment.read(os.environ)
    return session.env


class Boundary(TyperGroup):
    """The one place where errors become messages and exit codes."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except DigestError as exc:
            raise _exit(exc) from (exc if session.debug else None)
        except OSError as exc:
            raise _exit(_from_os(exc)) from (exc if session.debug else None)
        except sqlite3.Error as exc:
            raise _exit(StateError(f"state database: {exc}", hint="run again; see --debug")) from None
        except Exception as exc:
            if type(exc).__module__.startswith("typer") or session.debug:
                raise  # typer's own exits and usage errors; or the whole story, asked for
            report(f"internal error: {type(exc).__name__}: {exc}", "error")
            err.print(
                "  hint: this is a bug in digest; run again with --debug and report the traceback",
                markup=False,
            )
            raise typer.Exit(1) from None


def _from_os(exc: OSError) -> DigestError:
    path = str(exc.filename or "")
    if isinstance(exc, FileNotFoundError | NotADirectoryError | IsADirectoryError):
        return InputError.from_os(path, exc)
    return OutputError.from_os(path, exc)


def _exit(exc: DigestError) -> typer.Exit:
    if session.debug:
        import traceback

        traceback.print_exception(exc)
    report(str(exc), "notice" if exc.exit_code == 3 else "error")
    return typer.Exit(exc.exit_code)


def report(message: str, label: str) -> None:
    """One message on stderr, printed even with --quiet, without terminal markup from user text."""
    no_color = (
        session.env.no_color if session.env else bool(os.environ.get("NO_COLOR"))
    )  # env may be what failed
    console = Console(stderr=True, highlight=False, soft_wrap=True, no_color=no_color)
    colour = "bold red" if label == "error" else "bold yellow"
    console.print(f"[{colour}]{label}:[/] {escape(message)}")


def settings(config: Path | None, state: Path | None = None) -> Settings:
    """`--config`, else digest.toml in . or above; the state folder from --state or $DIGEST_STATE."""
    from digest.newsletter import find_config  # here: reading a configuration is a command's work

    return find_config(config, state=state or environment().state)


def issue_settings(issue_dir: Path, config: Path | None, state: Path | None = None) -> Settings:
    """The settings of the newsletter an issue folder belongs to."""
    from digest.newsletter import config_for_issue

    return config_for_issue(issue_dir, config, state=state or environment().state)


ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="digest.toml (default: found in . or above).")
]
IssueConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="digest.toml (default: the one the issue was built for)."),
]
StateOption = Annotated[
    Path | None,
    typer.Option("--state", help="State folder (default: .digest/ beside digest.toml, or $DIGEST_STATE)."),
]
SegmentOption = Annotated[
    str | None, typer.Option("--segment", help="Only the subscribers with this tag (the CSV's tags column).")
]
SubscribersOption = Annotated[
    Path | None, typer.Option("--subscribers", help="Subscriber CSV (default: [delivery] subscribers).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]
IssueArgument = Annotated[Path, typer.Argument(help="An issue folder holding issue.json.")]
