"""Every expected failure is one line naming the file, key or flag, with the documented exit code.

Each command is run against a read-only folder, a missing file and a corrupt state database;
none may print a traceback. Root ignores permission bits, so a read-only folder is a read-only
tmpfs mounted for the test when running as root (as CI does), else a folder without write bits.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from digest.cli import app

runner = CliRunner()
ENV = {
    "DIGEST_UNSUBSCRIBE_SECRET": "a-test-secret-that-is-long-enough-1234",
    "NO_COLOR": "1",
    "DIGEST_NOW": "2026-11-26T06:00:00Z",
}


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={**ENV, **(env or {})})
    text = result.stdout + result.stderr
    assert "Traceback" not in text, text
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result.exit_code, text


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    """A folder nobody can write into, root included."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)], capture_output=True, check=False
    )
    if mounted.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"cannot mount a read-only tmpfs: {mounted.stderr.decode()}")
        pytest.skip(f"running as root and cannot mount a read-only tmpfs: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


@pytest.fixture
def built(newsletter: Path) -> Path:
    """A newsletter with its feeds gathered and week 47 built; returns the issue folder."""
    config = str(newsletter)
    assert run("gather", "--config", config)[0] == 0
    code, text = run("build", "--config", config, "--week", "2026-W47")
    assert code == 0, text
    return newsletter.parent / "issues" / "2026-W47"


def test_writing_into_a_read_only_folder_names_it(built: Path, newsletter: Path, read_only: Path) -> None:
    config = str(newsletter)
    attempts = {
        "build": ("build", "--config", config, "--week", "2026-W47", "--out", str(read_only)),
        "archive": ("archive", "--config", config, "--out", str(read_only / "site")),
        "export": ("export", str(built), "--out", str(read_only / "outbox")),
        "init": ("init", str(read_only / "news")),
        "demo": ("demo", "--out", str(read_only / "demo")),
    }
    for name, args in attempts.items():
        code, text = run(*args)
        assert code == 2, f"{name}: {text}"
        assert str(read_only) in text and "error: cannot write" in text, f"{name}: {text}"


def test_screenshots_into_a_read_only_folder_name_it(built: Path, read_only: Path) -> None:
    code, text = run("preview", str(built), "--screenshots", "--out", str(read_only / "shots"))
    assert code == 2 and "cannot write" in text and str(read_only) in text, text


def test_a_read_only_state_folder_is_named_with_what_to_do(newsletter: Path, read_only: Path) -> None:
    for args in (("gather",), ("build", "--week", "2026-W47")):
        code, text = run(*args, "--config", str(newsletter), "--state", str(read_only / "state"))
        assert code == 2, text
        assert "state" in text and str(read_only) in text and "hint:" in text, text


def test_a_corrupt_state_database_is_named_and_nothing_crashes(built: Path, newsletter: Path) -> None:
    database = newsletter.parent / ".digest" / "digest.sqlite3"
    for leftover in database.parent.glob("digest.sqlite3-*"):
        leftover.unlink()
    database.write_bytes(b"this is not a database, whatever its name says" * 100)
    config = str(newsletter)
    commands = [
        ("gather", "--config", config),
        ("build", "--config", config, "--week", "2026-W47", "--force"),
        ("send", str(built), "--smtp-url", "smtp://127.0.0.1:1", "--dry-run"),
        ("export", str(built), "--out", str(newsletter.parent / "outbox")),
    ]
    for args in commands:
        code, text = run(*args)
        assert code == 2, f"{args[0]}: {text}"
        assert str(database) in text and "move it aside" in text, f"{args[0]}: {text}"


def test_missing_files_are_named(tmp_path: Path, built: Path, newsletter: Path) -> None:
    missing = tmp_path / "nowhere"
    attempts = [
        ("render", str(missing)),
        ("check", str(missing)),
        ("export", str(missing), "--out", str(tmp_path / "out"), "--config", str(newsletter)),
        ("gather", "--config", str(missing / "digest.toml")),
        ("subscribers", "check", str(missing / "list.csv")),
        ("export", str(built), "--out", str(tmp_path / "out"), "--subscribers", str(missing / "list.csv")),
    ]
    for args in attempts:
        code, text = run(*args)
        assert code == 2, f"{args}: {text}"
        assert str(missing) in text, f"{args}: {text}"


def test_a_path_through_a_file_is_named(built: Path, newsletter: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    code, text = run("archive", "--config", str(newsletter), "--out", str(blocker / "site"))
    assert code == 2 and str(blocker) in text, text


def test_a_wrong_chromium_path_is_a_configuration_error(built: Path, tmp_path: Path) -> None:
    code, text = run(
        "preview",
        str(built),
        "--screenshots",
        "--out",
        str(tmp_path / "shots"),
        env={"DIGEST_CHROMIUM": str(tmp_path / "no-such-browser")},
    )
    assert code == 2 and "DIGEST_CHROMIUM" in text and "no-such-browser" in text, text


def test_debug_shows_the_traceback_the_message_hides(tmp_path: Path) -> None:
    result = runner.invoke(app, ["--debug", "render", str(tmp_path / "nowhere")], env=ENV)
    assert result.exit_code == 2
    assert "Traceback" in result.stdout + result.stderr


def test_nothing_to_publish_is_a_notice_with_exit_3(newsletter: Path) -> None:
    code, text = run("build", "--config", str(newsletter), "--week", "2020-W01")
    assert code == 3 and "notice:" in text and "error:" not in text, text


@pytest.mark.parametrize("variable", ["DIGEST_NOW"])
def test_a_bad_environment_variable_is_named(variable: str, newsletter: Path) -> None:
    code, text = run("gather", "--config", str(newsletter), env={variable: "next tuesday"})
    assert code == 2 and variable in text, text


def test_sending_with_a_read_only_state_folder_names_it(built: Path, read_only: Path) -> None:
    code, text = run(
        "send",
        str(built),
        "--smtp-url",
        "smtp://127.0.0.1:1",
        "--dry-run",
        "--state",
        str(read_only / "state"),
    )
    assert code == 2 and str(read_only) in text and "hint:" in text, text


def test_a_state_locked_by_another_run_says_to_wait(built: Path, newsletter: Path) -> None:
    database = newsletter.parent / ".digest" / "digest.sqlite3"
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        code, text = run("gather", "--config", str(newsletter))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert code == 2 and "locked" in text and "wait for it" in text, text


def test_a_damaged_issue_json_is_named_with_the_field(built: Path) -> None:
    (built / "issue.json").write_text('{"schema": 2, "week": 7}', encoding="utf-8")
    for command in ("render", "check"):
        code, text = run(command, str(built))
        assert code == 2 and "issue.json" in text, text
