"""Pure text helpers for the feed boundary: safe HTML, plain text, clean titles, canonical URLs.

Nothing a feed wrote reaches a template before passing through `safe_html` (HTML) or
`plain_text` (text). The allow-list is what email clients render reliably: no scripts, forms,
frames, styles or event handlers, and only http(s)/mailto links.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import nh3

from digest.urls import _TRACKING, canonical_url, published_url

__all__ = ["_TRACKING", "canonical_url", "published_url"]  # the URL rules live in `urls`

_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "cite",
    "code",
    "em",
    "i",
    "li",
    "ol",
    "p",
    "pre",
    "q",
    "s",
    "small",
    "strong",
    "sub",
    "sup",
    "u",
    "ul",
}
_ATTRIBUTES = {"a": {"href", "title", "hreflang"}, "abbr": {"title"}, "q": {"cite"}}
_CLEAN_CONTENT = {
    "script",
    "style",
    "iframe",
    "object",
    "embed",
    "form",
    "svg",
    "math",
    "template",
    "noscript",
    "title",
}

_WS = re.compile(r"\s+")
# C0/C1 controls (but tab, LF, CR), line separators, lone surrogates and Unicode non-characters
# (U+FDD0..U+FDEF, U+xFFFE/U+xFFFF of every plane): none has a place in an email, and U+FFFF
# makes an XML document (the archive's Atom feed) invalid.
_NONCHARACTERS = "".join(chr(plane * 0x10000 + low) for plane in range(1, 17) for low in (0xFFFE, 0xFFFF))
_CONTROL = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff"
    + _NONCHARACTERS
    + "]"
)
# A superset of `_CONTROL` that the regex engine tests ten times faster (one range for the astral
# non-characters, not 32 single characters): text it does not match needs no `_CONTROL.sub`.
_MAYBE_CONTROL = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff\U0001fffe-\U0010ffff]"
)


def _without_controls(text: str, replacement: str) -> str:
    """`_CONTROL.sub(replacement, text)`, skipped where no character could match."""
    return _CONTROL.sub(replacement, text) if _MAYBE_CONTROL.search(text) else text


# Block elements the allow-list removes: their edges become a space (or a line break), so that
# "<h3>Kitchen</h3><div>How" reads "Kitchen How", not "KitchenHow".
_REMOVED_BLOCK = re.compile(
    r"<(/?)(?:div|h[1-6]|section|article|header|footer|aside|figure|figcaption|table|thead|tbody|"
    r"tr|td|th|dl|dt|dd|hr|nav|main|address|center|details|summary)\b(?:[^>\"']|\"[^\"]*\"|'[^']*')*>",
    re.I,
)
# An anchor left without an href (javascript:, data:, an unreadable URL) is unwrapped: its text
# stays, the empty link goes. An anchor left without text (an image link) goes altogether.
_HREFLESS_ANCHOR = re.compile(r"<a(?![^>]*\bhref=)[^>]*>(.*?)</a>", re.S)
_EMPTY_ANCHOR = re.compile(r"<a\b[^>]*>\s*</a>")
_BREAKS = re.compile(r"(?:<br>\s*){3,}")
_EDGE_BREAKS = re.compile(r"^(?:\s*<br>)+|(?:<br>\s*)+$|(?<=<p>)(?:\s*<br>)+|(?:<br>\s*)+(?=</p>)")
_EMPTY_BLOCK = re.compile(r"<(p|li|blockquote)>\s*</\1>")


_CELL_END = re.compile(r"</t[dh]\s*>", re.I)
_ROW_END = re.compile(r"</tr\s*>", re.I)


def safe_html(fragment: str, base_url: str = "") -> str:
    """Sanitise a feed's HTML with the email-safe allow-list; relative links made absolute."""
    if "<" in fragment:
        fragment = _REMOVED_BLOCK.sub(_block_edge, fragment)
    cleaned = nh3.clean(
        _CELL_END.sub(" ", _ROW_END.sub("<br>", fragment)),  # tables are not kept: their cells stay apart
        tags=_TAGS,
        clean_content_tags=_CLEAN_CONTENT,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener",
        strip_comments=True,
        attribute_filter=_absolute_links(base_url),
    )
    if "<a" in cleaned:
        cleaned = _EMPTY_ANCHOR.sub("", _HREFLESS_ANCHOR.sub(r"\1", cleaned))
    if "<br>" in cleaned:
        cleaned = _BREAKS.sub("<br><br>", _EDGE_BREAKS.sub("", cleaned))
    if "></" in cleaned:
        cleaned = _EMPTY_BLOCK.sub("", cleaned)
    return _without_controls(cleaned, "").strip()


def _block_edge(match: re.Match[str]) -> str:
    return "<br>" if match.group(1) or match.group(0)[1:3].lower() == "hr" else " "


def _absolute_links(base_url: str) -> Callable[[str, str, str], str | None]:
    def filter_attribute(tag: str, attribute: str, value: str) -> str | None:
        if tag == "a" and attribute == "href":
            value = value.strip()
            if value.startswith(("https://", "http://")):
                return value  # already absolute: most links, and the cheap case
            try:
                absolute = urljoin(base_url, value) if base_url else value
                return absolute if urlsplit(absolute).scheme in {"http", "https", "mailto"} else None
            except ValueError:  # "http://[oops": not a URL at all
                return None
        return value

    return filter_attribute


