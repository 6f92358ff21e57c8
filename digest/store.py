"""The local SQLite state: feed cache, posts, sends journal.

Posts are stored as JSON of the `Post` dataclass beside the columns queries need. Schema
changes are ordered, named migrations recorded in the `migrations` table.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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
    (
        "0002_feed_state",
        """
        CREATE TABLE feed_state (
            url TEXT PRIMARY KEY,
            moved_to TEXT,
            moved_at TEXT,
            gone_at TEXT
        );
        """,
    ),
    (
        "0003_sends",
        """
        CREATE TABLE sends (
            week TEXT NOT NULL,
            list_id TEXT NOT NULL,
            recipient TEXT NOT NULL,
            message_id TEXT NOT NULL,
            state TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            reply TEXT NOT NULL DEFAULT '',
            updated_at TEXT NOT NULL,
            PRIMARY KEY (week, list_id, recipient)
        );
        """,
    ),
    (
        "0004_unsubscribes",
        """
        CREATE TABLE unsubscribes (
            list_id TEXT NOT NULL,
            email TEXT NOT NULL,
            requested_at TEXT NOT NULL,
            via TEXT NOT NULL,
            applied_at TEXT,
            PRIMARY KEY (list_id, email)
        );
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

    # Feed state (0002): where a feed moved for good (301/308), and when it answered 410 Gone.
    # Keyed by the feed's URL as written in digest.toml, so editing that URL starts afresh.

    def moved_to(self, url: str) -> str | None:
        row = self.db.execute("SELECT moved_to FROM feed_state WHERE url = ?", (url,)).fetchone()
        return row[0] if row and row[0] else None

    def record_move(self, url: str, location: str, at: datetime) -> None:
        with self.db:
            self.db.execute(
                """INSERT INTO feed_state (url, moved_to, moved_at) VALUES (?, ?, ?)
                   ON CONFLICT (url) DO UPDATE SET moved_to = excluded.moved_to, moved_at = excluded.moved_at""",
                (url, location, _iso(at)),
            )

    def gone_since(self, url: str) -> datetime | None:
        row = self.db.execute("SELECT gone_at FROM feed_state WHERE url = ?", (url,)).fetchone()
        return datetime.fromisoformat(row[0]) if row and row[0] else None

    def mark_gone(self, url: str, at: datetime) -> None:
        with self.db:
            self.db.execute(
                """INSERT INTO feed_state (url, gone_at) VALUES (?, ?)
                   ON CONFLICT (url) DO UPDATE SET gone_at = excluded.gone_at""",
                (url, _iso(at)),
            )

    def clear_gone(self, urls: Iterable[str]) -> list[str]:
        """Remove the gone mark of these feeds; return those that had one."""
        cleared = [url for url in urls if self.gone_since(url)]
        with self.db:
            self.db.executemany("UPDATE feed_state SET gone_at = NULL WHERE url = ?", [(u,) for u in cleared])
        return cleared

    def save_gathered(
        self, feeds: Iterable[tuple[str, str, FeedCache, Iterable[Post]]], checked_at: datetime
    ) -> list[int]:
        """Store several feeds' new posts (id or canonical URL not seen before) and caches, in one transaction.

        One commit, so one disk sync, for a batch of feeds: a big gather would otherwise spend
        more time syncing than fetching. Returns how many posts of each feed were new.
        """
        counts = []
        with self.db:
            for url, title, cache, posts in feeds:
                rows = [
                    (p.id, p.url, p.feed, _iso(p.published), json.dumps(post_to_dict(p), ensure_ascii=False))
                    for p in posts
                ]
                before = self.db.total_changes
                self.db.executemany(
                    "INSERT OR IGNORE INTO posts (id, url, feed, published, data) VALUES (?, ?, ?, ?, ?)",
                    rows,
                )
                counts.append(self.db.total_changes - before)
                self.db.execute(
                    """INSERT INTO feeds (url, title, etag, last_modified, checked_at) VALUES (?, ?, ?, ?, ?)
                       ON CONFLICT (url) DO UPDATE SET title = excluded.title, etag = excluded.etag,
                       last_modified = excluded.last_modified, checked_at = excluded.checked_at""",
                    (url, title, cache.etag, cache.last_modified, _iso(checked_at)),
                )
        return counts

    @contextmanager
    def light_sync(self) -> Iterator[None]:
        """Commits without a disk sync (WAL, synchronous=NORMAL) for the length of a gather.

        The database stays intact whatever happens; a power cut may only undo the last commits,
        and gathered posts are fetched again by the next run (their ETags roll back with them).
        """
        (before,) = self.db.execute("PRAGMA synchronous").fetchone()
        self.db.execute("PRAGMA synchronous = NORMAL")
        try:
            yield
        finally:
            self.db.execute(f"PRAGMA synchronous = {int(before)}")

    # Unsubscribes (0004): one row per list and lower-cased address, recorded by the unsubscribe
    # app; `applied_at` is set once `subscribers apply-unsubscribes` has written it to the CSV.

    def record_unsubscribe(self, list_id: str, email: str, at: datetime, via: str) -> bool:
        """Record that `email` left `list_id`; False when it had already (the first time is kept)."""
        with self.db:
            cursor = self.db.execute(
                "INSERT OR IGNORE INTO unsubscribes (list_id, email, requested_at, via) VALUES (?, ?, ?, ?)",
                (list_id, email.lower(), _iso(at), via),
            )
        return cursor.rowcount == 1

    def is_unsubscribed(self, list_id: str, email: str) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM unsubscribes WHERE list_id = ? AND email = ?", (list_id, email.lower())
        ).fetchone()
        return row is not None

    def unsubscribed(self, list_id: str, *, pending_only: bool = False) -> frozenset[str]:
        """Lower-cased addresses unsubscribed from `list_id` (only those not yet in the CSV)."""
        query = "SELECT email FROM unsubscribes WHERE list_id = ?"
        query += " AND applied_at IS NULL" if pending_only else ""
        return frozenset(email for (email,) in self.db.execute(query, (list_id,)))

    def mark_unsubscribes_applied(self, list_id: str, emails: Iterable[str], at: datetime) -> None:
        with self.db:
            self.db.executemany(
                "UPDATE unsubscribes SET applied_at = ? WHERE list_id = ? AND email = ?",
                [(_iso(at), list_id, email.lower()) for email in emails],
            )


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


def database(state_dir: Path) -> Path:
    """The SQLite file; the send journal opens its own connection to it (shared by its threads)."""
    return state_dir / "digest.sqlite3"


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
    """A post as JSON-ready data; shallow copies, not `asdict`'s deep ones: gather stores thousands."""
    data = dict(vars(post))
    data["published"] = _iso(post.published)
    data["categories"] = list(post.categories)
    data["image"] = dict(vars(post.image)) if post.image else None
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
