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
from digest.images import not_a_picture
from digest.readability import readability

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
    heroes = [(p.title, p.image) for p in docs.issue.posts if p.image]
    bad = [f"{t[:40]}: {why}" for t, i in heroes if (why := not_a_picture(i.url, i.width, i.height))]
    yield Finding("H4b", not bad, f"hero images that are not pictures: {'; '.join(bad[:3])}" if bad else f"{len(heroes)} hero image(s), all pictures")  # fmt: skip


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


def _merge_tokens(docs: Documents, tree: lxml.html.HtmlElement) -> Iterator[Finding]:
    left = sorted(set(re.findall(r"%%[0-9a-f]{12}:[^%\s]*%%", docs.html + docs.text)))
    yield Finding(
        "F1",
        not left,
        f"merge tokens left unfilled: {', '.join(left[:3])}" if left else "no merge token left",
    )


RULES: tuple[Rule, ...] = (
    _merge_tokens,
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
    readability,
    _posts,
    _clients,
    overflow.layout,
)
