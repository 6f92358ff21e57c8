"""The weekly workflow, run as GitHub would run it, for two consecutive weeks.

Every `run:` step of `digest/samples/workflow.yml` (the file `digest init` writes) runs as
written, in order, in bash with the workflow's and the step's `env:`, each `${{ … }}` replaced by
what the runner would provide. `actions/checkout` is a fresh clone of the newsletter's
repository (a bare one standing for GitHub), so only what the workflow commits reaches the next
job and the next week; digest is installed by the workflow's own step, from a wheel of this
project. Feeds come from a local HTTP server, mail goes to a local SMTP server, and the list
service (the web app) shares the store with the job: SQLite in a state folder outside the
checkout (the single-machine way), or PostgreSQL (`DIGEST_DATABASE_URL`).
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import feedparser
import httpx
import pytest
import yaml

from digest import __version__
from digest.config import load_settings
from digest.unsubscribe import server
from digest.web.app import ListApp
from tests.feedserver import Route, feed_server
from tests.smtpserver import Mailbox, smtp_server

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / "digest" / "samples" / "workflow.yml"
SECRET = "workflow-test-secret-of-at-least-32-bytes"
MONDAYS = {"2026-W47": "2026-11-23T06:00:00+00:00", "2026-W48": "2026-11-30T06:00:00+00:00"}


def workflow() -> dict[str, Any]:
    data = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def rss(title: str, items: list[tuple[str, str]]) -> bytes:
    """A feed of (title, RFC 822 date) items, each with a summary long enough to be featured."""
    entries = "".join(
        f"<item><title>{name}</title><link>https://{title.lower()}.example.org/{i}</link>"
        f"<guid>https://{title.lower()}.example.org/{i}</guid><pubDate>{day}</pubDate>"
        f"<description>&lt;p&gt;{name}: what happened, and why it matters to readers.&lt;/p&gt;</description></item>"
        for i, (name, day) in enumerate(items)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>'
        f"<link>https://{title.lower()}.example.org/</link><description>{title}</description>{entries}"
        "</channel></rss>"
    ).encode()


WEEK_47 = [
    ("Semaine 47, premier", "Tue, 17 Nov 2026 09:00:00 GMT"),
    ("Week 47, second", "Thu, 19 Nov 2026 10:00:00 GMT"),
]
WEEK_48 = [
    ("Semaine 48, premier", "Tue, 24 Nov 2026 09:00:00 GMT"),
    ("Week 48, second", "Fri, 27 Nov 2026 10:00:00 GMT"),
]


# --- the runner ----------------------------------------------------------------------------------


class Context:
    """A `${{ }}` context: `vars.X`, `secrets.X`, `steps.build.outputs.X`…; unknown names are ''."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values

    def __getattr__(self, name: str) -> Any:
        value = self._values.get(name, "")
        return Context(value) if isinstance(value, dict) else value


def evaluate(expression: str, contexts: dict[str, Any]) -> Any:
    """GitHub's expression language, as far as the workflow uses it: names, strings, ==, ||, &&."""
    python = expression.replace("&&", " and ").replace("||", " or ").replace("!", " not ")
    python = python.replace(" not =", "!=")
    namespace = {name: Context(value) for name, value in contexts.items()}
    return eval(python, {"__builtins__": {}}, namespace)


def substitute(text: str, contexts: dict[str, Any]) -> str:
    def value(match: re.Match[str]) -> str:
        result = evaluate(match.group(1), contexts)
        return "true" if result is True else "false" if result is False else str(result)

    return re.sub(r"\$\{\{\s*(.*?)\s*\}\}", value, text, flags=re.S)


