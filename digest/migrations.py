"""The state's schema, as ordered, named migrations, each applied in one transaction.

The `migrations` table records which have run. SQLite's schema changes are transactional, so a
migration that fails (a full disk, a crash, a bug) leaves the previous version whole, and the
next run tries it again. A new migration goes at the end; a released one is never edited.
"""

from __future__ import annotations

import sqlite3

from digest.errors import StateError

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
    (
        "0005_issues",
        """
        CREATE TABLE issues (
            slug TEXT PRIMARY KEY,
            number INTEGER NOT NULL UNIQUE,
            first_day TEXT NOT NULL DEFAULT '',
            last_day TEXT NOT NULL DEFAULT '',
            numbered_at TEXT NOT NULL
        );
        """,
    ),
    (
        "0006_sends_by_issue",
        # The journal was keyed on the ISO week, so a span issue ending in a week already sent
        # looked sent. Existing rows keep their meaning: a week's slug is the week.
        "ALTER TABLE sends RENAME COLUMN week TO issue;",
    ),
    (
        "0007_posts_by_identity",
        # A post was one per URL (UNIQUE), so episodes linking to their show's home page, or posts
        # differing only by #fragment, were merged and lost. A post is now one per entry of a feed
        # (its id, see digest/entries.py); syndicated copies are told apart at selection.
        """
        CREATE TABLE posts_0007 (
            id TEXT PRIMARY KEY,
            url TEXT NOT NULL,
            feed TEXT NOT NULL,
            published TEXT NOT NULL,
            data TEXT NOT NULL
        );
        INSERT INTO posts_0007 (id, url, feed, published, data) SELECT id, url, feed, published, data FROM posts;
        DROP TABLE posts;
        ALTER TABLE posts_0007 RENAME TO posts;
        CREATE INDEX posts_published ON posts (published);
        CREATE INDEX posts_feed ON posts (feed, published);
        """,
    ),
    (
        "0008_articles",
        # Article pages read by enrichment (`enrich = true`), by URL: fetched once, not every run.
        "CREATE TABLE articles (url TEXT PRIMARY KEY, fetched_at TEXT NOT NULL, data TEXT NOT NULL);",
    ),
)


def migrate(connection: sqlite3.Connection) -> None:
    """Apply the missing migrations in order, each in one transaction with its record.

    SQLite's schema changes are transactional, so a migration that fails (a full disk, a crash)
    leaves the previous version whole, and the next run tries it again.
    """
    connection.execute(
        "CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    connection.commit()
    done = {name for (name,) in connection.execute("SELECT name FROM migrations")}
    for name, script in MIGRATIONS:
        if name not in done:
            _apply(connection, name, script)


def _apply(connection: sqlite3.Connection, name: str, script: str) -> None:
    previous, connection.isolation_level = connection.isolation_level, None  # we say BEGIN and COMMIT
    try:
        connection.execute("BEGIN IMMEDIATE")
        try:
            for statement in filter(str.strip, script.split(";")):
                connection.execute(statement)
            connection.execute(
                "INSERT INTO migrations VALUES (?, strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now'))", (name,)
            )
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
    except sqlite3.Error as exc:
        raise StateError(
            f"cannot upgrade the state database to {name}: {exc}",
            hint="the previous version is intact; free disk space or fix permissions, then run again",
        ) from exc
    finally:
        connection.isolation_level = previous
