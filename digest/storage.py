"""The storage interface: what each stage needs of the state, and nothing more.

Stages and the pipeline depend on these Protocols, never on SQLite: `store.SqliteStore` and
`journal.Journal` are today's implementations, and another backend (PostgreSQL, for a web app and
a weekly job on different machines) implements the same methods without changing any stage.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from digest.models import Post, Subscriber

SENDING, SENT, FAILED, DEFERRED = "sending", "sent", "failed", "deferred"  # a journal row's states


@dataclass(frozen=True)
class FeedCache:
    """A feed's validators for the next conditional GET."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class JournalEntry:
    state: str  # sending | sent | failed | deferred
    reply: str
    attempts: int


class FeedStore(Protocol):
    """What gather reads and writes: each feed's cache and state, and the posts it brought."""

    def feed_cache(self, url: str) -> FeedCache: ...
    def moved_to(self, url: str) -> str | None: ...
    def gone_since(self, url: str) -> datetime | None: ...
    def clear_gone(self, urls: Iterable[str]) -> list[str]: ...
    def stored_posts(self, ids: Iterable[str]) -> dict[str, Post]: ...
    def save_gathered(
        self,
        feeds: Iterable[tuple[str, str, FeedCache, Iterable[Post]]],
        checked_at: datetime,
        *,
        updated: Iterable[Post] = (),
        moves: Iterable[tuple[str, str]] = (),
        gone: Iterable[str] = (),
    ) -> list[int]: ...
    def articles(self, urls: Iterable[str]) -> dict[str, str]: ...
    def save_articles(self, articles: Iterable[tuple[str, str]], at: datetime) -> None: ...
    def light_sync(self) -> AbstractContextManager[None]: ...


class PostStore(Protocol):
    """What selection reads: the posts published in a span."""

    def posts_between(self, start: datetime, end: datetime) -> list[Post]: ...
    def posts(
        self, *, feed: str | None = None, since: datetime | None = None, until: datetime | None = None
    ) -> list[Post]: ...
    def latest_published(self) -> datetime | None: ...


class IssueStore(Protocol):
    """Issue numbers: given once per issue, at its first build."""

    def issue_number(self, slug: str, at: datetime, *, known: int | None = None, floor: int = 0) -> int: ...
    def issue_numbers(self) -> dict[str, int]: ...


class SuppressionStore(Protocol):
    """Who left the list, recorded by the web app and read by every send and export."""

    def record_unsubscribe(self, list_id: str, email: str, at: datetime, via: str) -> bool: ...
    def is_unsubscribed(self, list_id: str, email: str) -> bool: ...
    def unsubscribed(self, list_id: str, *, pending_only: bool = False) -> frozenset[str]: ...
    def mark_unsubscribes_applied(self, list_id: str, emails: Iterable[str], at: datetime) -> None: ...


# A reader's history: each event's kind, and the status it leaves them in (`status_after`).
EVENTS = ("subscribed", "confirmed", "unsubscribed", "bounced", "complained", "imported")
SUPPRESSED = frozenset({"unsubscribed", "bounced", "complained", "cleaned"})  # never mailed
IMPORTED_STATUSES = ("active", "unsubscribed", "bounced", "cleaned", "complained")
_EVENT_STATUS = {
    "subscribed": "pending",  # until the confirmation link is followed: nobody is mailed before
    "confirmed": "active",
    "unsubscribed": "unsubscribed",
    "bounced": "bounced",
    "complained": "complained",
}


def status_after(before: str | None, kind: str, detail: str = "") -> str:
    """The status an event leaves a reader in: the event's own (an import's is the row's status,
    in `detail`). A sign-up is only a request until it is confirmed: it neither takes an active
    reader off the list nor brings back one who left (their status stays; the event is history)."""
    if kind == "imported":  # an old export never re-activates someone who left: only they can
        status = detail if detail in IMPORTED_STATUSES else "active"
        return before if before in SUPPRESSED and status == "active" else status
    if kind == "subscribed" and before not in (None, "", "pending"):
        return before
    return _EVENT_STATUS[kind]


@dataclass(frozen=True)
class Change:
    email: str
    before: str | None  # None: the address was not in the store
    after: str


@dataclass(frozen=True)
class Profile:
    """What a reader told us about themselves (sign-up form, import row)."""

    name: str = ""
    locale: str = ""
    tags: tuple[str, ...] = ()
    fields: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SubscriberEvent:
    email: str
    kind: str
    at: datetime
    source: str  # web, one-click, import:<file>, dsn, arf, ses, sendgrid, mailgun, postmark, smtp…
    detail: str = ""


class SubscriberStore(Protocol):
    """The list as the store holds it: readers, their status and the events that made it."""

    def record_event(
        self,
        list_id: str,
        email: str,
        kind: str,
        at: datetime,
        source: str,
        *,
        detail: str = "",
        profile: Profile | None = None,
    ) -> Change: ...
    def soft_bounce(
        self, list_id: str, email: str, at: datetime, source: str, *, detail: str = "", limit: int = 3
    ) -> Change | None: ...
    def save_preferences(self, list_id: str, email: str, *, locale: str, tags: Iterable[str]) -> None: ...
    def subscriber(self, list_id: str, email: str) -> Subscriber | None: ...
    def subscribers(self, list_id: str) -> Iterator[Subscriber]: ...
    def statuses(self, list_id: str) -> dict[str, str]: ...
    def events(self, list_id: str, email: str | None = None) -> list[SubscriberEvent]: ...
    def recipient_of(self, message_id: str) -> tuple[str, str] | None: ...


class Store(FeedStore, PostStore, IssueStore, SuppressionStore, SubscriberStore, Protocol):
    """The whole state but the send journal."""


class SendJournal(Protocol):
    """The send journal: one row per (issue, list, recipient); durable marks before each send."""

    def get(self, key: JournalKey) -> JournalEntry | None: ...
    def mark_sending(self, key: JournalKey, message_id: str) -> None: ...
    def record(self, key: JournalKey, message_id: str, state: str, reply: str) -> None: ...
    def flush(self) -> None: ...
    def has_any(self, issue: str, list_id: str) -> bool: ...
    def uncertain(self, issue: str, list_id: str) -> list[str]: ...


@dataclass(frozen=True)
class JournalKey:
    issue: str  # IssueRef.journal_key
    list_id: str
    recipient: str  # the address, lower-cased
