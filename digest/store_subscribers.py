"""Subscribers and their events in the store (migration 0007), on either backend.

Every change to a reader is an event (subscribed, confirmed, unsubscribed, bounced, complained,
imported) with its time and source, kept for good in `subscriber_events`. The reader's row in
`subscribers` holds the status the latest event gave (`storage.status_after`): an event older
than the row's last change is kept in the history but changes nothing, so the order in which
files are imported does not matter, and re-subscribing (subscribed, then confirmed) works.

Each event is one transaction that holds the reader's lock (SQLite's write lock; a PostgreSQL
advisory lock per address), so concurrent clicks and a bounce import cannot lose an update.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from digest.models import Subscriber
from digest.storage import SUPPRESSED, Change, Profile, SubscriberEvent, status_after

if TYPE_CHECKING:
    from digest.sqldb import Database

_COLUMNS = "email, name, locale, status, tags, fields"


class SubscriberTables:
    db: Database

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
    ) -> Change:
        """Record one event; the reader's status before and after it."""
        address, when = email.lower(), _iso(at)
        with self.db.transaction(lock=f"subscriber {list_id} {address}"):
            row = self.db.execute(
                "SELECT status, changed_at FROM subscribers WHERE list_id = ? AND email = ?",
                (list_id, address),
            ).fetchone()
            before, changed_at = (row[0], row[1]) if row else (None, "")
            after = status_after(before, kind, detail) if when >= changed_at else before
            self.db.execute(
                "INSERT INTO subscriber_events (list_id, email, kind, at, source, detail) VALUES (?, ?, ?, ?, ?, ?)",
                (list_id, address, kind, when, source, detail),
            )
            if row is None:
                self.db.execute(
                    """INSERT INTO subscribers (list_id, email, status, changed_at) VALUES (?, ?, ?, ?)""",
                    (list_id, address, after, when),
                )
            elif after != before or when >= changed_at:
                self.db.execute(
                    """UPDATE subscribers SET status = ?, changed_at = ?, soft_bounces = 0,
                       applied_at = CASE WHEN status = ? THEN applied_at ELSE NULL END
                       WHERE list_id = ? AND email = ?""",
                    (after, max(when, changed_at), after, list_id, address),
                )
            if profile is not None:
                self._save_profile(list_id, address, profile)
        return Change(address, before, after or "")

    def _save_profile(self, list_id: str, address: str, profile: Profile) -> None:
        self.db.execute(
            "UPDATE subscribers SET name = ?, locale = ?, tags = ?, fields = ? WHERE list_id = ? AND email = ?",
            (
                profile.name,
                profile.locale,
                json.dumps(list(profile.tags), ensure_ascii=False),
                json.dumps(dict(profile.fields), ensure_ascii=False, sort_keys=True),
                list_id,
                address,
            ),
        )

    def save_preferences(self, list_id: str, email: str, *, locale: str, tags: Iterable[str]) -> None:
        """A reader's choices (edition language, segments); not an event: the status stays."""
        with self.db.transaction():
            self.db.execute(
                "UPDATE subscribers SET locale = ?, tags = ? WHERE list_id = ? AND email = ?",
                (locale, json.dumps(list(tags), ensure_ascii=False), list_id, email.lower()),
            )

    def soft_bounce(
        self, list_id: str, email: str, at: datetime, source: str, *, detail: str = "", limit: int = 3
    ) -> Change | None:
        """Count a soft bounce; at `limit` in a row (since the last status change) the reader is
        bounced, and the Change is returned; None while under the limit. The caller checks that
        the address is on the list; a reader of the CSV gets a store row with no status ("")."""
        address = email.lower()
        with self.db.transaction(lock=f"subscriber {list_id} {address}"):
            row = self.db.execute(
                "SELECT soft_bounces FROM subscribers WHERE list_id = ? AND email = ?", (list_id, address)
            ).fetchone()
            if row is None:  # a reader of the CSV: a row with no status of its own, to count on
                self.db.execute(
                    "INSERT INTO subscribers (list_id, email, status, changed_at) VALUES (?, ?, '', ?)",
                    (list_id, address, _iso(at)),
                )
            self.db.execute(
                "UPDATE subscribers SET soft_bounces = soft_bounces + 1 WHERE list_id = ? AND email = ?",
                (list_id, address),
            )
            count = int(row[0]) + 1 if row else 1
        if count < limit:
            return None
        return self.record_event(
            list_id, address, "bounced", at, source, detail=f"{count} soft bounces: {detail}"
        )

    def subscriber(self, list_id: str, email: str) -> Subscriber | None:
        row = self.db.execute(
            f"SELECT {_COLUMNS} FROM subscribers WHERE list_id = ? AND email = ?", (list_id, email.lower())
        ).fetchone()
        return _subscriber(row) if row else None

    def subscribers(self, list_id: str) -> Iterator[Subscriber]:
        """Every reader the store knows for `list_id`, whatever their status, by address."""
        rows = self.db.execute(
            f"SELECT {_COLUMNS} FROM subscribers WHERE list_id = ? ORDER BY email", (list_id,)
        ).fetchall()
        return (_subscriber(row) for row in rows)

    def statuses(self, list_id: str) -> dict[str, str]:
        return dict(self.db.execute("SELECT email, status FROM subscribers WHERE list_id = ?", (list_id,)))

    def events(self, list_id: str, email: str | None = None) -> list[SubscriberEvent]:
        """The history, oldest first (of one reader when `email` is given)."""
        query = "SELECT email, kind, at, source, detail FROM subscriber_events WHERE list_id = ?"
        params: tuple[str, ...] = (list_id,)
        if email is not None:
            query, params = query + " AND email = ?", (list_id, email.lower())
        rows = self.db.execute(query + " ORDER BY at, id", params).fetchall()
        return [SubscriberEvent(r[0], r[1], datetime.fromisoformat(r[2]), r[3], r[4]) for r in rows]

    def recipient_of(self, message_id: str) -> tuple[str, str] | None:
        """(list, address) of the message we sent with this Message-ID, from the send journal."""
        row = self.db.execute(
            "SELECT list_id, recipient FROM sends WHERE message_id = ? LIMIT 1", (message_id.strip(),)
        ).fetchone()
        return (row[0], row[1]) if row else None

    # The SuppressionStore of export and send: whoever's latest event took them off the list.

    def record_unsubscribe(self, list_id: str, email: str, at: datetime, via: str) -> bool:
        """Record that `email` left `list_id`; False when it had already."""
        change = self.record_event(list_id, email, "unsubscribed", at, via)
        return change.before != "unsubscribed"

    def is_unsubscribed(self, list_id: str, email: str) -> bool:
        row = self.db.execute(
            "SELECT status FROM subscribers WHERE list_id = ? AND email = ?", (list_id, email.lower())
        ).fetchone()
        return row is not None and row[0] in SUPPRESSED

    def unsubscribed(self, list_id: str, *, pending_only: bool = False) -> frozenset[str]:
        """Lower-cased addresses whose status takes them off `list_id` (unsubscribed, bounced,
        complained, cleaned); `pending_only`: those not yet written to the CSV."""
        marks = ", ".join("?" * len(SUPPRESSED))
        query = f"SELECT email FROM subscribers WHERE list_id = ? AND status IN ({marks})"
        query += " AND applied_at IS NULL" if pending_only else ""
        return frozenset(email for (email,) in self.db.execute(query, (list_id, *sorted(SUPPRESSED))))

    def mark_unsubscribes_applied(self, list_id: str, emails: Iterable[str], at: datetime) -> None:
        with self.db.transaction():
            self.db.executemany(
                "UPDATE subscribers SET applied_at = ? WHERE list_id = ? AND email = ?",
                [(_iso(at), list_id, email.lower()) for email in emails],
            )


def _subscriber(row: tuple[str, str, str, str, str, str]) -> Subscriber:
    email, name, locale, status, tags, fields = row
    return Subscriber(email, name, locale, status, tuple(json.loads(tags)), json.loads(fields))


def _iso(moment: datetime) -> str:
    """Microseconds, so that events of one second keep their order; always the same width."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")
