"""`digest.toml` into a frozen, validated `Settings`.

Every key but `[[feeds]]` has a default. An unknown key or a wrong value is a `ConfigError`
naming the file and the key, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from digest.errors import ConfigError

LOCALES = ("fr", "en")
CONFIG_NAME = "digest.toml"


@dataclass(frozen=True)
class NewsletterSettings:
    name: str = "Digest"
    sender: str = "Digest <digest@localhost>"  # the `from` key
    reply_to: str = ""
    base_url: str = "https://digest.example.org"
    locale: str = "en"
    timezone: str = "UTC"
    list_id: str = ""  # derived from base_url when empty
    subscribe_url: str = ""  # default: <base_url>/subscribe
    locales: tuple[str, ...] = ()  # every language the issue is built in; empty: just `locale`

    @property
    def variants(self) -> tuple[str, ...]:
        """The other languages built beside the main one (`locale`), each in ISSUE/<locale>/."""
        return tuple(locale for locale in self.locales if locale != self.locale)


@dataclass(frozen=True)
class ScoreWeights:
    """How much each term of a post's score counts; docs/selection.md explains each."""

    shares: float = 0.5
    comments: float = 0.5
    recency: float = 0.5
    image: float = 0.5
    summary: float = 0.5


@dataclass(frozen=True)
class SelectionSettings:
    max_posts: int = 12
    per_source_max: int = 3
    per_author_max: int = 2
    sections: tuple[str, ...] = ()  # categories that become sections, in this order
    other_section: str = ""  # title of the section for the rest; localised default when empty
    subject: str = ""  # e.g. "{name} — semaine {week_number}"; localised default when empty
    preheader: str = ""  # e.g. "{count} articles, dont « {first} »"; localised default when empty
    pin: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()
    weights: ScoreWeights = ScoreWeights()


@dataclass(frozen=True)
class DeliverySettings:
    subscribers: Path
    unsubscribe_url: str = ""  # with {token}; default: <base_url>/unsubscribe/{token}
    mailto_unsubscribe: str = ""  # an address; added to List-Unsubscribe as <mailto:…> when set
    feedback_id: str = ""  # Feedback-ID header, e.g. "{week}:digest:acme:digestfr"
    dkim_selector: str = ""  # DKIM signing is on when set (key: $DIGEST_DKIM_KEY or dkim_key)
    dkim_domain: str = ""  # d= of the signature; default: the From domain
    dkim_key: Path | None = None  # PEM private key file
    listmonk_lists: tuple[int, ...] = ()  # list IDs for `export --format listmonk`


@dataclass(frozen=True)
class FeedSettings:
    url: str  # as written in digest.toml: names the feed in reports, posts and issue.json
    location: str = ""  # what is fetched: the URL, or the path resolved beside digest.toml
    name: str = ""  # overrides the feed's own title
    weight: float = 1.0
    categories: tuple[str, ...] = ()  # keep only posts in one of these (empty: all)


@dataclass(frozen=True)
class Settings:
    path: Path  # the digest.toml this came from
    newsletter: NewsletterSettings
    selection: SelectionSettings
    delivery: DeliverySettings
    feeds: tuple[FeedSettings, ...]
    templates: Path
    state: Path
    issues: Path

    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.newsletter.timezone)

    @property
    def list_id(self) -> str:
        """The List-Id, which unsubscribe tokens are bound to: `list_id`, the host of `base_url`,
        else the From domain. Export, send and the unsubscribe app must agree on it."""
        domain = parseaddr(self.newsletter.sender)[1].rpartition("@")[2].lower()
        return self.newsletter.list_id or urlsplit(self.newsletter.base_url).hostname or domain

    @property
    def unsubscribe_url(self) -> str:
        base = self.newsletter.base_url.rstrip("/")
        return self.delivery.unsubscribe_url or f"{base}/unsubscribe/{{token}}"


