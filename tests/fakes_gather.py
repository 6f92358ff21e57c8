"""A fake fetcher and a fake parser, to drive gather's decisions with no HTTP server.

The fetcher answers from a table the test fills (a feed, a 304 when the ETag it served comes
back, a 410, a failure); the parser returns the posts the test put in each feed. Both record
what they were asked, so a test can also say what was *not* fetched or parsed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from digest.config import FeedSettings
from digest.errors import FeedError
from digest.gather_decide import Fetched
from digest.models import Post
from digest.parse import ParsedFeed
from digest.store import FeedCache


@dataclass
class FakeFetcher:
    answers: dict[str, Fetched | str] = field(default_factory=dict)  # a str: why fetching fails
    requests: list[tuple[str, FeedCache]] = field(default_factory=list)

    def serve(
        self, location: str, *, status: int = 200, etag: str | None = None, moved_to: str | None = None
    ) -> None:
        body = b"<feed/>" if status == 200 else b""
        self.answers[location] = Fetched(status, body, {}, FeedCache(etag), moved_to)

    def fail(self, location: str, reason: str) -> None:
        self.answers[location] = reason

    async def fetch(self, location: str, cache: FeedCache) -> Fetched:
        self.requests.append((location, cache))
        answer = self.answers.get(location, "HTTP 404 Not Found")
        if isinstance(answer, str):
            raise FeedError(location, answer)
        if answer.status == 200 and answer.cache.etag and answer.cache.etag == cache.etag:
            return Fetched(304, moved_to=answer.moved_to)
        return answer

    @property
    def locations(self) -> list[str]:
        return [location for location, _ in self.requests]


@dataclass
class FakeParser:
    feeds: dict[str, list[Post] | str | Exception] = field(default_factory=dict)  # by feed URL
    parsed: list[str] = field(default_factory=list)  # the feed URLs parsed, in order

    async def parse(
        self, body: bytes, headers: Mapping[str, str], feed: FeedSettings, now: datetime
    ) -> ParsedFeed | str:
        self.parsed.append(feed.url)
        held = self.feeds.get(feed.url, "not an RSS, Atom or JSON feed")
        if isinstance(held, Exception):
            raise held
        if isinstance(held, str):
            return held
        return ParsedFeed(f"Feed {feed.url}", "", None, tuple(held), ())


def post(feed: str, key: str, **overrides: Any) -> Post:
    """A post of `feed` as a parser would give it; `key` makes its id and URL."""
    fields: dict[str, Any] = {
        "id": f"{feed}#{key}",
        "feed": feed,
        "source": f"Feed {feed}",
        "title": f"Post {key}",
        "url": f"https://posts.example/{key}",
        "published": datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
        **overrides,
    }
    return Post(**fields)
