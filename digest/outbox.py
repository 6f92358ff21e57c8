"""Where exported messages and request bodies land.

An export is written into a hidden staging folder inside the output folder (`Staging`); only
when every file is whole are they moved into place, and the files an earlier export of the
same issue left there, which this one did not write again (a reader who has left since, a
longer list of requests), are removed and reported. An export that fails leaves the output
folder as it was: it never looks complete. Every file goes through `files`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from digest import mime
from digest.envelope import ascii_address
from digest.files import (
    atomic_file,
    discard,
    ensure_folder,
    leftovers,
    publish,
    staging_folder,
    write_atomically,
)

__all__ = [
    "Mbox",
    "Staging",
    "atomic_file",
    "eml_name",
    "ensure_folder",
    "leftovers",
    "message_of_issue",
    "write_eml",
    "write_json",
]

_PLAIN = re.compile(r"[a-z0-9._+-]{1,64}@[a-z0-9.-]{1,180}")


def eml_name(email: str) -> str:
    """A file name of at most 100 characters, different for every distinct address.

    A plain lower-case ASCII address is its own name (`reader@example.org.eml`); any other
    (capitals, non-ASCII, odd characters, very long) gets a readable part and `~` plus a hash
    of the exact address, so `josé@`, `josè@` and `jos_@` never share a file. `~` is never in a
    plain name, so the two kinds cannot meet.
    """
    if _PLAIN.fullmatch(email):
        return email + ".eml"
    readable = re.sub(r"[^a-z0-9._@+-]", "_", ascii_address(email).lower())[:64]
    digest = hashlib.sha256(email.encode("utf-8")).hexdigest()[:20]
    return f"{readable}~{digest}.eml"


def write_eml(message: bytes, out_dir: Path | str, email: str) -> str:
    """One message, under its final name only once whole; `finish` makes the batch durable."""
    path = os.path.join(out_dir, eml_name(email))
    write_atomically(path, message, durable=False)
    return path


def write_json(path: Path, data: Any) -> Path:
    write_atomically(
        path, json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8") + b"\n", durable=False
    )
    return path


def message_of_issue(message_id_prefix: str) -> Callable[[Path], bool]:
    """Whether an `.eml` file holds a message of the issue whose Message-IDs start so."""
    wanted = f"message-id: {message_id_prefix}".lower().encode("ascii")

    def test(path: Path) -> bool:
        if path.suffix != ".eml":
            return False
        try:
            with path.open("rb") as handle:
                head = handle.read(16_384).split(b"\r\n\r\n", 1)[0].lower()
        except OSError:
            return False
        return any(line.startswith(wanted) for line in head.split(b"\r\n"))

    return test


class Staging:
    """The files of one export, gathered in a hidden folder, then published together."""

    def __init__(self, out: Path, slug: str) -> None:
        self.out = ensure_folder(out)
        self.stage = staging_folder(self.out, f".digest-export-{slug}.partial")

    def path(self, name: str) -> Path:
        return self.stage / name

    def publish(self, earlier: Callable[[Path], bool]) -> list[Path]:
        """Move the files in; remove and return the earlier ones of this issue not written again."""
        # One look at each file, no list of every name: memory stays flat with 100,000 messages.
        stale = sorted(
            path
            for path in self.out.iterdir()
            if path.is_file() and not (self.stage / path.name).exists() and earlier(path)
        )
        publish(self.stage, self.out, stale)
        return stale

    def discard(self) -> None:
        discard(self.stage)


class Mbox:
    """An mboxrd file: `From ` separator lines, LF line ends, body `From ` lines quoted with `>`."""

    def __init__(self, handle: IO[bytes], sender: str, date: datetime) -> None:
        self.handle = handle
        stamp = time.asctime(date.utctimetuple())
        self.separator = f"From {sender} {stamp}\n".encode()

    def add(self, message: bytes) -> None:
        body = mime.mbox_escape(message.replace(b"\r\n", b"\n"))
        self.handle.write(self.separator + body + (b"" if body.endswith(b"\n") else b"\n") + b"\n")
