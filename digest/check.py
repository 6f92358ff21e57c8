"""The quality gates of EMAIL_RULES.md as code: pure functions of the rendered files.

Each rule gives a `Finding`; `digest check` prints them and exits 1 when one fails.
"""

from __future__ import annotations

import itertools
import quopri
import re
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import lxml.html

from digest import caniemail, overflow
from digest.findings import Documents, Finding, Measure

__all__ = ["Documents", "Finding", "Measure", "check_issue"]

CLIP_BYTES = 104_448  # Gmail clips the HTML part beyond ~102 KB
GOAL_BYTES = 85 * 1024
STYLE_BYTES = 16_384
_DENIED_PHRASES = ("click here", "cliquez ici", "lire la suite", "read more", "en savoir plus")
_ACTIVE = ("script", "form", "svg", "iframe", "object", "embed", "input", "button", "video", "audio")


Rule = Callable[[Documents, "lxml.html.HtmlElement"], Iterator[Finding]]


def check_issue(documents: Documents) -> list[Finding]:
    tree = lxml.html.document_fromstring(documents.html.encode("utf-8"))
    findings: list[Finding] = []
    for rule in RULES:
        findings.extend(rule(documents, tree))
    return findings


def _size(docs: Documents, tree: lxml.html.HtmlElement) -> Iterator[Finding]:
    size = len(docs.html.encode("utf-8"))
    # Gmail clips on the size of the part as sent: quoted-printable grows French HTML by ~1/5
    encoded = len(quopri.encodestring(docs.html.encode("utf-8")))
    yield Finding(
        "H7",
        encoded <= CLIP_BYTES,
        f"HTML is {size / 1024:.1f} KB ({encoded / 1024:.1f} KB quoted-printable; Gmail clips at 102 KB)",
    )
    if size > GOAL_BYTES:
        yield Finding("H7", True, f"HTML is over the 85 KB goal ({size / 1024:.1f} KB)", warning=True)


def _lang(docs: Documents, tree: lxml.html.HtmlElement) -> Iterator[Finding]:
    html_lang = tree.get("lang", "")
    wrapper = tree.xpath("//body/div[@role='article']")
    ok = bool(html_lang) and tree.get("dir") == "ltr" and bool(wrapper)
    if wrapper:
        ok = ok and wrapper[0].get("lang") == html_lang and wrapper[0].get("aria-roledescription") == "email"
    yield Finding(
        "H1",
        ok,
        f"lang={html_lang!r} on <html> and on the role=article wrapper"
        if ok
        else "lang/dir missing on <html> or on the role=article wrapper",
    )


def _tables(docs: Documents, tree: lxml.html.HtmlElement) -> Iterator[Finding]:
    bad = [t for t in tree.iter("table") if t.get("role") != "presentation"]
    yield Finding(
        "H3",
        not bad,
        f"{len(bad)} layout table(s) without role=presentation"
        if bad
        else "every table has role=presentation",
    )


def _images(docs: Documents, tree: lxml.html.HtmlElement) -> Iterator[Finding]:
    images = list(tree.iter("img"))
    missing = [img.get("src", "?") for img in images if img.get("alt") is None or not img.get("width")]
    yield Finding(
        "H4",
        not missing,
        f"images without alt or width: {', '.join(missing[:3])}"
        if missing
        else f"{len(images)} image(s), all with alt and width",
    )


def _active_content(docs: Documents, tree: lxml.html.HtmlElement) -> Iterator[Finding]:
    found = sorted({el.tag for el in tree.iter(*_ACTIVE)})
    styles = " ".join(el.get("style", "") for el in tree.iter() if isinstance(el.tag, str)) + " ".join(
        s.text or "" for s in tree.iter("style")
    )
    if re.search(r"(^|[\s;{])position\s*:", styles):
        found.append("position:")
    if re.search(r"display\s*:\s*(flex|grid)", styles):
        found.append("display:flex/grid")
    if "@import" in styles:
        found.append("@import")
    handlers = [
        name
        for el in tree.iter()
        if isinstance(el.tag, str)
        for name in el.attrib
        if name.lower().startswith("on")
    ]
    found.extend(sorted(set(handlers)))
    bad_images = [
        img.get("src", "")
        for img in tree.iter("img")
        if urlsplit(img.get("src", "")).path.lower().endswith((".svg", ".webp", ".avif"))
    ]
    found.extend(bad_images)
    yield Finding(
        "H5",
        not found,
        f"active or unsupported content: {', '.join(found)}"
        if found
        else "no script, form, svg, position or flex/grid",
    )


def _style_size(docs: Documents, tree: lxml.html.HtmlElement) -> Iterator[Finding]:
    css = "".join(style.text or "" for style in tree.iter("style"))
    size = len(css.encode("utf-8"))
    nested = re.search(r"@media[^{]*\{[^}]*@(font-face|media|supports)", css)
    yield Finding(
        "H6",
        size <= STYLE_BYTES and not nested,
        f"<style> holds {size} bytes{' with a nested at-rule' if nested else ''} (limit 16 KB)",
    )


