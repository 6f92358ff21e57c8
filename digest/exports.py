"""Export: the issue's messages for every active subscriber, as files, streamed.

Subscribers are read one row at a time and each message (or each service request, once it
holds as many recipients as the service allows) is written as soon as it is complete: memory
does not grow with the list. Every file appears under its final name only when whole.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Container, Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import TypeVar

from digest import outbox
from digest.audience import Tally, recipients
from digest.deliver import Prepared, Sign, render_message
from digest.models import Subscriber
from digest.services import JSON, SERVICES, Service
from digest.subscribers import Row

FORMATS = ("eml", "mbox", *SERVICES)
T = TypeVar("T")


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
    outbox.ensure_folder(out)
    people = recipients(rows, tally, unsubscribed)
    if fmt == "eml":
        export_eml(prepared, people, out, tally, sign)
    elif fmt == "mbox":
        export_mbox(prepared, people, out, tally, sign)
    else:
        export_service(SERVICES[fmt], prepared, people, out, tally, listmonk_lists)
    outbox.finish(out)
    return tally


def export_eml(
    prepared: Prepared, people: Iterable[Subscriber], out: Path, tally: Tally, sign: Sign | None
) -> None:
    written = set()
    for subscriber in people:
        message = render_message(prepared, subscriber)
        written.add(outbox.write_eml(sign(message) if sign else message, out, subscriber.email))
        tally.written += 1
    tally.files.append(out)
    # A message left by an earlier export, for a reader who has left since, must not go out.
    for stale in out.glob("*.eml"):
        if str(stale) not in written:
            stale.unlink()
            tally.removed += 1


def export_mbox(
    prepared: Prepared, people: Iterable[Subscriber], out: Path, tally: Tally, sign: Sign | None
) -> None:
    path = out / f"digest-{prepared.issue.ref.slug}.mbox"
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
        path = out / f"{service.name}-{prepared.issue.ref.slug}-{number:04d}.json"
        tally.files.append(outbox.write_json(path, service.request(prepared, chunk)))
        tally.written += len(chunk)
    # A request left from an earlier, longer export of this issue would send its recipients twice.
    for stale in out.glob(f"{service.name}-{prepared.issue.ref.slug}-[0-9][0-9][0-9][0-9].json"):
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
