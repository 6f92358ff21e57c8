"""Who gets an issue: the rows of the list meant for one edition, in a segment, minus anyone who
left. Shared by every way of delivering (files, service payloads, SMTP), so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from digest.models import Subscriber
from digest.subscribers import Row, RowProblem, is_recipient


@dataclass
class Tally:
    """What streaming the list found; filled in as rows go by."""

    written: int = 0
    skipped: int = 0  # unsubscribed, bounced, cleaned
    rejected: list[RowProblem] = field(default_factory=list)
    warnings: list[RowProblem] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    removed: int = 0  # messages left in the folder by an earlier export, for readers gone since


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


def edition_rows(
    rows: Iterable[Row], locale: str, main: str, editions: Container[str], segment: str | None
) -> Iterator[Row]:
    """The rows one edition goes to: readers of its language (the main edition takes every
    language without its own), in `segment`. Rejected rows and warnings are reported once, with
    the main edition; other rows pass as empty rows, so nothing counts twice."""
    for row in rows:
        reader = row.subscriber
        edition = (reader.locale if reader.locale in editions else main) if reader else main
        wanted = reader is not None and edition == locale and in_segment(reader, segment)
        if locale == main:
            yield row if wanted or reader is None else Row(None, None, row.warnings)
        elif wanted:
            yield Row(reader)


def in_segment(reader: Subscriber, segment: str | None) -> bool:
    """A segment is a tag of the list, compared without regard to case."""
    return segment is None or segment.casefold() in (tag.casefold() for tag in reader.tags)


def with_store(rows: Iterable[Row], stored: Mapping[str, Subscriber]) -> Iterator[Row]:
    """The CSV's rows and the store's readers as one list (docs/subscribers.md, "Which wins").

    The store has the last word on anyone it knows: its status is their latest event's (a click
    on unsubscribe, a bounce, a re-subscription), which the CSV may not say yet. A sign-up still
    waiting for its confirmation leaves a CSV row as it is. Readers only in the store follow the
    CSV's rows, by address. `stored` is keyed by lower-cased address.
    """
    seen: set[str] = set()
    for row in rows:
        reader = row.subscriber
        if reader is not None:
            address = reader.email.lower()
            seen.add(address)
            known = stored.get(address)
            if known is not None and known.status not in ("", "pending", reader.status):
                row = Row(replace(reader, status=known.status), row.rejected, row.warnings)
        yield row
    for address, reader in stored.items():
        if address not in seen:
            yield Row(reader)
