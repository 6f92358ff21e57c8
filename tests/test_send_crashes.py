"""`digest send` as a scheduler runs it: a subprocess killed with SIGKILL at random moments,
interrupted with Ctrl-C, writing its journal on a full disk, or given a state that lost its
journal. Every run's JSON balances, its exit code says what to do, and no reader ever gets the
issue twice.
"""

from __future__ import annotations

import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from digest.journal import Journal
from tests.smtpserver import Faults, Mailbox, smtp_server
from tests.test_send import ENV, newsletter_issue, people, write_list

__all__ = ["newsletter_issue"]  # the fixture, shared with test_send


def command(issue: Path, config: Path, state: Path, csv: Path, port: int, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "digest", "send", str(issue), "--config", str(config), "--state", str(state),
        "--subscribers", str(csv), "--smtp-url", f"smtp://127.0.0.1:{port}", "--json", "--timeout", "2",
        *extra,
    ]  # fmt: skip


def finished(args: list[str], **popen: Any) -> tuple[int, dict[str, Any], str]:
    done = subprocess.run(
        args, env={**os.environ, **ENV}, capture_output=True, text=True, timeout=120, **popen
    )
    report = json.loads(done.stdout) if done.stdout.strip() else {}
    if report:
        assert balanced(report), report
    return done.returncode, report, done.stderr


def balanced(report: dict[str, Any]) -> bool:
    lists = sum(len(report[key]) for key in ("failed", "deferred", "uncertain", "rejected"))
    counts = report["sent"] + report["sent_earlier"] + report["not_active"] + report["would_send"]
    return bool(report["total"] == counts + lists)


def until_done(args: list[str]) -> tuple[int, dict[str, Any], str]:
    for _ in range(6):
        code, report, err = finished(args)
        if code != 4:
            return code, report, err
    raise AssertionError(f"still exit 4 after 6 runs: {err}")


