"""Feed bytes in, normalised `Post`s out: the reader's narrow contract, and pure.

feedparser does the parsing of RSS and Atom (never the fetching); JSON Feed, which feedparser
does not read, is turned into the same entry shape here. Either way the entries become frozen
`Post`s through one set of helpers and never travel further. Every piece of feed HTML goes
through `sanitize.safe_html`, every piece of text through `sanitize.one_line` or `safe_html_text`.
"""

from __future__ import annotations

import calendar
import codecs
import hashlib
import html
import json
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
from digest.sanitize import canonical_url, one_line, safe_html, safe_html_text, truncate_html

SUMMARY_CHARS = 420  # of text, in the email
JSON_FEED_VERSIONS = ("https://jsonfeed.org/version/1", "https://jsonfeed.org/version/1.1")


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
    """Parse one RSS, Atom or JSON Feed document. A document that is not a feed raises `FeedError`."""
    headers = {key.lower(): value for key, value in (headers or {}).items()}
    if _looks_like_json(data, headers):
        feed, entries, warnings = _read_json_feed(data, url)
    else:
        feed, entries, warnings = _read_xml_feed(data, url, headers)
    title = name or one_line(str(feed.get("title", ""))) or url
    link = str(feed.get("link", "") or "")
    language = _language(feed.get("language"))
    posts: list[Post] = []
    for number, entry in enumerate(entries, start=1):
        try:
            posts.append(_post(entry, url, title, link, language, now))
        except _SkipEntry as skip:
            warnings.append(f"entry {number} skipped: {skip}")
    return ParsedFeed(title=title, link=link, language=language, posts=tuple(posts), warnings=tuple(warnings))


def parse_or_reason(
    data: bytes, url: str, headers: Mapping[str, str], now: datetime, name: str = ""
) -> ParsedFeed | str:
    """`parse_feed` for a worker process: a failure comes back as its reason (FeedError does not
    pickle), and an unexpected error on one odd feed as a reason too, not as a lost run."""
    try:
        return parse_feed(data, url, now=now, headers=headers, name=name)
    except FeedError as exc:
        return exc.reason
    except Exception as exc:
        return f"could not be parsed ({type(exc).__name__}: {_short(exc)})"


class _SkipEntry(Exception):
    pass


def _read_xml_feed(
    data: bytes, url: str, headers: dict[str, str]
) -> tuple[Mapping[str, Any], list[Mapping[str, Any]], list[str]]:
    data, headers, charset_warning = _trust_utf8(data, headers)
    parsed = feedparser.parse(
        data,
        response_headers=headers,
        sanitize_html=False,  # we sanitise what we keep, with our own allow-list
        resolve_relative_uris=False,  # links are resolved when sanitising, against each detail's base
    )
    if not parsed.get("version"):
        raise FeedError(url, _not_a_feed_reason(parsed, data), hint="check that the URL points at a feed")
    # Plain dicts: feedparser's own `get` goes through alias tables, slowly, for every key.
    entries: list[Mapping[str, Any]] = [dict(entry) for entry in parsed.get("entries", [])]
    warnings = [charset_warning] if charset_warning else []
    problem = parsed.get("bozo_exception") if parsed.get("bozo") else None
    if problem is not None:
        if not entries and not isinstance(problem, _HARMLESS_BOZO):
            raise FeedError(url, f"not well-formed ({_short(problem)}) and no entry could be read")
        warnings.append(_bozo_warning(problem, len(entries)))
    return parsed.get("feed", {}), entries, warnings


# A feed can be perfectly usable and still be "bozo" for these: they only say how it was read.
_HARMLESS_BOZO = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)


def _bozo_warning(problem: Any, entries: int) -> str:
    if isinstance(problem, feedparser.CharacterEncodingOverride):
        return f"charset: {_short(problem)}"
    if isinstance(problem, feedparser.NonXMLContentType):
        return f"not served as XML ({_short(problem)}); read anyway"
    return f"feed is not well-formed ({_short(problem)}); used the {entries} entries that could be read"


_XML_ENCODING = re.compile(rb"""^(\s*<\?xml[^>]*?\bencoding\s*=\s*["'])([^"']*)""", re.I)
_HEADER_CHARSET = re.compile(r";\s*charset\s*=\s*[\"']?([^\"';\s]+)[\"']?", re.I)


