"""The editor's and the robot's week: init, preview, archive and the CI workflow."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
from pathlib import Path
from typing import Any

import feedparser
import pytest
import yaml
from typer.testing import CliRunner

from digest.cli import app
from digest.preview import find_chromium

ROOT = Path(__file__).resolve().parents[1]
ENV = {
    "DIGEST_NOW": "2026-11-26T06:00:00+00:00",
    "NO_COLOR": "1",
    "DIGEST_UNSUBSCRIBE_SECRET": "s3cret-0123456789abcdefghijklmnopqrstuv",
}
runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=ENV)
    return result.exit_code, result.stdout, result.stderr


def test_from_an_empty_folder_init_gather_build_then_archive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run("init", str(tmp_path / "news"))[0] == 0
    monkeypatch.chdir(tmp_path / "news")
    assert (tmp_path / "news/.github/workflows/digest.yml").is_file()
    assert run("gather")[0] == 0
    for week in ("2026-W46", "2026-W47"):
        code, _, err = run("build", "--week", week)
        assert code == 0, err
    code, _, err = run("archive", "--out", "public")
    assert code == 0, err
    site = tmp_path / "news" / "public"
    feed = feedparser.parse((site / "feed.xml").read_bytes())
    assert feed.bozo == 0 and feed.version == "atom10"
    assert [entry.link for entry in feed.entries] == [
        "https://digest.example.org/issues/2026-W47/",
        "https://digest.example.org/issues/2026-W46/",
    ]
    index = (site / "index.html").read_text(encoding="utf-8")
    assert 'href="2026-W47/index.html"' in index and 'href="feed.xml"' in index
    assert not re.search(r'href="/', index)  # relative links: the site works from any path
    page = (site / "2026-W47" / "index.html").read_text(encoding="utf-8")
    assert 'href="../index.html"' in page and "%%" not in page and "unsubscribe/" not in page


def test_init_into_a_folder_that_has_a_newsletter_overwrites_nothing(tmp_path: Path) -> None:
    run("init", str(tmp_path))
    config = tmp_path / "digest.toml"
    config.write_text(config.read_text(encoding="utf-8") + "\n# mine\n", encoding="utf-8")
    code, _, err = run("init", str(tmp_path))
    assert code == 2 and "already holds digest.toml" in err and "--force" in err
    assert config.read_text(encoding="utf-8").endswith("# mine\n")
    assert run("init", str(tmp_path), "--force")[0] == 0
    assert not config.read_text(encoding="utf-8").endswith("# mine\n")


def test_archive_without_issues_exits_2(tmp_path: Path) -> None:
    run("init", str(tmp_path / "news"))
    code, _, err = run(
        "archive", "--config", str(tmp_path / "news/digest.toml"), "--out", str(tmp_path / "site")
    )
    assert code == 2 and "no built issue" in err
    assert not (tmp_path / "site").exists()


def test_preview_of_a_folder_that_is_not_an_issue_exits_2(tmp_path: Path) -> None:
    code, _, err = run("preview", str(tmp_path))
    assert code == 2 and "not an issue folder" in err


def test_preview_on_a_port_in_use_exits_2(tmp_path: Path) -> None:
    run("demo", "--out", str(tmp_path / "demo"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = run("preview", str(tmp_path / "demo/issues/2026-W47"), "--port", str(port))
    assert code == 2 and f"cannot listen on 127.0.0.1:{port}" in err


def test_preview_only_watches_it_never_writes_and_reloads_only_on_a_change(tmp_path: Path) -> None:
    import http.cookiejar
    import threading
    import urllib.request

    from digest.config import load_settings
    from digest.pipeline import preview_server

    run("demo", "--out", str(tmp_path / "demo"))
    issue = tmp_path / "demo/issues/2026-W47"
    server = preview_server(issue, load_settings(tmp_path / "demo/digest.toml"), host="127.0.0.1", port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(path: str) -> str:
        with browser.open(server.base + path, timeout=10) as response:
            return str(response.read().decode("utf-8"))

    def files() -> dict[str, tuple[int, bytes]]:
        return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in issue.glob("*") if p.is_file()}

    try:
        with browser.open(server.url, timeout=10) as response:  # the printed URL: token → cookie
            page = response.read().decode("utf-8")
        assert "Téléphone 375" in page and "Sombre" in page and "Monter" in page  # a French newsletter
        assert "<h1" in get("email.html")
        assert "prefers-color-scheme" in get("email.html") and "#121212 !important" in get("dark.html")
        assert "https://" in get("email.txt")
        before = get("version")
        issue_json = issue / "issue.json"
        data = json.loads(issue_json.read_text(encoding="utf-8"))
        data["intro"] = "Édito du jour"
        issue_json.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
        changed = get("version")
        assert changed != before
        assert "Édito du jour" in get("email.html") and "Édito du jour" in get("email.txt")
        assert [get("version") for _ in range(5)] == [changed] * 5  # no change, no reload
        os.utime(issue_json, (1, 1))  # saved again, same content: not a change
        written = files()
        assert get("version") == changed
        assert files() == written  # preview wrote nothing: not issue.json, not the outputs
        data["introduction"] = "oops"  # a typo mid-edit: the last good render stays on show
        issue_json.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        assert get("version") == changed and "Édito du jour" in get("email.html")
        assert json.loads(issue_json.read_text(encoding="utf-8"))["introduction"] == "oops"  # kept
    finally:
        server.shutdown()


@pytest.mark.skipif(find_chromium() is None, reason="Chromium is not installed")
def test_preview_screenshots_from_the_cli(tmp_path: Path) -> None:
    run("demo", "--out", str(tmp_path / "demo"))
    code, _, err = run(
        "preview", str(tmp_path / "demo/issues/2026-W47"), "--screenshots", "--out", str(tmp_path / "shots")
    )
    assert code == 0, err
    assert sorted(path.name for path in (tmp_path / "shots").glob("*.png")) == [
        "desktop-dark.png",
        "desktop.png",
        "phone-dark.png",
        "phone.png",
    ]


def _workflow() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / ".github/workflows/digest.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_the_workflow_is_valid_and_the_one_init_writes() -> None:
    workflow = _workflow()
    assert (ROOT / ".github/workflows/digest.yml").read_bytes() == (
        ROOT / "digest/samples/workflow.yml"
    ).read_bytes()
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as a boolean
    assert triggers["schedule"] == [{"cron": "0 6 * * 1"}] and "workflow_dispatch" in triggers
    send = workflow["jobs"]["send"]
    assert send["environment"] == "newsletter" and send["needs"] == "build"
    assert "secrets.DIGEST_SMTP_URL" in yaml.safe_dump(send)
    commands = " ".join(step.get("run", "") for job in workflow["jobs"].values() for step in job["steps"])
    for command in ("digest gather", "digest build", "digest check", "digest send"):
        assert command in commands
    assert "digest gather" in (ROOT / "docs/ci.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("codes", "runs", "status"), [([0], 1, 0), ([1], 1, 1), ([4, 4, 0], 3, 0), ([4, 4, 4], 3, 4)]
)
def test_the_send_step_runs_again_on_exit_4_only(
    tmp_path: Path, codes: list[int], runs: int, status: int
) -> None:
    """The send step's script with a fake `digest` that exits with `codes` in turn."""
    [step] = [s for s in _workflow()["jobs"]["send"]["steps"] if s.get("name") == "Send"]
    fake = tmp_path / "digest"
    calls = tmp_path / "calls"
    fake.write_text(
        f"#!/bin/bash\necho x >> {calls}\ncodes=({' '.join(map(str, codes))})\n"
        f"n=$(wc -l < {calls})\nexit ${{codes[$((n-1))]}}\n",
        encoding="utf-8",
    )
    fake.chmod(0o755)
    environment = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}", "RETRY_PAUSE": "0"}
    done = subprocess.run(["bash", "-e", "-c", step["run"]], env=environment, capture_output=True, text=True)
    assert done.returncode == status and len(calls.read_text().splitlines()) == runs
    steps = [step for job in _workflow()["jobs"].values() for step in job["steps"]]
    assert not any("cache" in str(step.get("uses", "")) for step in steps)  # the journal lives in the store
