"""Writing files so that a reader never sees half of one: the one atomic-write helper.

Every writer of the project (issue folders, the archive, exported messages and payloads, the
subscriber CSV, screenshots' pages) goes through here. A file is written under a temporary name
in its own folder, flushed to disk, renamed over the target, and the folder itself is flushed, so
after a crash the target holds either the old content or the new, never a mix. An `OSError` is
turned into an `OutputError` that names the path and says what to check.

Per-message exports write tens of thousands of small files: they pass `durable=False` (the same
temporary-then-rename dance, so a crash never leaves half a message) and make the whole batch
durable once at the end with `sync_folder`, rather than paying one disk flush per message.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from digest.errors import OutputError

TEMPORARY_SUFFIX = ".tmp"


def write_atomically(path: Path | str, content: bytes | str, *, durable: bool = True) -> None:
    """Replace `path` by `content` in one step; text is written as UTF-8 with LF line ends.

    Plain `os` calls on strings: exports call this once per message, and `pathlib` would cost
    more than the write itself.
    """
    target = os.fspath(path)
    data = content.encode("utf-8") if isinstance(content, str) else content
    temporary = _temporary_name(target)
    try:
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(handle, view) :]
            if durable:
                os.fsync(handle)
        finally:
            os.close(handle)
        os.replace(temporary, target)
        if durable:
            _fsync_folder(os.path.dirname(target) or ".")
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise OutputError.from_os(target, exc) from exc


class Discard(Exception):
    """Raised inside `atomic_file` to leave `path` as it was: nothing to change after all."""


@contextmanager
def atomic_file(path: Path, *, backup: bool = False) -> Iterator[IO[bytes]]:
    """A file streamed into place: it appears under `path`, durably, only if the block completes.

    `backup` keeps the previous file as `<name>.bak`. Raising `Discard` in the block leaves
    `path` untouched, silently."""
    temporary = Path(_temporary_name(os.fspath(path)))
    try:
        with temporary.open("wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        if backup and path.exists():
            shutil.copy2(path, backup_of(path))
        temporary.replace(path)
        _fsync_folder(os.fspath(path.parent))
    except Discard:
        temporary.unlink(missing_ok=True)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise OutputError.from_os(os.fspath(path), exc) from exc
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def backup_of(path: Path) -> Path:
    return path.with_name(path.name + ".bak")


def ensure_folder(folder: Path) -> Path:
    """Create `folder` (and its parents) and make sure files can be written into it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError.from_os(os.fspath(folder), exc) from exc
    if not os.access(folder, os.W_OK):
        raise OutputError(os.fspath(folder), "permission denied")
    return folder


def sync_folder(folder: Path) -> None:
    """Make every file written into `folder` with `durable=False` durable, and the folder itself."""
    try:
        os.sync()  # one flush of the file system for the whole batch
        _fsync_folder(os.fspath(folder))
    except OSError as exc:
        raise OutputError.from_os(os.fspath(folder), exc) from exc


def leftovers(folder: Path) -> list[Path]:
    """Temporary files an interrupted writer may have left behind."""
    if not folder.is_dir():
        return []
    return [path for path in folder.iterdir() if path.name.endswith(TEMPORARY_SUFFIX)]


def _temporary_name(target: str) -> str:
    # The process id keeps two writers of the same file (two exports, a preview and a render)
    # from writing into one temporary file.
    folder, name = os.path.split(target)
    return os.path.join(folder, f".{name}.{os.getpid()}{TEMPORARY_SUFFIX}")


def _fsync_folder(folder: str) -> None:
    """A rename is durable only once the folder holding it is flushed (POSIX)."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def staging_folder(folder: Path, name: str) -> Path:
    """A fresh hidden folder inside `folder` for files that appear together, or not at all.

    One left by an interrupted run is removed first: what it holds was never complete.
    """
    stage = folder / name
    try:
        if stage.exists():
            shutil.rmtree(stage)
        stage.mkdir(parents=True)
    except OSError as exc:
        raise OutputError.from_os(os.fspath(stage), exc) from exc
    return stage


def publish(stage: Path, folder: Path, remove: list[Path]) -> None:
    """Remove `remove` from `folder`, move every file of `stage` into it, drop the stage and
    flush the folder once."""
    try:
        for path in remove:
            path.unlink(missing_ok=True)
        with os.scandir(stage) as entries:
            for entry in entries:
                os.replace(entry.path, os.path.join(folder, entry.name))
        stage.rmdir()
    except OSError as exc:
        raise OutputError.from_os(os.fspath(folder), exc) from exc
    sync_folder(folder)


def discard(stage: Path) -> None:
    shutil.rmtree(stage, ignore_errors=True)
