"""The rules every reader shares: typed `Entry`s in, frozen `Post`s out. Pure.

Each reader (`parse` for RSS and Atom, `jsonfeed`) turns a document's entries into `Entry`s;
`parsed_feed` makes them `Post`s by one set of rules, so both agree:

- **identity** (`Post.id`): the entry's guid/id first; else its full link, fragment included,
  when that tells the feed's entries apart; else its title and date. Always within its feed: two
  feeds never share a post id, and copies syndicated by several feeds are told apart at
  selection (`dedupe`). Distinct entries are never merged; exact duplicates within a feed are
  reported and stored once.
- **links** are shown as published (made absolute, known tracking parameters removed);
- **dates** come from `dates` and say where they came from (`Post.published_from`);
- **pictures** from `images`; **summaries** are sanitised, cleaned of boilerplate (`summary`)
  and cut on a word or a sentence with their HTML balanced.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from digest import dates
from digest.images import Candidate, choose
from digest.models import Post
from digest.sanitize import one_line, safe_html, safe_html_text, truncate_html
from digest.summary import clean, without_flare
from digest.urls import published_url

SUMMARY_CHARS = 420  # of text, in the email


@dataclass(frozen=True)
class ParsedFeed:
    title: str
    link: str
    language: str | None
    posts: tuple[Post, ...]
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class Entry:
    """One entry as a reader found it, before the rules every reader shares make it a `Post`."""

    link: str  # as written (relative links are resolved against the feed's link)
    guid: str = ""
    title: str = ""  # may hold markup and entities: titles become one line of text
    summary: str = ""  # HTML (a reader wraps plain text with `sanitize.text_html`), sanitised later
    base: str = ""  # what the summary's relative links resolve against; "" for the post's URL
    published: datetime | None = None  # aware; None: see `date_source`
    date_source: str = dates.FIRST_SEEN  # FEED, or FIRST_SEEN (no date) / UNREADABLE (None)
    raw_date: str = ""  # as written, for a warning
    author: str = ""
    terms: tuple[str, ...] = ()  # categories, tags
    images: tuple[Candidate, ...] = ()  # best first; the content's <img>s come last
    language: str = ""
    comments: int | None = None
    shares: int | None = None


class SkipEntry(Exception):
    """This entry cannot be a post; the feed's other entries go on, with a warning."""


def parsed_feed(
    url: str,
    *,
    title: str,
    link: str,
    language: str,
    entries: Iterable[Entry],
    warnings: Iterable[str],
    now: datetime,
    name: str = "",
) -> ParsedFeed:
    """A reader's findings as our types: entries that cannot be posts are skipped with a warning."""
    source = name or one_line(title) or url
    feed_language = _language(language)
    made: list[tuple[Entry, Post]] = []
    notes = list(warnings)
    for number, entry in enumerate(entries, start=1):
        try:
            post = _post(entry, url, source, link, feed_language, now)
        except SkipEntry as skip:
            notes.append(f"entry {number} skipped: {skip}")
            continue
        made.append((entry, post))
        if post.published_from not in dates.TRUSTED:
            notes.append(_date_warning(number, entry, post))
    posts, duplicates = identify(made, url)
    if duplicates:
        notes.append(f"{duplicates} exact duplicate entr{'y' if duplicates == 1 else 'ies'} stored once")
    return ParsedFeed(
        title=source, link=link, language=feed_language, posts=tuple(posts), warnings=tuple(notes)
    )


def short(exc: object) -> str:
    """An exception (or any value) as a short one-line reason."""
    return one_line(str(exc))[:160] or type(exc).__name__


