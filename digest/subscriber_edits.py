"""Changes to subscriber list files: importing another service's export, applying unsubscribes.

Both write the new file beside the old one, fsync it, copy the old one to `<name>.bak`, then
rename: a crash leaves the old list or the new one, never half of one, and a failure midway
(an unreadable row, a full disk) leaves the list untouched. No row is ever dropped:
`apply_unsubscribes` copies every row it does not change byte for byte, and `import_lists`
writes the rows it rejects, with their reasons, to `<name>.rejected.csv`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from email_validator import EmailNotValidError

from digest.addresses import AddressChecker, SeenAddresses
from digest.csvrecords import Record
from digest.errors import SubscriberError
from digest.files import Discard, atomic_file, backup_of
from digest.subscriber_formats import LOCALE_ATTRIBUTES, Layout, field_key
from digest.subscribers import RowProblem, SubscriberFile, Validator, open_subscribers

OUR_COLUMNS = ("email", "name", "locale", "status", "tags")
# The word each layout uses for "unsubscribed", so the list still reads as that layout.
_UNSUBSCRIBED = {"digest": "unsubscribed", "mailchimp": "unsubscribed", "listmonk": "blocklisted"}


def replace_atomically(
    path: Path, write: Callable[[IO[bytes]], bool], *, backup: bool = True
) -> tuple[bool, Path | None]:
    """Write `path` through `files.atomic_file`, unless `write` returns False (nothing to change).

    Returns whether the file was replaced, and the backup of the previous one, if any.
    """
    _writable(path)
    had = backup and path.exists()
    replaced = False
    with atomic_file(path, backup=backup) as handle:
        replaced = write(handle)
        if not replaced:
            raise Discard
    return replaced, backup_of(path) if replaced and had else None


def _writable(path: Path) -> Path:
    if not path.parent.is_dir():
        raise SubscriberError(f"{path.parent}: no such folder", hint="create it, or write the list elsewhere")
    return path


# --- Import ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceProblem:
    file: Path
    line: int
    reason: str


@dataclass(frozen=True)
class Imported:
    out: Path
    backup: Path | None
    written: int
    rejected: tuple[SourceProblem, ...]
    warnings: tuple[SourceProblem, ...]
    rejected_file: Path | None  # the rejected rows, as read, with their reasons


def import_lists(sources: Sequence[Path], *, fmt: str, out: Path, default_locale: str) -> Imported:
    """Convert exports (several files are merged; the first row of an address wins) to our CSV."""
    columns = (*OUR_COLUMNS, *_merge_fields(sources, fmt))
    warnings: list[SourceProblem] = []
    kept = _RejectedRows(out.with_name(out.stem + ".rejected.csv"))
    written = 0

    def write(handle: IO[bytes]) -> bool:
        nonlocal written
        text = io.TextIOWrapper(handle, encoding="utf-8", newline="", write_through=True)
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(columns)
        seen = SeenAddresses()
        for source in sources:
            seen.open(source.name)
            with open_subscribers(source, fmt=fmt) as opened:
                written += _import_one(opened, default_locale, seen, writer.writerow, columns, kept, warnings)
        text.detach()
        if not written:
            kept.keep = True  # the reasons are all there is to show for it
            raise SubscriberError(
                f"no row of {', '.join(map(str, sources))} could be imported; {out} is unchanged",
                hint=f"the reasons are listed above and in {kept.path}",
            )
        return True

    with kept:
        _, backup = replace_atomically(out, write)
    rejected_file = kept.path if kept.problems else None
    return Imported(out, backup, written, tuple(kept.problems), tuple(warnings), rejected_file)


def _import_one(
    opened: SubscriberFile,
    default_locale: str,
    seen: SeenAddresses,
    write_row: Callable[[Sequence[str]], object],
    columns: tuple[str, ...],
    kept: _RejectedRows,
    warnings: list[SourceProblem],
) -> int:
    validator = Validator(opened.layout, default_locale, seen)
    rows = written = 0
    for record in opened.records():
        if record.blank:
            continue
        rows += 1
        row = validator.row(record)
        warnings.extend(SourceProblem(opened.path, w.line, w.reason) for w in row.warnings)
        if row.subscriber is None:
            kept.add(opened.path, record, row.rejected or RowProblem(record.line, "rejected"))
            continue
        subscriber = row.subscriber
        ours = (
            subscriber.email,
            subscriber.name,
            subscriber.locale,
            subscriber.status,
            ";".join(subscriber.tags),
        )
        write_row([*ours, *(subscriber.fields.get(key, "") for key in columns[len(OUR_COLUMNS) :])])
        written += 1
    if not rows:
        raise SubscriberError(f"{opened.path}: a header and no subscriber rows; nothing imported")
    return written


def _merge_fields(sources: Sequence[Path], fmt: str) -> list[str]:
    """Every merge field of every source, in order of appearance: a header, or listmonk's JSON."""
    keys: dict[str, None] = {}
    for source in sources:
        with open_subscribers(source, fmt=fmt) as opened:
            keys.update((key, None) for key, _ in opened.layout.fields)
            if "attributes" in opened.layout.roles:
                keys.update((key, None) for key in _attribute_keys(opened))
    return [key for key in keys if key not in OUR_COLUMNS]