def kill_after(args: list[str], seconds: float) -> None:
    process = subprocess.Popen(
        args, env={**os.environ, **ENV}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    time.sleep(seconds)
    process.send_signal(signal.SIGKILL)
    process.wait(10)


@pytest.fixture
def setup(
    tmp_path: Path, newsletter: Path, newsletter_issue: Path
) -> Callable[[int], tuple[list[str], Path]]:
    def make(count: int) -> tuple[list[str], Path]:
        emails = people(count)
        return emails, write_list(tmp_path / "list.csv", emails)

    return make


def test_killed_at_random_moments_then_run_until_done_every_reader_gets_one(
    tmp_path: Path, newsletter: Path, newsletter_issue: Path, setup: Callable[[int], tuple[list[str], Path]]
) -> None:
    emails, csv = setup(200)
    seed = int(os.environ.get("DIGEST_TEST_SEED", time.time()))
    moments = random.Random(seed).sample([0.7, 0.9, 1.1, 1.3, 1.5], 3)
    mailbox = Mailbox(Faults(delay=0.01), keep=False)
    with smtp_server(mailbox) as server:
        args = command(newsletter_issue, newsletter, tmp_path / "state", csv, server.port)
        for moment in moments:
            kill_after(args, moment)
        code, report, err = until_done(args)
    assert code in (0, 1), err
    uncertain = {item["email"] for item in report["uncertain"]}
    assert code == (1 if uncertain else 0) and report["total"] == 200 and not report["deferred"]
    assert max(mailbox.counts.values()) == 1, f"seed {seed}"  # never twice
    assert {e for e in emails if mailbox.counts[e] == 0} <= uncertain, f"seed {seed}"  # none lost silently


def test_ctrl_c_finishes_what_is_in_flight_reports_and_exits_130(
    tmp_path: Path, newsletter: Path, newsletter_issue: Path, setup: Callable[[int], tuple[list[str], Path]]
) -> None:
    emails, csv = setup(120)
    mailbox = Mailbox(Faults(delay=0.02), keep=False)
    with smtp_server(mailbox) as server:
        args = command(newsletter_issue, newsletter, tmp_path / "state", csv, server.port)
        process = subprocess.Popen(
            args, env={**os.environ, **ENV}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        while sum(mailbox.counts.values()) < 10:
            time.sleep(0.02)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
        assert process.returncode == 130, err
        report = json.loads(out)
        assert balanced(report) and report["interrupted"] and report["deferred"] and not report["uncertain"]
        assert report["sent"] == sum(mailbox.counts.values())  # in flight finished, and counted
        code, again, _ = until_done(args)
    assert code == 0 and again["sent_earlier"] == report["sent"]
    assert mailbox.counts == dict.fromkeys(emails, 1)


def _limit_file_size(limit: int) -> Callable[[], None]:
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_full_disk_stops_the_journal_and_the_reruns_send_nobody_twice(
    tmp_path: Path, newsletter: Path, newsletter_issue: Path, setup: Callable[[int], tuple[list[str], Path]]
) -> None:
    emails, csv = setup(150)
    state = tmp_path / "state"
    with Journal.open(state):
        pass  # the state file exists; its WAL is what will not fit
    limit = (state / "digest.sqlite3").stat().st_size + 40_000
    mailbox = Mailbox(keep=False)
    with smtp_server(mailbox) as server:
        args = command(newsletter_issue, newsletter, state, csv, server.port)
        code, report, err = finished(args, preexec_fn=_limit_file_size(limit))
        assert code == 4 and "journal" in (report["stopped"] or ""), err
        assert report["deferred"] and report["sent"] < 150
        code, final, err = until_done(args)
    assert code in (0, 1), err
    assert max(mailbox.counts.values()) == 1  # 0 duplicates
    uncertain = {item["email"] for item in final["uncertain"]}
    assert {e for e in emails if mailbox.counts[e] == 0} <= uncertain


def test_a_state_without_its_wal_or_emptied_is_refused_and_sends_nothing(
    tmp_path: Path, newsletter: Path, newsletter_issue: Path, setup: Callable[[int], tuple[list[str], Path]]
) -> None:
    _emails, csv = setup(200)
    state = tmp_path / "state"
    mailbox = Mailbox(Faults(delay=0.01), keep=False)
    with smtp_server(mailbox) as server:
        args = command(newsletter_issue, newsletter, state, csv, server.port)
        started = subprocess.Popen(
            args, env={**os.environ, **ENV}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        while sum(mailbox.counts.values()) < 40:
            time.sleep(0.02)
        started.send_signal(signal.SIGKILL)
        started.wait(10)
        before = sum(mailbox.counts.values())
        copied = tmp_path / "copied"
        copied.mkdir()
        shutil.copy(state / "digest.sqlite3", copied / "digest.sqlite3")  # no -wal: the usual mistake
        code, _, err = finished(command(newsletter_issue, newsletter, copied, csv, server.port))
        assert code == 2 and "without its digest.sqlite3-wal" in err, err
        code, _, err = finished(command(newsletter_issue, newsletter, tmp_path / "empty", csv, server.port))
        assert code == 2 and "is another state" in err and "--force" in err, err
        assert sum(mailbox.counts.values()) == before  # refused before anything was sent
        code, report, err = until_done(args)  # the real state, WAL and all: resumes
    assert code in (0, 1) and max(mailbox.counts.values()) == 1, err
    assert report["total"] == 200


def test_a_test_send_goes_to_those_addresses_only_outside_the_journal(
    tmp_path: Path, newsletter: Path, newsletter_issue: Path, setup: Callable[[int], tuple[list[str], Path]]
) -> None:
    emails, csv = setup(3)
    mailbox = Mailbox()
    with smtp_server(mailbox) as server:
        args = command(newsletter_issue, newsletter, tmp_path / "state", csv, server.port)
        code, report, err = finished([*args, "--to", "editor@example.org", "--to", emails[0]])
        assert code == 0 and report["sent"] == 2 and report["total"] == 2, err
        assert mailbox.parsed("editor@example.org")["Subject"].startswith("[TEST] ")
        assert set(mailbox.counts) == {"editor@example.org", emails[0]}
        code, report, err = finished(args)  # the real send: everyone, the tester included
    assert code == 0 and report["sent"] == 3 and report["sent_earlier"] == 0, err
    assert mailbox.counts == {"editor@example.org": 1, **dict.fromkeys(emails, 1), emails[0]: 2}
    assert not mailbox.parsed(emails[1])["Subject"].startswith("[TEST]")


def test_seed_addresses_get_the_issue_first_once_per_issue(
    tmp_path: Path, newsletter: Path, newsletter_issue: Path, setup: Callable[[int], tuple[list[str], Path]]
) -> None:
    _emails, csv = setup(4)
    text = newsletter.read_text(encoding="utf-8")
    newsletter.write_text(
        text.replace("[delivery]", '[delivery]\nseed = ["seed@example.org"]', 1), encoding="utf-8"
    )
    mailbox = Mailbox()
    with smtp_server(mailbox) as server:
        args = command(
            newsletter_issue, newsletter, tmp_path / "state", csv, server.port, "--concurrency", "1"
        )
        code, report, err = finished(args)
        assert code == 0 and report["total"] == 4 and report["sent"] == 4, err
        assert report["seeds"] == [
            {"email": "seed@example.org", "status": "sent", "reason": report["seeds"][0]["reason"]}
        ]
        assert mailbox.messages[0][0] == "seed@example.org"
        code, again, _ = finished(args)
    assert code == 0 and [seed["status"] for seed in again["seeds"]] == ["earlier"]
    assert mailbox.counts["seed@example.org"] == 1
