"""The local SQLite state: feed cache, posts, sends journal.

Posts are stored as JSON of the `Post` dataclass beside the columns queries need. Schema
changes are ordered, named migrations recorded in the `migrations` table.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from digest.errors import StateError
from digest.migrations import migrate
from digest.models import Post
from digest.serial import post_from_dict, post_to_dict
from digest.storage import FeedCache, Store

__all__ = ["FeedCache", "SqliteStore", "open_store", "post_from_dict", "post_to_dict"]


class SqliteStore:
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
        with self.db:
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
        with self.db:
            for url, title, cache, posts in feeds:
                before = self.db.total_changes
                rows = [
                    (p.id, p.url, p.feed, _iso(p.published), json.dumps(post_to_dict(p), ensure_ascii=False))
                    for p in posts
                ]
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
            edits = [
                (p.url, _iso(p.published), json.dumps(post_to_dict(p), ensure_ascii=False), p.id, p.feed)
                for p in updated
            ]
            self.db.executemany(
                "UPDATE posts SET url = ?, published = ?, data = ? WHERE id = ? AND feed = ?", edits
            )
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
            found.update(self.db.execute(query, chunk).fetchall())
        return found

    def save_articles(self, articles: Iterable[tuple[str, str]], at: datetime) -> None:
        with self.db:
            self.db.executemany(
                "INSERT OR REPLACE INTO articles (url, fetched_at, data) VALUES (?, ?, ?)",
                [(url, _iso(at), data) for url, data in articles],
            )

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

    # Issues (0005): each issue's number, given once at its first build and kept for good.

    def issue_number(self, slug: str, at: datetime, *, known: int | None = None, floor: int = 0) -> int:
        """The number of issue `slug`: the one it was given, else `known` (read from its own
        issue.json, when the store is newer than the issue), else one more than any so far and
        than `floor` (the highest number found in the issues folder, so that a fresh store
        continues the series)."""
        with self.db:
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


@contextmanager
def open_store(state_dir: Path) -> Iterator[Store]:
    """The store of `state_dir`, migrated to the current schema.

    Every `sqlite3` error raised while the block runs (a corrupt or locked file, a full disk, a
    read-only folder) becomes one `StateError` naming the file and what to do.
    """
    path = database(state_dir)
    with state_errors(path):
        connection = connect(state_dir)
        try:
            migrate(connection)
            yield SqliteStore(connection)
        finally:
            connection.close()


def database(state_dir: Path) -> Path:
    """The SQLite file; the send journal opens its own connection to it (shared by its threads)."""
    return state_dir / "digest.sqlite3"


def connect(state_dir: Path, **options: Any) -> sqlite3.Connection:
    """A connection in WAL mode to the state file, creating the folder first."""
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StateError(
            f"cannot create the state folder {state_dir}: {exc.strerror or exc}",
            hint="make it writable, or choose another with --state or DIGEST_STATE",
        ) from exc
    connection: sqlite3.Connection = sqlite3.connect(database(state_dir), **options)
    try:
        connection.execute("PRAGMA journal_mode = WAL")
    except sqlite3.Error:
        connection.close()
        raise
    return connection


@contextmanager
def state_errors(path: Path) -> Iterator[None]:
    """Turn a `sqlite3` error into a `StateError` that names the file and the way out."""
    try:
        yield
    except sqlite3.Error as exc:
        raise StateError(f"state database {path}: {exc}", hint=_state_hint(str(exc), path)) from exc


def _state_hint(problem: str, path: Path) -> str:
    problem = problem.lower()
    if "not a database" in problem or "malformed" in problem:
        return (
            f"the file is damaged: move it aside (e.g. to {path.name}.broken) and run `digest gather` again; "
            "the send journal in it is lost, so check what was sent before sending again"
        )
    if "locked" in problem or "busy" in problem:
        return "another digest command is using it: wait for it to finish, then run this one again"
    if "readonly" in problem or "read-only" in problem or "unable to open" in problem:
        return "the state folder must be writable: fix its permissions, or choose another with --state or DIGEST_STATE"
    if "disk" in problem or "full" in problem:
        return "free some disk space, then run the command again"
    return "check the state folder (--state or DIGEST_STATE), then run the command again"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")
