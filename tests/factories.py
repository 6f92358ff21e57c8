"""Plain factories shared by test modules (fixtures live in conftest.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from digest.environment import Environment
from digest.models import Issue, Post, Section

NOW = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)  # a Thursday in 2026-W48


def env_of(now: datetime = NOW, **overrides: Any) -> Environment:
    """The run's environment as the CLI would read it: a pinned clock, no variables unless given."""
    return replace(Environment(now=now, clock=lambda: now), **overrides)


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
