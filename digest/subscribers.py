"""Read a subscriber list as a stream of `Subscriber`s, naming every row it rejects.

`csvrecords` streams the file as records that know their physical lines; `subscriber_formats`
says what each column means in our layout, Mailchimp's or listmonk's; here a `Validator` turns
each record into a `Subscriber` or one reason for rejecting it, plus warnings, checking addresses
with `addresses`.

Nothing here writes: rejected rows are reported and stay in the file (`subscriber_edits` rewrites
lists, copying every row it does not change byte for byte). `is_recipient` is the one rule for
who gets an issue, the unsubscribes recorded in the state included.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Container, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from email_validator import EmailNotValidError

from digest.addresses import AddressChecker, SeenAddresses, address_warnings
from digest.config import LOCALES
from digest.csvrecords import Record, open_csv
from digest.errors import SubscriberError
from digest.models import Subscriber
from digest.subscriber_formats import (
    CONTROL,
    STATUSES,
    Layout,
    fields_of,
    make_layout,
    name_of,
    split_tags,
    status_of,
)


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
    record: Record | None = field(default=None, compare=False, repr=False)


# --- Opening a list --------------------------------------------------------------------------------


@dataclass
class SubscriberFile:
    """An open subscriber list: its layout, and its records read on demand, once."""

    path: Path
    layout: Layout
    delimiter: str
    header: Record
    _records: Iterator[Record]

    def records(self) -> Iterator[Record]:
        """Every record after the header, blank lines included (they are kept when rewriting)."""
        return self._records

    def rows(self, default_locale: str) -> Iterator[Row]:
        validator = Validator(self.layout, default_locale)
        for record in self._records:
            if not record.blank:
                yield validator.row(record)


@contextmanager
def open_subscribers(path: Path, *, fmt: str | None = None) -> Iterator[SubscriberFile]:
    """Open a list for streaming. Raises `SubscriberError` when it cannot be read at all."""
    with open_csv(path) as source:
        layout = make_layout(source.header.values, path, fmt)
        yield SubscriberFile(path, layout, source.delimiter, source.header, source.records)


# --- Validating a record into a subscriber --------------------------------------------------------


class Validator:
    """Turns records into rows; remembers the addresses accepted so far (first one wins)."""

    def __init__(self, layout: Layout, default_locale: str, seen: SeenAddresses | None = None) -> None:
        self.layout = layout
        self.default_locale = default_locale
        self.seen = seen or SeenAddresses()
        if not self.seen.files:
            self.seen.open("")
        self.addresses = AddressChecker()

    def row(self, record: Record) -> Row:
        warnings: list[RowProblem] = []
        outcome = self._subscriber(record, warnings)
        if isinstance(outcome, str):
            return Row(None, RowProblem(record.line, outcome), tuple(warnings), record)
        earlier = self.seen.claim(outcome.email, record.line)
        if earlier:
            reason = f"duplicate of {earlier}: {outcome.email} (addresses are compared without case)"
            return Row(None, RowProblem(record.line, reason), tuple(warnings), record)
        return Row(outcome, None, tuple(warnings), record)

    def _subscriber(self, record: Record, warnings: list[RowProblem]) -> Subscriber | str:
        layout, line = self.layout, record.line
        if record.problem:
            return record.problem
        values = record.values
        if len(values) < layout.width or any(value.strip() for value in values[layout.width :]):
            return f"{len(values)} fields where the header has {layout.width} (a value with an unquoted delimiter, or one missing?)"
        for index in layout.used:
            if CONTROL.search(values[index]):
                return f"control character or line break in column {layout.columns[index]!r}" + (
                    f" (the row runs over lines {line}–{record.end}: a line break in a quoted field, or an unbalanced quote)"
                    if record.end > line
                    else ""
                )
        if record.cp1252:
            warnings.append(RowProblem(line, "not UTF-8: read as Windows-1252; save the file as CSV UTF-8"))
        fields = fields_of(layout, values)
        if isinstance(fields, str):
            return fields
        raw_email = layout.value(values, "email")
        if not raw_email:
            return "empty email"
        try:
            checked = self.addresses.check(raw_email)
        except EmailNotValidError as exc:
            return f"invalid email {raw_email!r}: {exc}"
        warnings.extend(RowProblem(line, warning) for warning in address_warnings(checked))
        status, warning = status_of(layout, values)
        if warning:
            warnings.append(RowProblem(line, warning))
        if status not in STATUSES:
            return status
        attribute_locale = fields.pop("locale", "")  # listmonk keeps it in the attributes
        locale = self._locale(layout.value(values, "locale") or attribute_locale, warnings, line)
        return Subscriber(
            email=checked.normalized,
            name=name_of(layout, values),
            locale=locale,
            status=status,
            tags=split_tags(layout.value(values, "tags")),
            fields=MappingProxyType(fields),
            line=line,
        )

    def _locale(self, raw: str, warnings: list[RowProblem], line: int) -> str:
        locale = raw.strip().lower().replace("_", "-")
        if not locale:
            return self.default_locale
        base = locale.split("-", 1)[0]  # fr-CA, fr_FR: the language is what templates need
        if base in LOCALES:
            return base
        warnings.append(RowProblem(line, f"unknown locale {raw!r}; using {self.default_locale!r}"))
        return self.default_locale


# --- Reading, summing up, choosing recipients -----------------------------------------------------


def read_subscribers(path: Path, *, default_locale: str, fmt: str | None = None) -> Iterator[Row]:
    """Stream the rows of `path`. Raises `SubscriberError` only when the file cannot be read at all
    (missing, empty, binary, no email column, a header and no rows)."""
    with open_subscribers(path, fmt=fmt) as opened:
        rows = 0
        for row in opened.rows(default_locale):
            rows += 1
            yield row
        if not rows:
            _no_rows(path)


def csv_members(settings: Any) -> frozenset[str]:
    """The CSV list's addresses (lower-cased), or none when the list is kept only in the store."""
    path = settings.delivery.subscribers
    return (
        frozenset(addresses(path, default_locale=settings.newsletter.locale))
        if path.exists()
        else frozenset()
    )


