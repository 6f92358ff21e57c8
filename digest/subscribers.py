"""Read a subscriber list as a stream of `Subscriber`s, naming every row it rejects.

Columns: `email,name,locale,status,tags`; any other column becomes a merge field.
A rejected row is reported with the physical line it starts on (the header is line 1).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from email_validator import EmailNotValidError, validate_email

from digest.config import LOCALES
from digest.errors import SubscriberError
from digest.models import Subscriber

STATUSES = ("active", "unsubscribed", "bounced", "cleaned")
_KNOWN = ("email", "name", "locale", "status", "tags")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


@dataclass(frozen=True)
class RowProblem:
    line: int
    reason: str


@dataclass(frozen=True)
class Row:
    """One row read: a subscriber, or the reason it was rejected; warnings either way."""

    subscriber: Subscriber | None
    rejected: RowProblem | None = None
    warnings: tuple[RowProblem, ...] = ()


def read_subscribers(path: Path, *, default_locale: str) -> Iterator[Row]:
    """Stream the rows of `path`. Raises `SubscriberError` only when the file cannot be read at all."""
    try:
        handle = path.open("r", encoding="utf-8-sig", newline="")
    except FileNotFoundError as exc:
        raise SubscriberError(
            f"{path}: subscriber list not found",
            hint="set [delivery] subscribers or pass --subscribers",
        ) from exc
    with handle:
        yield from _rows(handle, path, default_locale)


def _rows(handle: io.TextIOBase, path: Path, default_locale: str) -> Iterator[Row]:
    counter = _LineCounter(handle)
    reader = csv.reader(counter, strict=False)
    try:
        header = next(reader)
    except StopIteration:
        raise SubscriberError(
            f"{path}: the file is empty",
            hint="the first line must be a header such as email,name,locale,status,tags",
        ) from None
    columns = [column.strip().lower() for column in header]
    if "email" not in columns:
        raise SubscriberError(
            f"{path}: no `email` column in the header {header!r}",
            hint="the first line must name the columns, one of them email",
        )
    seen: set[str] = set()
    start = counter.lines + 1
    for values in reader:
        line, start = start, counter.lines + 1
        if not any(value.strip() for value in values):
            continue
        yield _row(
            dict(zip(columns, values, strict=False)),
            len(values),
            len(columns),
            line,
            default_locale,
            seen,
        )


class _LineCounter:
    """Counts physical lines as csv reads them, so a quoted field spanning lines keeps numbers right."""

    def __init__(self, handle: io.TextIOBase) -> None:
        self.handle = handle
        self.lines = 0

    def __iter__(self) -> _LineCounter:
        return self

    def __next__(self) -> str:
        line = self.handle.readline()
        if not line:
            raise StopIteration
        self.lines += 1
        return line


def _row(
    record: dict[str, str],
    width: int,
    expected: int,
    line: int,
    default_locale: str,
    seen: set[str],
) -> Row:
    def reject(reason: str) -> Row:
        return Row(None, RowProblem(line, reason))

    if width != expected:
        return reject(f"{width} fields where the header has {expected}")
    for column, value in record.items():
        if _CONTROL.search(value):
            return reject(f"control character or line break in column {column!r}")
    raw_email = record.get("email", "").strip()
    if not raw_email:
        return reject("empty email")
    try:
        email = validate_email(raw_email, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        return reject(f"invalid email {raw_email!r}: {exc}")
    if email.casefold() in seen:
        return reject(f"duplicate of an earlier row: {email}")
    seen.add(email.casefold())
    warnings: list[RowProblem] = []
    status = record.get("status", "").strip().lower() or "active"
    if status not in STATUSES:
        return reject(f"unknown status {status!r} (expected one of {', '.join(STATUSES)})")
    locale = record.get("locale", "").strip().lower() or default_locale
    if locale not in LOCALES:
        warnings.append(RowProblem(line, f"unknown locale {locale!r}; using {default_locale!r}"))
        locale = default_locale
    tags = tuple(tag.strip() for tag in re.split(r"[;,|]", record.get("tags", "")) if tag.strip())
    fields = {key: value.strip() for key, value in record.items() if key not in _KNOWN and key}
    subscriber = Subscriber(
        email=email,
        name=record.get("name", "").strip(),
        locale=locale,
        status=status,
        tags=tags,
        fields=MappingProxyType(fields),
        line=line,
    )
    return Row(subscriber, warnings=tuple(warnings))
