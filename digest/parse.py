"""Feed bytes in, normalised `Post`s out: the reader's narrow contract, and pure.

Two readers: RSS and Atom here, through feedparser (never the fetching), and JSON Feed in
`jsonfeed`. Each turns its entries into typed `entries.Entry`s; `entries.parsed_feed` makes them
frozen `Post`s by one set of rules (identity, links, dates, pictures, summaries), so that both
agree.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urljoin

import feedparser

from digest import dates, fastfeed
from digest.entries import Entry, ParsedFeed, SkipEntry, parsed_feed, short
from digest.errors import FeedError
from digest.images import html_candidates, xml_candidates
from digest.sanitize import text_html

__all__ = [
    "Entry",
    "ParsedFeed",
    "SkipEntry",
    "parse_feed",
    "parse_or_reason",
    "parsed_feed",
    "read_fast",
    "short",
]


def parse_feed(
    data: bytes,
    url: str,
    *,
    now: datetime,
    headers: Mapping[str, str] | None = None,
    name: str = "",
    fast: bool = True,
) -> ParsedFeed:
    """Parse one RSS, Atom or JSON Feed document. A document that is not a feed raises `FeedError`.

    RSS and Atom are read by `fastfeed` when it fully understands the document, else (or with
    `fast=False`) by feedparser: both give the same posts (tests/test_fastfeed.py)."""
    headers = {key.lower(): value for key, value in (headers or {}).items()}
    if _looks_like_json(data, headers):
        # Imported here: `jsonfeed` builds on this module's `Entry` and `parsed_feed`.
        from digest.jsonfeed import parse_json_feed

        return parse_json_feed(data, url, now=now, name=name)
    feed, entries, warnings = _read_xml_feed(data, url, headers, fast)
    return parsed_feed(
        url,
        title=str(feed.get("title", "")),
        link=_site_link(feed, headers.get("content-location") or url),
        language=str(feed.get("language") or ""),
        entries=(_xml_entry(entry) for entry in entries),
        warnings=warnings,
        now=now,
        name=name,
    )


def read_fast(data: bytes, headers: Mapping[str, str] | None = None) -> bool:
    """Whether `parse_feed` reads this RSS or Atom document with `fastfeed` (else feedparser)."""
    lowered = {key.lower(): value for key, value in (headers or {}).items()}
    data, lowered, _, utf8 = _trust_utf8(data, lowered)
    try:
        return utf8 and not _looks_like_json(data, lowered) and bool(fastfeed.read(data, lowered))
    except fastfeed.Unsupported:
        return False


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
        return f"could not be parsed ({type(exc).__name__}: {short(exc)})"


# RSS and Atom, through feedparser: its dicts are read here and go no further than `_xml_entry`.


def _read_xml_feed(
    data: bytes, url: str, headers: dict[str, str], fast: bool
) -> tuple[Mapping[str, Any], list[Mapping[str, Any]], list[str]]:
    data, headers, charset_warning, utf8 = _trust_utf8(data, headers)
    if fast and utf8:
        try:
            feed, fast_entries = fastfeed.read(data, headers)
        except Exception:  # Unsupported, or a tree too deep to walk: feedparser reads it
            pass
        else:
            read: list[Mapping[str, Any]] = [*fast_entries]
            return feed, read, _fast_warnings(charset_warning, headers, len(read))
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
            raise FeedError(url, f"not well-formed ({short(problem)}) and no entry could be read")
        warnings.append(_bozo_warning(problem, len(entries)))
    return parsed.get("feed", {}), entries, warnings


def _fast_warnings(charset_warning: str | None, headers: dict[str, str], entries: int) -> list[str]:
    """What feedparser would have said of a well-formed document: its charset, its media type."""
    warnings = [charset_warning] if charset_warning else []
    content_type = headers.get("content-type", "")
    if not fastfeed.xml_media_type(content_type):
        problem = feedparser.NonXMLContentType(f"{content_type} is not an XML media type")
        warnings.append(_bozo_warning(problem, entries))
    return warnings


# A feed can be perfectly usable and still be "bozo" for these: they only say how it was read.
_HARMLESS_BOZO = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)


def _bozo_warning(problem: Any, entries: int) -> str:
    if isinstance(problem, feedparser.CharacterEncodingOverride):
        return f"charset: {short(problem)}"
    if isinstance(problem, feedparser.NonXMLContentType):
        return f"not served as XML ({short(problem)}); read anyway"
    return f"feed is not well-formed ({short(problem)}); used the {entries} entries that could be read"


_XML_ENCODING = re.compile(rb"""^(\s*<\?xml[^>]*?\bencoding\s*=\s*["'])([^"']*)""", re.I)
_HEADER_CHARSET = re.compile(r";\s*charset\s*=\s*[\"']?([^\"';\s]+)[\"']?", re.I)


def _trust_utf8(data: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str], str | None, bool]:
    """Bytes that are valid UTF-8 are read as UTF-8, whatever the header or declaration says.

    A `charset=iso-8859-1` header in front of a UTF-8 feed is a common server default, and
    feedparser would believe it and produce silent mojibake ("Ã©"). Text in a single-byte
    charset with accents is practically never valid UTF-8, so validity is the better witness.
    UTF-16/32 documents (NUL bytes) are left to feedparser's own detection.
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\x00" in data[:1024]:
        return data, headers, None, False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return data, headers, None, False  # feedparser tries the declared charsets, then windows-1252
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
    return data, headers, warning, True


def _codec(name: str) -> str:
    try:
        return codecs.lookup(name).name
    except (LookupError, ValueError):  # ValueError: a name with a NUL in it
        return "unknown"


def _looks_like_json(data: bytes, headers: Mapping[str, str]) -> bool:
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    return content_type.endswith("json") or data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{"


def _xml_entry(entry: Mapping[str, Any]) -> Entry:
    summary, base = _summary(entry)
    raw, parsed = dates.raw_dates(entry)
    published, source = dates.entry_date(raw, parsed)
    content = " ".join(str(detail.get("value") or "") for detail in entry.get("content") or ())
    return Entry(
        link=_entry_link(entry),
        guid=str(entry.get("id") or ""),
        title=str(entry.get("title", "")),
        summary=summary,
        base=base,
        published=published,
        date_source=source,
        raw_date=next((value for value in raw if value), ""),
        author=_author(entry),
        terms=tuple(str(tag.get("term") or tag.get("label") or "") for tag in entry.get("tags", []) or []),
        images=(*xml_candidates(entry), *html_candidates(summary), *html_candidates(content)),
        language=str(_entry_language(entry) or ""),
        comments=_count(entry, ("slash_comments", "thr_total")),
        shares=_count(entry, tuple(key for key in entry if str(key).endswith("shares"))),
    )


def _author(entry: Mapping[str, Any]) -> str:
    """The author's name: from `author_detail` when feedparser split name and address."""
    detail = entry.get("author_detail") or {}
    name = str(detail.get("name") or "") if isinstance(detail, Mapping) else ""
    return name or str(entry.get("author", ""))


def _site_link(feed: Mapping[str, Any], location: str) -> str:
    """The feed's home page, made absolute against its own address (its `self` link, else where
    it was fetched), so that relative entry links resolve too."""
    link = str(feed.get("link", "") or "")
    if link.startswith(("http://", "https://")):
        return link
    selfs = [str(x.get("href", "")) for x in feed.get("links", []) or [] if x.get("rel") == "self"]
    for base in (*selfs, location):
        if base.startswith(("http://", "https://")):
            try:
                return urljoin(base, link or "/")
            except ValueError:
                continue
    return link


def _entry_link(entry: Mapping[str, Any]) -> str:
    for link in entry.get("links", []) or []:
        if link.get("rel", "alternate") == "alternate" and link.get("href"):
            return str(link["href"])
    return str(entry.get("link", "") or "")


def _summary(entry: Mapping[str, Any]) -> tuple[str, str]:
    """The summary as HTML (or else the start of the content), and the base URL it is written against."""
    for detail in (entry.get("summary_detail") or {}, *(entry.get("content") or ())):
        value = str(detail.get("value") or "")
        if value.strip():
            base = str(detail.get("base") or "")
            return (text_html(value) if detail.get("type") == "text/plain" else value), base
    return "", ""


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


def _not_a_feed_reason(parsed: Mapping[str, Any], data: bytes) -> str:
    head = data[:512].lstrip().lower()
    if not data.strip():
        return "empty response"
    if head.startswith((b"<!doctype html", b"<html")):
        return "an HTML page, not a feed"
    if parsed.get("bozo"):
        return f"not a feed: {short(parsed.get('bozo_exception'))}"
    return "not an RSS, Atom or JSON feed"
