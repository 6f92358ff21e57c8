"""Gather, build, check, preview and archive: the issue's half of the pipeline (see __init__)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from digest import archive as archive_stage
from digest import gather as gather_stage
from digest import layout
from digest import preview as preview_stage
from digest.check import Documents, Finding, check_issue
from digest.config import Settings
from digest.environment import Environment
from digest.errors import InputError, NothingToPublish
from digest.identity import IssueRef
from digest.issuefile import ISSUE_FILE, issue_to_json, numbers_in, read_issue, refuse_to_lose_edits
from digest.models import FeedReport, Issue, Post
from digest.newsletter import relative_config
from digest.pipeline.editing import documents, rerender, write_issue
from digest.selection import Editorial, build_issue, choose_posts, choose_window, day_window, parse_day
from digest.store import open_store


def editorial(settings: Settings) -> Editorial:
    """What selection needs of the settings."""
    newsletter = settings.newsletter
    return Editorial(
        newsletter.name,
        newsletter.locale,
        settings.zone,
        newsletter.base_url,
        settings.feeds,
        settings.selection,
    )


def gather(
    settings: Settings,
    env: Environment,
    *,
    on_done: gather_stage.ProgressCallback | None = None,
    retry_gone: bool = False,
) -> list[FeedReport]:
    """Fetch every feed into the store; `retry_gone` first clears the marks left by 410 answers."""
    with open_store(settings.state, env.database_url) as store:
        if retry_gone:
            store.clear_gone(feed.url for feed in settings.feeds)
        return gather_stage.gather_feeds(settings.feeds, store, now=env.now, on_done=on_done)


def stored_posts(
    settings: Settings,
    env: Environment,
    *,
    feed: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> list[Post]:
    """The stored posts (of one feed, published between two days of the newsletter's zone)."""
    start = (
        day_window(parse_day(since, "--since"), parse_day(since, "--since"), settings.zone).start
        if since
        else None
    )
    end = (
        day_window(parse_day(until, "--until"), parse_day(until, "--until"), settings.zone).end
        if until
        else None
    )
    with open_store(settings.state, env.database_url) as store:
        return store.posts(feed=feed, since=start, until=end)


@dataclass(frozen=True)
class Built:
    directory: Path
    issue: Issue
    warnings: tuple[str, ...]
    findings: tuple[Finding, ...]


def build(
    settings: Settings,
    env: Environment,
    *,
    week: str | None = None,
    since: str | None = None,
    until: str | None = None,
    out: Path | None = None,
    pins: Sequence[str] = (),
    drops: Sequence[str] = (),
    existing: str = "refuse",
) -> Built:
    """Select the posts of a week (or of --since/--until) and render every edition of the issue
    into `<out>/<slug>/` (the main one) and `<out>/<slug>/<locale>/` (each other language).

    `existing` says what to do with an issue built already for that span: "refuse" to replace it
    when it differs (edited by hand, or new posts), "replace" it, or "keep" it as it is (edits
    included) and only render it again, so a scheduled job run twice never changes an issue it
    may have sent."""
    window = choose_window(settings.zone, now=env.now, week=week, since=since, until=until)
    issues_dir = out or settings.issues
    folder = issues_dir / window.ref.path
    if existing == "keep" and (folder / ISSUE_FILE).is_file():
        kept = f"{window.ref} was built already: kept as it is (edits included) and rendered again"
        return Built(folder, read_issue(folder), (*window.warnings, kept), tuple(rerender(folder, settings)))
    with open_store(settings.state, env.database_url) as store:
        candidates = store.posts_between(window.start, window.end)
    news = editorial(settings)
    choice = choose_posts(candidates, news, window_end=window.end, pins=pins, drops=drops)
    if not choice.posts:
        raise NothingToPublish(
            f"no posts in {window.ref} ({len(candidates)} gathered in that span, none selected); no issue written",
            hint=" ".join([*window.warnings, "run `digest gather` first, or choose another --week"]),
        )
    number = _number(settings, issues_dir, window.ref, env)
    editions = [news, *(news.in_locale(locale) for locale in settings.newsletter.variants)]
    issues = [
        replace(
            build_issue(choice.posts, edition, window, pinned=choice.pinned, number=number, edition=code),
            postal_address=settings.newsletter.postal_address,
            utm=settings.utm.parameters(window.week, window.ref.slug),
        )
        for edition, code in zip(editions, ["", *settings.newsletter.variants], strict=True)
    ]
    folders = [issues_dir / issue.ref.path for issue in issues]
    for issue, folder in zip(issues, folders, strict=True):
        content = issue_to_json(issue, config=relative_config(settings, folder), main=issues[0])
        refuse_to_lose_edits(folder, content, existing == "replace")
    findings: list[Finding] = []
    for issue, folder in zip(issues, folders, strict=True):
        config = relative_config(settings, folder)
        checked = write_issue(issue, folder, settings.templates, config=config, main=issues[0])
        label = f"[{issue.locale}] " if issue.edition else ""
        findings.extend(replace(finding, message=label + finding.message) for finding in checked)
    return Built(folders[0], read_issue(folders[0]), (*window.warnings, *choice.warnings), tuple(findings))


def _number(settings: Settings, issues_dir: Path, ref: IssueRef, env: Environment) -> int:
    """The issue's number: given once, at its first build, and kept; a new store continues the
    series found in the issues folder."""
    known = numbers_in(issues_dir)
    with open_store(settings.state, env.database_url) as store:
        return store.issue_number(
            ref.slug, env.now, known=known.get(ref.slug), floor=max(known.values(), default=0)
        )


def check(
    issue_dir: Path,
    env: Environment | None = None,
    *,
    browser: bool = True,
    settings: Settings | None = None,
) -> list[Finding]:
    """The quality gates; with a Chromium ($DIGEST_CHROMIUM, else on PATH) and `browser`, the
    layout is measured in it at 320, 375 and 600 px, else only the static layout pass runs.

    With the newsletter's `settings`, the files are also compared with what issue.json renders
    to now: an edit not rendered yet fails (what is sent is rendered from issue.json)."""
    issue = read_issue(issue_dir)
    html, text = (_read(issue_dir / name) for name in ("email.html", "email.txt"))
    chromium = preview_stage.find_chromium(env.chromium if env else "") if browser else None
    measured = layout.measure(html, chromium) if chromium else None
    findings = check_issue(Documents(issue, html, text, layout=measured))
    if settings is not None:
        fresh = documents(issue, settings.templates)
        stale = [
            name for name in ("email.html", "email.txt", "web.html") if _read(issue_dir / name) != fresh[name]
        ]
        message = (
            f"{', '.join(stale)} older than issue.json: run `digest render`" if stale else "files up to date"
        )
        findings.append(Finding("R1", not stale, message))
    return findings


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError.from_os(str(path), exc) from exc


def screenshots(issue_dir: Path, out: Path, env: Environment) -> list[Path]:
    return preview_stage.screenshots(issue_dir, out, preview_stage.find_chromium(env.chromium))


def archive(settings: Settings, *, out: Path, issues: Path | None = None) -> list[Path]:
    """A static site of every built issue and edition (index, one page each, Atom feed) in `out`."""
    newsletter = settings.newsletter
    pages = archive_stage.site(
        archive_stage.load_entries(issues or settings.issues),
        base_url=newsletter.base_url,
        title=newsletter.name,
        locale=newsletter.locale,
        subscribe_url=newsletter.subscribe_url or f"{newsletter.base_url}/subscribe",
    )
    return archive_stage.write_site(pages, out)