def identify(made: Sequence[tuple[Entry, Post]], feed_url: str) -> tuple[list[Post], int]:
    """Each post with its id (see the module's docstring), and how many exact duplicates were dropped."""
    links = Counter(post.url for entry, post in made if not entry.guid.strip())
    keyed: dict[str, list[Post]] = {}
    for entry, post in made:
        guid = entry.guid.strip()
        key: tuple[str, ...]
        if guid:
            key = ("guid", guid)
        elif links[post.url] == 1:
            key = ("link", post.url)
        else:
            when = dates.iso(post.published) if post.published_from == dates.FEED else ""
            key = ("title", post.title, when)
        keyed.setdefault(_hash(feed_url, *key), []).append(post)
    posts: list[Post] = []
    duplicates = 0
    for post_id, group in keyed.items():
        distinct: dict[str, Post] = {}
        for post in group:
            # Entries sharing a key but differing are told apart by what they hold, never merged.
            refined = post_id if len(group) == 1 else _hash(post_id, *_content(post))
            if refined in distinct:
                duplicates += 1
            else:
                distinct[refined] = replace(post, id=refined)
        posts.extend(distinct.values())
    return posts, duplicates


def _content(post: Post) -> tuple[str, ...]:
    return (post.url, post.title, dates.iso(post.published), post.summary_text, post.author)


def _hash(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()[:16]


def _post(
    entry: Entry, feed_url: str, source: str, feed_link: str, language: str | None, now: datetime
) -> Post:
    title = one_line(entry.title)
    url = _url(entry, feed_link)
    if not url:
        raise SkipEntry(
            "no link, guid URL or title" if not title else "no link, and the feed has no http(s) link"
        )
    title = title or url
    base = entry.base or url
    author = byline(entry.author)
    summary = clean(safe_html(without_flare(entry.summary), base), title=title, names=(source, author))
    summary_html = truncate_html(summary, SUMMARY_CHARS)
    published, published_from = dates.place(entry.published, entry.date_source, now)
    return Post(
        id="",  # given by `identify`, which sees the whole feed
        feed=feed_url,
        source=source,
        title=title,
        url=url,
        published=published,
        author=author,
        categories=_categories(entry.terms),
        summary_html=summary_html,
        summary_text=safe_html_text(summary_html),
        image=choose(entry.images, base, title),
        language=_language(entry.language) or language,
        comments=entry.comments,
        shares=entry.shares,
        published_from=published_from,
        site=feed_link if feed_link.startswith(("http://", "https://")) else "",
    )


def _url(entry: Entry, feed_link: str) -> str:
    """The entry's link as published; else a guid that is a URL; else, for an entry with a title,
    the feed's own link (a podcast episode without a page). "" when there is none."""
    guid = entry.guid.strip()
    candidates = [entry.link, guid if guid.startswith(("http://", "https://")) else ""]
    if one_line(entry.title):
        candidates.append(feed_link)
    for candidate in candidates:
        if not candidate.strip():
            continue
        try:
            url = published_url(candidate, feed_link)
        except ValueError:  # "http://[oops"
            continue
        if url.startswith(("http://", "https://")) and len(url) <= 2000:
            return url
    return ""


def _date_warning(number: int, entry: Entry, post: Post) -> str:
    what = f"entry {number} ({post.title[:60]})"
    if post.published_from == dates.UNREADABLE:
        return (
            f"{what}: date {entry.raw_date[:60]!r} could not be read; dated when first seen and left out "
            "of issues unless pinned"
        )
    when = dates.iso(post.published)[:10]
    if post.published_from == dates.FUTURE:
        return f"{what}: dated {when}, more than a day ahead; left out of issues unless pinned"
    return f"{what}: dated {when}, before 1995; left out of issues unless pinned"


_ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def byline(raw: str) -> str:
    """A name, never an address: "x@y.org (Jane)" and "Jane <x@y.org>" are "Jane"."""
    text = one_line(raw)
    if "@" not in text:
        return text
    text = _ADDRESS.sub("", text)
    text = re.sub(r"\(\s*\)|<\s*>|\[\s*\]|mailto:", "", text)
    text = text.strip(" ()<>[],;:-")
    return " ".join(text.replace("(", " ").replace(")", " ").split())


def _categories(terms: Iterable[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for raw in terms:
        term = one_line(raw)
        if term and term.casefold() not in {t.casefold() for t in seen}:
            seen[term] = None
    return tuple(seen)


_LANGUAGE = re.compile(r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$")


def _language(value: str) -> str | None:
    text = value.strip().replace("_", "-")
    return text.lower() if _LANGUAGE.match(text) else None