class Runner:
    """Runs the workflow's jobs on this machine, as the weekly schedule would."""

    def __init__(self, tmp: Path, origin: Path, base_env: dict[str, str], contexts: dict[str, Any]) -> None:
        self.tmp, self.origin, self.base_env, self.contexts = tmp, origin, base_env, contexts
        self.runs = 0
        self.logs: list[str] = []

    def job(self, name: str, now: str) -> dict[str, str]:
        """One job: a fresh checkout, then its steps; returns its outputs."""
        spec = workflow()["jobs"][name]
        self.runs += 1
        workspace = self.tmp / f"run{self.runs}-{name}"
        git("clone", "--quiet", str(self.origin), str(workspace))
        contexts = {**self.contexts, "steps": {}}
        if "if" in spec and not evaluate(spec["if"], contexts):
            return {}
        env = {**self.base_env, "DIGEST_NOW": now}
        env.update({key: substitute(str(value), contexts) for key, value in workflow()["env"].items()})
        for number, step in enumerate(spec["steps"]):
            if "run" in step and ("if" not in step or evaluate(step["if"], contexts)):
                outputs = self.step(step, workspace, env, contexts, number)
                if "id" in step:
                    contexts["steps"][step["id"]] = {"outputs": outputs}
        return {key: substitute(value, contexts) for key, value in spec.get("outputs", {}).items()}

    def step(
        self,
        step: dict[str, Any],
        workspace: Path,
        env: dict[str, str],
        contexts: dict[str, Any],
        number: int,
    ) -> dict[str, str]:
        output = self.tmp / f"output-{self.runs}-{number}"
        output.write_text("", encoding="utf-8")
        step_env = {key: substitute(str(value), contexts) for key, value in step.get("env", {}).items()}
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", substitute(step["run"], contexts)],
            cwd=workspace,
            env={**env, **step_env, "GITHUB_OUTPUT": str(output)},
            capture_output=True,
            text=True,
            timeout=300,
        )
        self.logs.append(f"--- {step['name']} (exit {done.returncode})\n{done.stdout}{done.stderr}")
        assert done.returncode == 0, f"{step['name']}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
        lines = output.read_text(encoding="utf-8").splitlines()
        return dict(line.split("=", 1) for line in lines if "=" in line)

    def week(self, week: str) -> tuple[dict[str, str], str]:
        """Both jobs of one scheduled run; the build job's outputs and what the send step said."""
        built = self.job("build", MONDAYS[week])
        self.contexts["needs"] = {"build": {"outputs": built}}
        mark = len(self.logs)
        self.job("send", MONDAYS[week])
        return built, "\n".join(self.logs[mark:])


