"""Export: the issue's messages for every active subscriber, as files, streamed.

Subscribers are read one row at a time and each message (or each service request, once it
holds as many recipients as the service allows) is written as soon as it is complete: memory
does not grow with the list. Every file appears under its final name only when whole.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Container, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import TypeVar

from digest import outbox
from digest.deliver import Prepared, render_message
from digest.models import Subscriber
from digest.services import JSON, SERVICES, Service
from digest.subscribers import Row, RowProblem, is_recipient

FORMATS = ("eml", "mbox", *SERVICES)
Sign = Callable[[bytes], bytes]
T = TypeVar("T")


@dataclass
class Tally:
    """What streaming the list found; filled in as rows go by."""

    written: int = 0
    skipped: int = 0  # unsubscribed, bounced, cleaned
    rejected: list[RowProblem] = field(default_factory=list)
    warnings: list[RowProblem] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


def recipients(rows: Iterable[Row], tally: Tally, unsubscribed: Container[str] = ()) -> Iterator[Subscriber]:
    """Those who get the issue: active in the list and not unsubscribed in the state (lower-cased
    addresses, even before `subscribers apply-unsubscribes` wrote it to the CSV). Rejected rows
    and warnings are noted; nothing goes to them."""
    for row in rows:
        tally.warnings.extend(row.warnings)
        if row.rejected:
            tally.rejected.append(row.rejected)
        if row.subscriber is None:
            continue
        if not is_recipient(row.subscriber, unsubscribed):
            tally.skipped += 1
            continue
        yield row.subscriber


def export(
    fmt: str,
    prepared: Prepared,
    rows: Iterable[Row],
    out: Path,
    *,
    sign: Sign | None = None,
    listmonk_lists: tuple[int, ...] = (),
    unsubscribed: Container[str] = (),
) -> Tally:
    tally = Tally()
    outbox.ensure_dir(out)
    people = recipients(rows, tally, unsubscribed)
    if fmt == "eml":
        export_eml(prepared, people, out, tally, sign)
    elif fmt == "mbox":
        export_mbox(prepared, people, out, tally, sign)
    else:
        export_service(SERVICES[fmt], prepared, people, out, tally, listmonk_lists)
    return tally


def export_eml(
    prepared: Prepared, people: Iterable[Subscriber], out: Path, tally: Tally, sign: Sign | None
) -> None:
    for subscriber in people:
        message = render_message(prepared, subscriber)
        outbox.write_eml(sign(message) if sign else message, out, subscriber.email)
        tally.written += 1
    tally.files.append(out)


def export_mbox(
    prepared: Prepared, people: Iterable[Subscriber], out: Path, tally: Tally, sign: Sign | None
) -> None:
    path = out / f"digest-{prepared.issue.week}.mbox"
    with outbox.atomic_file(path) as handle:
        mbox = outbox.Mbox(handle, prepared.sender.addr_spec, prepared.date)
        for subscriber in people:
            message = render_message(prepared, subscriber)
            mbox.add(sign(message) if sign else message)
            tally.written += 1
    tally.files.append(path)


def export_service(
    service: Service,
    prepared: Prepared,
    people: Iterable[Subscriber],
    out: Path,
    tally: Tally,
    lists: tuple[int, ...],
) -> None:
    for name, body in service.files(prepared, lists).items():
        tally.files.append(outbox.write_json(out / name, body))
    entries = (service.entry(prepared, subscriber) for subscriber in people)
    if service.request is None:
        tally.files.append(_write_csv(out / f"{service.name}-subscribers.csv", entries, tally))
        return
    for number, chunk in enumerate(batched(entries, service.limit), start=1):
        path = out / f"{service.name}-{prepared.issue.week}-{number:04d}.json"
        tally.files.append(outbox.write_json(path, service.request(prepared, chunk)))
        tally.written += len(chunk)
    # A request left from an earlier, longer export of this issue would send its recipients twice.
    for stale in out.glob(f"{service.name}-{prepared.issue.week}-[0-9][0-9][0-9][0-9].json"):
        if stale not in tally.files:
            stale.unlink()


def _write_csv(path: Path, entries: Iterable[JSON], tally: Tally) -> Path:
    """listmonk's subscriber import: email, name, attributes (a JSON object)."""
    with outbox.atomic_file(path) as handle:
        text = io.TextIOWrapper(handle, encoding="utf-8", newline="")
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(["email", "name", "attributes"])
        for entry in entries:
            writer.writerow(
                [entry["email"], entry["name"], json.dumps(entry["attributes"], ensure_ascii=False)]
            )
            tally.written += 1
        text.flush()
        text.detach()
    return path


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk
