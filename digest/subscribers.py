"""Read a subscriber list as a stream of `Subscriber`s, naming every row it rejects.

Three layouts are read, recognised by their header: ours (`email,name,locale,status,tags`, any
other column a merge field), Mailchimp audience exports (English or French headers) and listmonk
exports (`email,name,attributes` with JSON attributes). `csvrecords` streams the file as records
that know their physical lines; here a `Layout` says what each column means and a `Validator`
turns each record into a `Subscriber` or one reason for rejecting it, plus warnings.

Nothing here writes: rejected rows are reported and stay in the file (`subscriber_edits` rewrites
lists, copying every row it does not change byte for byte). `is_recipient` is the one rule for
who gets an issue, the unsubscribes recorded in the state included.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Container, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from email_validator import EmailNotValidError, validate_email

from digest.config import LOCALES
from digest.csvrecords import HEADER_EXAMPLE, Record, open_csv
from digest.errors import SubscriberError
from digest.models import Subscriber

STATUSES = ("active", "unsubscribed", "bounced", "cleaned")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


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


# --- Layouts: which column means what -------------------------------------------------------------

_ROLES = {
    "email": "email",
    "e-mail": "email",
    "email address": "email",
    "e-mail address": "email",
    "adresse e-mail": "email",
    "adresse email": "email",
    "adresse électronique": "email",
    "courriel": "email",
    "name": "name",
    "first name": "first_name",
    "prénom": "first_name",
    "prenom": "first_name",
    "last name": "last_name",
    "nom": "last_name",
    "nom de famille": "last_name",
    "locale": "locale",
    "language": "locale",
    "langue": "locale",
    "status": "status",
    "statut": "status",
    "tags": "tags",
    "étiquettes": "tags",
    "attributes": "attributes",
    "attribs": "attributes",
}
# Mailchimp's own bookkeeping columns, the same in every account language: not merge fields.
_MAILCHIMP_SYSTEM = frozenset(
    [
        "member_rating",
        "optin_time",
        "optin_ip",
        "confirm_time",
        "confirm_ip",
        "latitude",
        "longitude",
        "gmtoff",
        "dstoff",
        "timezone",
        "cc",
        "region",
        "last_changed",
        "leid",
        "euid",
        "notes",
        "unsub_time",
        "unsub_campaign_title",
        "unsub_campaign_id",
        "unsub_reason",
        "unsub_reason_other",
        "clean_time",
        "clean_campaign_title",
        "clean_campaign_id",
    ]
)
_LISTMONK_SYSTEM = frozenset({"uuid", "created_at", "updated_at"})
_STATUS_WORDS: dict[str, dict[str, str]] = {
    "digest": {status: status for status in STATUSES},
    "mailchimp": {
        "subscribed": "active",
        "unsubscribed": "unsubscribed",
        "cleaned": "cleaned",
        **{status: status for status in STATUSES},
    },
    # listmonk's subscriber status; "disabled" people are not mailed, so they are not recipients.
    "listmonk": {"enabled": "active", "disabled": "unsubscribed", "blocklisted": "unsubscribed"},
}
LOCALE_ATTRIBUTES = ("locale", "language", "lang")  # listmonk attributes that carry a locale


@dataclass(frozen=True)
class Layout:
    """How a file's columns map onto a subscriber. Indexes are column positions."""

    format: str
    columns: tuple[str, ...]  # as written in the header
    width: int
    roles: Mapping[str, int]  # email, name, first_name, last_name, locale, status, tags, attributes
    fields: tuple[tuple[str, int], ...]  # merge field key, column
    # The columns that reach a message, checked for control characters. Mailchimp's bookkeeping
    # columns (NOTES may hold line breaks) and listmonk's uuid/dates never do, so are not.
    used: tuple[int, ...]
    implied_status: str = ""  # Mailchimp's unsubscribed/cleaned exports say so by their columns

    def value(self, values: tuple[str, ...], role: str) -> str:
        index = self.roles.get(role)
        return values[index].strip() if index is not None else ""


def header_key(name: str) -> str:
    return " ".join(unicodedata.normalize("NFC", name).split()).lower()


