"""What the outside world tells a run: the clock and the environment variables, read once.

The CLI (and the web app's WSGI entry point) build one `Environment` when they start and pass
what each step needs down; no other module reads `os.environ` or the system clock. Secrets live
here only as long as the run needs them and are never printed: `repr` hides them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from digest.errors import ConfigError

Clock = Callable[[], datetime]

NOW = "DIGEST_NOW"
STATE = "DIGEST_STATE"
UNSUBSCRIBE_SECRET = "DIGEST_UNSUBSCRIBE_SECRET"
SMTP_PASSWORD = "DIGEST_SMTP_PASSWORD"
DKIM_KEY = "DIGEST_DKIM_KEY"
CHROMIUM = "DIGEST_CHROMIUM"
DATABASE_URL = "DIGEST_DATABASE_URL"
SMTP_URL = "DIGEST_SMTP_URL"  # the web app's confirmation mails
IMAP_PASSWORD = "DIGEST_IMAP_PASSWORD"
WEBHOOK_SECRETS = {
    "mailgun": "DIGEST_MAILGUN_SIGNING_KEY",
    "sendgrid": "DIGEST_SENDGRID_PUBLIC_KEY",
    "postmark": "DIGEST_POSTMARK_WEBHOOK_AUTH",
}


def system_clock() -> datetime:
    """The wall clock, aware and in UTC: the only place that reads it."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Environment:
    now: datetime  # the run's moment: DIGEST_NOW when set (reproducible runs), else the clock
    clock: Clock = system_clock  # for timestamps taken while a long run goes on (the send journal)
    state: Path | None = None  # DIGEST_STATE: overrides the state folder beside digest.toml
    unsubscribe_secret: str = field(default="", repr=False)
    smtp_password: str = field(default="", repr=False)
    dkim_key: str = field(default="", repr=False)
    database_url: str = field(default="", repr=False)  # DIGEST_DATABASE_URL: PostgreSQL, else SQLite
    smtp_url: str = ""
    imap_password: str = field(default="", repr=False)
    webhook_secrets: Mapping[str, str] = field(default_factory=dict, repr=False)
    chromium: str = ""  # DIGEST_CHROMIUM: the browser for layout checks and screenshots
    no_color: bool = False

    @classmethod
    def read(cls, environ: Mapping[str, str], clock: Clock = system_clock) -> Environment:
        pinned = environ.get(NOW, "")
        now = parse_now(pinned) if pinned else clock()
        return cls(
            now=now,
            clock=(lambda: now) if pinned else clock,
            state=Path(environ[STATE]) if environ.get(STATE) else None,
            unsubscribe_secret=environ.get(UNSUBSCRIBE_SECRET, ""),
            smtp_password=environ.get(SMTP_PASSWORD, ""),
            dkim_key=environ.get(DKIM_KEY, ""),
            database_url=environ.get(DATABASE_URL, ""),
            smtp_url=environ.get(SMTP_URL, ""),
            imap_password=environ.get(IMAP_PASSWORD, ""),
            webhook_secrets={name: environ[var] for name, var in WEBHOOK_SECRETS.items() if environ.get(var)},
            chromium=environ.get(CHROMIUM, ""),
            no_color=bool(environ.get("NO_COLOR")),
        )


def parse_now(value: str) -> datetime:
    """DIGEST_NOW, ISO 8601; a time without a zone is taken as UTC."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(
            f"{NOW}={value!r} is not an ISO 8601 date-time", hint="e.g. 2026-11-26T06:00:00Z"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
