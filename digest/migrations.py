"""The state's schema, as ordered, named migrations, each applied in one transaction.

The `migrations` table records which have run. SQLite's schema changes are transactional, so a
migration that fails (a full disk, a crash, a bug) leaves the previous version whole, and the
next run tries it again. A new migration goes at the end; a released one is never edited.
"""

from __future__ import annotations

from digest.environment import system_clock
from digest.errors import StateError
from digest.sqldb import DRIVER_ERRORS, Database

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
        "0007_subscribers_and_events",
        # The list as a service: each reader's current status (the latest event's) beside the
        # history of events that made it. The unsubscribes recorded so far become events.
        """
        CREATE TABLE subscribers (
            list_id TEXT NOT NULL,
            email TEXT NOT NULL,
            name TEXT NOT NULL DEFAULT '',
            locale TEXT NOT NULL DEFAULT '',
            tags TEXT NOT NULL DEFAULT '[]',
            fields TEXT NOT NULL DEFAULT '{}',
            status TEXT NOT NULL,
            changed_at TEXT NOT NULL,
            soft_bounces INTEGER NOT NULL DEFAULT 0,
            applied_at TEXT,
            PRIMARY KEY (list_id, email)
        );
        CREATE INDEX subscribers_status ON subscribers (list_id, status);
        CREATE TABLE subscriber_events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            list_id TEXT NOT NULL,
            email TEXT NOT NULL,
            kind TEXT NOT NULL,
            at TEXT NOT NULL,
            source TEXT NOT NULL DEFAULT '',
            detail TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX subscriber_events_email ON subscriber_events (list_id, email);
        CREATE INDEX sends_message_id ON sends (message_id);
        INSERT INTO subscribers (list_id, email, status, changed_at, applied_at)
            SELECT list_id, email, 'unsubscribed', requested_at, applied_at FROM unsubscribes;
        INSERT INTO subscriber_events (list_id, email, kind, at, source)
            SELECT list_id, email, 'unsubscribed', requested_at, via FROM unsubscribes ORDER BY requested_at;
        DROP TABLE unsubscribes;
        """,
    ),
    (
        "0008_send_guard",
        # What lets a send notice a state that lost its journal (journal.py): the state's own
        # random id (made by the journal when first opened), named in each issue's send record,
        # and the SQLite WAL canary (expected/confirmed).
        """
        CREATE TABLE send_guard (name TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO send_guard VALUES ('state_id', '');
        INSERT INTO send_guard VALUES ('expected', '0');
        INSERT INTO send_guard VALUES ('confirmed', '0');
        """,
    ),
    (
        "0009_posts_by_identity",
        # A post was one per URL (UNIQUE), so episodes linking to their show's home page, or posts
        # differing only by #fragment, were merged and lost. A post is now one per entry of a feed
        # (its id, see digest/entries.py); syndicated copies are told apart at selection.
        """
        CREATE TABLE posts_0009 (
            id TEXT PRIMARY KEY,
            url TEXT NOT NULL,
            feed TEXT NOT NULL,
            published TEXT NOT NULL,
            data TEXT NOT NULL
        );
        INSERT INTO posts_0009 (id, url, feed, published, data) SELECT id, url, feed, published, data FROM posts;
        DROP TABLE posts;
        ALTER TABLE posts_0009 RENAME TO posts;
        CREATE INDEX posts_published ON posts (published);
        CREATE INDEX posts_feed ON posts (feed, published);
        """,
    ),
    (
        "0010_articles",
        # Article pages read by enrichment (`enrich = true`), by URL: fetched once, not every run.
        "CREATE TABLE articles (url TEXT PRIMARY KEY, fetched_at TEXT NOT NULL, data TEXT NOT NULL);",
    ),
)


def migrate(db: Database) -> None:
    """Apply the missing migrations in order, each in one transaction with its record.

    Both backends change their schema in transactions, so a migration that fails (a full disk, a
    crash) leaves the previous version whole, and the next run tries it again. Processes starting
    at once take turns (the transaction's lock), and each checks again what is done once it holds it.
    """
    try:
        db.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    except DRIVER_ERRORS as exc:
        if "already exists" not in str(exc):  # PostgreSQL: two processes creating it at once
            raise
    done = {name for (name,) in db.execute("SELECT name FROM migrations")}
    for name, script in MIGRATIONS:
        if name not in done:
            _apply(db, name, script)


def _apply(db: Database, name: str, script: str) -> None:
    try:
        with db.transaction(lock="digest migrations"):
            if db.execute("SELECT 1 FROM migrations WHERE name = ?", (name,)).fetchone():
                return  # another process applied it while this one waited
            for statement in filter(str.strip, script.split(";")):
                db.execute(statement)
            db.execute(
                "INSERT INTO migrations VALUES (?, ?)", (name, system_clock().isoformat(timespec="seconds"))
            )
    except DRIVER_ERRORS as exc:
        raise StateError(
            f"cannot upgrade the state database to {name}: {exc}",
            hint="the previous version is intact; free disk space or fix permissions, then run again",
        ) from exc
