"""The WAL canary tells a state that lost its WAL from a run killed at an unlucky moment."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from digest.errors import StateError
from digest.journal import CANARY_FILE, Journal, Key


def _guard(state: Path, name: str) -> str:
    with sqlite3.connect(state / "digest.sqlite3") as db:
        (value,) = db.execute("SELECT value FROM send_guard WHERE name = ?", (name,)).fetchone()
    return str(value)


def test_a_run_killed_between_a_checkpoint_and_its_confirmation_is_not_taken_for_a_lost_wal(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    with Journal.open(state) as journal:
        journal.mark_sending(Key("2026-W47", "list", "a@example.org"), "<m@x>")
    confirmed = _guard(state, "confirmed")
    # What a kill right after `PRAGMA wal_checkpoint` leaves: `expected` moved on, `confirmed` not.
    with sqlite3.connect(state / "digest.sqlite3") as db:
        db.execute("UPDATE send_guard SET value = ? WHERE name = 'expected'", (str(int(confirmed) + 1),))
    assert (state / CANARY_FILE).read_text(encoding="utf-8").strip() == confirmed
    with Journal.open(state) as journal:  # opened again: nothing was lost, nothing refused
        assert journal.get(Key("2026-W47", "list", "a@example.org")) is not None
    assert _guard(state, "expected") == _guard(state, "confirmed")


def test_a_state_copied_without_its_wal_is_still_refused_with_its_canary_file(tmp_path: Path) -> None:
    state, copied = tmp_path / "state", tmp_path / "copied"
    with Journal.open(state) as journal:
        journal.mark_sending(Key("2026-W47", "list", "a@example.org"), "<m@x>")
        journal.checkpoint()  # confirmed = k lives in the WAL only, and the canary file says k
        journal.mark_sending(Key("2026-W47", "list", "b@example.org"), "<n@x>")
        copied.mkdir()
        shutil.copy(state / "digest.sqlite3", copied / "digest.sqlite3")
        shutil.copy(state / CANARY_FILE, copied / CANARY_FILE)  # everything but the -wal file
    with pytest.raises(StateError, match="lost its last records"), Journal.open(copied):
        pass
