"""The main flow, in one place: gather → select → render → deliver.

Each function here opens what it needs, calls one stage, and writes what it produced. Stages
themselves (`gather`, `selection`, `render`, `deliver`) do the work; the CLI only reports.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from digest import gather as gather_stage
from digest.check import Documents, Finding, check_issue
from digest.config import CONFIG_NAME, Settings, load_settings
from digest.deliver import Template, build_message, prepare, write_eml
from digest.errors import ConfigError, NothingToPublish
from digest.i18n import translate
from digest.issuefile import ISSUE_FILE, issue_to_json, read_issue
from digest.models import FeedReport, Issue, RenderedIssue
from digest.render import render_issue
from digest.selection import build_issue, choose_posts, last_complete_week, week_of, week_window
from digest.store import open_store
from digest.subscribers import RowProblem, read_subscribers

SAMPLES = Path(__file__).parent / "samples"
DEMO_SECRET = "demo-only-secret-do-not-use-for-real-lists"
SECRET_ENV = "DIGEST_UNSUBSCRIBE_SECRET"


def gather(
    settings: Settings, *, now: datetime, on_done: gather_stage.ProgressCallback | None = None
) -> list[FeedReport]:
    with open_store(settings.state) as store:
        return gather_stage.gather_feeds(settings.feeds, store, now=now, on_done=on_done)


@dataclass(frozen=True)
class Built:
    directory: Path
    issue: Issue
    warnings: tuple[str, ...]
    findings: tuple[Finding, ...]


def build(
    settings: Settings,
    *,
    now: datetime,
    week: str | None = None,
    out: Path | None = None,
    pins: Sequence[str] = (),
    drops: Sequence[str] = (),
) -> Built:
    """Select the week's posts and render the issue into `<out>/<week>/`."""
    week = week or last_complete_week(now, settings.zone)
    start, end = week_window(week, settings.zone)
    with open_store(settings.state) as store:
        candidates = store.posts_between(start, end)
    choice = choose_posts(candidates, settings, window_end=end, pins=pins, drops=drops)
    if not choice.posts:
        raise NothingToPublish(
            f"no posts in {week} ({len(candidates)} gathered in that week, none selected); no issue written",
            hint="run `digest gather` first, or choose another --week",
        )
    issue = build_issue(choice.posts, settings, week)
    directory = (out or settings.issues) / week
    findings = write_issue(issue, directory, settings.templates)
    return Built(directory, issue, choice.warnings, tuple(findings))


def write_issue(issue: Issue, directory: Path, templates: Path | None) -> list[Finding]:
    """Render `issue` and write issue.json, email.html, email.txt, web.html; return the checks."""
    rendered = render_issue(issue, templates)
    html, text = preview(rendered, issue)
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        ISSUE_FILE: issue_to_json(issue),
        "email.html": html,
        "email.txt": text,
        "web.html": rendered.web,
    }
    for name, content in files.items():
        _write_atomically(directory / name, content)
    return check_issue(Documents(issue, html, text))


def rerender(issue_dir: Path, templates: Path | None) -> list[Finding]:
    """Render an (edited) issue.json again; the same issue gives the same bytes."""
    return write_issue(read_issue(issue_dir), issue_dir, templates)


def check(issue_dir: Path) -> list[Finding]:
    issue = read_issue(issue_dir)
    html = (issue_dir / "email.html").read_text(encoding="utf-8")
    text = (issue_dir / "email.txt").read_text(encoding="utf-8")
    return check_issue(Documents(issue, html, text))


def preview(rendered: RenderedIssue, issue: Issue) -> tuple[str, str]:
    """The email as a reader with no name would see it: for email.html/email.txt, checks and previews."""
    values = {
        "greeting": translate(issue.locale, "hello_anonymous"),
        "unsubscribe_url": f"{issue.base_url}/unsubscribe/",
    }
    html = Template.split(rendered.html, rendered.token_prefix).fill(values, escape=True)
    text = Template.split(rendered.text, rendered.token_prefix).fill(values, escape=False)
    return html, text


