"""Edits of a built issue, and everything derived from its content. Pure: issue in, issue out.

`issue.json` holds what the editor decides: the posts in their sections and order, their titles
and summaries, the intro, and the subject and preheader as *patterns* (`{count}`, `{first}`…).
Everything derived from that content is computed here, at render time, from the content as it is
now, so an edit can never leave a stale copy behind:

- `resolve`: the issue as one edition shows it: only the posts meant for its language, the
  subject and preheader filled from those posts (their number, the first one's title);
- `compose`: another edition (`ISSUE/<locale>/`) is the main issue's content with only its own
  language, intro, subject, preheader and section titles: a post dropped from the main issue is
  dropped from every edition, unless it is marked for some editions only (`only`);
- `pin`, `drop`, `move`, `step`, `add`, `retitle`, `resummarise`, `retext`: the operations of
  `digest edit` and of the desk (`digest preview`), each naming the post by id, a unique start
  of its id, or its URL.
"""

from __future__ import annotations

import difflib
import re
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from digest.errors import ConfigError, IssueFileError
from digest.identity import parse_week
from digest.models import Issue, Post, Section
from digest.sanitize import one_line, plain_text, safe_html

_LINE_BREAKS = re.compile(r"[\r\n\u2028\u2029]+")  # a header is one line
PLACEHOLDERS = ("name", "week", "week_number", "year", "count", "first")


# --- what is derived from the content ----------------------------------------------------------


def check_pattern(pattern: str, field: str) -> None:
    """A subject or preheader pattern: text with {placeholders}; `{{` and `}}` are braces."""
    try:
        names = [name for _, name, spec, conv in string.Formatter().parse(pattern) if name is not None]
    except ValueError as exc:
        raise IssueFileError(
            f"{field}: {pattern!r}: {exc}", hint="write a brace as {{ or }}; placeholders: " + _known()
        ) from None
    for name in names:
        if name not in PLACEHOLDERS:
            nearest = difflib.get_close_matches(name, PLACEHOLDERS, n=1)
            guess = f"did you mean {{{nearest[0]}}}? " if nearest else ""
            raise IssueFileError(
                f"{field}: unknown placeholder {{{name}}}", hint=f"{guess}placeholders: {_known()}"
            )


def _known() -> str:
    return " ".join(f"{{{name}}}" for name in PLACEHOLDERS)


def literal(text: str) -> str:
    """A finished text as a pattern that gives it back unchanged."""
    return text.replace("{", "{{").replace("}", "}}")


def shown_in(issue: Issue, post: Post) -> bool:
    editions = dict(issue.only).get(post.id)
    return editions is None or issue.locale in editions


def resolve(issue: Issue) -> Issue:
    """The issue as its edition shows it: its posts, subject and preheader from them."""
    sections = tuple(
        Section(section.title, tuple(post for post in section.posts if shown_in(issue, post)))
        for section in issue.sections
    )
    shown = replace(issue, sections=sections, only=())
    year, number = parse_week(issue.week)
    posts = shown.posts
    values: dict[str, object] = {
        "name": issue.newsletter,
        "week": issue.week,
        "week_number": number,
        "year": year,
        "count": len(posts),
        "first": posts[0].title if posts else "",
    }
    for field in ("subject", "preheader"):
        check_pattern(getattr(issue, field), field)
    return replace(
        shown,
        subject=_LINE_BREAKS.sub(" ", issue.subject.format(**values)).strip(),
        preheader=_LINE_BREAKS.sub(" ", issue.preheader.format(**values)).strip(),
    )


@dataclass(frozen=True)
class EditionPart:
    """What another edition holds of its own: all the rest is the main issue's."""

    edition: str  # its locale, which names its folder
    locale: str
    intro: str = ""
    subject: str = ""  # a pattern, like the main issue's
    preheader: str = ""
    titles: tuple[tuple[str, str], ...] = ()  # the main issue's section title → this edition's

    def title(self, main_title: str) -> str:
        return dict(self.titles).get(main_title, main_title)


