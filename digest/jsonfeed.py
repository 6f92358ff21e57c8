"""JSON Feed (https://jsonfeed.org/version/1.1) bytes in, our `ParsedFeed` out: a reader of its own.

feedparser does not read JSON Feed. Items become typed `parse.Entry`s, which `parse.parsed_feed`
turns into `Post`s by the same rules as RSS and Atom entries. Pure, like `parse`.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from digest import dates
from digest.entries import Entry, ParsedFeed, parsed_feed, short
from digest.errors import FeedError
from digest.images import Candidate, html_candidates
from digest.sanitize import one_line, text_html

VERSIONS = ("jsonfeed.org/version/1", "jsonfeed.org/version/1.1")  # over http: or https:


def parse_json_feed(data: bytes, url: str, *, now: datetime, name: str = "") -> ParsedFeed:
    """Parse one JSON Feed document; one that is not a JSON Feed raises `FeedError`."""
    warnings: list[str] = []
    text = data.decode("utf-8-sig", errors="replace")
    if "\ufffd" in text and b"\xef\xbf\xbd" not in data:
        warnings.append("charset: JSON Feed is not valid UTF-8; undecodable bytes replaced")
    try:
        document = json.loads(text, strict=False)  # a raw tab or newline inside a string is common
    except (ValueError, RecursionError) as exc:
        raise FeedError(url, f"not a feed: invalid JSON ({short(exc)})") from exc
    version = str(document.get("version", "")).strip() if isinstance(document, dict) else ""
    version = version.removeprefix("https://").removeprefix("http://").removeprefix("www.").rstrip("/")
    if not version.startswith("jsonfeed.org/version/"):
        raise FeedError(url, "JSON, but not a JSON Feed (no jsonfeed.org version)")
    if version not in VERSIONS:
        warnings.append(f"unknown JSON Feed version {one_line(str(document['version']))[:60]}; read as 1.1")
    items = document.get("items")
    if not isinstance(items, list):
        raise FeedError(url, "JSON Feed without an items list")
    feed_author = _author(document)
    return parsed_feed(
        url,
        title=html.escape(_text(document.get("title"))),  # JSON titles are plain text, not markup
        link=_text(document.get("home_page_url")),
        language=_text(document.get("language")),
        # Not an object: an empty entry keeps the numbering, and is skipped for having no link.
        entries=(_entry(item, feed_author) if isinstance(item, dict) else Entry(link="") for item in items),
        warnings=warnings,
        now=now,
        name=name,
    )


def _entry(item: Mapping[str, Any], feed_author: str) -> Entry:
    images = [Candidate(_text(item.get(key))) for key in ("image", "banner_image") if _text(item.get(key))]
    attachments = [a for a in item.get("attachments") or [] if isinstance(a, dict)]
    enclosures = [
        Candidate(_text(a.get("url")), type=_text(a.get("mime_type")), must_prove=True) for a in attachments
    ]
    raw = (_text(item.get("date_published")), _text(item.get("date_modified")))
    published = _date(raw[0]) or _date(raw[1])
    source = dates.FEED if published else dates.UNREADABLE if any(raw) else dates.FIRST_SEEN
    return Entry(
        link=_text(item.get("url")) or _text(item.get("external_url")),
        guid=_text(item.get("id")),
        title=html.escape(_text(item.get("title"))),
        summary=_summary(item),
        published=published,
        date_source=source,
        raw_date=raw[0] or raw[1],
        author=_author(item) or feed_author,
        terms=tuple(_text(tag) for tag in item.get("tags") or [] if isinstance(tag, str)),
        images=(*images, *enclosures, *html_candidates(_text(item.get("content_html")))),
        language=_text(item.get("language")),
    )


def _summary(item: Mapping[str, Any]) -> str:
    """`summary` (text), else `content_html`, else `content_text`: the first one present, even blank."""
    if _text(item.get("summary")):
        value, is_text = _text(item["summary"]), True
    elif _text(item.get("content_html")):
        value, is_text = _text(item["content_html"]), False
    else:
        value, is_text = _text(item.get("content_text")), True
    if not value.strip():
        return ""
    return text_html(value) if is_text else value


def _author(owner: Mapping[str, Any]) -> str:
    """1.1 has `authors`, a list; 1.0 had `author`, one object."""
    authors = owner.get("authors")
    if not isinstance(authors, list):
        authors = [owner.get("author")]
    names = [_text(author.get("name")) for author in authors if isinstance(author, dict)]
    return html.escape(", ".join(name for name in names if name))


def _text(value: Any) -> str:
    """A JSON value where a string is expected: numbers are fine, objects and lists are not."""
    return str(value) if isinstance(value, str | int | float) and not isinstance(value, bool) else ""


def _date(value: str) -> datetime | None:
    """RFC 3339 as the spec says, or RFC 822 as some feeds write it: aware UTC, to the second."""
    return dates.read_date(value) if value.strip() else None