def addresses(path: Path, *, default_locale: str) -> dict[str, str]:
    """Every valid address in the list, lower-cased, with its locale (the first row's).

    Lighter than `read_subscribers` (no duplicate tracking, no `Subscriber`s) and wider: a row
    rejected for another reason (a line break in a name) still names someone who may leave.
    """
    found: dict[str, str] = {}
    checker = AddressChecker()
    with open_subscribers(path) as opened:
        layout = opened.layout
        for record in opened.records():
            if record.problem or len(record.values) < layout.width:
                continue
            try:
                address = checker.check(layout.value(record.values, "email")).normalized.lower()
            except EmailNotValidError:
                continue
            locale = layout.value(record.values, "locale").lower()[:2]
            found.setdefault(address, locale if locale in LOCALES else default_locale)
    return found


def _no_rows(path: Path) -> None:
    raise SubscriberError(
        f"{path}: a header and no subscriber rows",
        hint="add one row per subscriber under the header, or import a list: digest subscribers import",
    )


def is_recipient(subscriber: Subscriber, unsubscribed: Container[str], segment: str | None = None) -> bool:
    """Whether `subscriber` gets the issue: active in the list, not unsubscribed in the state
    (even before `apply-unsubscribes` has written it to the CSV), and in `segment` when given.

    `unsubscribed` holds lower-cased addresses, e.g. `Store.unsubscribed(list_id)`.
    """
    if not subscriber.active or subscriber.email.lower() in unsubscribed:
        return False
    return segment is None or segment.casefold() in (tag.casefold() for tag in subscriber.tags)


def recipients(
    rows: Iterable[Row], unsubscribed: Container[str], segment: str | None = None
) -> Iterator[Subscriber]:
    """The subscribers of `rows` that get the issue (see `is_recipient`)."""
    for row in rows:
        if row.subscriber is not None and is_recipient(row.subscriber, unsubscribed, segment):
            yield row.subscriber


@dataclass(frozen=True)
class Summary:
    format: str
    rows: int
    recipients: int
    by_status: Mapping[str, int]
    by_locale: Mapping[str, int]  # recipients only
    by_tag: Mapping[str, int]  # recipients only
    pending_unsubscribes: int  # active in the CSV, unsubscribed in the state
    rejected: tuple[RowProblem, ...]
    warnings: tuple[RowProblem, ...]


def summarise(
    path: Path,
    *,
    default_locale: str,
    unsubscribed: Container[str] = frozenset(),
    on_row: Callable[[], None] | None = None,
) -> Summary:
    """Read the whole list once; counts and problems only, so memory stays flat."""
    status: Counter[str] = Counter()
    locales: Counter[str] = Counter()
    tags: Counter[str] = Counter()
    rejected: list[RowProblem] = []
    warnings: list[RowProblem] = []
    rows = recipients_count = pending = 0
    fmt = ""
    with open_subscribers(path) as opened:
        fmt = opened.layout.format
        for row in opened.rows(default_locale):
            rows += 1
            warnings.extend(row.warnings)
            if on_row:
                on_row()
            if row.rejected:
                rejected.append(row.rejected)
            if row.subscriber is None:
                continue
            status[row.subscriber.status] += 1
            if not is_recipient(row.subscriber, unsubscribed):
                pending += row.subscriber.active
                continue
            recipients_count += 1
            locales[row.subscriber.locale] += 1
            tags.update(row.subscriber.tags)
    if not rows:
        _no_rows(path)
    return Summary(
        format=fmt,
        rows=rows,
        recipients=recipients_count,
        by_status=MappingProxyType(dict(status.most_common())),
        by_locale=MappingProxyType(dict(locales.most_common())),
        by_tag=MappingProxyType(dict(tags.most_common())),
        pending_unsubscribes=pending,
        rejected=tuple(rejected),
        warnings=tuple(warnings),
    )