def compose(main: Issue, part: EditionPart) -> Issue:
    """Another edition: the main issue's content in `part`'s language, with `part`'s own texts."""
    return replace(
        main,
        locale=part.locale,
        edition=part.edition,
        intro=part.intro,
        subject=part.subject or main.subject,
        preheader=part.preheader or main.preheader,
        sections=tuple(Section(part.title(s.title), s.posts) for s in main.sections),
    )


def part_of(edition: Issue, main: Issue) -> EditionPart:
    """What `edition` (built beside `main`) holds of its own."""
    titles = tuple(
        (ours.title, theirs.title)
        for ours, theirs in zip(main.sections, edition.sections, strict=False)
        if ours.title != theirs.title
    )
    return EditionPart(
        edition.edition, edition.locale, edition.intro, edition.subject, edition.preheader, titles
    )


# --- the editor's operations -------------------------------------------------------------------


def find(issue: Issue, key: str) -> Post:
    """The post named by `key`: its id, a unique start of its id, or its URL."""
    posts = issue.posts
    exact = [post for post in posts if key in (post.id, post.url)]
    found = exact or [post for post in posts if key and post.id.startswith(key)]
    if len(found) == 1:
        return found[0]
    if found:
        raise ConfigError(
            f"{key!r} starts the id of {len(found)} posts of {issue.ref}", hint="give more of the id"
        )
    nearest = difflib.get_close_matches(key, [p.id for p in posts] + [p.url for p in posts], n=1)
    raise ConfigError(
        f"no post {key!r} in {issue.ref}",
        hint=(f"did you mean {nearest[0]}? " if nearest else "") + "`digest edit list ISSUE` shows every id",
    )


def _without(issue: Issue, post: Post) -> tuple[Section, ...]:
    return tuple(Section(s.title, tuple(p for p in s.posts if p.id != post.id)) for s in issue.sections)


def _section_index(issue: Issue, title: str | None, default: int) -> int:
    if title is None:
        return default
    titles = [section.title for section in issue.sections]
    if title in titles:
        return titles.index(title)
    nearest = difflib.get_close_matches(title, titles, n=1)
    raise ConfigError(
        f"no section {title!r} in {issue.ref}",
        hint=(f"did you mean {nearest[0]!r}? " if nearest else "")
        + "sections: "
        + ", ".join(repr(t) for t in titles),
    )


def move(issue: Issue, key: str, position: int, section: str | None = None) -> Issue:
    """Put the post at `position` (1 = first) of `section` (by title; default: its own)."""
    post = find(issue, key)
    own = next(i for i, s in enumerate(issue.sections) if post in s.posts)
    target = _section_index(issue, section, own)
    sections = list(_without(issue, post))
    posts = list(sections[target].posts)
    if position < 1:
        raise ConfigError(f"position {position}: positions start at 1")
    posts.insert(min(position, len(posts) + 1) - 1, post)
    sections[target] = Section(sections[target].title, tuple(posts))
    return replace(issue, sections=tuple(sections))


def pin(issue: Issue, key: str) -> Issue:
    """The post first: the lead story of the issue."""
    return move(issue, key, 1, issue.sections[0].title if issue.sections else None)


def drop(issue: Issue, key: str, *, edition: str | None = None, editions: Sequence[str] = ()) -> Issue:
    """Leave the post out of every edition; with `edition`, out of that one only (`editions`:
    the locales of every edition built, the main one first)."""
    post = find(issue, key)
    only = dict(issue.only)
    if edition is not None:
        if edition not in editions:
            raise ConfigError(
                f"no edition {edition!r} in {issue.ref}", hint=f"editions: {', '.join(editions)}"
            )
        keep = tuple(code for code in only.get(post.id, tuple(editions)) if code != edition)
        if keep:
            only[post.id] = keep
            return replace(issue, only=tuple(sorted(only.items())))
    only.pop(post.id, None)
    left = replace(issue, sections=_without(issue, post), only=tuple(sorted(only.items())))
    if not left.posts:
        raise ConfigError(f"{post.id} is the last post of {issue.ref}", hint="an issue needs one post")
    return left


