"""Rule H11 of `digest check`: text big enough and contrasted enough, read from inline styles.

Colours and sizes are looked up the way a client would apply them: the element's own inline
style, else its nearest ancestor's; a background is the nearest explicit one, white by default.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import lxml.html

from digest import overflow
from digest.findings import Documents, Finding

_COLOR = re.compile(r"(?<![\w-])color\s*:\s*#([0-9a-f]{3}|[0-9a-f]{6})\b", re.I)
_BACKGROUND = re.compile(r"background(?:-color)?\s*:\s*#([0-9a-f]{3}|[0-9a-f]{6})\b", re.I)
_FONT_SIZE = re.compile(r"font-size\s*:\s*(\d+(?:\.\d+)?)px", re.I)


def readability(docs: Documents, tree: lxml.html.HtmlElement) -> Iterator[Finding]:
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
