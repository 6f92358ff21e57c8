"""The subscriber list formats: which column means what, and how each format writes its values.

Three layouts are recognised by their header: ours (`email,name,locale,status,tags`, any other
column a merge field), Mailchimp audience exports (English or French headers) and listmonk
exports (`email,name,attributes` with JSON attributes). A `Layout` maps a header onto a
subscriber's parts; `name_of`, `fields_of`, `status_of` and `split_tags` read those parts from
one record's values. Nothing here opens a file or decides who is valid: `subscribers` does.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from digest.csvrecords import HEADER_EXAMPLE
from digest.errors import SubscriberError

STATUSES = ("active", "unsubscribed", "bounced", "cleaned")
# Characters that must never reach a header or a message: checked in every column a message uses.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")

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
STATUS_WORDS: dict[str, dict[str, str]] = {
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
    # Mailchimp's unsubscribed and cleaned exports say so by a date in UNSUB_TIME or CLEAN_TIME;
    # its subscribed export may carry the same columns, empty: each row is read by its own cells.
    implied: tuple[tuple[int, str], ...] = ()

    def implied_status(self, values: tuple[str, ...] = ()) -> str:
        """The status the row's Mailchimp date columns give ("" when none is filled in)."""
        for index, status in self.implied:
            if index < len(values) and values[index].strip():
                return status
        return ""

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
    _refuse_twice(keys, header, path)
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
        implied=_implied(keys) if fmt == "mailchimp" else (),
    )


def _implied(keys: list[str]) -> tuple[tuple[int, str], ...]:
    marks = {"clean_time": "cleaned", "unsub_time": "unsubscribed"}
    return tuple((keys.index(key), status) for key, status in marks.items() if key in keys)


def _refuse_twice(keys: list[str], header: tuple[str, ...], path: Path) -> None:
    """A column named twice (case and spacing aside) is ambiguous, whatever it is for."""
    first: dict[str, int] = {}
    for index, key in enumerate(keys):
        if key and key in first:
            raise SubscriberError(
                f"{path}: line 1: columns {first[key] + 1} and {index + 1} are both {header[index].strip()!r}",
                hint="rename or remove one of them",
            )
        first.setdefault(key, index)


def _no_email_column(header: tuple[str, ...], path: Path) -> None:
    looks_like_a_row = any("@" in name for name in header)
    raise SubscriberError(
        f"{path}: line 1: no email column in the header ({', '.join(map(repr, header))})",
        hint="the first line must be a header, e.g. " + HEADER_EXAMPLE
        if looks_like_a_row
        else f"name one column email (ours: {HEADER_EXAMPLE}; Mailchimp: Email Address)",
    )


def status_of(layout: Layout, values: tuple[str, ...]) -> tuple[str, str]:
    """Ours, or the reason the value has no equivalent (a string not in STATUSES); and a warning
    when the value is read with a meaning it does not quite have ("" when none)."""
    raw = layout.value(values, "status").lower()
    if not raw:
        return layout.implied_status(values) or "active", ""
    words = STATUS_WORDS[layout.format]
    if raw not in words:
        known = ", ".join(sorted(words))
        return f"unknown status {raw!r} (expected one of {known})", ""
    if layout.format == "listmonk" and raw == "disabled":
        return words[raw], "listmonk status 'disabled' read as unsubscribed"
    return words[raw], ""


def name_of(layout: Layout, values: tuple[str, ...]) -> str:
    """The name column, else Mailchimp's first and last names joined."""
    name = layout.value(values, "name")
    if name:
        return name
    return " ".join(filter(None, (layout.value(values, "first_name"), layout.value(values, "last_name"))))


def fields_of(layout: Layout, values: tuple[str, ...]) -> dict[str, str] | str:
    """The merge fields (listmonk's JSON attributes included), or the reason they cannot be read."""
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
        if CONTROL.search(value):
            return f"control character or line break in attribute {raw_key!r}"
        if key in LOCALE_ATTRIBUTES:
            key = "locale"
        fields.setdefault(key, value.strip())
    return fields


def split_tags(raw: str) -> tuple[str, ...]:
    """`a;b`, `a,b`, `a|b`, or Mailchimp's `"a","b"`: tags, in order, without quotes."""
    return tuple(tag for tag in (part.strip().strip('"').strip() for part in re.split(r"[;,|]", raw)) if tag)