def step(issue: Issue, key: str, offset: int) -> Issue:
    """One place up (`offset` -1) or down (+1): past a section's edge, into the next section."""
    post = find(issue, key)
    own = next(i for i, s in enumerate(issue.sections) if post in s.posts)
    position = issue.sections[own].posts.index(post) + 1 + offset
    if 1 <= position <= len(issue.sections[own].posts):
        return move(issue, key, position, issue.sections[own].title)
    target = own + offset
    if not 0 <= target < len(issue.sections):
        return issue  # first or last of the issue already
    size = len(issue.sections[target].posts)
    return _move_to(issue, post, target, size + 1 if offset < 0 else 1)


def _move_to(issue: Issue, post: Post, target: int, position: int) -> Issue:
    sections = list(_without(issue, post))
    posts = list(sections[target].posts)
    posts.insert(position - 1, post)
    sections[target] = Section(sections[target].title, tuple(posts))
    return replace(issue, sections=tuple(sections))


def add(issue: Issue, post: Post, position: int = 0, section: str | None = None) -> Issue:
    """Put a post of the week in the issue: at `position` (1 = first; 0 = last) of `section`
    (by title; default: the last section). A dropped post comes back this way."""
    if any(post.id == p.id or post.url == p.url for p in issue.posts):
        raise ConfigError(f"{post.id} ({post.url}) is already in {issue.ref}")
    if not issue.sections:
        return replace(issue, sections=(Section("", (post,)),))
    target = _section_index(issue, section, len(issue.sections) - 1)
    size = len(issue.sections[target].posts)
    where = size + 1 if position < 1 else min(position, size + 1)
    return _move_to(issue, post, target, where)


def retext(
    issue: Issue, *, subject: str | None = None, preheader: str | None = None, intro: str | None = None
) -> Issue:
    """New subject or preheader (patterns: `{count}`, `{first}`…, one line) or introduction."""
    changes: dict[str, str] = {}
    for field, value in (("subject", subject), ("preheader", preheader)):
        if value is not None:
            changes[field] = one_line(value)
            check_pattern(changes[field], field)
    if subject is not None and not changes["subject"]:
        raise ConfigError("the subject cannot be empty")
    if intro is not None:
        paragraphs = re.split(r"\n\s*\n", intro.replace("\r\n", "\n").strip())
        changes["intro"] = "\n\n".join(" ".join(p.split()) for p in paragraphs if p.strip())
    return replace(
        issue,
        subject=changes.get("subject", issue.subject),
        preheader=changes.get("preheader", issue.preheader),
        intro=changes.get("intro", issue.intro),
    )


def _replace_post(issue: Issue, key: str, change: Callable[[Post], Post]) -> Issue:
    post = find(issue, key)
    new = change(post)
    return replace(
        issue,
        sections=tuple(
            Section(s.title, tuple(new if p.id == post.id else p for p in s.posts)) for s in issue.sections
        ),
    )


def retitle(issue: Issue, key: str, title: str) -> Issue:
    title = one_line(title)
    if not title:
        raise ConfigError("a post's title cannot be empty")
    return _replace_post(issue, key, lambda post: replace(post, title=title))


def resummarise(issue: Issue, key: str, summary: str) -> Issue:
    """A new summary, HTML or plain text: sanitised, with its plain-text twin made from it."""
    html = safe_html(summary)
    return _replace_post(
        issue, key, lambda post: replace(post, summary_html=html, summary_text=plain_text(html))
    )


def listing(issue: Issue) -> list[Mapping[str, object]]:
    """Every post in order, with what names it: for `digest edit list` and a desk."""
    only = dict(issue.only)
    return [
        {
            "position": position,
            "section": section.title,
            "id": post.id,
            "title": post.title,
            "url": post.url,
            "editions": list(only.get(post.id, ())),
        }
        for section in issue.sections
        for position, post in enumerate(section.posts, start=1)
    ]
