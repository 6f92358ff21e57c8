"""Entry dates you can trust: read strictly, checked, and flagged when they are not the feed's.

Pure. feedparser reads most dates, but it also guesses: a partial date ("2020/1/10 14:33")
becomes the first of the *current* month, so the same feed gives other dates on another day.
Here a date is read strictly first (RFC 822, ISO 8601 / RFC 3339), then in other languages'
month names and loose RFC 822 forms; feedparser's reading is kept only when the written date
holds its year, month and day. What comes out says where the date came from (`DateSource`):

- ``feed``: the entry's own date;
- ``first_seen``: the entry has no date: it is dated when first seen;
- ``unreadable``: it has one that cannot be read (dated when first seen, flagged);
- ``future``: more than a day after the gather; ``before_1995``: before the web had feeds.

Selection keeps only ``feed`` and ``first_seen`` posts (a pin overrides); the others are flagged
in the gather report. docs/gather.md describes the rule.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

FEED, FIRST_SEEN, UNREADABLE, FUTURE, TOO_OLD = "feed", "first_seen", "unreadable", "future", "before_1995"
TRUSTED = frozenset((FEED, FIRST_SEEN))  # the sources selection places in a week
EARLIEST = datetime(1995, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=1)

_MONTHS = {
    "jan": ("janeiro", "janvier", "enero", "januar", "gennaio", "januari", "janv", "ene", "gen", "jän"),
    "feb": (
        "fevereiro",
        "février",
        "fevrier",
        "febrero",
        "februar",
        "febbraio",
        "februari",
        "févr",
        "fev",
        "fév",
    ),
    "mar": ("março", "marco", "mars", "marzo", "märz", "maart", "mär", "mrz"),
    "apr": ("abril", "avril", "aprile", "avr", "abr"),
    "may": ("maio", "mai", "mayo", "maggio", "mei", "mag"),
    "jun": ("junho", "juin", "junio", "juni", "giugno", "giu"),
    "jul": ("julho", "juillet", "julio", "juli", "luglio", "juil", "lug"),
    "aug": ("agosto", "août", "aout", "augusti", "augustus", "ago", "aoû"),
    "sep": ("setembro", "septembre", "septiembre", "settembre", "set", "sept"),
    "oct": ("outubro", "octobre", "octubre", "oktober", "ottobre", "out", "okt", "ott"),
    "nov": ("novembro", "novembre", "noviembre"),
    "dec": ("dezembro", "décembre", "decembre", "diciembre", "dezember", "dicembre", "dez", "déc", "dic"),
}
_MONTH_WORDS = {word: english for english, words in _MONTHS.items() for word in words}
_ENGLISH_MONTHS = {name.lower(): number for number, name in enumerate(calendar.month_abbr) if name}
_WORD = re.compile(r"[^\W\d_]+\.?", re.UNICODE)
_NUMBERS = re.compile(r"\d+")
_HHMM = re.compile(r"(\s\d{2})(\d{2})(?=\s+(?:[A-Z]{1,4}|[+-]\d{4})\s*$)")
_LEADING_WEEKDAY = re.compile(r"^\s*[^\W\d_]+\.?,\s*", re.UNICODE)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def entry_date(raw_values: tuple[str, ...], parsed: tuple[Any, ...]) -> tuple[datetime | None, str]:
    """The first readable of an entry's dates (published, updated, created), and its source.

    `raw_values` are the dates as written; `parsed` feedparser's struct_times for them (or None).
    (None, FIRST_SEEN) when there is no date at all, (None, UNREADABLE) when none can be read.
    """
    written = [raw.strip() for raw in raw_values if raw and raw.strip()]
    for raw, guess in zip(raw_values, parsed, strict=False):
        if not raw or not raw.strip():
            continue
        moment = read_date(raw) or _checked(raw, guess)
        if moment is not None:
            return moment, FEED
    return None, (UNREADABLE if written else FIRST_SEEN)


def place(moment: datetime | None, source: str, now: datetime) -> tuple[datetime, str]:
    """The date to store and its source: first seen (`now`) when there is none; flagged when it is
    more than a day in the future or before 1995 (the date is kept, so that it can be shown)."""
    if moment is None:
        return now.astimezone(UTC).replace(microsecond=0), source
    if moment > now + FUTURE_SLACK:
        return moment, FUTURE
    if moment < EARLIEST:
        return moment, TOO_OLD
    return moment, source


def read_date(raw: str) -> datetime | None:
    """A date as written, read without guessing: RFC 822 (also with another language's month and
    weekday names, a two-digit year or a time without a colon), or ISO 8601 / RFC 3339. Aware UTC."""
    text = " ".join(raw.split())
    moment = _rfc822(text) or _iso(text)
    if moment is not None:  # most dates: the other languages' names need no translating
        return moment
    loose = _loose_rfc822(text)
    return _rfc822(loose) or _iso(loose)


def _rfc822(text: str) -> datetime | None:
    if not re.search(r"[A-Za-z]{3}", text) or not re.search(r"\d{1,2}:?\d{2}|\d{4}", text):
        return None
    try:
        moment: datetime | None = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment is None:  # some Python versions return None rather than raise
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return _utc(moment)


_SLASHED = re.compile(r"^(\d{4})[/.](\d{1,2})[/.](\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$")


def _iso(text: str) -> datetime | None:
    slashed = _SLASHED.match(text)
    if slashed:  # "2020/1/10 14:33": no zone given, so UTC
        try:
            year, month, day, hour, minute, second = (int(part or 0) for part in slashed.groups())
            return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
        except ValueError:
            return None
    if not re.match(r"^\d{4}-\d{2}-\d{2}", text):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T", 1))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return _utc(moment)


def _utc(moment: datetime) -> datetime | None:
    try:
        return moment.astimezone(UTC).replace(microsecond=0)
    except (OverflowError, ValueError):
        return None


def _loose_rfc822(text: str) -> str:
    """Month and weekday names of other languages in English, "1500" as "15:00"."""
    text = _LEADING_WEEKDAY.sub("", text)

    def english(match: re.Match[str]) -> str:
        word = match.group(0).rstrip(".").lower()
        return _MONTH_WORDS.get(word, word if word[:3] in _ENGLISH_MONTHS else match.group(0)).title()[:3]

    text = _WORD.sub(lambda m: english(m) if _is_month(m.group(0)) else m.group(0), text)
    text = re.sub(r"\b(de|del|di|van)\b\s*", "", text)  # "10 de janeiro de 2020"
    return _HHMM.sub(r"\1:\2", text)


def _is_month(word: str) -> bool:
    word = word.rstrip(".").lower()
    return word in _MONTH_WORDS or word[:3] in _ENGLISH_MONTHS


def _checked(raw: str, guess: Any) -> datetime | None:
    """feedparser's reading of `raw`, when the written date holds its year, month and day (give
    or take the hours of a time zone): otherwise it guessed, and a guess changes with the clock."""
    if callable(guess):  # `fastfeed` leaves feedparser's reading to be done when it is needed
        guess = guess()
    if not isinstance(guess, time.struct_time):
        return None
    try:
        moment = datetime.fromtimestamp(calendar.timegm(guess), tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
    numbers = {int(n) for n in _NUMBERS.findall(raw) if len(n) <= 4}
    months = {_ENGLISH_MONTHS.get(_MONTH_WORDS.get(w.lower(), w.lower())[:3]) for w in _WORD.findall(raw)}
    for hours in (-14, 0, 14):
        shifted = moment + timedelta(hours=hours)
        year_ok = shifted.year in numbers or shifted.year % 100 in numbers
        month_ok = shifted.month in numbers or shifted.month in months
        if year_ok and month_ok and shifted.day in numbers:
            return moment
    return None


def raw_dates(entry: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[Any, ...]]:
    """feedparser's entry: its dates as written and as feedparser read them, best first."""
    keys = ("published", "updated", "created")
    # `in` first: feedparser's get("updated") falls back to published, with a warning.
    raw = tuple(str(entry[key]) if entry.get(key) else "" for key in keys)
    parsed = tuple(entry.get(f"{key}_parsed") if f"{key}_parsed" in entry else None for key in keys)
    return raw, parsed
