"""The store and the send journal behave the same on SQLite and PostgreSQL (one SQL, sqldb's
dialect differences), and subscribers' status is their latest event's."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from digest.errors import DeliveryError
from digest.journal import Journal
from digest.migrations import MIGRATIONS
from digest.storage import SENDING, SENT, FeedCache, JournalKey, Profile
from digest.store import open_store

NOW = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)


def later(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def test_every_migration_applies_and_is_recorded_once(tmp_path: Path, database_url: str) -> None:
    for _ in range(2):
        with open_store(tmp_path, database_url) as store:
            applied = [name for (name,) in store.db.execute("SELECT name FROM migrations ORDER BY name")]
    assert applied == [name for name, _ in MIGRATIONS]


def test_posts_are_stored_once_by_id_and_a_shared_link_merges_nothing(
    tmp_path: Path, database_url: str, make_post
) -> None:
    """A post is one entry of a feed (issue 12): two entries sharing a link are two posts;
    syndicated copies are told apart at selection, not dropped by the store."""
    first, twin = make_post(id="a", url="https://x.org/1"), make_post(id="b", url="https://x.org/1")
    with open_store(tmp_path, database_url) as store:
        counts = store.save_gathered([("https://x.org/feed", "X", FeedCache("e1", None), [first, twin])], NOW)
        again = store.save_gathered([("https://x.org/feed", "X", FeedCache("e2", None), [first])], NOW)
        assert counts == [2] and again == [0]
        assert store.feed_cache("https://x.org/feed") == FeedCache("e2", None)
        assert [p.id for p in store.posts_between(NOW - timedelta(days=30), NOW + timedelta(days=30))] == [
            "a",
            "b",
        ]
        with store.light_sync():
            store.save_gathered((), NOW, gone=["https://x.org/feed"])
        assert store.gone_since("https://x.org/feed") == NOW
        assert store.clear_gone(["https://x.org/feed"]) == ["https://x.org/feed"]


def test_issue_numbers_are_given_once(tmp_path: Path, database_url: str) -> None:
    with open_store(tmp_path, database_url) as store:
        assert store.issue_number("2026-W47", NOW, floor=4) == 5
        assert store.issue_number("2026-W48", NOW) == 6
        assert store.issue_number("2026-W47", NOW) == 5
        assert store.issue_numbers() == {"2026-W47": 5, "2026-W48": 6}


def test_the_latest_event_decides_and_resubscribing_works(tmp_path: Path, database_url: str) -> None:
    with open_store(tmp_path, database_url) as store:
        store.record_event("l", "Ada@X.org", "subscribed", NOW, "web", profile=Profile("Ada", "en"))
        assert store.subscriber("l", "ada@x.org").status == "pending"  # type: ignore[union-attr]
        assert store.unsubscribed("l") == frozenset()
        store.record_event("l", "ada@x.org", "confirmed", later(1), "web")
        assert store.record_unsubscribe("l", "ada@x.org", later(2), via="one-click") is True
        assert store.record_unsubscribe("l", "ada@x.org", later(3), via="one-click") is False
        assert store.unsubscribed("l") == {"ada@x.org"}
        store.record_event("l", "ada@x.org", "subscribed", later(4), "web")
        assert store.unsubscribed("l") == {"ada@x.org"}  # not back before confirming
        assert store.subscriber("l", "ada@x.org").status == "unsubscribed"  # type: ignore[union-attr]
        store.record_event("l", "ada@x.org", "confirmed", later(5), "web")
        reader = store.subscriber("l", "ADA@x.org")
        assert reader is not None and reader.status == "active" and reader.name == "Ada"
        assert store.unsubscribed("l") == frozenset()
        # an older event (a bounce file imported late) is history, not the status
        store.record_event("l", "ada@x.org", "bounced", later(-60), "dsn")
        assert store.subscriber("l", "ada@x.org").status == "active"  # type: ignore[union-attr]
        kinds = [e.kind for e in store.events("l", "ada@x.org")]
        assert kinds == [
            "bounced",
            "subscribed",
            "confirmed",
            "unsubscribed",
            "unsubscribed",
            "subscribed",
            "confirmed",
        ]


def test_soft_bounces_suppress_after_the_limit(tmp_path: Path, database_url: str) -> None:
    with open_store(tmp_path, database_url) as store:
        store.record_event("l", "b@x.org", "imported", NOW, "import", detail="active")
        assert store.soft_bounce("l", "b@x.org", later(1), "dsn", limit=3) is None
        assert store.soft_bounce("l", "b@x.org", later(2), "dsn", limit=3) is None
        change = store.soft_bounce("l", "b@x.org", later(3), "dsn", limit=3)
        assert change is not None and change.after == "bounced"
        assert store.soft_bounce("l", "csv-reader@x.org", later(3), "dsn") is None
        assert store.statuses("l")["csv-reader@x.org"] == ""  # counted, no status of its own
        assert store.is_unsubscribed("l", "B@x.org")


def test_concurrent_unsubscribes_lose_none(tmp_path: Path, database_url: str) -> None:
    with open_store(tmp_path, database_url):
        pass

    def click(index: int) -> None:
        with open_store(tmp_path, database_url) as store:
            for n in range(10):
                store.record_unsubscribe("l", f"r{index}-{n}@x.org", later(n), via="one-click")

    threads = [threading.Thread(target=click, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with open_store(tmp_path, database_url) as store:
        assert len(store.unsubscribed("l")) == 60 and len(store.events("l")) == 60


def test_the_journal_marks_durably_and_allows_one_run(tmp_path: Path, database_url: str) -> None:
    key = JournalKey("2026-W48", "l", "a@x.org")
    with Journal.open(tmp_path, database_url=database_url) as journal:
        journal.mark_sending(key, "<m1@x.org>")
        assert journal.get(key).state == SENDING  # type: ignore[union-attr]
        with pytest.raises(DeliveryError, match="another `digest send`"):
            with Journal.open(tmp_path, database_url=database_url):
                pass
        journal.record(key, "<m1@x.org>", SENT, "250 ok")
    with Journal.open(tmp_path, database_url=database_url) as journal:
        entry = journal.get(key)
        assert entry is not None and entry.state == SENT and entry.attempts == 1
        assert journal.has_any("2026-W48", "l") and journal.uncertain("2026-W48", "l") == []
    with open_store(tmp_path, database_url) as store:
        assert store.recipient_of("<m1@x.org>") == ("l", "a@x.org")


def test_import_reads_each_mailchimp_row_and_export_neutralises_formulas(
    tmp_path: Path, database_url: str
) -> None:
    from digest.roster import export_from_store, import_into_store

    members = tmp_path / "subscribed_members_export.csv"
    members.write_text(
        "Email Address,First Name,Last Name,MEMBER_RATING,OPTIN_TIME,UNSUB_TIME,UNSUB_CAMPAIGN_TITLE,CLEAN_TIME\n"
        'ada@x.org,=HYPERLINK("http://evil"),Lovelace,2,2024-01-01,,,\n'
        "bob@x.org,Bob,,2,2024-01-01,2025-02-03,Weekly,\n",
        encoding="utf-8",
    )
    with open_store(tmp_path, database_url) as store:
        store.record_unsubscribe("l", "gone@x.org", NOW, via="one-click")
        ours = tmp_path / "ours.csv"
        ours.write_text("email,name\ngone@x.org,Gone\n", encoding="utf-8")
        done = import_into_store(store, "l", [members, ours], fmt=None, at=later(5), default_locale="fr")
        assert done.imported == 3 and done.kept == ["gone@x.org"]
        assert store.statuses("l") == {
            "ada@x.org": "active",
            "bob@x.org": "unsubscribed",
            "gone@x.org": "unsubscribed",
        }
        written, events = export_from_store(store, "l", tmp_path / "out.csv")
    text = (tmp_path / "out.csv").read_text(encoding="utf-8")
    assert written == 3 and "'=HYPERLINK" in text and "\nada@x.org," in text.replace("\r\n", "\n")
    assert events.read_text(encoding="utf-8").count("imported") == 3


def test_a_column_named_twice_is_refused(tmp_path: Path) -> None:
    from digest.errors import SubscriberError
    from digest.subscribers import read_subscribers

    path = tmp_path / "twice.csv"
    path.write_text("Email Address,UNSUB_TIME,unsub_time\na@x.org,,\n", encoding="utf-8")
    with pytest.raises(SubscriberError, match="both"):
        list(read_subscribers(path, default_locale="fr"))
