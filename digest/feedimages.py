"""A feed entry's picture: the best usable candidate, with the natural size the feed or the
summary's <img> gives (so the email never shows it larger than it is). Pure."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from digest.models import Image
from digest.sanitize import canonical_url, one_line

_IMG = re.compile(r"<img\b[^>]*?\bsrc\s*=\s*[\"']([^\"']+)[\"'][^>]*>", re.I)
_ALT = re.compile(r"\balt\s*=\s*[\"']([^\"']*)[\"']", re.I)
_UNSAFE_IMAGE_TYPES = (".svg", ".webp", ".avif")  # no fallback in many email clients


def entry_image(
    candidates: Iterable[tuple[Any, ...]], raw_summary: str, base: str, title: str
) -> Image | None:
    """The first usable of the reader's candidates, else the first <img> of the summary."""
    found = list(candidates)
    match = _IMG.search(raw_summary)
    if match:
        alt_match = _ALT.search(match.group(0))
        tag = match.group(0)
        found.append(
            (html.unescape(match.group(1)), one_line(alt_match.group(1)) if alt_match else "", *_size(tag))
        )
    for src, alt, width, height in ((*candidate, None)[:4] for candidate in found):
        try:
            url = canonical_url(src, base) if src else ""
        except ValueError:  # "http://[oops": try the next one
            continue
        path = urlsplit(url).path.lower()
        if url.startswith(("http://", "https://")) and not path.endswith(_UNSAFE_IMAGE_TYPES):
            width, height = _int_or_none(width), _int_or_none(height)
            return Image(url=url, alt=alt or title, width=width, height=height if width else None)
    return None


_DIMENSION = re.compile(r"\b(width|height)\s*=\s*[\"']?(\d+)", re.I)


def _size(tag: str) -> tuple[str | None, str | None]:
    """The width and height attributes of an <img> tag: its natural size, when the page says."""
    found = {name.lower(): value for name, value in _DIMENSION.findall(tag)}
    return found.get("width"), found.get("height")


def _int_or_none(value: Any) -> int | None:
    text = str(value or "").strip()
    return int(text) if text.isdigit() and len(text) < 6 else None


# RSS and Atom, through feedparser: its dicts are read here and go no further than `_xml_entry`.


def image_candidates(entry: Mapping[str, Any]) -> tuple[tuple[Any, ...], ...]:
    """media:content, media:thumbnail, then an image enclosure."""
    candidates: list[tuple[Any, ...]] = []
    for media in entry.get("media_content", []) or []:
        if media.get("medium", "image") == "image" or str(media.get("type", "")).startswith("image/"):
            candidates.append((str(media.get("url", "")), "", media.get("width"), media.get("height")))
    for thumb in entry.get("media_thumbnail", []) or []:
        candidates.append((str(thumb.get("url", "")), "", thumb.get("width"), thumb.get("height")))
    for link in entry.get("links", []) or []:
        if link.get("rel") == "enclosure" and str(link.get("type", "")).startswith("image/"):
            candidates.append((str(link.get("href", "")), "", None))
    return tuple(candidates)
