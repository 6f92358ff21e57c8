"""Which HTML/CSS features an email uses, and which target clients do not support them.

The support data is caniemail.com's (MIT), kept in `digest/data/caniemail.json` by
`tools/caniemail_extract.py`, so a check needs neither npm nor the network.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

import lxml.html

DATA = Path(__file__).parent / "data" / "caniemail.json"

# Features with no fallback anywhere they fail: using one fails the check.
DENIED = frozenset(
    {
        "amp",
        "html-form",
        "html-svg",
        "html-video",
        "html-audio",
        "html-object",
        "html-input-text",
        "html-input-checkbox",
        "html-input-radio",
        "html-input-submit",
        "html-select",
        "html-textarea",
        "html-dialog",
        "html-marquee",
        "image-svg",
        "image-webp",
        "image-avif",
        "css-position",
        "css-display-flex",
        "css-display-grid",
        "css-at-import",
        "css-variables",
    }
)

_ELEMENTS = {
    "div": "html-div",
    "p": "html-p",
    "span": "html-span",
    "table": "html-table",
    "img": "html-img",
    "style": "html-style",
    "strong": "html-strong",
    "small": "html-small",
    "blockquote": "html-blockquote",
    "code": "html-code",
    "pre": "html-pre",
    "abbr": "html-abbr",
    "hr": "html-hr",
    "ul": "html-lists",
    "ol": "html-lists",
    "form": "html-form",
    "svg": "html-svg",
    "video": "html-video",
    "audio": "html-audio",
    "object": "html-object",
    "select": "html-select",
    "textarea": "html-textarea",
    "dialog": "html-dialog",
    "marquee": "html-marquee",
    "picture": "html-picture",
    "del": "html-del",
    "address": "html-address",
    "base": "html-base",
    "link": "html-link",
    "wbr": "html-wbr",
    "progress": "html-progress",
    "meter": "html-meter",
    **{f"h{level}": "html-h1-h6" for level in range(1, 7)},
}
_ATTRIBUTES = {
    "lang": "html-lang",
    "dir": "html-dir",
    "role": "html-role",
    "aria-label": "html-aria-label",
    "aria-hidden": "html-aria-hidden",
    "aria-labelledby": "html-aria-labelledby",
    "aria-describedby": "html-aria-describedby",
    "aria-live": "html-aria-live",
    "width": "html-width",
    "height": "html-height",
    "align": "html-align",
    "valign": "html-valign",
    "cellpadding": "html-cellpadding",
    "cellspacing": "html-cellspacing",
    "background": "html-background",
    "srcset": "html-srcset",
    "loading": "html-loading-attribute",
    "target": "html-target",
    "hidden": "html-hidden",
}
_IMAGES = {
    ".jpg": "image-jpg",
    ".jpeg": "image-jpg",
    ".png": "image-png",
    ".gif": "image-gif",
    ".svg": "image-svg",
    ".webp": "image-webp",
    ".avif": "image-avif",
    ".bmp": "image-bmp",
    ".ico": "image-ico",
    ".tif": "image-tiff",
}
_DECLARATION = re.compile(r"(?<![\w-])([a-z-]+)\s*:\s*([^;{}]+)")
_UNITS = {
    "px": "css-unit-px",
    "%": "css-unit-percent",
    "em": "css-unit-em",
    "rem": "css-unit-rem",
    "vw": "css-unit-vw",
    "vh": "css-unit-vh",
    "pt": "css-unit-pt",
}


@dataclass(frozen=True)
class Support:
    feature: str
    title: str
    unsupported: tuple[str, ...]  # client names
    denied: bool


@cache
def _data() -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
    raw = json.loads(DATA.read_text(encoding="utf-8"))
    features = {slug: (title, letters) for slug, (title, letters) in raw["features"].items()}
    return raw["clients"], features


def features_used(html: str) -> set[str]:
    """caniemail feature slugs this document uses (elements, attributes, CSS, image formats)."""
    tree = lxml.html.document_fromstring(html.encode("utf-8"))
    used: set[str] = set()
    if html.lstrip().lower().startswith("<!doctype"):
        used.add("html-doctype")
    if "<!--" in html:
        used.add("html-comments")
    for element in tree.iter():
        if not isinstance(element.tag, str):
            continue
        tag = element.tag.lower()
        used.update(filter(None, [_ELEMENTS.get(tag)]))
        used.update(_ATTRIBUTES[name] for name in element.attrib if name in _ATTRIBUTES)
        if tag == "a":
            href = element.get("href", "")
            used.update(["html-mailto-links"] if href.startswith("mailto:") else [])
            used.update(["html-anchor-links"] if href.startswith("#") else [])
        if tag == "img":
            suffix = Path(urlsplit(element.get("src", "")).path.lower()).suffix
            used.update(filter(None, [_IMAGES.get(suffix)]))
            used.update(["image-base64"] if element.get("src", "").startswith("data:") else [])
        if tag == "meta" and element.get("name") == "color-scheme":
            used.add("html-meta-color-scheme")
        if tag == "input":
            used.add(f"html-input-{element.get('type', 'text').lower()}")
    styles = [element.get("style", "") for element in tree.iter() if isinstance(element.tag, str)]
    sheets = [style.text or "" for style in tree.iter("style")]
    used.update(_css_features(" ; ".join([*styles, *sheets])))
    for sheet in sheets:
        used.update(_at_rules(sheet))
    return used


def _css_features(css: str) -> set[str]:
    _, known = _data()
    used: set[str] = set()
    for prop, value in _DECLARATION.findall(css):
        value = value.strip().lower()
        if prop == "display":
            kind = value.split()[0].replace("!important", "") if value else ""
            used.add(
                {"none": "css-display-none", "flex": "css-display-flex", "grid": "css-display-grid"}.get(
                    kind, "css-display"
                )
            )
        elif prop in ("left", "right", "top", "bottom"):
            used.add("css-left-right-top-bottom")
        elif f"css-{prop}" in known:
            used.add(f"css-{prop}")
        if "!important" in value:
            used.add("css-important")
        if "var(--" in value:
            used.add("css-variables")
        for unit, slug in _UNITS.items():
            if re.search(rf"\d{re.escape(unit)}(?![a-z])", value):
                used.add(slug)
        for function in ("rgb", "rgba", "linear-gradient", "radial-gradient", "calc", "min", "max", "clamp"):
            if re.search(rf"(?<![\w-]){function}\(", value):
                used.add(
                    {
                        "calc": "css-unit-calc",
                        "clamp": "css-function-clamp",
                        "min": "css-function-min",
                        "max": "css-function-max",
                    }.get(function, f"css-{function}")
                )
    return used


def _at_rules(sheet: str) -> set[str]:
    used: set[str] = set()
    checks = {
        "@media": "css-at-media",
        "prefers-color-scheme": "css-at-media-prefers-color-scheme",
        "@import": "css-at-import",
        "@font-face": "css-at-font-face",
        "@supports": "css-at-supports",
        "@keyframes": "css-at-keyframes",
        "prefers-reduced-motion": "css-at-media-prefers-reduced-motion",
        "color-scheme": "css-color-scheme",
        ":hover": "css-pseudo-class-hover",
    }
    used.update(slug for needle, slug in checks.items() if needle in sheet)
    if re.search(r"(^|[\s,}])\.[a-z]", sheet, re.I):
        used.add("css-selector-class")
    if re.search(r"[a-z0-9)\]]\s+[.#a-z]", re.sub(r"\{[^}]*\}", "{}", sheet), re.I):
        used.add("css-selector-descendant")
    if re.search(r"\[[a-z-]+", sheet, re.I):
        used.add("css-selector-attribute")
    return used


def support(features: Iterable[str]) -> list[Support]:
    """For each known feature, the target clients that do not support it at all."""
    clients, known = _data()
    names = list(clients.values())
    report = []
    for slug in sorted(features):
        if slug not in known:
            continue
        title, letters = known[slug]
        missing = tuple(name for name, letter in zip(names, letters, strict=True) if letter == "n")
        report.append(Support(slug, title, missing, slug in DENIED))
    return report
