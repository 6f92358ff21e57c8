"""The send journal: one row per (issue, list, recipient), in the state (SQLite or PostgreSQL).

The issue is `IssueRef.journal_key`: its slug, the same for every edition of it.

It is what makes `digest send` resumable and exactly-once. A message is marked `sending`
durably (fsynced) *before* the end of its DATA is written to the server, and given its outcome
after the server's reply. After a crash, a row still `sending` is a message the server may or
may not have accepted: uncertain, so not sent again unless asked.

Worker threads share one connection for writing. Durable marks are group-committed: whoever
holds the commit lock writes every pending row in one transaction and one fsync, so concurrent
workers do not queue behind one fsync each. Outcomes do not wait: they ride along with the next
mark's transaction (or `flush`); if the process dies first, such a message is still `sending`,
so uncertain: never sent twice. Lookups use a second connection (WAL lets it read while the
other writes; PostgreSQL reads committed rows).

One run at a time per state: an exclusive lock on `send.lock` in the state folder (SQLite), or a
PostgreSQL advisory lock held by the writing connection (another machine's run is refused too).
Each group of marks is one transaction; on PostgreSQL, `synchronous_commit` stays on.

A journal that cannot lie:

- A failed write breaks the journal for good: the thread that wrote and every thread whose mark
  rode in that transaction get `JournalBroken`, and every later mark too, so no message whose
  mark is not on disk reaches its final `.`.
- The WAL canary (SQLite). SQLite keeps recent commits in `digest.sqlite3-wal`; a state copied
  or restored without that file silently loses them, and with them the proof that those readers
  have the issue. So the journal checkpoints the WAL itself (automatic checkpoints are off while
  it is open): before each checkpoint it commits `expected = k`, after it `confirmed = k`, which
  lives only in the WAL until the next checkpoint. Opened again, `expected != confirmed` means
  the WAL of a run was lost: refused (`StateError`) unless `force`. PostgreSQL has no such file.
- `state_id`, a random id made with the state, lets an issue's send record (`sending.py`)
  notice an emptied or replaced state, or `--state` pointing elsewhere.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

from digest.environment import Clock, system_clock
from digest.errors import DeliveryError, JournalBroken, StateError
from digest.files import write_atomically
from digest.sqldb import DRIVER_ERRORS, Database, connect, state_errors
from digest.storage import DEFERRED, FAILED, SENDING, SENT, JournalEntry, JournalKey
from digest.store import open_store

__all__ = ["DEFERRED", "FAILED", "SENDING", "SENT", "Entry", "Journal", "JournalBroken", "Key"]

Key = JournalKey
Entry = JournalEntry
CHECKPOINT_EVERY = 500  # transactions between two checkpoints: keeps the WAL a few MB at most


@dataclass(frozen=True)
class _Row:
    key: Key
    message_id: str
    state: str
    reply: str
    attempt: int  # 1 when this row starts an attempt


class Journal:
    def __init__(self, connection: Database, reader: Database, clock: Clock = system_clock) -> None:
        self.db = connection
        self.reader = reader
        self.clock = clock
        self._read = threading.Lock()
        self._lock = threading.Lock()  # guards the pending list and counters
        self._commit = threading.Lock()  # one writer on the connection at a time
        self._pending: list[_Row] = []
        self._submitted = 0
        self._committed = 0
        self._writes = 0
        self.broken: JournalBroken | None = None
        self.folder = Path()

    @classmethod
    @contextmanager
    def open(
        cls, state_dir: Path, *, clock: Clock = system_clock, database_url: str = "", force: bool = False
    ) -> Iterator[Journal]:
        """The journal of `state_dir` (or `database_url`), held by this run alone while the block runs.

        Refused (`StateError`) when the WAL of an earlier run was lost, unless `force`."""
        with open_store(state_dir, database_url):
            pass  # creates the file and applies migrations, 0003_sends among them
        with _exclusive(state_dir, database_url) as writer:
            reader = connect(state_dir, database_url)
            try:
                with state_errors(writer.where):
                    writer.set_durable(True)  # every commit on disk before DATA ends
                    journal = cls(writer, reader, clock)
                    journal.folder = state_dir
                    journal._prepare(force)
                    yield journal
                    if journal.broken is None:
                        journal.flush()
                        journal.checkpoint()
            finally:
                reader.close()

    def _prepare(self, force: bool) -> None:
        """Our own WAL checkpoints (SQLite), the canary checked, a state id made once."""
        if not self.db.postgres:
            for connection in (self.db, self.reader):
                connection.execute("PRAGMA wal_autocheckpoint = 0")  # ours only: see the canary
            self._check_canary(force)
        if not self.state_id:
            with self.db.transaction():
                self._upsert_guard("state_id", secrets.token_hex(16))
        self.checkpoint()

    def _guard(self, name: str) -> str:
        row = self.db.execute("SELECT value FROM send_guard WHERE name = ?", (name,)).fetchone()
        return str(row[0]) if row else ""

    @property
    def state_id(self) -> str:
        return self._guard("state_id")

    def _check_canary(self, force: bool) -> None:
        expected, confirmed = self._guard("expected"), self._guard("confirmed")
        if expected == confirmed or force:
            return
        if _confirmed_on_disk(self.folder) == confirmed:
            # The run stopped between a checkpoint and its confirmation (a kill at that moment):
            # the WAL was empty then, nothing was lost; confirm it now.
            with self.db.transaction():
                self._upsert_guard("confirmed", expected)
            return
        raise StateError(
            f"the send journal in {self.db.where} lost its last records: the state was copied "
            f"or restored without its {Path(self.db.where).name}-wal file after a send was interrupted",
            hint="restore the state folder with that file (and -shm), or check what was sent and pass --force "
            "(readers whose records were lost would get the issue again)",
        )

    def checkpoint(self) -> None:
        """Move the WAL into the database file, with the canary around it (SQLite; see the module)."""
        if self.db.postgres:
            return
        with self._commit:
            epoch = int(self._guard("expected") or 0) + 1
            self._set_guard("expected", str(epoch))
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            self._set_guard("confirmed", str(epoch))
            _note_confirmed(self.folder, str(epoch))

    def _set_guard(self, name: str, value: str) -> None:
        try:
            self._upsert_guard(name, value)
        except DRIVER_ERRORS as exc:
            raise self._break(exc) from exc

    def _upsert_guard(self, name: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO send_guard (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (name, value),
        )

    def recorded(self, issue: str, list_id: str) -> int:
        """Rows of this issue and list. Rows are never removed, so the count only grows: a state
        with fewer than an issue's send record names has lost some."""
        with self._read:
            (count,) = self.reader.execute(
                "SELECT COUNT(*) FROM sends WHERE issue = ? AND list_id = ?", (issue, list_id)
            ).fetchone()
        return int(count)

    def get(self, key: Key) -> Entry | None:
        with self._read:
            row = self.reader.execute(
                "SELECT state, reply, attempts FROM sends WHERE issue = ? AND list_id = ? AND recipient = ?",
                (key.issue, key.list_id, key.recipient),
            ).fetchone()
        return Entry(*row) if row else None

    def mark_sending(self, key: Key, message_id: str) -> None:
        """Durable before it returns: the caller ends DATA right after."""
        self._submit(_Row(key, message_id, SENDING, "", 1))

    def record(self, key: Key, message_id: str, state: str, reply: str) -> None:
        """The outcome, written with the next transaction."""
        with self._lock:
            self._pending.append(_Row(key, message_id, state, reply, 0))

    def flush(self) -> None:
        """Everything recorded so far, on disk."""
        self._submit(None)

    def _submit(self, row: _Row | None) -> None:
        with self._lock:
            if row is not None:
                self._pending.append(row)
            self._submitted += 1
            ticket = self._submitted
        with self._commit:
            if self.broken is not None:
                raise self.broken  # a transaction that carried this row, or an earlier one, failed
            if self._committed >= ticket:
                return  # another thread's transaction carried this row
            with self._lock:
                rows, self._pending = self._pending, []
                upto = self._submitted
            if rows:
                self._write(rows)
            self._committed = upto
            self._writes += 1
        if self._writes % CHECKPOINT_EVERY == 0:
            with contextlib.suppress(JournalBroken):  # this mark is written; the next one will raise
                self.checkpoint()

    def has_any(self, issue: str, list_id: str) -> bool:
        """Whether this issue was sent to this list before (a first run needs no lookups)."""
        with self._read:
            row = self.reader.execute(
                "SELECT 1 FROM sends WHERE issue = ? AND list_id = ? LIMIT 1", (issue, list_id)
            ).fetchone()
        return row is not None

    def _write(self, rows: list[_Row]) -> None:
        now = self.clock().astimezone(UTC).isoformat(timespec="seconds")
        try:
            with self.db.transaction():
                self._upsert(rows, now)
        except DRIVER_ERRORS as exc:
            raise self._break(exc) from exc

    def _break(self, exc: BaseException) -> JournalBroken:
        self.broken = self.broken or JournalBroken(
            f"cannot write the send journal: {exc}; sending stopped",
            hint="free disk space or make the state folder writable (is the database up?), then run "
            "the same command again: nothing is sent twice",
        )
        return self.broken

    def _upsert(self, rows: list[_Row], now: str) -> None:
        self.db.executemany(
            """INSERT INTO sends (issue, list_id, recipient, message_id, state, attempts, reply, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (issue, list_id, recipient) DO UPDATE SET
                   message_id = excluded.message_id, state = excluded.state, reply = excluded.reply,
                   attempts = sends.attempts + excluded.attempts, updated_at = excluded.updated_at""",
            [
                (
                    r.key.issue,
                    r.key.list_id,
                    r.key.recipient,
                    r.message_id,
                    r.state,
                    r.attempt,
                    r.reply,
                    now,
                )
                for r in rows
            ],
        )

    def uncertain(self, issue: str, list_id: str) -> list[str]:
        with self._read:
            rows = self.reader.execute(
                "SELECT recipient FROM sends WHERE issue = ? AND list_id = ? AND state = ? ORDER BY recipient",
                (issue, list_id, SENDING),
            ).fetchall()
        return [recipient for (recipient,) in rows]