def _trust_utf8(data: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str], str | None]:
    """Bytes that are valid UTF-8 are read as UTF-8, whatever the header or declaration says.

    A `charset=iso-8859-1` header in front of a UTF-8 feed is a common server default, and
    feedparser would believe it and produce silent mojibake ("Ã©"). Text in a single-byte
    charset with accents is practically never valid UTF-8, so validity is the better witness.
    UTF-16/32 documents (NUL bytes) are left to feedparser's own detection.
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\x00" in data[:1024]:
        return data, headers, None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return data, headers, None  # feedparser tries the declared charsets, then windows-1252
    content_type = headers.get("content-type", "")
    header_match = _HEADER_CHARSET.search(content_type)
    xml_match = _XML_ENCODING.match(data[:512])
    names = [header_match.group(1)] if header_match else []
    names += [xml_match.group(2).decode("ascii", "replace")] if xml_match else []
    wrong = [name for name in names if _codec(name) not in ("utf-8", "ascii")]
    warning = None
    if wrong and not data.isascii():
        warning = f"charset: declared {wrong[0]}, but the bytes are UTF-8; read as UTF-8"
    base_type = _HEADER_CHARSET.sub("", content_type).strip() or "application/xml"
    headers = {**headers, "content-type": f"{base_type}; charset=utf-8"}
    if xml_match:
        data = data[: xml_match.start(2)] + b"utf-8" + data[xml_match.end(2) :]
    return data, headers, warning


def _codec(name: str) -> str:
    try:
        return codecs.lookup(name).name
    except (LookupError, ValueError):  # ValueError: a name with a NUL in it
        return "unknown"


def _looks_like_json(data: bytes, headers: Mapping[str, str]) -> bool:
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    return content_type.endswith("json") or data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{"


def _post(
    entry: Mapping[str, Any],
    feed_url: str,
    source: str,
    feed_link: str,
    language: str | None,
    now: datetime,
) -> Post:
    link = _entry_link(entry)
    if not link:
        raise _SkipEntry("no link")
    try:
        url = canonical_url(link, feed_link)
    except ValueError:  # "http://[oops"
        raise _SkipEntry(f"link {link[:100]!r} is not a URL") from None
    if not url.startswith(("http://", "https://")):
        raise _SkipEntry(f"link {link!r} is not an http(s) URL")
    title = one_line(str(entry.get("title", ""))) or url
    raw_summary, base = _summary(entry)
    summary_html = truncate_html(safe_html(raw_summary, base or url), SUMMARY_CHARS)
    return Post(
        id=_post_id(entry, url, feed_url),
        feed=feed_url,
        source=source,
        title=title,
        url=url,
        published=_published(entry, now),
        author=one_line(str(entry.get("author", ""))),
        categories=_categories(entry),
        summary_html=summary_html,
        summary_text=safe_html_text(summary_html),
        image=_image(entry, raw_summary, base or url, title),
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


def _summary(entry: Mapping[str, Any]) -> tuple[str, str]:
    """The summary as HTML (or else the start of the content), and the base URL it is written against."""
    for detail in (entry.get("summary_detail") or {}, *(entry.get("content") or ())):
        value = str(detail.get("value") or "")
        if value.strip():
            base = str(detail.get("base") or "")
            if detail.get("type") == "text/plain":
                return "<p>" + html.escape(value, quote=False) + "</p>", base
            return value, base
    return "", ""


def _published(entry: Mapping[str, Any], now: datetime) -> datetime:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        # `in` first: feedparser's get("updated_parsed") falls back to published, with a warning.
        value = entry.get(key) if key in entry else None
        if isinstance(value, time.struct_time):
            try:
                # feedparser gives UTC struct_times; timegm (not mktime) keeps them in UTC.
                return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
            except (OverflowError, OSError, ValueError):
                continue  # a year 0 or 99999: try the next date, else first-seen
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
        candidates.append(
            (html.unescape(match.group(1)), one_line(alt_match.group(1)) if alt_match else "", None)
        )
    for src, alt, width in candidates:
        try:
            url = canonical_url(src, base) if src else ""
        except ValueError:  # "http://[oops": try the next one
            continue
        path = urlsplit(url).path.lower()
        if url.startswith(("http://", "https://")) and not path.endswith(_UNSAFE_IMAGE_TYPES):
            return Image(url=url, alt=alt or title, width=_int_or_none(width))
    return None


def _int_or_none(value: Any) -> int | None:
    text = str(value or "").strip()
    return int(text) if text.isdigit() and len(text) < 6 else None


def _not_a_feed_reason(parsed: Mapping[str, Any], data: bytes) -> str:
    head = data[:512].lstrip().lower()
    if not data.strip():
        return "empty response"
    if head.startswith((b"<!doctype html", b"<html")):
        return "an HTML page, not a feed"
    if parsed.get("bozo"):
        return f"not a feed: {_short(parsed.get('bozo_exception'))}"
    return "not an RSS, Atom or JSON feed"


def _short(exc: Any) -> str:
    return one_line(str(exc))[:160] or type(exc).__name__


# JSON Feed (https://jsonfeed.org/version/1.1): items are turned into the entry shape feedparser
# gives, so that `_post` normalises both alike.


def _read_json_feed(data: bytes, url: str) -> tuple[Mapping[str, Any], list[Mapping[str, Any]], list[str]]:
    warnings: list[str] = []
    text = data.decode("utf-8-sig", errors="replace")
    if "\ufffd" in text and b"\xef\xbf\xbd" not in data:
        warnings.append("charset: JSON Feed is not valid UTF-8; undecodable bytes replaced")
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise FeedError(url, f"not a feed: invalid JSON ({_short(exc)})") from exc
    if not isinstance(document, dict) or not str(document.get("version", "")).startswith(
        "https://jsonfeed.org/version/"
    ):
        raise FeedError(url, "JSON, but not a JSON Feed (no jsonfeed.org version)")
    if document["version"] not in JSON_FEED_VERSIONS:
        warnings.append(f"unknown JSON Feed version {one_line(str(document['version']))[:60]}; read as 1.1")
    items = document.get("items")
    if not isinstance(items, list):
        raise FeedError(url, "JSON Feed without an items list")
    feed = {
        "title": html.escape(_text(document.get("title"))),
        "link": _text(document.get("home_page_url")),
        "language": _text(document.get("language")),
    }
    feed_author = _json_author(document)
    # Not an object: an empty entry keeps the numbering, and is skipped for having no link.
    entries: list[Mapping[str, Any]] = [
        _json_entry(item, feed_author) if isinstance(item, dict) else {} for item in items
    ]
    return feed, entries, warnings


def _json_entry(item: Mapping[str, Any], feed_author: str) -> dict[str, Any]:
    language = _text(item.get("language"))
    if _text(item.get("summary")):
        summary = {"value": _text(item["summary"]), "type": "text/plain", "language": language}
    elif _text(item.get("content_html")):
        summary = {"value": _text(item["content_html"]), "type": "text/html", "language": language}
    else:
        summary = {"value": _text(item.get("content_text")), "type": "text/plain", "language": language}
    images = [_text(item.get(key)) for key in ("image", "banner_image") if _text(item.get(key))]
    attachments = [a for a in item.get("attachments") or [] if isinstance(a, dict)]
    return {
        "id": _text(item.get("id")),
        "link": _text(item.get("url")) or _text(item.get("external_url")),
        "title": html.escape(_text(item.get("title"))),  # JSON titles are plain text, not markup
        "summary_detail": summary,
        "published_parsed": _rfc3339(item.get("date_published")),
        "updated_parsed": _rfc3339(item.get("date_modified")),
        "author": _json_author(item) or feed_author,
        "tags": [{"term": _text(tag)} for tag in item.get("tags") or [] if isinstance(tag, str)],
        "media_content": [{"url": image, "medium": "image"} for image in images],
        "links": [
            {"rel": "enclosure", "href": _text(a.get("url")), "type": _text(a.get("mime_type"))}
            for a in attachments
        ],
    }


def _json_author(owner: Mapping[str, Any]) -> str:
    """1.1 has `authors`, a list; 1.0 had `author`, one object."""
    authors = owner.get("authors")
    if not isinstance(authors, list):
        authors = [owner.get("author")]
    names = [_text(author.get("name")) for author in authors if isinstance(author, dict)]
    return html.escape(", ".join(name for name in names if name))


def _text(value: Any) -> str:
    """A JSON value where a string is expected: numbers are fine, objects and lists are not."""
    return str(value) if isinstance(value, str | int | float) and not isinstance(value, bool) else ""


def _rfc3339(value: Any) -> time.struct_time | None:
    try:
        moment = datetime.fromisoformat(str(value).strip())
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC).timetuple()
    except (ValueError, OverflowError):
        return None