def field_key(name: str, index: int) -> str:
    """A merge-field key templates can name: `Code postal` → `code_postal`."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    key = re.sub(r"[^a-z0-9_]+", "_", ascii_name.lower()).strip("_")
    if not key:
        return f"column_{index + 1}"
    return key if not key[0].isdigit() else f"f_{key}"


def detect_format(keys: Iterable[str]) -> str:
    keys = set(keys)
    if "attributes" in keys or "uuid" in keys:
        return "listmonk"
    mailchimp_headers = {k for k, role in _ROLES.items() if role in ("email", "first_name", "last_name")}
    if keys & _MAILCHIMP_SYSTEM or (keys & mailchimp_headers) - {"email"}:
        return "mailchimp"
    return "digest"


_OUR_COLUMNS = frozenset({"email", "name", "locale", "status", "tags"})


def make_layout(header: tuple[str, ...], path: Path, fmt: str | None = None) -> Layout:
    """What each column of `header` means in `fmt` (detected when None); one error when unusable."""
    keys = [header_key(name) for name in header]
    fmt = fmt or detect_format(keys)
    system = {"mailchimp": _MAILCHIMP_SYSTEM, "listmonk": _LISTMONK_SYSTEM}.get(fmt, frozenset())
    roles: dict[str, int] = {}
    fields: dict[str, int] = {}
    for index, key in enumerate(keys):
        role = _ROLES.get(key) if fmt != "digest" or key in _OUR_COLUMNS else None
        if not role and key.replace(" ", "_") in system:
            continue
        target, name = (roles, role) if role else (fields, field_key(header[index], index))
        if name in target:
            raise SubscriberError(
                f"{path}: line 1: columns {target[name] + 1} and {index + 1} are both {name!r}",
                hint="rename or remove one of them",
            )
        target[name] = index
    if "email" not in roles:
        _no_email_column(header, path)
    return Layout(
        format=fmt,
        columns=header,
        width=len(header),
        roles=MappingProxyType(roles),
        fields=tuple(fields.items()),
        used=tuple(sorted({*roles.values(), *fields.values()})),
        implied_status=_implied_status(keys) if fmt == "mailchimp" else "",
    )


def _implied_status(keys: list[str]) -> str:
    if "clean_time" in keys:
        return "cleaned"
    return "unsubscribed" if "unsub_time" in keys else ""


def _no_email_column(header: tuple[str, ...], path: Path) -> None:
    looks_like_a_row = any("@" in name for name in header)
    raise SubscriberError(
        f"{path}: line 1: no email column in the header ({', '.join(map(repr, header))})",
        hint="the first line must be a header, e.g. " + HEADER_EXAMPLE
        if looks_like_a_row
        else f"name one column email (ours: {HEADER_EXAMPLE}; Mailchimp: Email Address)",
    )


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

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_SIMPLE_ADDRESS = re.compile(rf"({_ATEXT}(?:\.{_ATEXT})*)@([A-Za-z0-9.-]+)")
_DOMAIN_CACHE_SIZE = 50_000


@dataclass(frozen=True)
class Address:
    normalized: str
    smtputf8: bool  # the local part is not ASCII: the sending server must support SMTPUTF8


class AddressChecker:
    """email-validator's syntax check (no DNS), each domain checked once.

    A list has many people and few domains, and checking the domain is most of email-validator's
    time. An ASCII dot-atom local part is valid whatever the domain (email-validator's own rule),
    so such an address only needs its lengths checked and its domain looked up; anything else
    goes through email-validator whole. A test holds the two paths to the same answers.
    """

    def __init__(self) -> None:
        self.domains: dict[str, str | None] = {}  # as written → normalised, None when invalid

    def check(self, raw: str) -> Address:
        """Raises `EmailNotValidError` with email-validator's own message."""
        simple = _SIMPLE_ADDRESS.fullmatch(raw)
        if simple and len(simple[1]) <= 64 and len(raw) <= 254:
            domain = self._domain(simple[2])
            if domain is not None:
                return Address(f"{simple[1]}@{domain}", smtputf8=False)
        checked = validate_email(raw, check_deliverability=False)
        return Address(checked.normalized, smtputf8=bool(checked.smtputf8))

    def _domain(self, domain: str) -> str | None:
        if domain not in self.domains:
            if len(self.domains) >= _DOMAIN_CACHE_SIZE:  # keep memory flat on a list of odd domains
                self.domains.clear()
            try:
                normalized = validate_email(f"a@{domain}", check_deliverability=False).normalized
                self.domains[domain] = normalized.rsplit("@", 1)[1]
            except EmailNotValidError:
                self.domains[domain] = None
        return self.domains[domain]


class SeenAddresses:
    """Addresses accepted so far (the first one wins), across the files of one import.

    Where each was seen is packed in one int (line << 8 | file), so a million addresses fit.
    """

    def __init__(self) -> None:
        self._where: dict[str, int] = {}
        self.files: list[str] = []

    def open(self, name: str) -> None:
        self.files.append(name)

    def claim(self, address: str, line: int) -> str | None:
        """Where `address` was seen before, or None after claiming it for this line."""
        key = address.lower()
        where = self._where.get(key)
        current = (len(self.files) - 1) % 256
        if where is None:
            self._where[key] = line << 8 | current
            return None
        earlier, number = where >> 8, where & 0xFF
        return f"line {earlier}" if number == current else f"line {earlier} of {self.files[number]}"


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
            if _CONTROL.search(values[index]):
                return f"control character or line break in column {layout.columns[index]!r}" + (
                    f" (the row runs over lines {line}–{record.end}: a line break in a quoted field, or an unbalanced quote)"
                    if record.end > line
                    else ""
                )
        if record.cp1252:
            warnings.append(RowProblem(line, "not UTF-8: read as Windows-1252; save the file as CSV UTF-8"))
        fields = _fields(layout, values)
        if isinstance(fields, str):
            return fields
        raw_email = layout.value(values, "email")
        if not raw_email:
            return "empty email"
        try:
            checked = self.addresses.check(raw_email)
        except EmailNotValidError as exc:
            return f"invalid email {raw_email!r}: {exc}"
        if checked.smtputf8:
            warnings.append(
                RowProblem(
                    line, f"internationalised address {checked.normalized}: needs a server with SMTPUTF8"
                )
            )
        status = _status(layout, values, warnings, line)
        if status not in STATUSES:
            return status
        attribute_locale = fields.pop("locale", "")  # listmonk keeps it in the attributes
        locale = self._locale(layout.value(values, "locale") or attribute_locale, warnings, line)
        return Subscriber(
            email=checked.normalized,
            name=_name(layout, values),
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


def _status(layout: Layout, values: tuple[str, ...], warnings: list[RowProblem], line: int) -> str:
    """Ours, or the reason the value has no equivalent (a string not in STATUSES)."""
    raw = layout.value(values, "status").lower()
    if not raw:
        return layout.implied_status or "active"
    words = _STATUS_WORDS[layout.format]
    if raw not in words:
        known = ", ".join(sorted(words))
        return f"unknown status {raw!r} (expected one of {known})"
    if layout.format == "listmonk" and raw == "disabled":
        warnings.append(RowProblem(line, "listmonk status 'disabled' read as unsubscribed"))
    return words[raw]


def _name(layout: Layout, values: tuple[str, ...]) -> str:
    name = layout.value(values, "name")
    if name:
        return name
    return " ".join(filter(None, (layout.value(values, "first_name"), layout.value(values, "last_name"))))


def _fields(layout: Layout, values: tuple[str, ...]) -> dict[str, str] | str:
    fields = {key: values[index].strip() for key, index in layout.fields}
    attributes = layout.value(values, "attributes")
    if not attributes:
        return fields
    try:
        decoded = json.loads(attributes)
    except json.JSONDecodeError as exc:
        return f"attributes are not valid JSON: {exc.msg} at character {exc.pos + 1}"
    if not isinstance(decoded, dict):
        return 'attributes must be a JSON object such as {"city": "Lyon"}'
    for raw_key, raw_value in decoded.items():
        key = field_key(str(raw_key), len(fields))
        value = raw_value if isinstance(raw_value, str) else json.dumps(raw_value, ensure_ascii=False)
        if _CONTROL.search(value):
            return f"control character or line break in attribute {raw_key!r}"
        if key in LOCALE_ATTRIBUTES:
            key = "locale"
        fields.setdefault(key, value.strip())
    return fields


def split_tags(raw: str) -> tuple[str, ...]:
    """`a;b`, `a,b`, `a|b`, or Mailchimp's `"a","b"`: tags, in order, without quotes."""
    return tuple(tag for tag in (part.strip().strip('"').strip() for part in re.split(r"[;,|]", raw)) if tag)


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
