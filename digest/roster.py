"""The list in and out of the store: `subscribers import --store` and `subscribers export`.

Import reads our CSV, Mailchimp and listmonk exports (each row's status from that row) and
records one `imported` event per accepted row, with the file as its source. An import never
brings back a reader who unsubscribed, bounced or complained (`storage.status_after`): only
their own confirmed sign-up does. Export writes the list as our CSV, and its history beside it;
a cell a spreadsheet would run as a formula is neutralised.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from digest.files import atomic_file
from digest.models import Subscriber
from digest.storage import Profile, Store
from digest.subscribers import RowProblem, read_subscribers

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # OWASP's CSV injection list
LIST_COLUMNS = ["email", "name", "locale", "status", "tags"]
EVENT_COLUMNS = ["email", "kind", "at", "source", "detail"]


@dataclass
class StoreImport:
    imported: int = 0
    kept: list[str] = field(default_factory=list)  # left the list before: not re-activated
    rejected: list[tuple[Path, RowProblem]] = field(default_factory=list)
    warnings: list[tuple[Path, RowProblem]] = field(default_factory=list)


def import_into_store(
    store: Store, list_id: str, files: Sequence[Path], *, fmt: str | None, at: datetime, default_locale: str
) -> StoreImport:
    """Record every accepted row of `files` as an `imported` event; the first row of an address
    wins within a file, as in `check`."""
    result = StoreImport()
    for path in files:
        for row in read_subscribers(path, default_locale=default_locale, fmt=fmt):
            result.warnings.extend((path, warning) for warning in row.warnings)
            if row.rejected:
                result.rejected.append((path, row.rejected))
            reader = row.subscriber
            if reader is None:
                continue
            profile = Profile(reader.name, reader.locale, reader.tags, dict(reader.fields))
            change = store.record_event(
                list_id,
                reader.email,
                "imported",
                at,
                f"import:{path.name}",
                detail=reader.status,
                profile=profile,
            )
            result.imported += 1
            if change.after != reader.status:
                result.kept.append(change.email)
    return result


def neutralise(cell: str) -> str:
    """A cell a spreadsheet would evaluate (=, +, -, @, tab, CR first) gets a leading quote."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def export_from_store(store: Store, list_id: str, out: Path) -> tuple[int, Path]:
    """Write the list to `out` (our CSV, merge fields after the fixed columns) and its events
    to `<out stem>.events.csv`; both atomically. Returns the readers written and the events file."""
    readers = list(store.subscribers(list_id))
    fields = sorted({key for reader in readers for key in reader.fields})
    with atomic_file(out) as handle:
        handle.write(_csv([LIST_COLUMNS + fields], ()) + _csv((), (_list_row(r, fields) for r in readers)))
    events_file = out.with_name(f"{out.stem}.events.csv")
    rows = ([e.email, e.kind, e.at.isoformat(), e.source, e.detail] for e in store.events(list_id))
    with atomic_file(events_file) as handle:
        handle.write(_csv([EVENT_COLUMNS], rows))
    return len(readers), events_file


def _list_row(reader: Subscriber, fields: list[str]) -> list[str]:
    tags = ",".join(reader.tags)
    return [
        reader.email,
        reader.name,
        reader.locale,
        reader.status,
        tags,
        *(reader.fields.get(f, "") for f in fields),
    ]


def _csv(header: Iterable[list[str]], rows: Iterable[list[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows(header)
    writer.writerows([neutralise(cell) for cell in row] for row in rows)
    return buffer.getvalue().encode("utf-8")
