"""The state: feed cache, posts, issue numbers, subscribers and their events.

One implementation for both backends (`sqldb.Database`: SQLite in the state folder, or
PostgreSQL with `DIGEST_DATABASE_URL`); the SQL is the same, the few differences are sqldb's.
Posts are stored as JSON of the `Post` dataclass beside the columns queries need. Schema
changes are ordered, named migrations recorded in the `migrations` table.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from digest.migrations import migrate
from digest.models import Post
from digest.serial import post_from_dict, post_to_dict
from digest.sqldb import DRIVER_ERRORS, Database, connect, sqlite_file, state_errors
from digest.storage import FeedCache, Store
from digest.store_subscribers import SubscriberTables

__all__ = ["FeedCache", "SqlStore", "SqliteStore", "open_store", "post_from_dict", "post_to_dict"]
# `json.dumps(…, ensure_ascii=False)` builds this encoder anew at every call: one for all posts.
_POST_JSON = json.JSONEncoder(ensure_ascii=False).encode


class SqlStore(SubscriberTables):
    """A thin wrapper over one connection; every write is its own transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db

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

    def posts(
        self, *, feed: str | None = None, since: datetime | None = None, until: datetime | None = None
    ) -> list[Post]:
        """Stored posts, oldest first: of one feed (its URL in digest.toml), published in [since, until)."""
        query, values = "SELECT data FROM posts WHERE 1 = 1", []
        for clause, value in (("feed = ?", feed), ("published >= ?", since), ("published < ?", until)):
            if value is not None:
                query += f" AND {clause}"
                values.append(_iso(value) if isinstance(value, datetime) else value)
        rows = self.db.execute(query + " ORDER BY published, feed, id", values)
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
        self.save_gathered((), at, moves=[(url, location)])

    def gone_since(self, url: str) -> datetime | None:
        row = self.db.execute("SELECT gone_at FROM feed_state WHERE url = ?", (url,)).fetchone()
        return datetime.fromisoformat(row[0]) if row and row[0] else None

    def mark_gone(self, url: str, at: datetime) -> None:
        self.save_gathered((), at, gone=[url])

    def clear_gone(self, urls: Iterable[str]) -> list[str]:
        """Remove the gone mark of these feeds; return those that had one."""
        cleared = [url for url in urls if self.gone_since(url)]
        with self.db.transaction():
            self.db.executemany("UPDATE feed_state SET gone_at = NULL WHERE url = ?", [(u,) for u in cleared])
        return cleared

    def save_gathered(
        self,
        feeds: Iterable[tuple[str, str, FeedCache, Iterable[Post]]],
        checked_at: datetime,
        *,
        updated: Iterable[Post] = (),
        moves: Iterable[tuple[str, str]] = (),
        gone: Iterable[str] = (),
    ) -> list[int]:
        """Write what gather decided for a batch of feeds, in one transaction.

        `feeds`: (url, title, validators, new posts) of each feed read in full; a post is stored
        unless its id already is (ids are per feed: distinct entries are never merged). `updated`: stored posts to rewrite in place
        (same id and feed). `moves`: (url, where it moved for good). `gone`: feeds that said 410.
        One commit, so one disk sync, for a batch of feeds: a big gather would otherwise spend
        more time syncing than fetching. Returns how many posts of each of `feeds` were new.
        """
        counts = []
        with self.db.transaction():
            for url, title, cache, posts in feeds:
                rows = [(p.id, p.url, p.feed, _iso(p.published), _POST_JSON(post_to_dict(p))) for p in posts]
                counts.append(
                    self.db.executemany(
                        """INSERT INTO posts (id, url, feed, published, data) VALUES (?, ?, ?, ?, ?)
                           ON CONFLICT DO NOTHING""",
                        rows,
                    )
                )
                self.db.execute(
                    """INSERT INTO feeds (url, title, etag, last_modified, checked_at) VALUES (?, ?, ?, ?, ?)
                       ON CONFLICT (url) DO UPDATE SET title = excluded.title, etag = excluded.etag,
                       last_modified = excluded.last_modified, checked_at = excluded.checked_at""",
                    (url, title, cache.etag, cache.last_modified, _iso(checked_at)),
                )
            self._update_posts(updated)
            self.db.executemany(
                """INSERT INTO feed_state (url, moved_to, moved_at) VALUES (?, ?, ?)
                   ON CONFLICT (url) DO UPDATE SET moved_to = excluded.moved_to, moved_at = excluded.moved_at""",
                [(url, location, _iso(checked_at)) for url, location in moves],
            )
            self.db.executemany(
                """INSERT INTO feed_state (url, gone_at) VALUES (?, ?)
                   ON CONFLICT (url) DO UPDATE SET gone_at = excluded.gone_at""",
                [(url, _iso(checked_at)) for url in gone],
            )
        return counts

    def _update_posts(self, updated: Iterable[Post]) -> None:
        """Rewrite stored posts in place (posts are one per entry of a feed: a link may be shared)."""
        rows = [
            (
                p.url,
                _iso(p.published),
                _POST_JSON(post_to_dict(p)),
                p.id,
                p.feed,
            )
            for p in updated
        ]
        self.db.executemany(
            "UPDATE posts SET url = ?, published = ?, data = ? WHERE id = ? AND feed = ?", rows
        )

    def stored_posts(self, ids: Iterable[str]) -> dict[str, Post]:
        """The stored posts among `ids`, by id: what gather compares a feed's entries with."""
        wanted = list(dict.fromkeys(ids))
        found: dict[str, Post] = {}
        for start in range(0, len(wanted), 500):  # well under SQLite's limit on parameters
            chunk = wanted[start : start + 500]
            query = f"SELECT id, data FROM posts WHERE id IN ({', '.join('?' * len(chunk))})"
            for post_id, data in self.db.execute(query, chunk):
                found[post_id] = post_from_dict(json.loads(data))
        return found

    def articles(self, urls: Iterable[str]) -> dict[str, str]:
        """Article pages read before (enrichment's cache), by URL: what was kept of each, as JSON."""
        wanted = list(dict.fromkeys(urls))
        found: dict[str, str] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            query = f"SELECT url, data FROM articles WHERE url IN ({', '.join('?' * len(chunk))})"
            found.update((str(url), str(data)) for url, data in self.db.execute(query, chunk).fetchall())
        return found

    def save_articles(self, articles: Iterable[tuple[str, str]], at: datetime) -> None:
        with self.db.transaction():
            self.db.executemany(
                """INSERT INTO articles (url, fetched_at, data) VALUES (?, ?, ?)
                   ON CONFLICT (url) DO UPDATE SET fetched_at = excluded.fetched_at, data = excluded.data""",
                [(url, _iso(at), data) for url, data in articles],
            )

    @contextmanager
    def light_sync(self) -> Iterator[None]:
        """Commits without a disk sync (WAL, synchronous=NORMAL) for the length of a gather.

        The database stays intact whatever happens; a power cut may only undo the last commits,
        and gathered posts are fetched again by the next run (their ETags roll back with them).
        """
        before = self.db.set_durable(False)
        try:
            yield
        finally:
            self.db.restore_durable(before)

    # Issues (0005): each issue's number, given once at its first build and kept for good.

    def issue_number(self, slug: str, at: datetime, *, known: int | None = None, floor: int = 0) -> int:
        """The number of issue `slug`: the one it was given, else `known` (read from its own
        issue.json, when the store is newer than the issue), else one more than any so far and
        than `floor` (the highest number found in the issues folder, so that a fresh store
        continues the series)."""
        with self.db.transaction(lock="digest issues"):
            row = self.db.execute("SELECT number FROM issues WHERE slug = ?", (slug,)).fetchone()
            if row:
                return int(row[0])
            taken = (
                known is not None
                and self.db.execute("SELECT 1 FROM issues WHERE number = ?", (known,)).fetchone()
            )
            if known is None or taken:
                (highest,) = self.db.execute("SELECT COALESCE(MAX(number), 0) FROM issues").fetchone()
                known = max(int(highest), floor) + 1
            self.db.execute(
                "INSERT INTO issues (slug, number, numbered_at) VALUES (?, ?, ?)", (slug, known, _iso(at))
            )
            return known

    def issue_numbers(self) -> dict[str, int]:
        return {slug: number for slug, number in self.db.execute("SELECT slug, number FROM issues")}


