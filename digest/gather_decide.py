"""Gather's decisions, pure: what the store knows + what was fetched and parsed → `Intents`.

Nothing here touches the network, the disk or the store: `gather` reads the store and fetches,
`decide` says what to write and what to report, and `gather.write` applies a batch of intents
in one transaction. So every rule (a 304 keeps the cache, a 410 marks the feed gone, a permanent
move is remembered once its target answered, a post seen before is not new) is a function call
in tests (tests/test_gather_decide.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from digest.config import FeedSettings
from digest.errors import FeedError
from digest.models import FeedReport, Post
from digest.parse import ParsedFeed
from digest.storage import FeedCache

GONE_HINT = "the server said 410 Gone, so it is skipped; `digest gather --retry-gone` fetches it again"


@dataclass(frozen=True)
class Fetched:
    """An answer to act on: a feed's bytes (2xx), Not Modified (304) or Gone (410)."""

    status: int
    body: bytes = b""  # empty unless 2xx
    headers: Mapping[str, str] = field(default_factory=dict)  # what parsing needs: type, language, location
    cache: FeedCache = field(default_factory=FeedCache)  # the validators this answer came with
    moved_to: str | None = None  # where every redirect followed was permanent (301/308)


@dataclass(frozen=True)
class StoredFeed:
    """What the store knows of one feed (by its URL in digest.toml) before this run's answer."""

    url: str
    cache: FeedCache = field(default_factory=FeedCache)
    moved_to: str | None = None  # a permanent move remembered by an earlier run
    gone_since: datetime | None = None
    posts: Mapping[str, Post] = field(
        default_factory=dict
    )  # stored posts sharing an id with one just parsed, by id


@dataclass(frozen=True)
class Intents:
    """What to write for one feed, and what to report. `cache` is None when nothing was read:
    then the stored validators and title stay as they are, and there are no posts."""

    report: FeedReport  # its new_posts is what `decide` expects; the store has the last word
    title: str = ""
    cache: FeedCache | None = None
    new: tuple[Post, ...] = ()
    changed: tuple[Post, ...] = ()  # stored posts whose content changed, to update in place
    move_to: str | None = None  # a permanent move to remember
    gone: bool = False  # mark the feed gone (410)

    @property
    def url(self) -> str:
        return self.report.url


def location(feed: FeedSettings, stored: StoredFeed) -> str | None:
    """Where to fetch `feed` this run: where it moved for good, else digest.toml's; None when gone."""
    if stored.gone_since:
        return None
    return stored.moved_to or feed.location or feed.url


def decide(
    stored: StoredFeed, fetched: Fetched | FeedError | None, parsed: ParsedFeed | str | None
) -> Intents:
    """One feed's intents. `fetched` is None when it was not fetched (gone); `parsed` is None
    when there was nothing to parse, a reason (str) when parsing failed.

    No clock is needed: every date the store writes is the run's `now`, given to the writer.
    """
    url = stored.url
    if fetched is None:
        return Intents(FeedReport(url, "error", error="gone", warnings=(GONE_HINT,)))
    if isinstance(fetched, FeedError):
        return Intents(FeedReport(url, "error", error=fetched.reason))
    if fetched.status == 410:
        report = FeedReport(url, "error", error="410 Gone: the feed was removed", warnings=(GONE_HINT,))
        return Intents(report, gone=True)
    if isinstance(parsed, str):
        return Intents(FeedReport(url, "error", error=parsed))
    if fetched.status != 304 and parsed is None:  # a fetcher's 2xx always goes to the parser
        return Intents(FeedReport(url, "error", error=f"HTTP {fetched.status} without a feed to read"))
    # A move is remembered only once its target has answered with a feed (or a 304).
    move = fetched.moved_to if fetched.moved_to != stored.moved_to else None
    moved = _moved_warning(move)
    if parsed is None:
        return Intents(FeedReport(url, "not_modified", warnings=moved, moved_to=move), move_to=move)
    new, changed = sort_posts(parsed.posts, stored.posts)
    report = FeedReport(url, "ok", len(new), warnings=moved + parsed.warnings, moved_to=move)
    return Intents(report, parsed.title, fetched.cache, new, changed, move)


def sort_posts(
    posts: Iterable[Post], stored: Mapping[str, Post]
) -> tuple[tuple[Post, ...], tuple[Post, ...]]:
    """The posts never seen, and those seen from this feed whose content has changed since.

    A changed post keeps its stored date: an entry without one is dated when first seen, and an
    edit must not move a post into another week (and another issue). A post with the id of one
    another feed stored is that feed's: neither new nor changed here.
    """
    new: list[Post] = []
    changed: list[Post] = []
    seen: set[str] = set()
    for post in posts:
        if post.id in seen:  # twice in one feed: the first one counts, as the store keeps it
            continue
        seen.add(post.id)
        before = stored.get(post.id)
        if before is None:
            new.append(post)
        elif before.feed == post.feed and (edited := replace(post, published=before.published)) != before:
            changed.append(edited)
    return tuple(new), tuple(changed)


def _moved_warning(moved: str | None) -> tuple[str, ...]:
    if not moved:
        return ()
    return (f"moved permanently to {moved}; fetched there from now on (update digest.toml to match)",)
