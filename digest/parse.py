"""Feed bytes in, normalised `Post`s out: the reader's narrow contract, and pure.

feedparser does the parsing (never the fetching); its dicts are turned into frozen `Post`s
here and never travel further. Every piece of feed HTML goes through `sanitize.safe_html`.
"""

from __future__ import annotations

import calendar
import hashlib
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import feedparser

from digest.errors import FeedError
from digest.models import Image, Post
from digest.sanitize import canonical_url, one_line, plain_text, safe_html, truncate_html

SUMMARY_CHARS = 420  # of text, in the email; the full sanitised summary stays in the store


@dataclass(frozen=True)
class ParsedFeed:
    title: str
    link: str
    language: str | None
    posts: tuple[Post, ...]
    warnings: tuple[str, ...]


def parse_feed(
    data: bytes,
    url: str,
    *,
    now: datetime,
    headers: Mapping[str, str] | None = None,
    name: str = "",
) -> ParsedFeed:
    """Parse one feed document. A document that is not a feed raises `FeedError`."""
    parsed = feedparser.parse(
        data,
        response_headers=dict(headers or {}),
        sanitize_html=False,  # we sanitise what we keep, with our own allow-list
        resolve_relative_uris=True,
    )
    if not parsed.get("version"):
        raise FeedError(
            url,
            _not_a_feed_reason(parsed, data),
            hint="check that the URL points at an RSS or Atom feed",
        )
    warnings: list[str] = []
    if parsed.get("bozo"):
        warnings.append(
            f"feed is not well-formed ({_short(parsed.get('bozo_exception'))}); used what could be read"
        )
    feed = parsed.get("feed", {})
    title = name or one_line(str(feed.get("title", ""))) or url
    link = str(feed.get("link", "") or "")
    language = _language(feed.get("language"))
    posts: list[Post] = []
    for number, entry in enumerate(parsed.get("entries", []), start=1):
        try:
            posts.append(_post(entry, url, title, link, language, now))
        except _SkipEntry as skip:
            warnings.append(f"entry {number} skipped: {skip}")
    return ParsedFeed(title=title, link=link, language=language, posts=tuple(posts), warnings=tuple(warnings))


class _SkipEntry(Exception):
    pass


def _post(
    entry: Mapping[str, Any],
    feed_url: str,
    source: str,
    feed_link: str,
    language: str | None,
    now: datetime,
) -> Post:
    base = str(entry.get("link") or feed_link or "")
    link = _entry_link(entry)
    if not link:
        raise _SkipEntry("no link")
    url = canonical_url(link, feed_link)
    if not url.startswith(("http://", "https://")):
        raise _SkipEntry(f"link {link!r} is not an http(s) URL")
    title = one_line(str(entry.get("title", ""))) or url
    raw_summary = _summary(entry)
    full_html = safe_html(raw_summary, base)
    return Post(
        id=_post_id(entry, url, feed_url),
        feed=feed_url,
        source=source,
        title=title,
        url=url,
        published=_published(entry, now),
        author=one_line(str(entry.get("author", ""))),
        categories=_categories(entry),
        summary_html=truncate_html(full_html, SUMMARY_CHARS),
        summary_text=plain_text(truncate_html(full_html, SUMMARY_CHARS)),
        image=_image(entry, raw_summary, base, title),
        language=_language(_entry_language(entry)) or language,
        comments=_count(entry, ("slash_comments", "thr_total")),
        shares=_count(entry, tuple(key for key in entry if str(key).endswith("shares"))),
    )


def _entry_link(entry: Mapping[str, Any]) -> str:
    for link in entry.get("links", []) or []:
        if link.get("rel", "alternate") == "alternate" and link.get("href"):
            return str(link["href"])
    return str(entry.get("link", "") or "")


