"""Where exported messages and request bodies land: every file is written with `files`' atomic
helper (a temporary name, renamed when complete), so an interrupted export never leaves half a
file behind; `finish` makes the whole batch durable at the end."""

from __future__ import annotations

import json
import os
import re
import time
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from digest import mime
from digest.files import atomic_file, ensure_folder, leftovers, sync_folder, write_atomically

__all__ = ["Mbox", "atomic_file", "ensure_folder", "finish", "leftovers", "write_eml", "write_json"]


def eml_name(email: str) -> str:
    return re.sub(r"[^A-Za-z0-9._@+-]", "_", email.lower()) + ".eml"


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


class Mbox:
    """An mboxrd file: `From ` separator lines, LF line ends, body `From ` lines quoted with `>`."""

    def __init__(self, handle: IO[bytes], sender: str, date: datetime) -> None:
        self.handle = handle
        stamp = time.asctime(date.utctimetuple())
        self.separator = f"From {sender} {stamp}\n".encode()

    def add(self, message: bytes) -> None:
        body = mime.mbox_escape(message.replace(b"\r\n", b"\n"))
        self.handle.write(self.separator + body + (b"" if body.endswith(b"\n") else b"\n") + b"\n")


def finish(directory: Path) -> None:
    """Every file of an export on disk for good: one flush for the batch, not one per message."""
    sync_folder(directory)