_SECTIONS: dict[str, set[str]] = {
    "newsletter": {
        "name",
        "from",
        "reply_to",
        "base_url",
        "locale",
        "locales",
        "timezone",
        "list_id",
        "subscribe_url",
    },
    "selection": {
        "max_posts",
        "per_source_max",
        "per_author_max",
        "sections",
        "other_section",
        "subject",
        "preheader",
        "pin",
        "drop",
        "weights",
    },
    "delivery": {
        "subscribers",
        "unsubscribe_url",
        "mailto_unsubscribe",
        "feedback_id",
        "dkim_selector",
        "dkim_domain",
        "dkim_key",
        "listmonk_lists",
    },
    "paths": {"templates", "state", "issues"},
}
_FEED_KEYS = {"url", "name", "weight", "categories"}


def load_settings(path: Path, *, state: Path | None = None) -> Settings:
    """Read and validate a `digest.toml`. `state` (or `$DIGEST_STATE`) overrides `.digest/`."""
    path = path.resolve()
    if not path.is_file():
        raise ConfigError(
            f"configuration file not found: {path}",
            hint="run `digest init` to create one, or pass --config PATH",
        )
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return parse_settings(raw, path, state=state)


def parse_settings(raw: dict[str, Any], path: Path, *, state: Path | None = None) -> Settings:
    where = _Where(path)
    for key in raw:
        if key not in _SECTIONS and key != "feeds":
            where.fail(key, "unknown section or key", f"known: {', '.join(sorted([*_SECTIONS, 'feeds']))}")
    tables = {name: _table(raw, name, where) for name in _SECTIONS}
    for name, table in tables.items():
        for key in table:
            if key not in _SECTIONS[name]:
                where.fail(f"{name}.{key}", "unknown key", f"known: {', '.join(sorted(_SECTIONS[name]))}")

    n = tables["newsletter"]
    newsletter = NewsletterSettings(
        name=_str(n, "name", where, "newsletter", NewsletterSettings.name),
        sender=_str(n, "from", where, "newsletter", NewsletterSettings.sender),
        reply_to=_str(n, "reply_to", where, "newsletter", ""),
        base_url=_url(n, "base_url", where, NewsletterSettings.base_url),
        locale=_choice(n, "locale", where, "newsletter", LOCALES, "en"),
        locales=_locales(n, where),
        timezone=_zone(n, where),
        list_id=_str(n, "list_id", where, "newsletter", ""),
        subscribe_url=_str(n, "subscribe_url", where, "newsletter", ""),
    )
    s = tables["selection"]
    selection = SelectionSettings(
        max_posts=_int(s, "max_posts", where, SelectionSettings.max_posts),
        per_source_max=_int(s, "per_source_max", where, SelectionSettings.per_source_max),
        per_author_max=_int(s, "per_author_max", where, SelectionSettings.per_author_max),
        sections=_strings(s, "sections", where, "selection"),
        other_section=_str(s, "other_section", where, "selection", ""),
        subject=_text_template(s, "subject", where),
        preheader=_text_template(s, "preheader", where),
        pin=_strings(s, "pin", where, "selection"),
        drop=_strings(s, "drop", where, "selection"),
        weights=_weights(s.get("weights", {}), where),
    )
    d = tables["delivery"]
    unsubscribe_url = _str(d, "unsubscribe_url", where, "delivery", "")
    if unsubscribe_url and "{token}" not in unsubscribe_url:
        where.fail(
            "delivery.unsubscribe_url",
            "must contain {token}",
            "e.g. https://example.org/unsubscribe/{token}",
        )
    dkim_key = _str(d, "dkim_key", where, "delivery", "")
    delivery = DeliverySettings(
        subscribers=where.resolve(_str(d, "subscribers", where, "delivery", "subscribers.csv")),
        unsubscribe_url=unsubscribe_url,
        mailto_unsubscribe=_mailbox(d, where),
        feedback_id=_feedback_id(d, where),
        dkim_selector=_str(d, "dkim_selector", where, "delivery", ""),
        dkim_domain=_str(d, "dkim_domain", where, "delivery", ""),
        dkim_key=where.resolve(dkim_key) if dkim_key else None,
        listmonk_lists=_ids(d, "listmonk_lists", where),
    )
    p = tables["paths"]
    env_state = os.environ.get("DIGEST_STATE")
    state_dir = state or (Path(env_state) if env_state else None)
    return Settings(
        path=path,
        newsletter=newsletter,
        selection=selection,
        delivery=delivery,
        feeds=_feeds(raw.get("feeds"), where),
        templates=where.resolve(_str(p, "templates", where, "paths", "templates")),
        state=state_dir.resolve()
        if state_dir
        else where.resolve(_str(p, "state", where, "paths", ".digest")),
        issues=where.resolve(_str(p, "issues", where, "paths", "issues")),
    )