def _attribute_keys(opened: SubscriberFile) -> Iterator[str]:
    index = opened.layout.roles["attributes"]
    for record in opened.records():
        try:
            decoded = json.loads(record.values[index]) if len(record.values) > index else None
        except json.JSONDecodeError:
            continue
        if isinstance(decoded, dict):
            for number, key in enumerate(decoded):
                name = field_key(str(key), number)
                if name not in LOCALE_ATTRIBUTES:
                    yield name


class _RejectedRows:
    """`<out>.rejected.csv`: file, line, reason and the row as read. Streamed to a temporary file,
    renamed into place only when a row was rejected; an older one (an earlier import's) goes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.problems: list[SourceProblem] = []
        self.keep = False  # keep it even though the import fails
        self._file = atomic_file(_writable(path))

    def __enter__(self) -> _RejectedRows:
        self._text = io.TextIOWrapper(self._file.__enter__(), encoding="utf-8", newline="")
        self._writer = csv.writer(self._text, lineterminator="\n")
        self._writer.writerow(["file", "line", "reason", "row"])
        return self

    def add(self, source: Path, record: Record, problem: RowProblem) -> None:
        self.problems.append(SourceProblem(source, problem.line, problem.reason))
        text = record.raw.decode("cp1252" if record.cp1252 else "utf-8", errors="replace")
        self._writer.writerow([source.name, problem.line, problem.reason, text.rstrip("\r\n")])

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        self._text.flush()
        self._text.detach()  # the binary file stays open for atomic_file to sync and rename
        if self.problems and (kind is None or self.keep):
            self._file.__exit__(None, None, None)
            return
        self._file.__exit__(Discard, Discard(), None)
        if kind is None:
            self.path.unlink(missing_ok=True)


# --- Applying unsubscribes ------------------------------------------------------------------------


@dataclass(frozen=True)
class Applied:
    path: Path
    backup: Path | None
    changed: tuple[str, ...]  # addresses whose row now says unsubscribed
    already: tuple[str, ...]  # addresses whose row said so already
    missing: tuple[str, ...]  # recorded addresses that are in no row of the list


def apply_unsubscribes(path: Path, addresses: Collection[str]) -> Applied:
    """Mark the rows of `addresses` (lower-cased) unsubscribed; the list is rewritten only if needed.

    Every other byte of the file is kept: rows not changed are copied as they were read, rejected
    rows and blank lines included.
    """
    changed: set[str] = set()
    already: set[str] = set()

    def write(handle: IO[bytes]) -> bool:
        with open_subscribers(path) as opened:
            editor = _StatusEditor(opened, addresses)
            handle.write(editor.header())
            for record in opened.records():
                handle.write(editor.rewrite(record, changed, already))
        return bool(changed)

    _, backup = replace_atomically(path, write)
    missing = set(addresses) - changed - already
    return Applied(path, backup, tuple(sorted(changed)), tuple(sorted(already)), tuple(sorted(missing)))


class _StatusEditor:
    """Sets the status of chosen rows, in the file's own layout, delimiter and line endings."""

    def __init__(self, opened: SubscriberFile, addresses: Collection[str]) -> None:
        self.layout: Layout = opened.layout
        self.opened = opened
        self.addresses = addresses
        self.checker = AddressChecker()
        self.word = _UNSUBSCRIBED[opened.layout.format]
        status = opened.layout.roles.get("status")
        self.status = opened.layout.width if status is None else status
        self.append = status is None  # no status column: one is added, empty (active) but for these rows

    def header(self) -> bytes:
        raw = self.opened.header.raw
        if not self.append:
            return raw
        body, ending = _split_ending(raw)
        return body + self.opened.delimiter.encode() + b"status" + ending

    def rewrite(self, record: Record, changed: set[str], already: set[str]) -> bytes:
        values = record.values
        address = self._address(values)
        if address is None or address not in self.addresses or len(values) != self.layout.width:
            return self._unchanged(record)
        current = (
            values[self.status].strip().lower() if not self.append else self.layout.implied_status(values)
        )
        if current in (self.word, "unsubscribed"):
            already.add(address)
            return self._unchanged(record)
        changed.add(address)
        new = [*values, self.word] if self.append else [*values]
        new[self.status] = self.word
        return self._serialise(new, record)

    def _address(self, values: tuple[str, ...]) -> str | None:
        raw = self.layout.value(values, "email") if len(values) > self.layout.roles["email"] else ""
        if not raw:
            return None
        try:
            return self.checker.check(raw).normalized.lower()
        except EmailNotValidError:
            return raw.lower()

    def _unchanged(self, record: Record) -> bytes:
        if not self.append or record.blank or record.problem:
            return record.raw
        body, ending = _split_ending(record.raw)
        return body + self.opened.delimiter.encode() + ending

    def _serialise(self, values: list[str], record: Record) -> bytes:
        _, ending = _split_ending(record.raw)
        buffer = io.StringIO()
        csv.writer(buffer, delimiter=self.opened.delimiter, lineterminator="").writerow(values)
        return buffer.getvalue().encode("cp1252" if record.cp1252 else "utf-8") + ending


def _split_ending(raw: bytes) -> tuple[bytes, bytes]:
    for ending in (b"\r\n", b"\n", b"\r"):
        if raw.endswith(ending):
            return raw[: -len(ending)], ending
    return raw, b""
