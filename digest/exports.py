"""Export: the issue's messages for every active subscriber, as files, streamed.

Subscribers are read one row at a time and each message (or each service request, once it
holds as many recipients as the service allows) is written as soon as it is complete: memory
does not grow with the list. Everything goes into a staging folder first and is published
together at the end (`outbox.Staging`): an export that fails leaves the output folder as it was
and raises `ExportFailed` (exit 4). A recipient a format cannot serve (an address a service
cannot take) is named as a rejected row, and the export goes on.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Container, Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import TypeVar

from digest import exporters, outbox
from digest.audience import Tally, recipients
from digest.deliver import Prepared, Sign, render_message
from digest.errors import DeliveryError, DigestError, ExportFailed, OutputError
from digest.models import Subscriber
from digest.services import JSON, SERVICES, Options, Unservable
from digest.subscribers import Row, RowProblem

FORMATS = (
    *exporters.FILE_FORMATS,
    *SERVICES,
)  # the built-in ones; `exporters.discover()` adds installed ones
T = TypeVar("T")


def export(
    fmt: str,
    prepared: Prepared,
    rows: Iterable[Row],
    out: Path,
    *,
    sign: Sign | None = None,
    options: Options | None = None,
    unsubscribed: Container[str] = (),
    exporter: exporters.Exporter | None = None,
) -> Tally:
    tally = Tally()
    service = exporter or (None if fmt in exporters.FILE_FORMATS else exporters.discover().found[fmt])
    created = service.files(prepared, options or Options()) if service else {}  # config errors first
    staging = outbox.Staging(out, prepared.issue.ref.slug)
    people = recipients(rows, tally, unsubscribed)
    try:
        if fmt == "eml":
            export_eml(prepared, people, staging, tally, sign)
        elif fmt == "mbox":
            export_mbox(prepared, people, staging, tally, sign)
        else:
            assert service is not None
            export_service(service, prepared, people, staging, tally, created)
        tally.stale = staging.publish(_earlier(fmt, prepared))
    except (OutputError, DeliveryError, OSError) as exc:  # writing or signing: the export failed
        staging.discard()
        what = exc.message if isinstance(exc, DigestError) else str(exc)
        raise ExportFailed(
            f"export to {out} failed: {what}", hint="nothing was published; fix the cause and run it again"
        ) from exc
    except BaseException:  # an unreadable list, Ctrl-C, a bug: nothing half-done is left either
        staging.discard()
        raise
    tally.files = [out] if fmt == "eml" else [out / path.name for path in tally.files]
    return tally


def _earlier(fmt: str, prepared: Prepared) -> Callable[[Path], bool]:
    """Which files in the output folder an earlier export of this issue, in this format, wrote."""
    slug = prepared.issue.ref.slug
    if fmt == "eml":
        return outbox.message_of_issue(f"<{slug.lower()}.")
    names = {f"digest-{slug}.mbox"} if fmt == "mbox" else set()

    def earlier(path: Path) -> bool:
        numbered = path.name.startswith(f"{fmt}-{slug}-") and path.name.endswith(".json")
        return path.name in names or numbered

    return earlier


def _each(
    people: Iterable[Subscriber], tally: Tally, make: Callable[[Subscriber], T]
) -> Iterator[tuple[Subscriber, T]]:
    """`make` for every recipient; one it cannot serve is named (a rejected row) and skipped."""
    for subscriber in people:
        try:
            yield subscriber, make(subscriber)
        except (Unservable, UnicodeError, ValueError) as exc:
            tally.rejected.append(RowProblem(subscriber.line, f"{subscriber.email}: {exc}"))


def export_eml(
    prepared: Prepared, people: Iterable[Subscriber], staging: outbox.Staging, tally: Tally, sign: Sign | None
) -> None:
    for subscriber, message in _each(people, tally, lambda s: render_message(prepared, s)):
        outbox.write_eml(sign(message) if sign else message, staging.stage, subscriber.email)
        tally.written += 1


def export_mbox(
    prepared: Prepared, people: Iterable[Subscriber], staging: outbox.Staging, tally: Tally, sign: Sign | None
) -> None:
    path = staging.path(f"digest-{prepared.issue.ref.slug}.mbox")
    with outbox.atomic_file(path) as handle:
        mbox = outbox.Mbox(handle, prepared.sender.addr_spec, prepared.date)
        for _, message in _each(people, tally, lambda s: render_message(prepared, s)):
            mbox.add(sign(message) if sign else message)
            tally.written += 1
    tally.files.append(path)


def export_service(
    service: exporters.Exporter,
    prepared: Prepared,
    people: Iterable[Subscriber],
    staging: outbox.Staging,
    tally: Tally,
    created: dict[str, JSON],
) -> None:
    for name, body in created.items():
        tally.files.append(outbox.write_json(staging.path(name), body))
    entries = (entry for _, entry in _each(people, tally, lambda s: service.entry(prepared, s)))
    if service.request is None:
        path = staging.path(f"{service.name}-subscribers.csv")
        tally.files.append(_write_csv(path, entries, tally))
        return
    chunks = batched(entries, service.limit, service.max_bytes, service.weight)
    for number, chunk in enumerate(chunks, start=1):
        path = staging.path(f"{service.name}-{prepared.issue.ref.slug}-{number:04d}.json")
        tally.files.append(outbox.write_json(path, service.request(prepared, chunk)))
        tally.written += len(chunk)


def _write_csv(path: Path, entries: Iterable[JSON], tally: Tally) -> Path:
    """A subscriber import (listmonk's, Brevo's): the entries' keys are the header, every entry
    has the same; a value that is an object (listmonk's attributes) is written as JSON."""
    with outbox.atomic_file(path) as handle:
        text = io.TextIOWrapper(handle, encoding="utf-8", newline="")
        writer = csv.writer(text, lineterminator="\n")
        header: list[str] = []
        for entry in entries:
            if not header:
                header = list(entry)
                writer.writerow(header)
            writer.writerow(
                [json.dumps(v, ensure_ascii=False) if isinstance(v, dict) else v for v in entry.values()]
            )
            tally.written += 1
        text.flush()
        text.detach()
    return path


def batched(
    items: Iterable[T], size: int, max_bytes: int = 0, weight: Callable[[T], int] | None = None
) -> Iterator[list[T]]:
    """Chunks of at most `size` items and, when `max_bytes` is set, at most `max_bytes` of
    `weight` together (Brevo: 1,000 KB of params a call). One item is never split."""
    iterator = iter(items)
    if not max_bytes or weight is None:
        while chunk := list(islice(iterator, size)):
            yield chunk
        return
    chunk, total = [], 0
    for item in iterator:
        share = weight(item)
        if chunk and (len(chunk) == size or total + share > max_bytes):
            yield chunk
            chunk, total = [], 0
        chunk.append(item)
        total += share
    if chunk:
        yield chunk
