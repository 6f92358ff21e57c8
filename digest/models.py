"""The data model every stage exchanges: small frozen dataclasses.

Feedparser dicts, CSV rows and database rows are turned into these at the edges and never
travel further. Every datetime is timezone-aware and in UTC.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from digest.identity import IssueRef


@dataclass(frozen=True)
class Image:
    url: str
    alt: str = ""
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class Post:
    """One normalised feed entry."""

    id: str  # stable, within its feed: from the guid, else the link, else title and date (`entries`)
    feed: str  # the URL (or path) of the feed it came from
    source: str  # the feed's title, shown to readers
    title: str  # plain text, one line
    url: str  # as published: absolute, known tracking parameters removed
    published: datetime  # aware, UTC
    author: str = ""
    categories: tuple[str, ...] = ()
    summary_html: str = ""  # sanitised with the email-safe allow-list
    summary_text: str = ""
    image: Image | None = None
    language: str | None = None
    comments: int | None = None
    shares: int | None = None
    published_from: str = "feed"  # feed | first_seen | unreadable | future | before_1995 (`dates`)
    site: str = ""  # the home page of the feed it came from, as the feed gives it


@dataclass(frozen=True)
class Section:
    title: str  # "" for the unnamed main section
    posts: tuple[Post, ...]


@dataclass(frozen=True)
class Issue:
    """Everything rendering needs; frozen into `issue.json`.

    As stored, `subject` and `preheader` are patterns ({count}, {first}…) and `only` may hide
    posts from some editions; `edits.resolve` gives the issue as its edition shows it."""

    newsletter: str
    week: str  # ISO week, e.g. "2026-W47"
    locale: str
    subject: str
    preheader: str
    sections: tuple[Section, ...]
    intro: str = ""
    number: int | None = None
    base_url: str = ""
    first_day: str = ""  # ISO date, inclusive, in the newsletter's zone: the span covered
    last_day: str = ""
    slug: str = ""  # the issue's identity: "2026-W47", or "2026-11-23--2026-11-29" for a span
    edition: str = ""  # "" for the main edition, else this edition's locale
    # Posts meant for some editions only: post id → the locales of those editions (edits.py).
    only: tuple[tuple[str, tuple[str, ...]], ...] = ()
    postal_address: str = ""  # the sender's postal address, shown in the footer
    utm: tuple[tuple[str, str], ...] = ()  # query parameters added to post links, e.g. utm_source

    @property
    def posts(self) -> tuple[Post, ...]:
        return tuple(post for section in self.sections for post in section.posts)

    @property
    def ref(self) -> IssueRef:
        """Everything named after the issue (folder, URL, journal, Message-ID) derives from this."""
        return IssueRef(self.slug or self.week, self.edition)

    @property
    def web_url(self) -> str:
        return self.ref.web_url(self.base_url) if self.base_url else ""


def _frozen_fields() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True)
class Subscriber:
    email: str
    name: str = ""
    locale: str = ""
    status: str = "active"  # active | unsubscribed | bounced | cleaned
    tags: tuple[str, ...] = ()
    fields: Mapping[str, str] = field(default_factory=_frozen_fields)
    line: int = 0  # physical line of the CSV on which the row starts

    @property
    def active(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True)
class RenderedIssue:
    """The issue rendered once: the inlined HTML and the text, still holding merge tokens."""

    html: str
    text: str
    web: str
    token_prefix: str  # merge tokens look like %%<prefix>:<field>%%


@dataclass(frozen=True)
class FeedReport:
    url: str
    status: str  # ok | not_modified | error
    new_posts: int = 0
    error: str | None = None
    warnings: tuple[str, ...] = ()
    seconds: float = 0.0
    moved_to: str | None = None  # a permanent redirect's target, used from now on
    title: str = ""  # the feed's own title, when this fetch read one
