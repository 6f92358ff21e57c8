"""Archive: a static web site of every built issue, with an Atom feed of the newsletter.

Pages link to each other with relative URLs, so the folder can be served from any path; the
feed's links are absolute (feed readers need them). Every page sits where `IssueRef` says, so
publishing the folder at `<base_url>/issues/` makes the email's "view in browser" link, the
page and the Atom entry one URL, for every edition.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

from digest.errors import ConfigError, InputError
from digest.files import ensure_folder, write_atomically
from digest.i18n import long_date, translate
from digest.identity import ARCHIVE_PATH, parse_week
from digest.issuefile import ISSUE_FILE, read_issue
from digest.models import Issue

LANGUAGE_NAMES = {"fr": "Français", "en": "English"}


@dataclass(frozen=True)
class Page:
    path: str  # relative to the archive root, e.g. "2026-W47/index.html"
    content: str


@dataclass(frozen=True)
class Entry:
    issue: Issue  # its `ref` names the page, the URL and the Atom entry
    web: str  # the issue's web.html

    @property
    def depth(self) -> int:
        """How many folders deep the page sits below the archive's root."""
        return self.issue.ref.archive_file.count("/")


def load_entries(issues: Path) -> list[Entry]:
    """Every edition of every issue built under `issues` (each folder with an issue.json and a
    web.html, and its other editions in <locale>/ below it), newest first, main edition first."""
    folders = sorted(path.parent for path in issues.glob(f"*/{ISSUE_FILE}")) if issues.is_dir() else []
    editions = [
        edition
        for folder in folders
        for edition in (folder, *sorted(path.parent for path in folder.glob(f"*/{ISSUE_FILE}")))
    ]
    entries = [
        Entry(read_issue(folder), _read(folder / "web.html"))
        for folder in editions
        if (folder / "web.html").is_file()
    ]
    if not entries:
        raise ConfigError(
            f"no built issue in {issues}", hint="build one with `digest build` first, or pass --issues DIR"
        )
    entries.sort(key=lambda entry: entry.issue.edition)  # the main edition ("") first …
    entries.sort(key=lambda entry: (published(entry.issue), entry.issue.ref.slug), reverse=True)  # … stably
    return entries


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError.from_os(str(path), exc) from exc


def published(issue: Issue) -> datetime:
    """An issue's publication time: the day after the span it covers, 06:00 UTC (deterministic)."""
    year, number = parse_week(issue.week)
    last = date.fromisoformat(issue.last_day) if issue.last_day else date.fromisocalendar(year, number, 7)
    return datetime.combine(last + timedelta(days=1), time(6), tzinfo=UTC)


def site(
    entries: Sequence[Entry], *, base_url: str, title: str, locale: str, subscribe_url: str
) -> list[Page]:
    """The archive's pages: index.html, one page per edition at `IssueRef.archive_file`, feed.xml."""
    pages = [
        Page(entry.issue.ref.archive_file, _issue_page(entry, subscribe_url, entry.issue.locale))
        for entry in entries
    ]
    pages.append(Page("index.html", _index(entries, title, locale, subscribe_url)))
    pages.append(Page("feed.xml", atom(entries, base_url=base_url, title=title, locale=locale)))
    return pages


def _issue_page(entry: Entry, subscribe_url: str, locale: str) -> str:
    """The issue's web version, with links back to the archive and to subscribe."""
    back = (
        f'<p style="text-align:center;font-family:Helvetica,Arial,sans-serif;font-size:16px">'
        f'<a href="{"../" * entry.depth}index.html">{html.escape(translate(locale, "archive"))}</a> · '
        f'<a href="{html.escape(subscribe_url)}">{html.escape(translate(locale, "subscribe"))}</a></p>'
    )
    return entry.web.replace("</body>", f"{back}\n</body>", 1)


def _index(entries: Sequence[Entry], title: str, locale: str, subscribe_url: str) -> str:
    others: dict[str, list[Entry]] = {}
    for entry in entries:
        if entry.issue.edition:
            others.setdefault(entry.issue.ref.slug, []).append(entry)
    items = "\n".join(
        f'<li><a href="{html.escape(entry.issue.ref.archive_file)}">{html.escape(entry.issue.subject)}</a>'
        f" <small>({html.escape(long_date(published(entry.issue), locale))}, {len(entry.issue.posts)} articles)</small>"
        + "".join(
            f' · <a href="{html.escape(other.issue.ref.archive_file)}" hreflang="{other.issue.locale}"'
            f' lang="{other.issue.locale}">{html.escape(LANGUAGE_NAMES.get(other.issue.locale, other.issue.locale))}</a>'
            for other in others.get(entry.issue.ref.slug, [])
        )
        + "</li>"
        for entry in entries
        if not entry.issue.edition
    )
    return f"""<!DOCTYPE html>
<html lang="{locale}" dir="ltr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} — {html.escape(translate(locale, "archive"))}</title>
<link rel="alternate" type="application/atom+xml" title="{html.escape(title)}" href="feed.xml">
<style>body {{ max-width: 40rem; margin: 2rem auto; padding: 0 1rem; font: 18px/1.5 Georgia, serif; color: #1d1b18; }} a {{ color: #8a2c0d; }}</style>
</head>
<body>
<h1>{html.escape(title)}</h1>
<p><a href="{html.escape(subscribe_url)}">{html.escape(translate(locale, "subscribe"))}</a> · <a href="feed.xml">Atom</a></p>
<h2>{html.escape(translate(locale, "archive"))}</h2>
<ul>
{items}
</ul>
</body>
</html>
"""


def atom(entries: Sequence[Entry], *, base_url: str, title: str, locale: str) -> str:
    """An Atom 1.0 feed with one entry per edition of each issue, newest first (RFC 4287)."""
    root = f"{base_url.rstrip('/')}/{ARCHIVE_PATH}/"
    updated = max(published(entry.issue) for entry in entries)
    items = "\n".join(_atom_entry(entry, base_url) for entry in entries)
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="{locale}">
<title>{xml_escape(title)}</title>
<id>{xml_escape(root)}</id>
<link rel="self" type="application/atom+xml" href="{xml_escape(root)}feed.xml"/>
<link rel="alternate" type="text/html" href="{xml_escape(root)}"/>
<updated>{updated.isoformat().replace("+00:00", "Z")}</updated>
<author><name>{xml_escape(title)}</name></author>
{items}
</feed>
"""


def _atom_entry(entry: Entry, base_url: str) -> str:
    url = entry.issue.ref.web_url(base_url)
    when = published(entry.issue).isoformat().replace("+00:00", "Z")
    titles = "".join(f"<li>{html.escape(post.title)}</li>" for post in entry.issue.posts)
    return f"""<entry xml:lang="{entry.issue.locale}">
<title>{xml_escape(entry.issue.subject)}</title>
<id>{xml_escape(url)}</id>
<link rel="alternate" type="text/html" href="{xml_escape(url)}"/>
<published>{when}</published>
<updated>{when}</updated>
<summary>{xml_escape(entry.issue.preheader)}</summary>
<content type="html">{xml_escape(f"<ul>{titles}</ul>")}</content>
</entry>"""


def write_site(pages: Sequence[Page], out: Path) -> list[Path]:
    written = []
    for page in pages:
        target = out / page.path
        ensure_folder(target.parent)
        write_atomically(target, page.content)
        written.append(target)
    return written
