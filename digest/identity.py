"""The identity of an issue, and every name derived from it, in one place.

An issue is named by its *slug*: the ISO week it covers (`2026-W48`) or, for an issue built with
`--since/--until`, its span of days (`2026-11-23--2026-11-29`). An *edition* is the issue in one
language: the main edition has no edition code, every other one is named by its locale. An
`IssueRef` (slug + edition) is all that is needed to name everything the outside world sees, and
each name is computed here and nowhere else, so they cannot disagree:

| what | example (main edition / English edition) |
|---|---|
| folder under the issues folder | `2026-W48/` / `2026-W48/en/` |
| web URL (email link, archive page, Atom link and id) | `<base_url>/issues/2026-W48/` / `…/2026-W48/en/` |
| archive file | `2026-W48/index.html` / `2026-W48/en/index.html` |
| send journal key | `2026-W48` (one per issue: a reader gets one edition, once) |
| Message-ID | `<2026-w48.<hash of list, slug, address>@<From domain>>` |

The archive written by `digest archive --out DIR` is meant to be published at
`<base_url>/issues/`: `DIR/2026-W48/index.html` is then the page the email links to.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date

from digest.errors import ConfigError

ARCHIVE_PATH = "issues"  # where the archive lives under <base_url>
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_SPAN = re.compile(r"^(\d{4}-\d{2}-\d{2})--(\d{4}-\d{2}-\d{2})$")
_EDITION = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})*$")


def parse_week(week: str) -> tuple[int, int]:
    """'2026-W48' (or '2026-w48') → (2026, 48); anything else is a usage error naming the value."""
    match = _WEEK.match(week.strip().upper())
    if match:
        year, number = int(match.group(1)), int(match.group(2))
        weeks = date(year, 12, 28).isocalendar().week  # 28 December is always in the last week
        if 1 <= number <= weeks:
            return year, number
        if number == 53:
            raise ConfigError(
                f"--week {week!r}: {year} has {weeks} ISO weeks, W01 to W{weeks}",
                hint=f"the week after {year}-W{weeks} is {year + 1}-W01",
            )
    raise ConfigError(f"--week {week!r} is not an ISO week", hint="write it as YYYY-Www, e.g. 2026-W48")


def week_slug(year: int, number: int) -> str:
    return f"{year}-W{number:02d}"


def span_slug(first_day: date, last_day: date) -> str:
    return f"{first_day.isoformat()}--{last_day.isoformat()}"


@dataclass(frozen=True, order=True)
class IssueRef:
    slug: str  # "2026-W48" or "2026-11-23--2026-11-29"
    edition: str = ""  # "" for the main edition, else the locale of another edition

    def __post_init__(self) -> None:
        if not is_slug(self.slug):
            raise ConfigError(
                f"{self.slug!r} does not name an issue",
                hint="an issue is an ISO week (2026-W48) or a span of days (2026-11-23--2026-11-29)",
            )
        if self.edition and not _EDITION.match(self.edition):
            raise ConfigError(f"{self.edition!r} is not a language code", hint="e.g. en, fr")

    @property
    def path(self) -> str:
        """The relative path shared by the issue folder, the archive and the web URL."""
        return f"{self.slug}/{self.edition}" if self.edition else self.slug

    @property
    def journal_key(self) -> str:
        """The send journal's key: the issue, not the edition, so nobody gets two editions."""
        return self.slug

    @property
    def archive_file(self) -> str:
        return f"{self.path}/index.html"

    def web_url(self, base_url: str) -> str:
        """The web version's URL: the email's "view in browser" link, the archive page, the Atom entry."""
        return f"{base_url.rstrip('/')}/{ARCHIVE_PATH}/{self.path}/"

    def message_id(self, list_id: str, recipient: str, domain: str) -> str:
        """Unique per issue, list and reader, stable across reruns, on the sender's domain."""
        key = f"{list_id}\n{self.slug}\n{recipient.lower()}".encode()
        return f"<{self.slug.lower()}.{hashlib.sha256(key).hexdigest()[:20]}@{domain}>"

    def __str__(self) -> str:
        return self.path


def is_slug(value: str) -> bool:
    span = _SPAN.match(value)
    if span:
        try:
            return date.fromisoformat(span.group(1)) <= date.fromisoformat(span.group(2))
        except ValueError:
            return False
    week = _WEEK.match(value)
    if not week:
        return False
    return 1 <= int(week.group(2)) <= date(int(week.group(1)), 12, 28).isocalendar().week
