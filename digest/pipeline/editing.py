"""Issue folders: an issue and its editions written, rendered again, edited and previewed.

The main edition's `issue.json` holds the content, each other edition's only its own part
(issuefile.py). Rendering reads the issue as its edition shows it (`read_issue`: everything
derived computed from the content as it is now), so after an edit, of the file or through
`digest edit`, every edition and every part of it follows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from digest import edits
from digest.check import Documents, Finding, check_issue
from digest.config import Settings
from digest.deliver import Template
from digest.errors import ConfigError
from digest.files import ensure_folder, write_atomically
from digest.i18n import translate
from digest.issuefile import ISSUE_FILE, issue_to_json, read_issue, read_stored
from digest.models import Issue, RenderedIssue
from digest.newsletter import relative_config
from digest.render import render_issue

OUTPUTS = ("email.html", "email.txt", "web.html")
Change = Callable[[Issue, tuple[str, ...]], Issue]


def anonymous(rendered: RenderedIssue, issue: Issue) -> tuple[str, str]:
    """The email as a reader with no name would see it: for email.html/email.txt, checks and previews."""
    values = {
        "greeting": translate(issue.locale, "hello_anonymous"),
        "unsubscribe_url": f"{issue.base_url}/unsubscribe/",
    }
    html = Template.split(rendered.html, rendered.token_prefix).fill(values, escape=True)
    text = Template.split(rendered.text, rendered.token_prefix).fill(values, escape=False)
    return html, text


def documents(shown: Issue, templates: Path | None) -> dict[str, str]:
    """email.html, email.txt and web.html of an issue as its edition shows it, in memory."""
    rendered = render_issue(shown, templates)
    html, text = anonymous(rendered, shown)
    return {"email.html": html, "email.txt": text, "web.html": rendered.web}


def write_issue(
    issue: Issue, directory: Path, templates: Path | None, *, config: str = "", main: Issue | None = None
) -> list[Finding]:
    """Write issue.json (another edition: its own part only, beside `main`) and render it.

    `config`, the newsletter's digest.toml relative to `directory`, is recorded in issue.json."""
    ensure_folder(directory)
    write_atomically(directory / ISSUE_FILE, issue_to_json(issue, config=config, main=main))
    return _write_outputs(edits.resolve(issue), directory, templates)


def _write_outputs(shown: Issue, directory: Path, templates: Path | None) -> list[Finding]:
    files = documents(shown, templates)
    for name in OUTPUTS:
        write_atomically(directory / name, files[name])
    return check_issue(Documents(shown, files["email.html"], files["email.txt"]))


def main_folder(issue_dir: Path) -> Path:
    """The main edition's folder: `issue_dir` itself, or the one above an edition's folder."""
    return issue_dir.parent if read_stored(issue_dir).edition else issue_dir


def edition_folders(issue_dir: Path) -> list[Path]:
    """Every edition of the issue `issue_dir` belongs to, the main one first."""
    main = main_folder(issue_dir)
    return [main, *(path.parent for path in sorted(main.glob(f"*/{ISSUE_FILE}")))]


def rerender(issue_dir: Path, settings: Settings) -> list[Finding]:
    """Render every edition of an (edited) issue again; issue.json is read, never rewritten.

    Same issue.json, same bytes. The findings of other editions are labelled with their language."""
    folders = edition_folders(issue_dir)
    shown = [read_issue(folder) for folder in folders]  # every edition valid before writing any
    findings: list[Finding] = []
    for folder, issue in zip(folders, shown, strict=True):
        label = f"[{issue.locale}] " if issue.edition else ""
        checked = _write_outputs(issue, folder, settings.templates)
        findings.extend(replace(finding, message=label + finding.message) for finding in checked)
    return findings


def edit(issue_dir: Path, settings: Settings, change: Change) -> tuple[Issue, list[Finding]]:
    """Apply `change` (an `edits` operation) to the issue, write its issue.json atomically, and
    render every edition again. `change` is given the stored issue and every edition's locale."""
    main = main_folder(issue_dir)
    folders = edition_folders(main)
    stored = read_stored(main)
    locales = (stored.locale, *(folder.name for folder in folders[1:]))
    changed = change(stored, locales)
    for folder in folders[1:]:  # every edition must still make sense before anything is written
        edits.resolve(edits.compose(changed, edits.part_of(read_stored(folder), stored)))
    edits.resolve(changed)
    write_atomically(main / ISSUE_FILE, issue_to_json(changed, config=relative_config(settings, main)))
    return edits.resolve(changed), rerender(main, settings)


def listing(issue_dir: Path) -> list[dict[str, object]]:
    """Every post of the issue in order, with its id (`digest edit list`)."""
    stored = read_stored(main_folder(issue_dir))
    if not stored.posts:
        raise ConfigError(f"{issue_dir}: the issue has no posts")
    return [dict(row) for row in edits.listing(stored)]
