"""A CSV file as a stream of records: values, the physical lines they span, their exact bytes.

One file in, records out, in constant memory: the file is read in chunks, split into physical
lines (LF, CRLF or a lone CR), each line decoded on its own (UTF-8, else Windows-1252, flagged)
and handed to the `csv` module, which asks for more lines while a quoted field is open. So each
record knows the line it starts on (the header is line 1) and the bytes it came from, which lets
a rewrite copy untouched records byte for byte. What makes the file unusable as a whole (empty,
binary, UTF-16, a line over 1 MiB, a blank first line) is one `SubscriberError`; what spoils one
record (an unbalanced quote, undecodable bytes) is that record's `problem`.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from digest.errors import SubscriberError

MAX_LINE_BYTES = 1 << 20  # a longer line is not a subscriber: stop rather than buffer it
MAX_RECORD_LINES = 20  # a quoted field still open after this many lines is an unbalanced quote
HEADER_EXAMPLE = "email,name,locale,status,tags"
_CHUNK = 1 << 16
_BINARY_PROBE = 8192


@dataclass(frozen=True)
class Record:
    """One CSV record as read: its values, the physical lines it spans, and its exact bytes."""

    line: int  # physical line it starts on (header = 1)
    end: int  # physical line it ends on
    values: tuple[str, ...]
    raw: bytes  # line terminators included
    problem: str | None = None  # why it could not be read as CSV at all
    cp1252: bool = False  # some of its lines were not UTF-8 and were read as Windows-1252

    @property
    def blank(self) -> bool:
        return self.problem is None and not any(value.strip() for value in self.values)


@dataclass(frozen=True)
class CsvFile:
    """An open CSV file: its delimiter, its header, and its other records, to be read once."""

    path: Path
    delimiter: str
    header: Record
    records: Iterator[Record]  # blank lines included, so that a rewrite keeps them


@contextmanager
def open_csv(path: Path) -> Iterator[CsvFile]:
    """Open `path` for streaming. Raises `SubscriberError` when it cannot be read at all."""
    try:
        handle = path.open("rb")
    except FileNotFoundError as exc:
        raise SubscriberError(
            f"{path}: subscriber list not found",
            hint="set [delivery] subscribers in digest.toml, or pass the file's path",
        ) from exc
    except OSError as exc:
        raise SubscriberError(f"{path}: cannot read the subscriber list: {exc.strerror}") from exc
    with handle:
        first = handle.read(_CHUNK)
        _check_text(first, path)
        lines = _Lines(_chunks(handle, first), path)
        header_text = _header_line(lines, path)
        delimiter = sniff_delimiter(header_text)
        header = tuple(next(csv.reader(_single(header_text), delimiter=delimiter, strict=False), [""]))
        raw, _, _ = lines.take()
        yield CsvFile(path, delimiter, Record(1, 1, header, raw), _records(lines, delimiter))


class _Lines:
    """Physical lines as csv asks for them: counted, decoded one by one, kept raw for rewriting.

    Decoding line by line makes the cp1252 fallback exact (a UTF-8 sequence never spans a line
    break) and lets a mostly-UTF-8 file with one pasted Windows line lose nothing.
    """

    def __init__(self, chunks: Iterator[bytes], path: Path) -> None:
        self._lines = _split_lines(chunks, path)
        self.count = 0
        self.raw: list[bytes] = []
        self.cp1252 = False
        self.undecodable = False

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if len(self.raw) >= MAX_RECORD_LINES:
            raise _RecordTooLong
        line = next(self._lines)
        self.count += 1
        self.raw.append(line)
        try:
            return line.decode("utf-8")
        except UnicodeDecodeError:
            pass
        try:
            text = line.decode("cp1252")
            self.cp1252 = True
            return text
        except UnicodeDecodeError:
            self.undecodable = True
            return line.decode("utf-8", errors="replace")

    def take(self) -> tuple[bytes, bool, bool]:
        taken = b"".join(self.raw), self.cp1252, self.undecodable
        self.raw, self.cp1252, self.undecodable = [], False, False
        return taken


class _RecordTooLong(Exception):
    pass


def _split_lines(chunks: Iterator[bytes], path: Path) -> Iterator[bytes]:
    """Lines ending in LF, CRLF or a lone CR (old Mac spreadsheets), terminators kept."""
    pending = b""
    number = 0
    for chunk in chunks:
        lines = (pending + chunk).splitlines(keepends=True)
        # The last piece may be cut short, or be a CR whose LF is in the next chunk.
        pending = lines.pop() if lines and not lines[-1].endswith(b"\n") else b""
        for line in lines:
            number += 1
            _check_length(line, number, path)
            yield line
        _check_length(pending, number + 1, path)
    if pending:
        yield pending


def _check_length(line: bytes, number: int, path: Path) -> None:
    if len(line) > MAX_LINE_BYTES:
        raise SubscriberError(
            f"{path}: line {number} is longer than {MAX_LINE_BYTES // 1024} KiB: not a subscriber list",
            hint="is this the right file? A subscriber list is a CSV export with one person a line",
        )


def _chunks(handle: BinaryIO, first: bytes) -> Iterator[bytes]:
    yield first
    while chunk := handle.read(_CHUNK):
        yield chunk


def _single(text: str) -> Iterator[str]:
    yield text


def _check_text(head: bytes, path: Path) -> None:
    if not head.strip():
        raise SubscriberError(
            f"{path}: the file is empty",
            hint=f"the first line must be a header such as {HEADER_EXAMPLE}",
        )
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise SubscriberError(
            f"{path}: the file is UTF-16, not UTF-8",
            hint="save it again as “CSV UTF-8” (in Excel: File → Save As → CSV UTF-8)",
        )
    nul = head.find(b"\x00", 0, _BINARY_PROBE)
    if nul >= 0:  # git's rule: a NUL early on means binary (later, it only spoils its own row)
        line = len((head[:nul] + b"x").splitlines())
        raise SubscriberError(
            f"{path}: line {line} holds a NUL byte: a binary file, not a CSV subscriber list",
            hint="export the list as CSV (a .xlsx or .zip must be opened or unzipped first); "
            "if this is a CSV, remove that NUL byte",
        )


def _header_line(lines: _Lines, path: Path) -> str:
    text = next(lines, "").removeprefix("\ufeff")
    if not text.strip():
        raise SubscriberError(
            f"{path}: line 1 is blank; the header must be the first line",
            hint="remove the blank lines at the top of the file",
        )
    return text


def sniff_delimiter(header: str) -> str:
    """Comma, semicolon (French Excel) or tab: whichever the header, quotes aside, uses most."""
    bare = re.sub(r'"[^"]*"', "", header)
    counts = {delimiter: bare.count(delimiter) for delimiter in (",", ";", "\t")}
    best = max(counts, key=lambda delimiter: counts[delimiter])
    return best if counts[best] else ","


def _records(lines: _Lines, delimiter: str) -> Iterator[Record]:
    reader = csv.reader(lines, delimiter=delimiter, strict=False)
    while True:
        start = lines.count + 1
        problem = None
        try:
            values = tuple(next(reader))
        except StopIteration:
            return
        except _RecordTooLong:
            values = ()
            problem = (
                f"a quoted field opened on line {start} is still open on line {lines.count}: "
                "an unbalanced quote (the lines in between are part of this row)"
            )
            reader = csv.reader(lines, delimiter=delimiter, strict=False)
        except csv.Error as exc:
            values, problem = (), f"unreadable CSV on lines {start}–{lines.count}: {exc}"
        raw, cp1252, undecodable = lines.take()
        if not raw:  # an exhausted reader raised instead of stopping
            return
        if undecodable and not problem:
            problem = "bytes that are neither UTF-8 nor Windows-1252: save the file as CSV UTF-8"
        yield Record(start, lines.count, values, raw, problem, cp1252)