class _TextExtractor(HTMLParser):
    _BLOCKS = frozenset(
        ("p", "br", "li", "div", "blockquote", "pre", "ul", "ol", "h1", "h2", "h3", "h4", "tr")
    )
    _SKIP = frozenset(("script", "style", "title", "head", "template", "noscript"))

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self.skipping += 1
        elif tag in self._BLOCKS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self._BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def plain_text(fragment: str) -> str:
    """HTML (or text with entities) to plain text: paragraphs kept, whitespace collapsed."""
    parser = _TextExtractor()
    parser.feed(fragment)
    parser.close()
    paragraphs = ("".join(parser.parts)).split("\n\n")
    cleaned = (_WS.sub(" ", _without_controls(part, " ")).strip() for part in paragraphs)
    return "\n\n".join(part for part in cleaned if part)


_BLOCK_TAG = re.compile(r'<(?:/?(?:p|li|blockquote|pre|ul|ol)|br)\b(?:[^>"]|"[^"]*")*>')
_ANY_TAG = re.compile(r'<(?:[^>"]|"[^"]*")*>')


def safe_html_text(fragment: str) -> str:
    """`plain_text` of what `safe_html` (or `truncate_html`) made, the fast way.

    That HTML is well-formed, its attributes double-quoted and its text escaped, with no script
    or style to skip: regular expressions give the same text as the parser, several times faster.
    """
    text = _without_controls(html.unescape(_ANY_TAG.sub("", _BLOCK_TAG.sub("\n\n", fragment))), " ")
    # (`_CONTROL` never matches "\n", so it may run once before the split; and `\s` is
    # `str.isspace`, so split and join is `_WS.sub(" ", part).strip()`)
    cleaned = (" ".join(part.split()) for part in text.split("\n\n"))
    return "\n\n".join(part for part in cleaned if part)


_LINK = re.compile(r'<a\b(?:[^>"]|"[^"]*")*?\bhref="([^"]*)"(?:[^>"]|"[^"]*")*>(.*?)</a>', re.S)


def text_with_references(fragment: str) -> tuple[str, tuple[str, ...]]:
    """The text of sanitised HTML with each link numbered, `words [1]`, and the links in order.

    A link whose text is its own URL needs no number: the URL is already in the text."""
    links: list[str] = []

    def number(match: re.Match[str]) -> str:
        href, inner = html.unescape(match.group(1)), match.group(2)
        if safe_html_text(inner).strip() == href:
            return inner
        if href not in links:
            links.append(href)
        return f"{inner} [{links.index(href) + 1}]"

    return safe_html_text(_LINK.sub(number, fragment)), tuple(links)


_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


def text_html(text: str) -> str:
    """Plain text (a summary a feed gave as text) as HTML: a paragraph per block separated by a
    blank line, escaped. A single line break is only the text's wrapping: a space."""
    paragraphs = (" ".join(part.split()) for part in _PARAGRAPH_BREAK.split(text.replace("\r\n", "\n")))
    return "".join("<p>" + html.escape(part, quote=False) + "</p>" for part in paragraphs if part)


def one_line(text: str) -> str:
    """A title: markup stripped, entities decoded, no CR/LF or control characters."""
    if "<" not in text:  # most titles: no markup, so no need for the (slow) HTML parser
        return _WS.sub(" ", _without_controls(html.unescape(text), " ")).strip()
    return _WS.sub(" ", plain_text(text)).strip()


def shorten(text: str, limit: int) -> str:
    """Cut plain text at a word boundary, adding an ellipsis when something was removed."""
    if len(text) <= limit:
        return text
    window = text[: limit + 1]
    sentence = max(window.rfind(mark) for mark in (". ", "! ", "? ", "… "))
    if sentence >= limit * 0.6:  # a sentence ends late enough: stop there, nothing is cut mid-way
        return window[: sentence + 1]
    cut = text[:limit].rsplit(" ", 1)[0].rstrip(" ,;:.—-")
    return cut + "…"


def truncate_html(fragment: str, limit: int) -> str:
    """Keep sanitised HTML under `limit` characters of text, closing every tag left open."""
    # Text is never longer than its markup, so short fragments skip the (slow) parsing.
    if len(fragment) <= limit:
        return fragment
    builder = _Truncator(limit)
    builder.feed(fragment)
    builder.close()
    return builder.result() if builder.done else fragment


class _Truncator(HTMLParser):
    _VOID = frozenset({"br", "img", "hr"})

    def __init__(self, limit: int) -> None:
        super().__init__(convert_charrefs=True)
        self.remaining = limit
        self.out: list[str] = []
        self.open: list[str] = []
        self.done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.done:
            return
        rendered = "".join(f' {name}="{html.escape(value or "", quote=True)}"' for name, value in attrs)
        self.out.append(f"<{tag}{rendered}>")
        if tag not in self._VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.done or tag not in self.open:
            return
        while self.open:
            closing = self.open.pop()
            self.out.append(f"</{closing}>")
            if closing == tag:
                break

    def handle_data(self, data: str) -> None:
        if self.done:
            return
        if len(data) <= self.remaining:
            self.out.append(html.escape(data, quote=False))
            self.remaining -= len(data)
            return
        self.out.append(html.escape(shorten(data, self.remaining), quote=False))
        if not self.out[-1].endswith(("…", ".", "!", "?")):  # a whole sentence needs no ellipsis
            self.out.append("…")
        self.done = True

    def result(self) -> str:
        return "".join(self.out) + "".join(f"</{tag}>" for tag in reversed(self.open))
