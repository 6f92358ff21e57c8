"""What the quality gates look at and what they report: the checked documents and the findings."""

from __future__ import annotations

from dataclasses import dataclass

from digest.models import Issue


@dataclass(frozen=True)
class Finding:
    rule: str
    ok: bool
    message: str
    warning: bool = False  # informs, never fails the check


@dataclass(frozen=True)
class Measure:
    """One rendering of the email in a browser: its laid-out width at one viewport width."""

    width: int  # the viewport, in CSS pixels
    styled: bool  # False: every <style> removed, as Gmail's mobile webmail shows it
    scroll_width: int  # more than `width`: the email overflows
    culprits: tuple[str, ...] = ()  # the posts (titles, or links) holding what overflows


@dataclass(frozen=True)
class Documents:
    issue: Issue
    html: str
    text: str
    layout: tuple[Measure, ...] | None = None  # None: no browser measured the email
