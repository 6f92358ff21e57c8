"""The send step around `sender.send_issue`: the journal, the issue's send record, the seed
addresses, the editions one after the other, and test sends. `pipeline.send` and
`pipeline.send_test` hand it what they prepared.

**The send record** (`send-record.json` in the issue folder) says, for each list, from which
state (its random `state_id`) the issue was sent and how many journal rows that state had for
it. A state that does not match — emptied, replaced, `--state` pointing elsewhere, or restored
from an older copy — would send everyone recorded there again: the run is refused before
anything is sent, unless `force`. (A state restored without its `-wal` file is caught by the
journal itself: see `journal.py`.)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from digest.deliver import Prepared, Sign
from digest.environment import Clock
from digest.errors import StateError
from digest.files import write_atomically
from digest.journal import Journal
from digest.models import Subscriber
from digest.sender import Live, Outcome, ProgressCallback, SendOptions, SendReport, combine, send_issue
from digest.sendqueue import Interrupt, Reader
from digest.smtp import SmtpTarget
from digest.storage import JournalEntry, JournalKey, SendJournal
from digest.subscribers import Row

RECORD = "send-record.json"
SEED_LIST = " seed"  # journal rows of the seed addresses: the list id plus this, apart from the list


@dataclass(frozen=True)
class Plan:
    """Everything one real send needs, prepared by the pipeline."""

    issue_dir: Path
    state: Path
    target: SmtpTarget
    editions: dict[str, Prepared]  # the main edition first
    readers: Callable[[str], Iterable[Row]]  # the rows of one edition, by locale
    sign: Sign | None
    unsubscribes: Reader  # the store's unsubscribes for the list, now
    clock: Clock
    seeds: Sequence[str] = ()
    interrupt: Interrupt | None = None
    database_url: str = ""  # the shared store, when there is one (DIGEST_DATABASE_URL)


def send_editions(
    plan: Plan, options: SendOptions, on_progress: ProgressCallback | None = None
) -> SendReport:
    """Seeds first, then every edition over one journal; a run that stops leaves the rest
    reported as deferred, never silently skipped."""
    main = next(iter(plan.editions.values()))
    issue, list_id = main.issue.ref.journal_key, main.list_id
    with Journal.open(
        plan.state, clock=plan.clock, database_url=plan.database_url, force=options.force
    ) as journal:
        check_record(plan.issue_dir, journal, issue, list_id, force=options.force)
        if not options.dry_run:
            write_record(plan.issue_dir, journal, issue, list_id)
        seeds: list[Outcome] = []
        halt = ""
        if plan.seeds and not options.dry_run:
            rows = [Row(Subscriber(email=a, name="", locale=main.issue.locale)) for a in plan.seeds]
            halt = _send(plan, main, rows, SeedJournal(journal), options, seeds.append).stopped
        reports = []
        for locale, prepared in plan.editions.items():
            report = _send(plan, prepared, plan.readers(locale), journal, options, on_progress, halt)
            reports.append(report)
            halt = halt or report.stopped
        if not options.dry_run:
            write_record(plan.issue_dir, journal, issue, list_id)
    return replace(combine(reports), seeds=tuple(seeds))


def _send(
    plan: Plan,
    prepared: Prepared,
    rows: Iterable[Row],
    journal: SendJournal,
    options: SendOptions,
    on_progress: ProgressCallback | None = None,
    halt: str = "",
) -> SendReport:
    return send_issue(
        prepared,
        rows,
        plan.target,
        journal,
        options,
        sign=plan.sign,
        on_progress=on_progress,
        live=Live(plan.unsubscribes, plan.clock, plan.interrupt, halt),
    )


def send_to_testers(
    prepared: Prepared,
    addresses: Sequence[str],
    target: SmtpTarget,
    options: SendOptions,
    *,
    sign: Sign | None = None,
    clock: Clock | None = None,
) -> SendReport:
    """The issue to `addresses` only (its subject already marked), outside the journal: a test
    send changes nothing for the real one."""
    rows = [Row(Subscriber(email=a, name="", locale=prepared.issue.locale, line=0)) for a in addresses]
    return send_issue(prepared, rows, target, NoJournal(), options, sign=sign, live=Live(clock=clock))


class NoJournal:
    """A journal that remembers nothing: for test sends."""

    def get(self, key: JournalKey) -> JournalEntry | None:
        return None

    def mark_sending(self, key: JournalKey, message_id: str) -> None:
        pass

    def record(self, key: JournalKey, message_id: str, state: str, reply: str) -> None:
        pass

    def flush(self) -> None:
        pass

    def has_any(self, issue: str, list_id: str) -> bool:
        return False

    def uncertain(self, issue: str, list_id: str) -> list[str]:
        return []


class SeedJournal:
    """The journal, with the seed addresses kept apart from the list's readers: a seed gets one
    message per issue even when it is also a reader (who gets their own)."""

    def __init__(self, journal: SendJournal) -> None:
        self.journal = journal

    @staticmethod
    def _key(key: JournalKey) -> JournalKey:
        return replace(key, list_id=key.list_id + SEED_LIST)

    def get(self, key: JournalKey) -> JournalEntry | None:
        return self.journal.get(self._key(key))

    def mark_sending(self, key: JournalKey, message_id: str) -> None:
        self.journal.mark_sending(self._key(key), message_id)

    def record(self, key: JournalKey, message_id: str, state: str, reply: str) -> None:
        self.journal.record(self._key(key), message_id, state, reply)

    def flush(self) -> None:
        self.journal.flush()

    def has_any(self, issue: str, list_id: str) -> bool:
        return self.journal.has_any(issue, list_id + SEED_LIST)

    def uncertain(self, issue: str, list_id: str) -> list[str]:
        return self.journal.uncertain(issue, list_id + SEED_LIST)


# --- The send record ------------------------------------------------------------------------------


def read_record(issue_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads((issue_dir / RECORD).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise StateError(
            f"cannot read {issue_dir / RECORD}: {exc}",
            hint="it says which state sent this issue; restore it, or remove it and pass --force",
        ) from exc
    return data if isinstance(data, dict) else {}


def check_record(issue_dir: Path, journal: Journal, issue: str, list_id: str, *, force: bool) -> None:
    """Refuse a state that lacks the journal of an issue recorded as sent (see the module)."""
    entry = read_record(issue_dir).get("lists", {}).get(list_id)
    if force or not isinstance(entry, dict):
        return
    recorded, have = int(entry.get("recorded", 0)), journal.recorded(issue, list_id)
    if entry.get("state_id") == journal.state_id and have >= recorded:
        return
    what = f"holds only {have} of them" if entry.get("state_id") == journal.state_id else "is another state"
    raise StateError(
        f"issue {issue} was sent to {list_id} from a state that recorded {recorded} messages "
        f"({issue_dir / RECORD}, {entry.get('updated', '?')}), but the state folder {journal.folder} "
        f"{what}: it was emptied or replaced, restored from an older copy or without its -wal file, "
        "or --state points elsewhere. Sending now could send readers the issue twice",
        hint="point --state (or DIGEST_STATE) at the state that sent it, or restore it; "
        "--force sends to everyone this state has no record of",
    )


def write_record(issue_dir: Path, journal: Journal, issue: str, list_id: str) -> None:
    record = read_record(issue_dir)
    lists = record.setdefault("lists", {})
    lists[list_id] = {
        "state_id": journal.state_id,
        "recorded": journal.recorded(issue, list_id),
        "updated": journal.clock().isoformat(timespec="seconds"),
    }
    record["issue"] = issue
    text = json.dumps(record, indent=1, sort_keys=True) + "\n"
    write_atomically(issue_dir / RECORD, text)