CANARY_FILE = "send.canary"  # the last confirmation committed, beside the database (SQLite)


def _note_confirmed(folder: Path, epoch: str) -> None:
    """Written once `confirmed = epoch` is committed: tells a lost WAL (the file says the
    confirmation happened, the database lacks it) from a run stopped just before confirming."""
    if folder != Path():
        write_atomically(folder / CANARY_FILE, epoch + "\n")


def _confirmed_on_disk(folder: Path) -> str | None:
    try:
        return (folder / CANARY_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return None  # no file: a state copied without it, or an older one: the cautious answer


@contextmanager
def _exclusive(state_dir: Path, database_url: str) -> Iterator[Database]:
    """Two `digest send` runs on one state could each send a message the other is sending: the
    writing connection, once this run alone holds the state's send lock."""
    writer = connect(state_dir, database_url)
    try:
        if writer.postgres:
            with state_errors(writer.where):
                held = writer.try_session_lock("digest send")
            if not held:
                raise DeliveryError(
                    f"another `digest send` is running with the database {writer.where}",
                    hint="wait for it to finish; a crashed run releases the lock when its connection drops",
                )
            yield writer
            return
        with _file_lock(state_dir / "send.lock"):
            yield writer
    finally:
        writer.close()  # closing releases PostgreSQL's session lock


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DeliveryError(
                f"another `digest send` is running with the state folder {path.parent}",
                hint="wait for it to finish; a crashed run releases the lock by itself",
            ) from None
        yield
    finally:
        os.close(handle)  # closing releases the lock
