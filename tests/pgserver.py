"""A throwaway PostgreSQL for the tests: DIGEST_TEST_DATABASE_URL when set, else a cluster of
our own (initdb + pg_ctl into a temporary folder, listening on a Unix socket only).

Each test gets a schema of its own (`search_path` in the URL), so tests never see each other's
rows and no database has to be created. Without PostgreSQL the tests that need it skip, naming
why; in CI (CI=true) they fail instead, since CI installs it (`.ci/run`).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest

TEST_URL = "DIGEST_TEST_DATABASE_URL"


def _binaries() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(versions[-1]).parent if versions else None


def _as_owner(owner: str | None) -> list[str]:
    return ["runuser", "-u", owner, "--"] if owner else []


@contextmanager
def own_cluster(*, durable: bool = False) -> Iterator[str]:
    """A cluster in a temporary folder for the session; its URL (Unix socket, user postgres).
    Tests run it without fsync; `durable` (benchmarks) keeps PostgreSQL's defaults."""
    binaries = _binaries()
    if binaries is None:
        raise LookupError("PostgreSQL is not installed (no pg_ctl); .ci/run installs it")
    owner = "postgres" if os.geteuid() == 0 else None  # initdb refuses to run as root
    root = Path(tempfile.mkdtemp(prefix="digest-pg-"))
    if owner:
        entry = pwd.getpwnam(owner)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    data, user = root / "data", owner or pwd.getpwuid(os.geteuid()).pw_name
    run = [*_as_owner(owner)]
    subprocess.run(
        [*run, binaries / "initdb", "-D", data, "-U", user, "--auth=trust", "-E", "UTF8", "--no-sync"],
        check=True,
        capture_output=True,
    )
    options = f"-c listen_addresses='' -k {root} -c max_connections=200" + (
        "" if durable else " -c fsync=off"
    )
    subprocess.run(
        [*run, binaries / "pg_ctl", "-D", data, "-o", options, "-w", "-l", root / "log", "start"],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://{user}@/postgres?host={quote(str(root), safe='')}"
    finally:
        subprocess.run(
            [*run, binaries / "pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True
        )
        shutil.rmtree(root, ignore_errors=True)


def fresh_schema(base: str) -> str:
    """A new, empty schema in the test server, and a URL whose connections use it."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {name}")
    joiner = "&" if "?" in base else "?"
    return f"{base}{joiner}options={quote(f'-csearch_path={name}')}"


def server_or_skip(request: pytest.FixtureRequest) -> Iterator[str]:
    """The session's PostgreSQL, or a skip with the reason (a failure under CI=true)."""
    if os.environ.get(TEST_URL):
        yield os.environ[TEST_URL]
        return
    try:
        import psycopg  # noqa: F401

        cluster = own_cluster()
        url = cluster.__enter__()
    except (LookupError, ImportError, OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        reason = f"no PostgreSQL for the tests: {exc} {detail.decode(errors='replace')[-300:]}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield url
    finally:
        cluster.__exit__(None, None, None)