SqliteStore = SqlStore  # the name it had when SQLite was the only backend


@contextmanager
def open_store(state_dir: Path, database_url: str = "") -> Iterator[Store]:
    """The store of `state_dir` (or of `database_url`, PostgreSQL), migrated to the current schema.

    Every driver error raised while the block runs (a corrupt or locked file, a full disk, a
    read-only folder, a server gone) becomes one `StateError` naming the database and what to do.
    """
    db = connect(state_dir, database_url)
    try:
        with state_errors(db.where):
            migrate(db)
            yield SqlStore(db)
    finally:
        db.close()


class StorePool:
    """A long-running server's stores: one connection per thread, opened on first use and kept
    (a connection per request would cost more than the request); `reset` drops a broken one."""

    def __init__(self, state_dir: Path, database_url: str = "") -> None:
        self.state_dir, self.database_url = state_dir, database_url
        self._local = threading.local()
        self._migrated = False

    def get(self) -> SqlStore:
        store: SqlStore | None = getattr(self._local, "store", None)
        if store is None:
            db = connect(self.state_dir, self.database_url)
            if not self._migrated:
                with state_errors(db.where):
                    migrate(db)
                self._migrated = True
            store = self._local.store = SqlStore(db)
        return store

    def reset(self) -> None:
        store: SqlStore | None = getattr(self._local, "store", None)
        self._local.store = None
        if store is not None:
            with contextlib.suppress(*DRIVER_ERRORS):
                store.db.close()


def database(state_dir: Path) -> Path:
    """The SQLite file of a state folder."""
    return sqlite_file(state_dir)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")