class _Where:
    """Names the file in every error, and resolves paths relative to it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, problem: str, hint: str | None = None) -> NoReturn:
        raise ConfigError(f"{self.path}: {key}: {problem}", hint=hint)

    def resolve(self, value: str) -> Path:
        return (self.path.parent / Path(value).expanduser()).resolve()


def _table(raw: dict[str, Any], name: str, where: _Where) -> dict[str, Any]:
    value = raw.get(name, {})
    if not isinstance(value, dict):
        where.fail(name, "must be a table", f"write it as [{name}]")
    return dict(value)


def _str(table: dict[str, Any], key: str, where: _Where, section: str, default: str) -> str:
    value = table.get(key, default)
    if not isinstance(value, str):
        where.fail(f"{section}.{key}", f"must be a string, not {type(value).__name__}")
    return str(value).strip()


def _strings(table: dict[str, Any], key: str, where: _Where, section: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        where.fail(f"{section}.{key}", "must be a list of strings")
    return tuple(value)


def _mailbox(table: dict[str, Any], where: _Where) -> str:
    value = _str(table, "mailto_unsubscribe", where, "delivery", "").removeprefix("mailto:")
    if value and not re.fullmatch(r"[^@\s<>,]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}", value):
        where.fail(
            "delivery.mailto_unsubscribe",
            f"{value!r} is not an email address",
            "e.g. unsubscribe@example.org",
        )
    return value


def _feedback_id(table: dict[str, Any], where: _Where) -> str:
    """Google's format `a:b:c:SenderId`, SenderId 5-15 characters; `{week}` is the issue's week."""
    value = _str(table, "feedback_id", where, "delivery", "")
    sample = value.replace("{week}", "2026-W01")
    if value and not re.fullmatch(
        r"[A-Za-z0-9._-]*:[A-Za-z0-9._-]*:[A-Za-z0-9._-]*:[A-Za-z0-9._-]{5,15}", sample
    ):
        where.fail(
            "delivery.feedback_id",
            f"{value!r} is not campaign:stream:account:SenderId (SenderId 5-15 characters)",
            'e.g. "{week}:digest:acme:digestfr"',
        )
    return value


def _ids(table: dict[str, Any], key: str, where: _Where) -> tuple[int, ...]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in value):
        where.fail(f"delivery.{key}", "must be a list of whole numbers", "e.g. [3, 7]")
    return tuple(value)


def _int(table: dict[str, Any], key: str, where: _Where, default: int) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        where.fail(f"selection.{key}", f"must be a whole number of at least 1, not {value!r}")
    return int(value)


SUBJECT_FIELDS = {"name": "N", "week": "2026-W01", "week_number": 1, "year": 2026, "count": 1, "first": "T"}


def _text_template(table: dict[str, Any], key: str, where: _Where) -> str:
    """A subject/preheader pattern: checked now, so a typo fails before any build."""
    value = _str(table, key, where, "selection", "")
    try:
        value.format(**SUBJECT_FIELDS)
    except (KeyError, IndexError, ValueError) as exc:
        where.fail(
            f"selection.{key}",
            f"bad placeholder in {value!r} ({exc})",
            "placeholders: " + ", ".join(f"{{{name}}}" for name in SUBJECT_FIELDS),
        )
    return value


def _locales(table: dict[str, Any], where: _Where) -> tuple[str, ...]:
    locales = _strings(table, "locales", where, "newsletter")
    main = table.get("locale", "en")
    for locale in locales:
        if locale not in LOCALES:
            where.fail(
                "newsletter.locales", f"{locale!r} is not supported", f"choose among: {', '.join(LOCALES)}"
            )
    if locales and main not in locales:
        where.fail(
            "newsletter.locales", f"must include the main locale {main!r}", f"e.g. locales = [{main!r}, ...]"
        )
    return tuple(dict.fromkeys(locales))


def _weights(value: Any, where: _Where) -> ScoreWeights:
    if not isinstance(value, dict):
        where.fail("selection.weights", "must be a table", "write it as [selection.weights]")
    known = {field: getattr(ScoreWeights(), field) for field in ScoreWeights.__dataclass_fields__}
    for key, weight in value.items():
        if key not in known:
            where.fail(f"selection.weights.{key}", "unknown key", f"known: {', '.join(known)}")
        if isinstance(weight, bool) or not isinstance(weight, int | float) or weight < 0:
            where.fail(f"selection.weights.{key}", f"must be a number ≥ 0, not {weight!r}")
    return ScoreWeights(**{key: float(weight) for key, weight in value.items()})


def _choice(
    table: dict[str, Any],
    key: str,
    where: _Where,
    section: str,
    choices: tuple[str, ...],
    default: str,
) -> str:
    value = _str(table, key, where, section, default)
    if value not in choices:
        where.fail(
            f"{section}.{key}",
            f"{value!r} is not supported",
            f"choose one of: {', '.join(choices)}",
        )
    return value


def _url(table: dict[str, Any], key: str, where: _Where, default: str) -> str:
    value = _str(table, key, where, "newsletter", default)
    if not value.startswith(("https://", "http://")):
        where.fail(
            f"newsletter.{key}",
            f"{value!r} is not an http(s) URL",
            "e.g. https://digest.example.org",
        )
    return value.rstrip("/")


def _zone(table: dict[str, Any], where: _Where) -> str:
    value = _str(table, "timezone", where, "newsletter", "UTC")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        where.fail(
            "newsletter.timezone",
            f"unknown time zone {value!r}",
            "use an IANA name such as Europe/Paris",
        )
    return value


def _feeds(value: Any, where: _Where) -> tuple[FeedSettings, ...]:
    if value is None:
        where.fail("feeds", "no feeds configured", 'add at least one [[feeds]] table with url = "..."')
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        where.fail("feeds", "must be an array of tables", "write each feed as [[feeds]]")
    feeds = []
    for number, table in enumerate(value, start=1):
        label = f"feeds[{number}]"
        for key in table:
            if key not in _FEED_KEYS:
                where.fail(f"{label}.{key}", "unknown key", f"known: {', '.join(sorted(_FEED_KEYS))}")
        url = table.get("url")
        if not isinstance(url, str) or not url.strip():
            where.fail(f"{label}.url", "missing or empty", 'e.g. url = "https://blog.example.org/feed.xml"')
        weight = table.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, int | float) or weight < 0:
            where.fail(f"{label}.weight", f"must be a number ≥ 0, not {weight!r}")
        feeds.append(
            FeedSettings(
                url=str(url).strip(),
                location=_feed_location(str(url).strip(), where),
                name=_str(table, "name", where, label, ""),
                weight=float(weight),
                categories=_strings(table, "categories", where, label),
            )
        )
    return tuple(feeds)


def _feed_location(url: str, where: _Where) -> str:
    """http(s) and file:// URLs stay as they are; a plain path is made absolute beside the file."""
    if "://" in url:
        if not url.startswith(("http://", "https://", "file://")):
            where.fail("feeds.url", f"{url!r}: only http(s)://, file:// or a local path")
        return url
    return str(where.resolve(url))
