"""`digest.toml` into a frozen, validated `Settings`.

Every key but `[[feeds]]` has a default. An unknown key or a wrong value is a `ConfigError`
naming the file and the key, so a typo never silently falls back to a default. Here are the
dataclasses and which key is which kind of value; `config_values` checks each value. No
environment variable is read here: the CLI reads them and passes what they say.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from digest import config_values as values
from digest.config_values import Where
from digest.errors import ConfigError

LOCALES = ("fr", "en")
CONFIG_NAME = "digest.toml"
# Sample values a subject or preheader pattern is tried with, so a typo fails at load time.
SUBJECT_FIELDS = {"name": "N", "week": "2026-W01", "week_number": 1, "year": 2026, "count": 1, "first": "T"}


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
    postal_address: str = ""  # shown in every footer; US and French law ask for one

    @property
    def variants(self) -> tuple[str, ...]:
        """The other languages built beside the main one (`locale`), each in ISSUE/<locale>/."""
        return tuple(locale for locale in self.locales if locale != self.locale)


@dataclass(frozen=True)
class UtmSettings:
    """utm_… parameters added to post links (never to unsubscribe or archive links); off when
    `source` is empty. `campaign` may name the issue: {week}, {slug}."""

    source: str = ""
    medium: str = "email"
    campaign: str = "{slug}"
    content: str = ""

    def parameters(self, week: str, slug: str) -> tuple[tuple[str, str], ...]:
        if not self.source:
            return ()
        values = {"source": self.source, "medium": self.medium, "content": self.content}
        values["campaign"] = self.campaign.replace("{week}", week).replace("{slug}", slug)
        return tuple(sorted((f"utm_{name}", value) for name, value in values.items() if value))


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
    soft_bounce_limit: int = 3  # soft bounces in a row that suppress a reader (bounces import)
    feedback_id: str = ""  # Feedback-ID header, e.g. "{week}:digest:acme:digestfr"
    dkim_selector: str = ""  # DKIM signing is on when set (key: $DIGEST_DKIM_KEY or dkim_key)
    dkim_domain: str = ""  # d= of the signature; default: the From domain
    dkim_key: Path | None = None  # PEM private key file
    # list IDs for `export --format listmonk`, by edition ("": the one list of a single edition)
    listmonk_lists: Mapping[str, tuple[int, ...]] = field(default_factory=lambda: MappingProxyType({}))
    listmonk_template_id: int = 0  # a blank listmonk campaign template: {{ template "content" . }}
    # list IDs for `export --format brevo-campaign`, by edition, as listmonk_lists
    brevo_lists: Mapping[str, tuple[int, ...]] = field(default_factory=lambda: MappingProxyType({}))
    seed: tuple[str, ...] = ()  # addresses that get the issue first in every real `send`


@dataclass(frozen=True)
class FeedSettings:
    url: str  # as written in digest.toml: names the feed in reports, posts and issue.json
    location: str = ""  # what is fetched: the URL, or the path resolved beside digest.toml
    name: str = ""  # overrides the feed's own title
    weight: float = 1.0
    categories: tuple[str, ...] = ()  # keep only posts in one of these (empty: all)
    enrich: bool = False  # fetch the article page of new posts with no picture or a teaser


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
    utm: UtmSettings = UtmSettings()

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
        "postal_address",
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
        "soft_bounce_limit",
        "seed",
        "listmonk_template_id",
        "brevo_lists",
    },
    "paths": {"templates", "state", "issues"},
    "gather": {"enrich"},
    "utm": {"source", "medium", "campaign", "content"},
}
_FEED_KEYS = {"url", "name", "weight", "categories", "enrich"}


def load_settings(path: Path, *, state: Path | None = None) -> Settings:
    """Read and validate a `digest.toml`.

    `state` is the state folder (relative to the current folder). None means `[paths] state`,
    resolved beside digest.toml, by default `.digest/` there. Nothing is read from the
    environment: the CLI reads `$DIGEST_STATE` (`environment.Environment`) and passes it as `state`.
    """
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
    """`load_settings` once the TOML is read: `path` names the file in errors and anchors paths."""
    where = Where(path)
    tables = _tables(raw, where)
    p = tables["paths"]
    return Settings(
        path=path,
        newsletter=_newsletter(tables["newsletter"], where),
        selection=_selection(tables["selection"], where),
        delivery=_delivery(tables["delivery"], where),
        feeds=_feeds(
            raw.get("feeds"), where, enrich=_flag(tables["gather"], "enrich", where, "gather", False)
        ),
        templates=where.resolve(values.string(p, "templates", where, "paths", "templates")),
        state=state.resolve()
        if state
        else where.resolve(values.string(p, "state", where, "paths", ".digest")),
        issues=where.resolve(values.string(p, "issues", where, "paths", "issues")),
        utm=_utm(tables["utm"], where),
    )


def _utm(u: dict[str, Any], where: Where) -> UtmSettings:
    return UtmSettings(
        **{key: values.string(u, key, where, "utm", getattr(UtmSettings(), key)) for key in _SECTIONS["utm"]}
    )


def _tables(raw: dict[str, Any], where: Where) -> dict[str, dict[str, Any]]:
    """Each known section as a table (empty when absent), after refusing any unknown key."""
    for key in raw:
        if key not in _SECTIONS and key != "feeds":
            where.fail(key, "unknown section or key", f"known: {', '.join(sorted([*_SECTIONS, 'feeds']))}")
    tables = {name: values.table(raw, name, where) for name in _SECTIONS}
    for name, table in tables.items():
        for key in table:
            if key not in _SECTIONS[name]:
                where.fail(f"{name}.{key}", "unknown key", f"known: {', '.join(sorted(_SECTIONS[name]))}")
    return tables


def _newsletter(n: dict[str, Any], where: Where) -> NewsletterSettings:
    section = "newsletter"
    return NewsletterSettings(
        name=values.string(n, "name", where, section, NewsletterSettings.name),
        sender=values.string(n, "from", where, section, NewsletterSettings.sender),
        reply_to=values.string(n, "reply_to", where, section, ""),
        base_url=values.http_url(n, "base_url", where, section, NewsletterSettings.base_url),
        locale=values.choice(n, "locale", where, section, LOCALES, "en"),
        locales=values.choices(n, "locales", where, section, LOCALES, n.get("locale", "en")),
        timezone=values.time_zone(n, "timezone", where, section),
        list_id=values.string(n, "list_id", where, section, ""),
        subscribe_url=values.string(n, "subscribe_url", where, section, ""),
        postal_address=values.string(n, "postal_address", where, section, ""),
    )


def _selection(s: dict[str, Any], where: Where) -> SelectionSettings:
    section = "selection"
    return SelectionSettings(
        max_posts=values.whole(s, "max_posts", where, section, SelectionSettings.max_posts),
        per_source_max=values.whole(s, "per_source_max", where, section, SelectionSettings.per_source_max),
        per_author_max=values.whole(s, "per_author_max", where, section, SelectionSettings.per_author_max),
        sections=values.strings(s, "sections", where, section),
        other_section=values.string(s, "other_section", where, section, ""),
        subject=values.text_template(s, "subject", where, section, SUBJECT_FIELDS),
        preheader=values.text_template(s, "preheader", where, section, SUBJECT_FIELDS),
        pin=values.strings(s, "pin", where, section),
        drop=values.strings(s, "drop", where, section),
        weights=_weights(s.get("weights", {}), where),
    )


def _delivery(d: dict[str, Any], where: Where) -> DeliverySettings:
    section = "delivery"
    unsubscribe_url = values.string(d, "unsubscribe_url", where, section, "")
    if unsubscribe_url and "{token}" not in unsubscribe_url:
        where.fail(
            "delivery.unsubscribe_url",
            "must contain {token}",
            "e.g. https://example.org/unsubscribe/{token}",
        )
    dkim_key = values.string(d, "dkim_key", where, section, "")
    return DeliverySettings(
        subscribers=where.resolve(values.string(d, "subscribers", where, section, "subscribers.csv")),
        unsubscribe_url=unsubscribe_url,
        mailto_unsubscribe=values.mailbox(d, "mailto_unsubscribe", where, section),
        feedback_id=values.feedback_id(d, "feedback_id", where, section),
        dkim_selector=values.string(d, "dkim_selector", where, section, ""),
        dkim_domain=values.string(d, "dkim_domain", where, section, ""),
        dkim_key=where.resolve(dkim_key) if dkim_key else None,
        listmonk_lists=values.ids_by_locale(d, "listmonk_lists", where, section),
        listmonk_template_id=values.whole(d, "listmonk_template_id", where, section, 1)
        if "listmonk_template_id" in d
        else 0,
        brevo_lists=values.ids_by_locale(d, "brevo_lists", where, section),
        soft_bounce_limit=max(1, values.whole(d, "soft_bounce_limit", where, section, 3)),
        seed=values.mailboxes(d, "seed", where, section),
    )


def _weights(value: Any, where: Where) -> ScoreWeights:
    if not isinstance(value, dict):
        where.fail("selection.weights", "must be a table", "write it as [selection.weights]")
    known = {field: getattr(ScoreWeights(), field) for field in ScoreWeights.__dataclass_fields__}
    for key, weight in value.items():
        if key not in known:
            where.fail(f"selection.weights.{key}", "unknown key", f"known: {', '.join(known)}")
        values.weight(weight, f"selection.weights.{key}", where)
    return ScoreWeights(**{key: float(weight) for key, weight in value.items()})


def _flag(table: dict[str, Any], key: str, where: Where, label: str, default: bool) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        where.fail(f"{label}.{key}", "must be true or false")
    return bool(value)


def _feeds(value: Any, where: Where, *, enrich: bool = False) -> tuple[FeedSettings, ...]:
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
        weight = values.weight(table.get("weight", 1.0), f"{label}.weight", where)
        feeds.append(
            FeedSettings(
                url=str(url).strip(),
                location=_feed_location(str(url).strip(), where),
                name=values.string(table, "name", where, label, ""),
                weight=weight,
                categories=values.strings(table, "categories", where, label),
                enrich=_flag(table, "enrich", where, label, enrich),  # [gather] enrich is the default
            )
        )
    return tuple(feeds)


def _feed_location(url: str, where: Where) -> str:
    """http(s) and file:// URLs stay as they are; a plain path is made absolute beside the file."""
    if "://" in url:
        if not url.startswith(("http://", "https://", "file://")):
            where.fail("feeds.url", f"{url!r}: only http(s)://, file:// or a local path")
        return url
    return str(where.resolve(url))
