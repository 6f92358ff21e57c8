"""The local SQLite state: feed cache, posts, sends journal.

Posts are stored as JSON of the `Post` dataclass beside the columns queries need. Schema
changes are ordered, named migrations recorded in the `migrations` table.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from digest.models import Image, Post

MIGRATIONS: tuple[tuple[str, str], ...] = (
    (
        "0001_feeds_and_posts",
        """
        CREATE TABLE feeds (
            url TEXT PRIMARY KEY,
            title TEXT NOT NULL DEFAULT '',
            etag TEXT,
            last_modified TEXT,
            checked_at TEXT
        );
        CREATE TABLE posts (
            id TEXT PRIMARY KEY,
            url TEXT NOT NULL UNIQUE,
            feed TEXT NOT NULL,
            published TEXT NOT NULL,
            data TEXT NOT NULL
        );
        CREATE INDEX posts_published ON posts (published);
        """,
    ),
)


@dataclass(frozen=True)
class FeedCache:
    etag: str | None = None
    last_modified: str | None = None


class Store:
    """A thin wrapper over one SQLite connection; every write is its own transaction."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.db = connection

    def feed_cache(self, url: str) -> FeedCache:
        row = self.db.execute("SELECT etag, last_modified FROM feeds WHERE url = ?", (url,)).fetchone()
        return FeedCache(*row) if row else FeedCache()

    def save_feed(self, url: str, title: str, cache: FeedCache, checked_at: datetime) -> None:
        with self.db:
            self.db.execute(
                """INSERT INTO feeds (url, title, etag, last_modified, checked_at) VALUES (?, ?, ?, ?, ?)
                   ON CONFLICT (url) DO UPDATE SET title = excluded.title, etag = excluded.etag,
                   last_modified = excluded.last_modified, checked_at = excluded.checked_at""",
                (url, title, cache.etag, cache.last_modified, _iso(checked_at)),
            )

    def add_posts(self, posts: Iterable[Post]) -> int:
        """Store posts not seen before (same id or same canonical URL); return how many were new."""
        new = 0
        with self.db:
            for post in posts:
                cursor = self.db.execute(
                    "INSERT OR IGNORE INTO posts (id, url, feed, published, data) VALUES (?, ?, ?, ?, ?)",
                    (
                        post.id,
                        post.url,
                        post.feed,
                        _iso(post.published),
                        json.dumps(post_to_dict(post), ensure_ascii=False),
                    ),
                )
                new += cursor.rowcount
        return new

    def posts_between(self, start: datetime, end: datetime) -> list[Post]:
        """Posts published in [start, end), oldest first."""
        rows = self.db.execute(
            "SELECT data FROM posts WHERE published >= ? AND published < ? ORDER BY published, id",
            (_iso(start), _iso(end)),
        )
        return [post_from_dict(json.loads(data)) for (data,) in rows]

    def latest_published(self) -> datetime | None:
        row = self.db.execute("SELECT MAX(published) FROM posts").fetchone()
        return datetime.fromisoformat(row[0]) if row and row[0] else None


@contextmanager
def open_store(state_dir: Path) -> Iterator[Store]:
    state_dir.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(state_dir / "digest.sqlite3")
    try:
        connection.execute("PRAGMA journal_mode = WAL")
        migrate(connection)
        yield Store(connection)
    finally:
        connection.close()


def migrate(connection: sqlite3.Connection) -> None:
    with connection:
        connection.execute(
            "CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
    done = {name for (name,) in connection.execute("SELECT name FROM migrations")}
    for name, script in MIGRATIONS:
        if name in done:
            continue
        with connection:
            for statement in filter(str.strip, script.split(";")):
                connection.execute(statement)
            connection.execute("INSERT INTO migrations VALUES (?, ?)", (name, _iso(datetime.now(UTC))))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def post_to_dict(post: Post) -> dict[str, Any]:
    data = asdict(post)
    data["published"] = _iso(post.published)
    data["categories"] = list(post.categories)
    return data


def post_from_dict(data: dict[str, Any]) -> Post:
    image = data.get("image")
    return Post(
        **{
            **data,
            "published": datetime.fromisoformat(data["published"]).astimezone(UTC),
            "categories": tuple(data.get("categories", ())),
            "image": Image(**image) if image else None,
        }
    )