def git(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout


# --- the machine: an installed digest, a repository, feeds, mail and the list service -------------


@pytest.fixture(scope="module")
def python_with_digest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bare Python environment where the workflow's install step installs a wheel of this
    project (its dependencies are those of the test environment, found through a .pth file)."""
    root = tmp_path_factory.mktemp("runner")
    wheels = root / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(wheels),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(root / "venv")], check=True, timeout=120
    )
    site = Path(
        sysconfig.get_paths(vars={"base": str(root / "venv"), "platbase": str(root / "venv")})["purelib"]
    )
    site.mkdir(parents=True, exist_ok=True)
    (site / "test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    return next(wheels.glob("digest_newsletter-*.whl"))


@contextmanager
def list_service(config: Path, state: Path, database_url: str) -> Iterator[str]:
    app = ListApp(
        load_settings(config, state=state), SECRET.encode(), database_url=database_url, mailer=lambda *_: None
    )
    httpd = server(app, "127.0.0.1", 0, quiet=True)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def newsletter_repository(tmp: Path, feeds: list[str], service: str) -> Path:
    """`digest init`, pointed at the feeds and the list service, pushed to a bare 'GitHub'."""
    work = tmp / "editor"
    subprocess.run([sys.executable, "-m", "digest", "init", str(work)], check=True, capture_output=True)
    config = work / "digest.toml"
    text = config.read_text(encoding="utf-8").split("\n[[feeds]]")[0] + "\n"
    text = text.replace(
        'unsubscribe_url = "https://digest.example.org/unsubscribe/{token}"',
        f'unsubscribe_url = "{service}/unsubscribe/{{token}}"',
    )
    text += "".join(f'[[feeds]]\nurl = "{url}"\n\n' for url in feeds)
    config.write_text(text, encoding="utf-8")
    origin = tmp / "origin.git"
    git("init", "--quiet", "--bare", "--initial-branch=main", str(origin))
    git("init", "--quiet", "--initial-branch=main", cwd=work)
    git("add", ".", cwd=work)
    git(
        "-c",
        "user.name=Editor",
        "-c",
        "user.email=editor@example.org",
        "commit",
        "--quiet",
        "-m",
        "A newsletter",
        cwd=work,
    )
    git("push", "--quiet", str(origin), "main", cwd=work)
    return origin


def unsubscribe_link(message: email.message.EmailMessage) -> str:
    match = re.search(r"<(http://[^>]+)>", str(message["List-Unsubscribe"]))
    assert match, message["List-Unsubscribe"]
    return match[1]


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_two_weeks_of_the_workflow_as_written(
    tmp_path: Path, python_with_digest: Path, database_url: str
) -> None:
    state = tmp_path / "state"  # outside every checkout: the self-hosted runner's own folder
    routes = {
        "/magazine.xml": Route(rss("Magazine", WEEK_47[:1])),
        "/blog.xml": Route(rss("Blog", WEEK_47[1:])),
    }
    mailbox = Mailbox()
    with feed_server(routes) as feeds, smtp_server(mailbox) as smtp:
        origin = newsletter_repository(
            tmp_path, [feeds.url("/magazine.xml"), feeds.url("/blog.xml")], "http://placeholder"
        )
        clone = tmp_path / "config-copy"
        git("clone", "--quiet", str(origin), str(clone))
        with list_service(clone / "digest.toml", state, database_url) as service:
            # the list service's address is known only now: the editor commits it
            config = clone / "digest.toml"
            config.write_text(
                config.read_text(encoding="utf-8").replace("http://placeholder", service), encoding="utf-8"
            )
            git(
                "-c",
                "user.name=Editor",
                "-c",
                "user.email=e@example.org",
                "commit",
                "--quiet",
                "-am",
                "List service",
                cwd=clone,
            )
            git("push", "--quiet", "origin", "main", cwd=clone)
            base_env = {
                "PATH": f"{python_with_digest.parents[1] / 'venv' / 'bin'}{os.pathsep}{os.environ['PATH']}",
                "HOME": str(tmp_path),
                "PIP_NO_DEPS": "1",  # offline: the dependencies are those of the test environment
                "PIP_NO_INDEX": "1",
                "PIP_DISABLE_PIP_VERSION_CHECK": "1",
                "GITHUB_EVENT_NAME": "schedule",
            }
            if os.environ.get("DIGEST_CHROMIUM"):
                base_env["DIGEST_CHROMIUM"] = os.environ["DIGEST_CHROMIUM"]
            contexts = {
                "vars": {"DIGEST_PIP_SPEC": str(python_with_digest), "DIGEST_STATE": str(state)},
                "secrets": {
                    "DIGEST_DATABASE_URL": database_url,
                    "DIGEST_SMTP_URL": f"smtp://127.0.0.1:{smtp.port}",
                    "DIGEST_UNSUBSCRIBE_SECRET": SECRET,
                },
                "inputs": {"week": "", "send": False},
                "github": {"event_name": "schedule", "ref_name": "main"},
            }
            runner = Runner(tmp_path, origin, base_env, contexts)

            first, said = runner.week("2026-W47")
            assert first == {"built": "true", "issue": "issues/2026-W47"}, said
            readers = dict(mailbox.counts)
            assert readers and all(count == 1 for count in readers.values())
            leaving = "amelie.durand@example.org"
            answer = httpx.post(
                unsubscribe_link(mailbox.parsed(leaving)), data={"List-Unsubscribe": "One-Click"}
            )
            assert answer.status_code == 200  # between the weeks, in the list service

            routes["/magazine.xml"].body = rss("Magazine", WEEK_47[:1] + WEEK_48[:1])
            routes["/blog.xml"].body = rss("Blog", WEEK_47[1:] + WEEK_48[1:])
            second, said = runner.week("2026-W48")
            assert second == {"built": "true", "issue": "issues/2026-W48"}, said
            assert mailbox.counts[leaving] == 1  # the unsubscribe was honoured
            assert all(mailbox.counts[reader] == 2 for reader in readers if reader != leaving)

            delivered = len(mailbox.messages)
            _, said = runner.week("2026-W48")  # the whole run again: nobody is mailed twice
            assert len(mailbox.messages) == delivered, said
            assert "Done:" in said

    site = tmp_path / "latest"
    git("clone", "--quiet", str(origin), str(site))
    issue_48 = (site / "issues/2026-W48/issue.json").read_text(encoding="utf-8")
    assert '"number": 2' in issue_48 and '"number": 1' in (site / "issues/2026-W47/issue.json").read_text(
        encoding="utf-8"
    )
    archive = feedparser.parse((site / "site/issues/feed.xml").read_bytes())
    assert [entry.link for entry in archive.entries] == [
        "https://digest.example.org/issues/2026-W48/",
        "https://digest.example.org/issues/2026-W47/",
    ]
    for week in ("2026-W47", "2026-W48"):
        assert (site / "site/issues" / week / "index.html").is_file()
        assert f'href="{week}/index.html"' in (site / "site/issues/index.html").read_text(encoding="utf-8")
    last = [data for rcpt, data in mailbox.messages if rcpt == "jerome.lefevre@example.net"][-1]
    message = email.message_from_bytes(last, policy=email.policy.default)
    assert "semaine 48" in str(message["Subject"]) and "n°2" not in str(message["Subject"])
    assert "Semaine 48, premier" in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_the_workflow_installs_this_project_by_a_pinned_spec_never_the_bare_name() -> None:
    flow = workflow()
    spec = flow["env"]["DIGEST_PIP_SPEC"]
    default = re.search(r"\|\|\s*'([^']+)'", spec)
    assert "vars.DIGEST_PIP_SPEC" in spec and default
    assert default[1].startswith("digest-newsletter[postgres] @ git+https://")
    assert default[1].endswith(f"@v{__version__}")  # the release this file was written by
    installs = [
        step["run"]
        for job in flow["jobs"].values()
        for step in job["steps"]
        if step.get("name") == "Install digest"
    ]
    assert installs and all('"$DIGEST_PIP_SPEC"' in run for run in installs)
    assert "actions/cache" not in WORKFLOW.read_text(encoding="utf-8").split("\njobs:")[1]
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^name = "digest-newsletter"', pyproject, flags=re.M)
    assert shutil.which("git")