@dataclass(frozen=True)
class Exported:
    directory: Path
    written: int
    skipped: int  # not active: unsubscribed, bounced, cleaned
    rejected: tuple[RowProblem, ...]
    warnings: tuple[RowProblem, ...]


def export(
    issue_dir: Path,
    settings: Settings,
    *,
    out: Path,
    fmt: str = "eml",
    subscribers: Path | None = None,
    secret: str | None = None,
) -> Exported:
    """Personalised messages for every active subscriber, written as they are made."""
    if fmt != "eml":
        raise ConfigError(f"--format {fmt!r} is not available yet", hint="use --format eml")
    secret = secret or os.environ.get(SECRET_ENV, "")
    if not secret:
        raise ConfigError(
            f"{SECRET_ENV} is not set",
            hint="export a long random secret: it signs unsubscribe links",
        )
    issue = read_issue(issue_dir)
    prepared = prepare(render_issue(issue, settings.templates), issue, settings, secret)
    out.mkdir(parents=True, exist_ok=True)
    written = skipped = 0
    rejected: list[RowProblem] = []
    warnings: list[RowProblem] = []
    for row in read_subscribers(subscribers or settings.delivery.subscribers, default_locale=issue.locale):
        warnings.extend(row.warnings)
        if row.rejected:
            rejected.append(row.rejected)
        if row.subscriber is None:
            continue
        if not row.subscriber.active:
            skipped += 1
            continue
        write_eml(build_message(prepared, row.subscriber), out, row.subscriber)
        written += 1
    return Exported(out, written, skipped, tuple(rejected), tuple(warnings))


@dataclass(frozen=True)
class Demo:
    root: Path
    reports: tuple[FeedReport, ...]
    built: Built
    exported: Exported


def scaffold(directory: Path, *, force: bool = False) -> Path:
    """A newsletter folder: digest.toml, feeds/ (samples), templates/, subscribers.csv."""
    config = directory / CONFIG_NAME
    if config.exists() and not force:
        raise ConfigError(
            f"{config} already exists", hint="choose another folder, or pass --force to overwrite"
        )
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SAMPLES / CONFIG_NAME, config)
    shutil.copyfile(SAMPLES / "subscribers.csv", directory / "subscribers.csv")
    shutil.copytree(SAMPLES / "feeds", directory / "feeds", dirs_exist_ok=True)
    templates = directory / "templates"
    templates.mkdir(exist_ok=True)
    for template in (Path(__file__).parent / "templates").iterdir():
        if template.is_file() and (force or not (templates / template.name).exists()):
            shutil.copyfile(template, templates / template.name)
    return config


def demo(out: Path, *, now: datetime) -> Demo:
    """The whole pipeline, offline, on the bundled samples, in the most recent week they cover."""
    settings = load_settings(scaffold(out, force=True))
    reports = gather(settings, now=now)
    with open_store(settings.state) as store:
        latest = store.latest_published()
    if latest is None:
        raise NothingToPublish("the bundled sample feeds gave no posts")
    built = build(settings, now=now, week=week_of(latest, settings.zone))
    exported = export(
        built.directory,
        settings,
        out=out / "messages",
        secret=os.environ.get(SECRET_ENV) or DEMO_SECRET,
    )
    return Demo(out, tuple(reports), built, exported)


def find_config(explicit: Path | None, *, state: Path | None = None) -> Settings:
    """`--config`, else `digest.toml` in the current folder or one above it."""
    if explicit:
        return load_settings(explicit, state=state)
    here = Path.cwd()
    for folder in (here, *here.parents):
        if (folder / CONFIG_NAME).is_file():
            return load_settings(folder / CONFIG_NAME, state=state)
    raise ConfigError(f"no {CONFIG_NAME} in {here} or above", hint="run `digest init`, or pass --config PATH")


def _write_atomically(path: Path, content: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(content, encoding="utf-8", newline="\n")
    temporary.replace(path)
