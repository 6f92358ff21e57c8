"""The desk's side of the issue folder: the same edits as `digest edit`, an undo, the candidates.

`digest preview` serves the desk (digest/desk/); every change it makes comes here: one
operation of `digest.edits` applied through `editing.edit` (issue.json written atomically, every
edition rendered again), or, for another edition's own texts, that edition's issue.json. The
bytes of issue.json before each change are kept, so the last change can be undone, but only
while the file is still what the desk wrote: a change made meanwhile in an editor or by
`digest edit` is never overwritten.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from digest import edits
from digest.check import Documents, Finding, check_issue
from digest.config import Settings
from digest.desk.server import DeskServer, Snapshot
from digest.environment import Environment
from digest.errors import ConfigError, DigestError
from digest.files import write_atomically
from digest.issuefile import ISSUE_FILE, issue_to_json, read_stored
from digest.models import Issue, Post
from digest.newsletter import relative_config
from digest.pipeline.editing import documents, edit, main_folder, rerender
from digest.selection import day_window, parse_day, score
from digest.store import open_store

UNDO_DEPTH = 50


@dataclass(frozen=True)
class _Undo:
    path: Path
    before: bytes
    after: bytes
    label: str


class DeskSession:
    """One issue folder (the main edition's or another's) as the desk edits it."""

    def __init__(self, issue_dir: Path, settings: Settings, env: Environment | None = None) -> None:
        self.issue_dir = issue_dir
        self.settings = settings
        self.env = env
        self.history: list[_Undo] = []
        self.dropped: list[tuple[Post, str, int]] = []  # dropped here: post, section, position
        self.lock = threading.Lock()

    @property
    def main(self) -> Path:
        return main_folder(self.issue_dir)

    def sources(self) -> list[Path]:
        """What the desk watches: a change of any of these is shown."""
        templates = self.settings.templates
        files = sorted(templates.rglob("*")) if templates.is_dir() else []
        return [self.issue_dir / ISSUE_FILE, self.issue_dir.parent / ISSUE_FILE, *files]

    def snapshot(self) -> Snapshot:
        """The issue as the files say now, rendered in memory (nothing is written)."""
        stored = read_stored(self.issue_dir)
        shown = edits.resolve(stored)
        files = documents(shown, self.settings.templates)
        findings = check_issue(Documents(shown, files["email.html"], files["email.txt"]))
        return Snapshot(stored, shown, files, tuple(findings))

    def change(self, label: str, operation: Callable[[Issue, tuple[str, ...]], Issue]) -> list[Finding]:
        """Apply one `edits` operation to the issue's posts, as `digest edit` does."""
        with self.lock:
            path = self.main / ISSUE_FILE
            before = path.read_bytes()
            _, findings = edit(self.issue_dir, self.settings, operation)
            self._remember(path, before, label)
            return findings

    def drop(self, label: str, key: str) -> list[Finding]:
        """Leave a post out of every edition; it can be restored where it was."""
        stored = read_stored(self.main)
        post = edits.find(stored, key)
        section = next(s for s in stored.sections if post in s.posts)
        where = (post, section.title, section.posts.index(post) + 1)
        findings = self.change(label, lambda issue, locales: edits.drop(issue, post.id, editions=locales))
        self.dropped = [entry for entry in self.dropped if entry[0].id != post.id] + [where]
        return findings

    def retext(
        self, label: str, subject: str | None, preheader: str | None, intro: str | None
    ) -> list[Finding]:
        """New subject, preheader or introduction of the edition the desk shows."""
        with self.lock:
            stored = read_stored(self.issue_dir)
            changed = edits.retext(stored, subject=subject, preheader=preheader, intro=intro)
            if not stored.edition:
                return self._write_main(changed, label)
            main = read_stored(self.main)
            edits.resolve(changed)
            path = self.issue_dir / ISSUE_FILE
            before = path.read_bytes()
            config = relative_config(self.settings, self.issue_dir)
            write_atomically(path, issue_to_json(changed, config=config, main=main))
            self._remember(path, before, label)
            return rerender(self.main, self.settings)

    def _write_main(self, changed: Issue, label: str) -> list[Finding]:
        path = self.main / ISSUE_FILE
        before = path.read_bytes()
        _, findings = edit(self.issue_dir, self.settings, lambda _issue, _locales: changed)
        self._remember(path, before, label)
        return findings

    def restore(self, label: str, post_id: str) -> list[Finding]:
        """A post dropped at the desk back where it was."""
        found = [entry for entry in self.dropped if entry[0].id == post_id]
        if not found:
            raise ConfigError(f"no post {post_id!r} was dropped here")
        post, section, position = found[-1]
        titles = [s.title for s in read_stored(self.main).sections]
        where = section if section in titles else None
        findings = self.change(label, lambda issue, _: edits.add(issue, post, position, where))
        self.dropped = [entry for entry in self.dropped if entry[0].id != post_id]
        return findings

    def add(self, label: str, post_id: str) -> list[Finding]:
        """A candidate of the week into the issue, at the end."""
        post = next((post for post, _ in self.candidates() if post.id == post_id), None)
        if post is None:
            raise ConfigError(f"no candidate {post_id!r} this week")
        return self.change(label, lambda issue, _: edits.add(issue, post))

    def undo(self) -> str:
        """Put issue.json back as it was before the last change; its label."""
        with self.lock:
            if not self.history:
                raise ConfigError("nothing to undo")
            last = self.history[-1]
            if last.path.read_bytes() != last.after:
                self.history.clear()
                raise ConfigError(
                    f"{last.path} changed since the desk wrote it: undo would lose that change",
                    hint="undo it in your editor, or with `digest edit`",
                )
            write_atomically(last.path, last.before)
            self.history.pop()
            try:
                rerender(self.main, self.settings)
            except DigestError:
                write_atomically(last.path, last.after)
                raise
            return last.label

    def _remember(self, path: Path, before: bytes, label: str) -> None:
        after = path.read_bytes()
        if after != before:
            self.history = [*self.history, _Undo(path, before, after, label)][-UNDO_DEPTH:]

    def dropped_posts(self) -> list[Post]:
        return [post for post, _, _ in self.dropped]

    def undo_label(self) -> str | None:
        return self.history[-1].label if self.history else None

    def candidates(self) -> list[tuple[Post, float]]:
        """The posts of the issue's days in the store that it does not hold, best score first."""
        if self.env is None:
            return []
        stored = read_stored(self.main)
        if not (stored.first_day and stored.last_day):
            return []
        zone = self.settings.zone
        window = day_window(
            parse_day(stored.first_day, "first_day"), parse_day(stored.last_day, "last_day"), zone
        )
        with open_store(self.settings.state, self.env.database_url) as store:
            posts = store.posts_between(window.start, window.end)
        held = {p.id for p in stored.posts} | {p.url for p in stored.posts}
        feeds = {feed.url: feed for feed in self.settings.feeds}
        weights = self.settings.selection.weights
        ranked = [
            (post, round(score(post, feeds.get(post.feed), window.end, weights), 2))
            for post in posts
            if post.id not in held and post.url not in held
        ]
        return sorted(ranked, key=lambda c: (-c[1], c[0].url, c[0].id))


def preview_server(
    issue_dir: Path, settings: Settings, *, host: str, port: int, env: Environment | None = None
) -> DeskServer:
    """`digest preview`: the desk for the issue on loopback. Watching renders in memory, never
    writes; a button writes issue.json (as `digest edit` does) and renders every edition again.
    With `env`, the week's other posts of the store are offered as candidates."""
    return DeskServer(DeskSession(issue_dir, settings, env), host, port)
