"""A real picture or none: which of an entry's images may be a post's picture. Pure.

Feeds offer many things that are not pictures: a podcast's mp3 as `media:content` without a
`medium`, FeedBurner's 1×1 tracking pixel, share buttons, emoji, the audio or video of an
enclosure. A candidate is kept only when something says it is an image (its type, its `medium`,
or its extension), it is not declared tiny, and it is not a known tracker or button. Gather uses
`choose` to pick a post's picture; `check` uses `not_a_picture` to refuse a hero image.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from digest.models import Image

PICTURE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".jpe", ".pjpeg")
UNSAFE_EXTENSIONS = (".svg", ".webp", ".avif", ".heic", ".tif", ".tiff", ".bmp", ".ico")  # no email fallback
MEDIA_EXTENSIONS = (
    ".mp3", ".m4a", ".m4b", ".aac", ".ogg", ".oga", ".opus", ".wav", ".flac", ".mp4", ".m4v", ".mov",
    ".webm", ".avi", ".mkv", ".mpg", ".mpeg", ".3gp", ".pdf", ".zip", ".torrent", ".swf", ".js",
)  # fmt: skip
TINY = 2  # px: a picture declared this small (or smaller) is a tracker or a spacer
# Trackers, counters, share buttons and icons, by where they are served from or what they are called.
_NOT_PICTURES = re.compile(
    r"feeds\.feedburner\.com/~|feedburner\.google\.com|feedsportal\.com|pheedo\.com|"
    r"stats\.wordpress\.com|pixel\.wp\.com|/b\.gif$|(?:^|[/._-])(?:pixel|tracking|tracker|beacon|spacer|blank)"
    r"(?:[/._-]|$)|doubleclick\.net|googleadservices|google-analytics|/counter[/.]|adserver|"
    r"s\.w\.org/images/core/emoji|/emoji/|gravatar\.com/avatar|/smilies/|"
    r"(?:^|[/_.-])(?:share|sharing|sharethis|addtoany|addthis|sociable)(?:[/_.-]|$)|"
    r"/(?:buttons|icons|badges|social)/|(?:^|[/_-])(?:button|btn|badge|icon|feed-icon)s?(?:[-_][a-z0-9]+)*\.(?:png|gif)$|"
    r"(?:facebook|twitter|linkedin|pinterest|digg|reddit|email|mail|rss|feed|whatsapp)[-_]?"
    r"(?:icon|button|logo|share|btn)",
    re.I,
)
# A word every match of `_NOT_PICTURES` contains (lower-cased): where a URL holds none, the
# expression (an alternation tried at every position, 10 µs a URL) cannot match.
_NOT_PICTURE_WORDS = (
    "feedburner", "feedsportal", "pheedo", "wordpress", "pixel", "/b.gif", "tracking", "tracker",
    "beacon", "spacer", "blank", "doubleclick", "googleadservices", "google-analytics", "/counter",
    "adserver", "emoji", "gravatar", "smilies", "shar", "addtoany", "addthis", "sociable", "button",
    "icon", "badge", "social", "btn", "logo",
)  # fmt: skip
_IMG = re.compile(r"<img\b(?:[^>\"']|\"[^\"]*\"|'[^']*')*>", re.I)
_ATTRIBUTE = re.compile(r"""\b([a-z-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.I)
_STYLE_SIZE = re.compile(r"\b(width|height)\s*:\s*(\d+)\s*px", re.I)


@dataclass(frozen=True)
class Candidate:
    """An image a feed offers for an entry: where, and what the feed says of it."""

    src: str
    alt: str = ""
    width: Any = None
    height: Any = None
    type: str = ""  # MIME type, when the feed gives one
    medium: str = ""  # media:content's medium
    must_prove: bool = False  # an enclosure or media:content: an image only if something says so


def xml_candidates(entry: Mapping[str, Any]) -> tuple[Candidate, ...]:
    """A feedparser entry's pictures, best first: media:content, media:thumbnail, an image
    enclosure, the item's itunes:image."""
    found: list[Candidate] = []
    for media in entry.get("media_content", []) or []:
        found.append(
            Candidate(
                str(media.get("url", "")),
                width=media.get("width"),
                height=media.get("height"),
                type=str(media.get("type", "")),
                medium=str(media.get("medium", "")),
                must_prove=True,
            )
        )
    for thumb in entry.get("media_thumbnail", []) or []:
        found.append(
            Candidate(str(thumb.get("url", "")), width=thumb.get("width"), height=thumb.get("height"))
        )
    for link in entry.get("links", []) or []:
        if link.get("rel") == "enclosure":
            found.append(
                Candidate(str(link.get("href", "")), type=str(link.get("type", "")), must_prove=True)
            )
    image = entry.get("image")
    if isinstance(image, Mapping) and image.get("href"):  # the item's itunes:image
        found.append(Candidate(str(image["href"])))
    return tuple(found)


def html_candidates(fragment: str) -> list[Candidate]:
    """Every <img> of a piece of feed HTML, in order."""
    found = []
    for tag in _IMG.findall(fragment):
        attributes = {
            m.group(1).lower(): m.group(2) or m.group(3) or m.group(4) or "" for m in _ATTRIBUTE.finditer(tag)
        }
        width, height = attributes.get("width"), attributes.get("height")
        for name, value in _STYLE_SIZE.findall(attributes.get("style", "")):
            width, height = (value, height) if name.lower() == "width" else (width, value)
        src = html.unescape(attributes.get("src", "") or attributes.get("data-src", ""))
        found.append(Candidate(src, html.unescape(attributes.get("alt", "")), width, height, medium="image"))
    return found


def choose(candidates: Iterable[Candidate], base: str, title: str) -> Image | None:
    """The first candidate that is a real picture, with absolute http(s) URL; else None."""
    for candidate in candidates:
        url = _absolute(candidate.src, base)
        if (
            url
            and _declared_image(candidate, url)
            and not_a_picture(url, candidate.width, candidate.height) is None
        ):
            alt = " ".join(candidate.alt.split())
            return Image(
                url=url, alt=alt or title, width=_pixels(candidate.width), height=_pixels(candidate.height)
            )
    return None


def not_a_picture(url: str, width: Any = None, height: Any = None) -> str | None:
    """Why `url` cannot be shown as a post's picture (None when it can)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return "not an http(s) URL"
    path = parts.path.lower()
    if path.endswith(MEDIA_EXTENSIONS):
        return "audio, video or a document, not a picture"
    if path.endswith(UNSAFE_EXTENSIONS):
        return "a format many email clients cannot show"
    sizes = [size for size in (_pixels(width), _pixels(height)) if size is not None]
    if any(size <= TINY for size in sizes):
        return "declared tiny (a tracker or a spacer)"
    where = f"{parts.netloc}{parts.path}"
    if _may_not_be_a_picture(where) and _NOT_PICTURES.search(where):
        return "a tracker, counter, icon or share button"
    return None


def _may_not_be_a_picture(where: str) -> bool:
    """False only where `_NOT_PICTURES` cannot match: ASCII text without any of its words (beyond
    ASCII, case-insensitive matching has its own equivalences: the expression decides)."""
    if not where.isascii():
        return True
    lowered = where.lower()
    return any(word in lowered for word in _NOT_PICTURE_WORDS)


def _declared_image(candidate: Candidate, url: str) -> bool:
    """An enclosure or media:content is an image only when its type, medium or extension says so;
    a thumbnail, an itunes:image or an <img> is meant to be one."""
    kind, medium = candidate.type.lower(), candidate.medium.lower()
    if (medium and medium != "image") or kind.startswith(("audio/", "video/")):
        return False
    if medium == "image" or kind.startswith("image/"):
        return True
    if candidate.must_prove or kind:
        return urlsplit(url).path.lower().endswith(PICTURE_EXTENSIONS)
    return True


def _absolute(src: str, base: str) -> str:
    src = "".join(src.split())
    if not src or src.startswith("data:"):
        return ""
    try:
        return urljoin(base, src) if base else src
    except ValueError:  # "http://[oops"
        return ""


def _pixels(value: Any) -> int | None:
    text = str(value or "").strip().removesuffix("px")
    return int(text) if text.isdigit() and len(text) < 6 else None
