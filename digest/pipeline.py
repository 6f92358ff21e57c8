"""The main flow, in one place: gather → select → render → deliver.

Each function here opens what it needs, calls one stage, and writes what it produced. Stages
themselves (`gather`, `selection`, `render`, `deliver`) do the work; the CLI only reports.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Container, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from digest import archive as archive_stage
from digest import exports
from digest import gather as gather_stage
from digest import preview as preview_stage
from digest.check import Documents, Finding, check_issue
from digest.config import CONFIG_NAME, Settings, load_settings
from digest.deliver import Prepared, Template, prepare
from digest.errors import ConfigError, NothingToPublish
from digest.i18n import translate
from digest.issuefile import ISSUE_FILE, issue_number, issue_to_json, read_issue, refuse_to_lose_edits
from digest.journal import Journal
from digest.models import FeedReport, Issue, RenderedIssue, Subscriber
from digest.render import render_issue
from digest.selection import build_issue, choose_posts, choose_window, week_of
from digest.sender import ProgressCallback, SendOptions, SendReport, combine, send_issue
from digest.signing import load_signer
from digest.smtp import SmtpTarget
from digest.store import open_store
from digest.subscribers import Row, RowProblem, read_subscribers

SAMPLES = Path(__file__).parent / "samples"
DEMO_SECRET = "demo-only-secret-do-not-use-for-real-lists"
SECRET_ENV = "DIGEST_UNSUBSCRIBE_SECRET"


def gather(
    settings: Settings,
    *,
    now: datetime,
    on_done: gather_stage.ProgressCallback | None = None,
    retry_gone: bool = False,
) -> list[FeedReport]:
    """Fetch every feed into the store; `retry_gone` first clears the marks left by 410 answers."""
    with open_store(settings.state) as store:
        if retry_gone:
            store.clear_gone(feed.url for feed in settings.feeds)
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
    since: str | None = None,
    until: str | None = None,
    out: Path | None = None,
    pins: Sequence[str] = (),
    drops: Sequence[str] = (),
    force: bool = False,
) -> Built:
    """Select the posts of a week (or of --since/--until) and render the issue into `<out>/<name>/`."""
    window = choose_window(settings, now=now, week=week, since=since, until=until)
    with open_store(settings.state) as store:
        candidates = store.posts_between(window.start, window.end)
    choice = choose_posts(candidates, settings, window_end=window.end, pins=pins, drops=drops)
    name = window.week if week or not (since or until) else f"{window.first_day}_{window.last_day}"
    if not choice.posts:
        raise NothingToPublish(
            f"no posts in {name} ({len(candidates)} gathered in that span, none selected); no issue written",
            hint="run `digest gather` first, or choose another --week",
        )
    directory = (out or settings.issues) / name
    number = issue_number(directory.parent, name)
    # The main issue in <name>/, each other language in <name>/<locale>/: the same posts.
    folders = {
        directory: settings,
        **{directory / locale: _in(settings, locale) for locale in settings.newsletter.variants},
    }
    issues = {
        folder: build_issue(
            choice.posts,
            local,
            window,
            pinned=choice.pinned,
            number=number,
            path=folder.relative_to(directory.parent).as_posix(),
        )
        for folder, local in folders.items()
    }
    for folder, issue in issues.items():
        refuse_to_lose_edits(folder, issue, force)
    findings: list[Finding] = []
    for folder, issue in issues.items():
        checked = write_issue(issue, folder, settings.templates)
        label = "" if folder == directory else f"[{issue.locale}] "
        findings.extend(replace(finding, message=label + finding.message) for finding in checked)
    return Built(directory, issues[directory], choice.warnings, tuple(findings))


def _in(settings: Settings, locale: str) -> Settings:
    """The same newsletter, in another language."""
    return replace(settings, newsletter=replace(settings.newsletter, locale=locale))


def write_issue(issue: Issue, directory: Path, templates: Path | None) -> list[Finding]:
    """Render `issue` and write issue.json, email.html, email.txt, web.html; return the checks."""
    rendered = render_issue(issue, templates)
    html, text = anonymous(rendered, issue)
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


def anonymous(rendered: RenderedIssue, issue: Issue) -> tuple[str, str]:
    """The email as a reader with no name would see it: for email.html/email.txt, checks and previews."""
    values = {
        "greeting": translate(issue.locale, "hello_anonymous"),
        "unsubscribe_url": f"{issue.base_url}/unsubscribe/",
    }
    html = Template.split(rendered.html, rendered.token_prefix).fill(values, escape=True)
    text = Template.split(rendered.text, rendered.token_prefix).fill(values, escape=False)
    return html, text


def screenshots(issue_dir: Path, out: Path) -> list[Path]:
    return preview_stage.screenshots(issue_dir, out)


def preview_server(
    issue_dir: Path, templates: Path | None, *, host: str, port: int
) -> preview_stage.PreviewServer:
    """A local server for the issue that re-renders it when issue.json or a template changes."""
    watched = [templates] if templates else []
    return preview_stage.PreviewServer(issue_dir, lambda: rerender(issue_dir, templates), watched, host, port)


def archive(settings: Settings, *, out: Path, issues: Path | None = None) -> list[Path]:
    """A static site of every built issue (index, one page each, Atom feed) in `out`."""
    newsletter = settings.newsletter
    pages = archive_stage.site(
        archive_stage.load_entries(issues or settings.issues),
        base_url=newsletter.base_url,
        title=newsletter.name,
        locale=newsletter.locale,
        subscribe_url=newsletter.subscribe_url or f"{newsletter.base_url}/subscribe",
    )
    return archive_stage.write_site(pages, out)


@dataclass(frozen=True)
class Exported:
    directory: Path
    written: int
    skipped: int  # not active: unsubscribed, bounced, cleaned
    rejected: tuple[RowProblem, ...]
    warnings: tuple[RowProblem, ...]
    files: tuple[Path, ...] = ()


def export(
    issue_dir: Path,
    settings: Settings,
    *,
    out: Path,
    fmt: str = "eml",
    subscribers: Path | None = None,
    secret: str | None = None,
    segment: str | None = None,
) -> Exported:
    """Personalised messages (eml, mbox) or service request bodies, written as they are made.

    Each reader gets the edition in their language when one was built (in `out/<locale>/`),
    else the main one (in `out/`); `segment` keeps only the readers with that tag.
    """
    if fmt not in exports.FORMATS:
        raise ConfigError(f"--format {fmt!r} is not one of {', '.join(exports.FORMATS)}")
    editions = _prepare_editions(issue_dir, settings, secret)
    main = next(iter(editions))
    signer = load_signer(settings, editions[main].domain) if fmt in ("eml", "mbox") else None
    unsubscribed = _unsubscribed(settings, settings.list_id)
    totals = [
        exports.export(
            fmt,
            prepared,
            _readers(subscribers or settings.delivery.subscribers, locale, main, editions, segment),
            out if locale == main else out / locale,
            sign=signer.sign if signer else None,
            listmonk_lists=settings.delivery.listmonk_lists,
            unsubscribed=unsubscribed,
        )
        for locale, prepared in editions.items()
    ]
    return Exported(
        out,
        sum(tally.written for tally in totals),
        sum(tally.skipped for tally in totals),
        tuple(problem for tally in totals for problem in tally.rejected),
        tuple(problem for tally in totals for problem in tally.warnings),
        tuple(path for tally in totals for path in tally.files),
    )


def _prepare_editions(issue_dir: Path, settings: Settings, secret: str | None) -> dict[str, Prepared]:
    """The issue in each language built, the main one first (its own folder, then each <locale>/),
    rendered once and ready for every subscriber."""
    folders = [issue_dir, *(folder.parent for folder in sorted(issue_dir.glob(f"*/{ISSUE_FILE}")))]
    editions: dict[str, Prepared] = {}
    for folder in folders:
        prepared = _prepare(folder, settings, secret)
        editions.setdefault(prepared.issue.locale, prepared)
    return editions


def _readers(
    path: Path, locale: str, main: str, editions: Container[str], segment: str | None
) -> Iterator[Row]:
    """The rows one edition goes to: readers of its language (the main edition takes every
    language without its own), in `segment`. Rejected rows and warnings are reported once, with
    the main edition; other rows pass as empty rows, so nothing counts twice."""
    for row in read_subscribers(path, default_locale=main):
        reader = row.subscriber
        edition = (reader.locale if reader.locale in editions else main) if reader else main
        wanted = reader is not None and edition == locale and _in_segment(reader, segment)
        if locale == main:
            yield row if wanted or reader is None else Row(None, None, row.warnings)
        elif wanted:
            yield Row(reader)


def _in_segment(reader: Subscriber, segment: str | None) -> bool:
    return segment is None or segment.casefold() in (tag.casefold() for tag in reader.tags)


def _unsubscribed(settings: Settings, list_id: str) -> frozenset[str]:
    """Who left through the unsubscribe link, even if the CSV does not say so yet."""
    with open_store(settings.state) as store:
        return store.unsubscribed(list_id)


def _prepare(issue_dir: Path, settings: Settings, secret: str | None) -> Prepared:
    """The issue rendered once and split at its merge tokens, ready for every subscriber."""
    secret = secret or os.environ.get(SECRET_ENV, "")
    if not secret:
        raise ConfigError(
            f"{SECRET_ENV} is not set",
            hint="export a long random secret: it signs unsubscribe links",
        )
    issue = read_issue(issue_dir)
    return prepare(render_issue(issue, settings.templates), issue, settings, secret)


def send(
    issue_dir: Path,
    settings: Settings,
    *,
    target: SmtpTarget,
    options: SendOptions,
    subscribers: Path | None = None,
    secret: str | None = None,
    on_progress: ProgressCallback | None = None,
    segment: str | None = None,
) -> SendReport:
    """Send over SMTP, resumably: the journal in the state folder records every message.

    Each reader gets the edition in their language when one was built, as `export` does.
    """
    editions = _prepare_editions(issue_dir, settings, secret)
    main = next(iter(editions))
    signer = load_signer(settings, editions[main].domain)
    unsubscribed = _unsubscribed(settings, settings.list_id)
    with Journal.open(settings.state) as journal:
        reports = [
            send_issue(
                prepared,
                _readers(subscribers or settings.delivery.subscribers, locale, main, editions, segment),
                target,
                journal,
                options,
                sign=signer.sign if signer else None,
                on_progress=on_progress,
                unsubscribed=unsubscribed,
            )
            for locale, prepared in editions.items()
        ]
    return combine(reports)


@dataclass(frozen=True)
class Demo:
    root: Path
    reports: tuple[FeedReport, ...]
    built: Built
    exported: Exported


def scaffold(directory: Path, *, force: bool = False) -> Path:
    """A newsletter folder: digest.toml, templates/, subscribers.csv, sample feeds, a CI workflow.

    Nothing that exists is overwritten unless `force`: the whole list is checked first.
    """
    shipped = Path(__file__).parent
    files = {
        directory / CONFIG_NAME: SAMPLES / CONFIG_NAME,
        directory / "subscribers.csv": SAMPLES / "subscribers.csv",
        directory / ".github" / "workflows" / "digest.yml": SAMPLES / "workflow.yml",
        **{directory / "feeds" / feed.name: feed for feed in sorted((SAMPLES / "feeds").glob("*.xml"))},
        **{
            directory / "templates" / t.name: t
            for t in sorted((shipped / "templates").iterdir())
            if t.is_file()
        },
    }
    existing = [str(target.relative_to(directory)) for target in files if target.exists()]
    if existing and not force:
        raise ConfigError(
            f"{directory} already holds {', '.join(existing[:4])}{' …' if len(existing) > 4 else ''}",
            hint="choose an empty folder, or pass --force to overwrite those files",
        )
    for target, source in files.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    return directory / CONFIG_NAME


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
