"""The checks of single values in `digest.toml`: one function per kind of value.

Each takes the TOML table, the key and a `Where`, and returns the value typed, or raises a
`ConfigError` naming the file and the key, with an example when one helps. They know nothing of
`Settings`: `config` decides which key is which kind and builds the dataclasses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from digest.errors import ConfigError


class Where:
    """Names the file in every error, and resolves paths relative to it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, problem: str, hint: str | None = None) -> NoReturn:
        raise ConfigError(f"{self.path}: {key}: {problem}", hint=hint)

    def resolve(self, value: str) -> Path:
        return (self.path.parent / Path(value).expanduser()).resolve()


def table(raw: dict[str, Any], name: str, where: Where) -> dict[str, Any]:
    value = raw.get(name, {})
    if not isinstance(value, dict):
        where.fail(name, "must be a table", f"write it as [{name}]")
    return dict(value)


def string(table: dict[str, Any], key: str, where: Where, section: str, default: str) -> str:
    value = table.get(key, default)
    if not isinstance(value, str):
        where.fail(f"{section}.{key}", f"must be a string, not {type(value).__name__}")
    return str(value).strip()


def strings(table: dict[str, Any], key: str, where: Where, section: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        where.fail(f"{section}.{key}", "must be a list of strings")
    return tuple(value)


def whole(table: dict[str, Any], key: str, where: Where, section: str, default: int) -> int:
    """A whole number of at least 1 (a bool is not one, though Python says it is an int)."""
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        where.fail(f"{section}.{key}", f"must be a whole number of at least 1, not {value!r}")
    return int(value)


def ids(table: dict[str, Any], key: str, where: Where, section: str) -> tuple[int, ...]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in value):
        where.fail(f"{section}.{key}", "must be a list of whole numbers", "e.g. [3, 7]")
    return tuple(value)


def ids_by_locale(
    table: dict[str, Any], key: str, where: Where, section: str
) -> Mapping[str, tuple[int, ...]]:
    """`[3, 7]` (key "": one edition) or `{ fr = [3], en = [4] }` (one entry per edition)."""
    value = table.get(key, [])
    if isinstance(value, dict):
        return MappingProxyType(
            {str(locale): ids(value, locale, where, f"{section}.{key}") for locale in value}
        )
    return MappingProxyType({"": ids(table, key, where, section)} if value else {})


def weight(value: Any, key: str, where: Where) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        where.fail(key, f"must be a number ≥ 0, not {value!r}")
    return float(value)


def choice(
    table: dict[str, Any],
    key: str,
    where: Where,
    section: str,
    choices: tuple[str, ...],
    default: str,
) -> str:
    value = string(table, key, where, section, default)
    if value not in choices:
        where.fail(
            f"{section}.{key}",
            f"{value!r} is not supported",
            f"choose one of: {', '.join(choices)}",
        )
    return value


def choices(
    table: dict[str, Any], key: str, where: Where, section: str, known: tuple[str, ...], main: str
) -> tuple[str, ...]:
    """A list of `known` values that includes `main` when not empty, duplicates dropped."""
    values = strings(table, key, where, section)
    for value in values:
        if value not in known:
            where.fail(f"{section}.{key}", f"{value!r} is not supported", f"choose among: {', '.join(known)}")
    if values and main not in values:
        where.fail(
            f"{section}.{key}", f"must include the main locale {main!r}", f"e.g. {key} = [{main!r}, ...]"
        )
    return tuple(dict.fromkeys(values))


def http_url(table: dict[str, Any], key: str, where: Where, section: str, default: str) -> str:
    value = string(table, key, where, section, default)
    if not value.startswith(("https://", "http://")):
        where.fail(
            f"{section}.{key}",
            f"{value!r} is not an http(s) URL",
            "e.g. https://digest.example.org",
        )
    return value.rstrip("/")


def time_zone(table: dict[str, Any], key: str, where: Where, section: str) -> str:
    value = string(table, key, where, section, "UTC")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        where.fail(
            f"{section}.{key}",
            f"unknown time zone {value!r}",
            "use an IANA name such as Europe/Paris",
        )
    return value


def mailbox(table: dict[str, Any], key: str, where: Where, section: str) -> str:
    """An address, `mailto:` accepted and dropped; empty when not set."""
    value = string(table, key, where, section, "").removeprefix("mailto:")
    if value and not re.fullmatch(r"[^@\s<>,]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}", value):
        where.fail(
            f"{section}.{key}",
            f"{value!r} is not an email address",
            "e.g. unsubscribe@example.org",
        )
    return value


def mailboxes(table: dict[str, Any], key: str, where: Where, section: str) -> tuple[str, ...]:
    """A list of addresses (e.g. `seed`); empty when not set."""
    addresses = strings(table, key, where, section)
    for value in addresses:
        mailbox({key: value}, key, where, section)
    return addresses


def feedback_id(table: dict[str, Any], key: str, where: Where, section: str) -> str:
    """Google's format `a:b:c:SenderId`, SenderId 5-15 characters; `{week}` is the issue's week."""
    value = string(table, key, where, section, "")
    sample = value.replace("{week}", "2026-W01")
    if value and not re.fullmatch(
        r"[A-Za-z0-9._-]*:[A-Za-z0-9._-]*:[A-Za-z0-9._-]*:[A-Za-z0-9._-]{5,15}", sample
    ):
        where.fail(
            f"{section}.{key}",
            f"{value!r} is not campaign:stream:account:SenderId (SenderId 5-15 characters)",
            'e.g. "{week}:digest:acme:digestfr"',
        )
    return value


def text_template(
    table: dict[str, Any], key: str, where: Where, section: str, fields: dict[str, object]
) -> str:
    """A `str.format` pattern: tried on sample `fields` now, so a typo fails before any build."""
    value = string(table, key, where, section, "")
    try:
        value.format(**fields)
    except (KeyError, IndexError, ValueError) as exc:
        where.fail(
            f"{section}.{key}",
            f"bad placeholder in {value!r} ({exc})",
            "placeholders: " + ", ".join(f"{{{name}}}" for name in fields),
        )
    return value