def _post_id(entry: Mapping[str, Any], url: str, feed_url: str) -> str:
    """Stable across runs: the guid when the feed gives one, else the canonical URL.

    A guid that is a URI (http:, tag:, urn:) is taken as global, so a post syndicated by two
    feeds gets one id; a bare guid ("1234") only means something inside its own feed.
    """
    guid = str(entry.get("id") or "").strip()
    if not guid:
        key = url
    elif re.match(r"^(https?|tag|urn):", guid, re.I):
        key = guid
    else:
        key = f"{feed_url}#{guid}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def _summary(entry: Mapping[str, Any]) -> str:
    """The summary, or the start of the content when there is no summary."""
    summary = entry.get("summary_detail") or {}
    content = (entry.get("content") or [{}])[0]
    # feedparser fills `summary` from media:description too; prefer real content then.
    value = summary.get("value") or content.get("value") or ""
    if summary.get("type") == "text/plain":
        return "<p>" + _escape(value) + "</p>"
    return str(value)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _published(entry: Mapping[str, Any], now: datetime) -> datetime:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if isinstance(value, time.struct_time):
            # feedparser gives UTC struct_times; timegm (not mktime) keeps them in UTC.
            return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    return now.astimezone(UTC)


def _categories(entry: Mapping[str, Any]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for tag in entry.get("tags", []) or []:
        term = one_line(str(tag.get("term") or tag.get("label") or ""))
        if term and term.casefold() not in {t.casefold() for t in seen}:
            seen[term] = None
    return tuple(seen)


_LANGUAGE = re.compile(r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$")


def _language(value: Any) -> str | None:
    text = str(value or "").strip().replace("_", "-")
    return text.lower() if _LANGUAGE.match(text) else None


def _entry_language(entry: Mapping[str, Any]) -> Any:
    for detail in ("title_detail", "summary_detail"):
        language = (entry.get(detail) or {}).get("language")
        if language:
            return language
    return None


def _count(entry: Mapping[str, Any], keys: tuple[str, ...]) -> int | None:
    for key in keys:
        value = str(entry.get(key, "")).strip().replace(",", "").replace(" ", "")
        if value.isdigit():
            return int(value)
    return None


_IMG = re.compile(r"<img\b[^>]*?\bsrc\s*=\s*[\"']([^\"']+)[\"'][^>]*>", re.I)
_ALT = re.compile(r"\balt\s*=\s*[\"']([^\"']*)[\"']", re.I)
_UNSAFE_IMAGE_TYPES = (".svg", ".webp", ".avif")  # no fallback in many email clients


def _image(entry: Mapping[str, Any], raw_summary: str, base: str, title: str) -> Image | None:
    """media:content, media:thumbnail, an image enclosure, then the first <img> of the summary."""
    candidates: list[tuple[str, str, Any]] = []
    for media in entry.get("media_content", []) or []:
        if media.get("medium", "image") == "image" or str(media.get("type", "")).startswith("image/"):
            candidates.append((str(media.get("url", "")), "", media.get("width")))
    for thumb in entry.get("media_thumbnail", []) or []:
        candidates.append((str(thumb.get("url", "")), "", thumb.get("width")))
    for link in entry.get("links", []) or []:
        if link.get("rel") == "enclosure" and str(link.get("type", "")).startswith("image/"):
            candidates.append((str(link.get("href", "")), "", None))
    match = _IMG.search(raw_summary)
    if match:
        alt_match = _ALT.search(match.group(0))
        candidates.append((match.group(1), one_line(alt_match.group(1)) if alt_match else "", None))
    for src, alt, width in candidates:
        url = canonical_url(src, base) if src else ""
        path = urlsplit(url).path.lower()
        if url.startswith(("http://", "https://")) and not path.endswith(_UNSAFE_IMAGE_TYPES):
            return Image(url=url, alt=alt or title, width=_int_or_none(width))
    return None


def _int_or_none(value: Any) -> int | None:
    text = str(value or "").strip()
    return int(text) if text.isdigit() else None


def _not_a_feed_reason(parsed: Mapping[str, Any], data: bytes) -> str:
    head = data[:512].lstrip().lower()
    if not data.strip():
        return "empty response"
    if head.startswith((b"<!doctype html", b"<html")):
        return "an HTML page, not a feed"
    if parsed.get("bozo"):
        return f"not a feed: {_short(parsed.get('bozo_exception'))}"
    return "not an RSS or Atom feed"


def _short(exc: Any) -> str:
    return one_line(str(exc))[:160] or type(exc).__name__