def _links(docs: Documents, tree: lxml.html.HtmlElement) -> Iterator[Finding]:
    hrefs = [a.get("href", "") for a in tree.iter("a")]
    bad = [href for href in hrefs if urlsplit(href).scheme not in ("http", "https", "mailto")]
    yield Finding(
        "links",
        not bad,
        f"links that are not absolute http(s): {bad[:3]}" if bad else f"{len(hrefs)} links, all absolute",
    )
    images = [img.get("src", "") for img in tree.iter("img")]
    bad_images = [src for src in images if urlsplit(src).scheme not in ("http", "https")]
    yield Finding(
        "images",
        not bad_images,
        f"image URLs that are not absolute http(s): {bad_images[:3]}"
        if bad_images
        else "image URLs are absolute",
    )
    vague = [
        a.text_content().strip()
        for a in tree.iter("a")
        if a.text_content().strip().casefold() in _DENIED_PHRASES
    ]
    buttons = [a for a in tree.iter("a") if a.get("role") == "button"]
    yield Finding(
        "H12",
        not vague and not buttons,
        f"link text that means nothing out of context: {vague[:3]}"
        if vague or buttons
        else "link texts make sense on their own",
    )


def _mso(docs: Documents, tree: lxml.html.HtmlElement) -> Iterator[Finding]:
    opened, closed = docs.html.count("<!--[if"), docs.html.count("<![endif]")
    yield Finding("H8", opened == closed, f"{opened} MSO conditionals opened, {closed} closed")


def _headings(docs: Documents, tree: lxml.html.HtmlElement) -> Iterator[Finding]:
    levels = [int(el.tag[1]) for el in tree.iter("h1", "h2", "h3", "h4", "h5", "h6")]
    ok = (
        levels.count(1) == 1
        and bool(levels)
        and levels[0] == 1
        and all(b - a <= 1 for a, b in itertools.pairwise(levels))
    )
    yield Finding(
        "H10",
        ok,
        f"headings in order: {''.join(f'h{level} ' for level in levels).strip()}"
        if ok
        else f"heading levels {levels}: one h1 first, then no skipped level",
    )


def _preheader(docs: Documents, tree: lxml.html.HtmlElement) -> Iterator[Finding]:
    body = tree.find("body")
    hidden = [el for el in (body.iter("div") if body is not None else []) if overflow.hidden(el)]
    text = hidden[0].text_content().strip() if hidden else ""
    yield Finding(
        "H13",
        bool(text) and bool(docs.issue.preheader),
        "hidden preheader present" if text else "no hidden preheader",
    )


def _dark_mode(docs: Documents, tree: lxml.html.HtmlElement) -> Iterator[Finding]:
    css = "".join(style.text or "" for style in tree.iter("style"))
    scheme = tree.xpath("//meta[@name='color-scheme']/@content")
    dark = "prefers-color-scheme" in css
    ok = bool(scheme) and (("dark" in scheme[0]) == dark) and (not dark or "color-scheme" in css)
    yield Finding(
        "H14",
        ok,
        "color-scheme metas match the dark-mode styles"
        if ok
        else "color-scheme meta missing or not matching the CSS",
    )


def _postal_address(docs: Documents, tree: lxml.html.HtmlElement) -> Iterator[Finding]:
    """CAN-SPAM (US) and French law ask commercial and promotional mail for the sender's postal
    address: a warning, since not every newsletter is such mail."""
    address = docs.issue.postal_address
    if not address:
        yield Finding(
            "L1",
            True,
            "no postal address in the footer: set [newsletter] postal_address (US and French law require one)",
            warning=True,
        )
    else:
        start = address.split("\n")[0][:20]  # the text part wraps long lines
        shown = start in tree.text_content() and start in docs.text
        yield Finding(
            "L1", shown, "postal address in the footer" if shown else "postal address missing from a part"
        )


def _text_part(docs: Documents, tree: lxml.html.HtmlElement) -> Iterator[Finding]:
    missing = [
        post.title
        for post in docs.issue.posts
        if post.url not in docs.text or post.title[:40] not in " ".join(docs.text.split())
    ]
    yield Finding(
        "M8",
        not missing,
        f"text part lacks: {missing[:3]}"
        if missing
        else f"text part has every post's title and URL ({len(docs.issue.posts)})",
    )
    long_lines = [line for line in docs.text.splitlines() if len(line) > 998]
    yield Finding(
        "M3",
        not long_lines,
        "no text line over 998 characters"
        if not long_lines
        else f"{len(long_lines)} text line(s) over 998 characters",
    )


