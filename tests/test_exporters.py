"""The exporter seam (issue 19): a package of its own adds a `--format` through the entry point
group `digest.exporters`, without touching digest; a broken one is listed with the reason."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from digest import exporters, pipeline
from digest.models import Post
from digest.services import SERVICES
from tests.factories import issue_of

ROOT = Path(__file__).resolve().parents[1]
TINY = Path(__file__).with_name("data") / "tiny-exporter"  # its module is docs/delivery.md's example
SECRET = "test-secret-0123456789abcdefghijklmnop"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny package installed, offline, into a folder of its own (the shared venv untouched)."""
    target = tmp_path_factory.mktemp("site")
    build = tmp_path_factory.mktemp("build") / "tiny-exporter"
    shutil.copytree(TINY, build)  # pip may write build files into the source folder
    pip = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
    ]
    subprocess.run(
        [*pip, "--target", str(target), str(build)],
        check=True,
        timeout=120,
    )
    return target


def digest(site: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)]),
        "DIGEST_UNSUBSCRIBE_SECRET": SECRET,
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-m", "digest", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_an_installed_exporter_is_a_format_and_a_broken_one_is_named(
    site: Path, tmp_path: Path, newsletter: Path, make_post: Callable[..., Post]
) -> None:
    shown = digest(site, "export", "--help", cwd=tmp_path).stdout
    help_text = " ".join(shown.replace("│", " ").split())
    assert "brevo, brevo-campaign, mailjet, tiny." in help_text
    assert "broken (not loaded: tiny_digest_exporter:NOT_THERE failed to load: AttributeError" in help_text
    issue_dir = tmp_path / "issues" / "2026-W47"
    pipeline.write_issue(issue_of([make_post(title="Première")]), issue_dir, None)
    readers = tmp_path / "readers.csv"
    readers.write_text(
        "email,name,locale,status\n" + "".join(f"r{n}@exämple.fr,Zoé {n},fr,active\n" for n in range(150)),
        encoding="utf-8",
    )
    out = tmp_path / "out"
    args = ["export", str(issue_dir), "--format", "tiny", "--out", str(out), "--config", str(newsletter)]
    result = digest(site, *args, "--subscribers", str(readers), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Wrote 150 messages in 2 file(s)" in result.stderr
    first = json.loads((out / "tiny-2026-W47-0001.json").read_text(encoding="utf-8"))
    assert len(first["messages"]) == 100 and first["messages"][0]["to"] == "r0@xn--exmple-cua.fr"
    assert "{{greeting_html}}" in first["html"]
    broken = digest(site, *args, "--subscribers", str(readers), "--format", "broken", cwd=tmp_path)
    assert broken.returncode == 2 and "failed to load: AttributeError" in broken.stderr


class FakePoint(EntryPoint):
    def load(self) -> object:
        brevo, ses = SERVICES["brevo"], SERVICES["ses"]
        return {"digest.services.brevo:SERVICE": brevo, "evil:SES": ses}.get(self.value, object())


def test_built_ins_are_found_without_metadata_and_cannot_be_shadowed(monkeypatch: pytest.MonkeyPatch) -> None:
    points = [
        FakePoint("brevo", "digest.services.brevo:SERVICE", exporters.GROUP),  # digest's own declaration
        FakePoint("mailjet", "evil:SES", exporters.GROUP),  # another object claiming a built-in name
        FakePoint("odd", "odd:THING", exporters.GROUP),
        FakePoint("same", "digest.services.brevo:SERVICE", exporters.GROUP),
    ]
    monkeypatch.setattr(exporters, "entry_points", lambda group: [p for p in points if p.group == group])
    registry = exporters.discover()
    assert set(SERVICES) <= set(registry.found) and registry.found["mailjet"] is SERVICES["mailjet"]
    assert "brevo" not in registry.broken and "is a built-in format" in registry.broken["mailjet"]
    assert "not an exporter" in registry.broken["odd"]
    assert "names itself 'brevo'" in registry.broken["same"]
    monkeypatch.setattr(exporters, "entry_points", lambda group: [])  # stale metadata: none at all
    assert exporters.discover().formats == ("eml", "mbox", *SERVICES)
