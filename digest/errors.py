"""One error hierarchy. Each error names what is wrong and, when it can, what to do.

Library code raises these; only the CLI turns them into messages and exit codes.
"""

from __future__ import annotations

from typing import Self


class DigestError(Exception):
    """Root of every error digest raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class ConfigError(DigestError):
    """A configuration file, key or command-line value is wrong (exit 2)."""

    exit_code = 2


class TemplateError(DigestError):
    """A template is missing, does not parse, or uses an undefined variable (exit 2)."""

    exit_code = 2


class IssueFileError(DigestError):
    """An `issue.json` cannot be read back (exit 2)."""

    exit_code = 2


class FeedError(DigestError):
    """One feed could not be fetched or parsed; the run goes on without it."""

    def __init__(self, url: str, reason: str, *, hint: str | None = None) -> None:
        super().__init__(f"feed {url}: {reason}", hint=hint)
        self.url = url
        self.reason = reason


class SubscriberError(DigestError):
    """A subscriber list cannot be read at all (a single bad row is a rejection, not this)."""

    exit_code = 2


class PathError(DigestError):
    """A file or folder cannot be used; names the path (exit 2)."""

    exit_code = 2
    verb = "use"
    default_hint = "check the path and its permissions"

    def __init__(self, path: str, problem: str, *, hint: str | None = None) -> None:
        super().__init__(f"cannot {self.verb} {path}: {problem}", hint=hint or self.default_hint)
        self.path = path

    @classmethod
    def from_os(cls, path: str, exc: OSError) -> Self:
        return cls(exc.filename if isinstance(exc.filename, str) else path, _reason(exc))


class OutputError(PathError):
    """A file or folder cannot be written: read-only, missing, full."""

    verb = "write"
    default_hint = (
        "check that the folder exists and is writable (and the disk not full), or choose another one"
    )


class InputError(PathError):
    """A file the command needs is missing or unreadable."""

    verb = "read"


class StateError(DigestError):
    """The state (feed cache, posts, issues, send journal) cannot be opened, read or written (exit 2)."""

    exit_code = 2


def _reason(exc: OSError) -> str:
    """`[Errno 13] Permission denied: '/x'` → `permission denied`: the path is named by the caller."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    return reason[:1].lower() + reason[1:]


class DeliveryError(DigestError):
    """Messages could not be built or delivered."""


class JournalBroken(DeliveryError):
    """The send journal could not be written: nothing more may be sent in this run."""


class NothingToPublish(DigestError):
    """The chosen week has no posts: no issue is written (exit 3)."""

    exit_code = 3


class ExportFailed(DigestError):
    """An export stopped before its end (a file could not be written, signing failed): nothing
    of it was published, the output folder is as it was (exit 4; 1 is "rows rejected")."""

    exit_code = 4
