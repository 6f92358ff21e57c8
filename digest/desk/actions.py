"""What a button of the desk does: a form's fields turned into one operation of `digest.edits`.

Every change goes through the session (`digest.pipeline.desk.DeskSession`), which applies it the
way `digest edit` does: issue.json written atomically, every edition rendered again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from digest import edits
from digest.check import Finding
from digest.errors import ConfigError
from digest.models import Issue

Operation = Callable[[Issue, tuple[str, ...]], Issue]


class Session(Protocol):
    def change(self, label: str, operation: Operation) -> list[Finding]: ...
    def drop(self, label: str, key: str) -> list[Finding]: ...
    def restore(self, label: str, post_id: str) -> list[Finding]: ...
    def add(self, label: str, post_id: str) -> list[Finding]: ...
    def retext(
        self, label: str, subject: str | None, preheader: str | None, intro: str | None
    ) -> list[Finding]: ...
    def undo(self) -> str: ...


def _pin(issue: Issue, key: str) -> Issue:
    """Into the opening section (where pinned posts open the issue), after the ones there."""
    opening = issue.sections[0]
    inside = any(post.id == edits.find(issue, key).id for post in opening.posts)
    return edits.move(issue, key, len(opening.posts) + (0 if inside else 1), opening.title)


def _edit(issue: Issue, key: str, title: str | None, summary: str | None) -> Issue:
    if title is not None:
        issue = edits.retitle(issue, key, title)
    if summary is not None:
        issue = edits.resummarise(issue, key, summary)
    return issue


MOVES: dict[str, Callable[[Issue, str], Issue]] = {
    "up": lambda issue, key: edits.step(issue, key, -1),
    "down": lambda issue, key: edits.step(issue, key, 1),
    "lead": edits.pin,
    "pin": _pin,
}
LABELS = {"lead": "make_lead"}


def perform(
    session: Session, fields: Mapping[str, str], titles: Mapping[str, str], words: dict[str, str]
) -> str:
    """Do what the form asks; what was done, in the editor's words (for the notice and undo)."""
    action, key = fields.get("action", ""), fields.get("post", "")
    title = titles.get(key, key)
    label = f"{words.get(LABELS.get(action, action), action)} « {title} »"
    if action in MOVES:
        move = MOVES[action]
        session.change(label, lambda issue, _locales: move(issue, key))
    elif action == "edit":
        new_title, summary = fields.get("title"), fields.get("summary")
        session.change(label, lambda issue, _locales: _edit(issue, key, new_title, summary))
    elif action == "drop":
        session.drop(label, key)
    elif action == "restore":
        session.restore(label, key)
    elif action == "add":
        session.add(label, key)
    elif action == "texts":
        label = words["texts"]
        session.retext(label, fields.get("subject"), fields.get("preheader"), fields.get("intro"))
    elif action == "undo":
        return words["undone"].format(label=session.undo())
    else:
        raise ConfigError(f"unknown action {action!r}")
    return words["done"].format(label=label)
