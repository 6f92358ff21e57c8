"""Where exported messages and request bodies land: every file is written under a temporary
name and renamed when complete, so an interrupted export never leaves half a file behind."""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from digest import mime
from digest.errors import DeliveryError


def eml_name(email: str) -> str:
    return re.sub(r"[^A-Za-z0-9._@+-]", "_", email.lower()) + ".eml"


def write_eml(message: bytes, out_dir: Path | str, email: str) -> str:
    path = os.path.join(out_dir, eml_name(email))
    write_bytes(path, message)
    return path


def write_bytes(path: Path | str, content: bytes) -> None:
    """Plain `os` calls on strings: this runs once a message, and `pathlib` costs more than
    the write (and interns every name it parses, which grows with the list)."""
    temporary = f"{path}.tmp"
    try:
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(content)
            while view:
                view = view[os.write(handle, view) :]
        finally:
            os.close(handle)
        os.replace(temporary, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise DeliveryError(
            f"cannot write {path}: {exc.strerror or exc}", hint="check the --out folder"
        ) from exc


def write_json(path: Path, data: Any) -> Path:
    write_bytes(path, json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8") + b"\n")
    return path


@contextmanager
def atomic_file(path: Path) -> Iterator[IO[bytes]]:
    """A file that appears under `path` only if the block completes; removed otherwise."""
    temporary = path.with_name(path.name + ".tmp")
    try:
        with temporary.open("wb") as handle:
            yield handle
        temporary.replace(path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise DeliveryError(
            f"cannot write {path}: {exc.strerror or exc}", hint="check the --out folder"
        ) from exc
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


class Mbox:
    """An mboxrd file: `From ` separator lines, LF line ends, body `From ` lines quoted with `>`."""

    def __init__(self, handle: IO[bytes], sender: str, date: datetime) -> None:
        self.handle = handle
        stamp = time.asctime(date.utctimetuple())
        self.separator = f"From {sender} {stamp}\n".encode()

    def add(self, message: bytes) -> None:
        body = mime.mbox_escape(message.replace(b"\r\n", b"\n"))
        self.handle.write(self.separator + body + (b"" if body.endswith(b"\n") else b"\n") + b"\n")


def leftovers(directory: Path) -> list[Path]:
    """Temporary files an interrupted export may have left (for tests and `--out` checks)."""
    return [path for path in directory.iterdir() if path.name.endswith(".tmp")] if directory.is_dir() else []


def ensure_dir(directory: Path) -> Path:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DeliveryError(f"cannot create {directory}: {exc.strerror}") from exc
    if not os.access(directory, os.W_OK):
        raise DeliveryError(f"cannot write into {directory}", hint="choose another --out folder")
    return directory