def _unsubscribe(docs: Documents, tree: lxml.html.HtmlElement) -> Iterator[Finding]:
    words = ("unsubscribe", "désabonner")
    in_html = any(any(word in (a.text_content() or "").casefold() for word in words) for a in tree.iter("a"))
    in_text = any(word in docs.text.casefold() for word in words)
    yield Finding(
        "M6",
        in_html and in_text,
        "visible unsubscribe link in both parts"
        if in_html and in_text
        else "unsubscribe link missing from the HTML or the text part",
    )


_COLOR = re.compile(r"(?<![\w-])color\s*:\s*#([0-9a-f]{3}|[0-9a-f]{6})\b", re.I)
_BACKGROUND = re.compile(r"background(?:-color)?\s*:\s*#([0-9a-f]{3}|[0-9a-f]{6})\b", re.I)
_FONT_SIZE = re.compile(r"font-size\s*:\s*(\d+(?:\.\d+)?)px", re.I)


def _readability(docs: Documents, tree: lxml.html.HtmlElement) -> Iterator[Finding]:
    """H11 from inline styles: text sizes, and contrast against the nearest explicit background."""
    small, tiny, low = 0, [], []
    total = 0
    for element in tree.iter():
        if not isinstance(element.tag, str) or not (element.text or "").strip() or overflow.hidden(element):
            continue  # hidden text (the preheader) is never seen: neither its size nor its contrast
        text = (element.text or "").strip()
        total += len(text)
        size = _inherited(element, _FONT_SIZE)
        if size is not None and float(size) < 14:
            tiny.append(text[:30])
        elif size is not None and float(size) < 16:
            small += len(text)
        color, background = _inherited(element, _COLOR), _background(element)
        if color and background and _contrast(color, background) < 4.5 and (size is None or float(size) < 24):
            low.append(f"{text[:30]!r} #{color} on #{background}")
    yield Finding("H11", not tiny, f"text under 14 px: {tiny[:3]}" if tiny else "no text under 14 px")
    share = small / total if total else 0
    yield Finding(
        "H11",
        share <= 0.25,
        f"{share:.0%} of the text is 14–15 px (footers and meta only; body text is 16 px)",
    )
    yield Finding(
        "H11", not low, f"contrast under 4.5:1: {low[:3]}" if low else "text contrast is at least 4.5:1"
    )


def _inherited(element: lxml.html.HtmlElement, pattern: re.Pattern[str]) -> str | None:
    node: lxml.html.HtmlElement | None = element
    while node is not None:
        match = pattern.search(node.get("style") or "")
        if match:
            return match.group(1)
        node = node.getparent()
    return None


def _background(element: lxml.html.HtmlElement) -> str | None:
    node: lxml.html.HtmlElement | None = element
    while node is not None:
        match = _BACKGROUND.search(node.get("style") or "")
        if match:
            return match.group(1)
        if (node.get("bgcolor") or "").startswith("#"):
            return str(node.get("bgcolor"))[1:]
        node = node.getparent()
    return "ffffff"  # what every client shows behind an email that sets none


def _contrast(first: str, second: str) -> float:
    """WCAG 2 contrast ratio of two hex colours."""

    def luminance(hex_colour: str) -> float:
        digits = "".join(c * 2 for c in hex_colour) if len(hex_colour) == 3 else hex_colour
        channels = [int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    light, dark = sorted((luminance(first), luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def _posts(docs: Documents, tree: lxml.html.HtmlElement) -> Iterator[Finding]:
    untitled = [post.url for post in docs.issue.posts if not post.title.strip()]
    yield Finding(
        "posts",
        bool(docs.issue.posts) and not untitled,
        f"posts without a title: {untitled[:3]}"
        if untitled
        else f"{len(docs.issue.posts)} posts, all titled",
    )


def _clients(docs: Documents, tree: lxml.html.HtmlElement) -> Iterator[Finding]:
    """caniemail: fail on features with no fallback; report the rest (a test keeps it from growing)."""
    report = caniemail.support(caniemail.features_used(docs.html))
    denied = [entry.title for entry in report if entry.denied]
    yield Finding(
        "clients",
        not denied,
        f"features with no fallback in email clients: {denied}"
        if denied
        else "no feature from the deny-list",
    )
    gaps = [entry for entry in report if entry.unsupported and not entry.denied]
    if gaps:
        worst = sorted(gaps, key=lambda entry: -len(entry.unsupported))[:3]
        detail = "; ".join(f"{entry.title}: {len(entry.unsupported)} clients" for entry in worst)
        yield Finding(
            "clients",
            True,
            f"{len(gaps)} features unsupported somewhere, with fallbacks ({detail})",
            warning=True,
        )


RULES: tuple[Rule, ...] = (
    _size,
    _lang,
    _tables,
    _images,
    _active_content,
    _style_size,
    _links,
    _mso,
    _headings,
    _preheader,
    _dark_mode,
    _text_part,
    _postal_address,
    _unsubscribe,
    _readability,
    _posts,
    _clients,
    overflow.layout,
)
