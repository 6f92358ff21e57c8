"""Plain factories shared by test modules (fixtures live in conftest.py)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from digest.models import Issue, Post, Section


def issue_of(posts: list[Post], **overrides: Any) -> Issue:
    """A French issue of week 47 holding `posts` in one section; any field can be overridden."""
    issue = Issue(
        newsletter="Le Digest des Médias",
        week="2026-W47",
        locale="fr",
        subject="Le Digest des Médias — semaine 47",
        preheader="Trois articles",
        sections=(Section("", tuple(posts)),),
        base_url="https://digest.example.org",
    )
    return replace(issue, **overrides)
