"""H9, the layout gate: the email must be no wider than a 320, 375 or 600 px phone or window.

A browser's measurements (`Documents.layout`, taken at the edge by `digest.layout`) decide
when there are some. Without a browser, a static pass over the inline styles flags what cannot
wrap: long unbroken runs of text, `<pre>` that keeps its lines, fixed widths wider than a
phone's column; and says that the browser check did not run. Pure: a function of the HTML.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

import lxml.html

from digest.findings import Documents, Finding, Measure

RUN = 30  # characters: about what a 320 px phone's column holds at 16 px
PHONE_COLUMN = 288  # px: a 320 px phone less 2 x 16 px of padding
_RUN = re.compile(rf"[^ \t\n\r\f\v\u200b]{{{RUN + 1},}}")  # no-break spaces do not break
_WRAPS = re.compile(
    r"(overflow-wrap|word-wrap)\s*:\s*(anywhere|break-word)|word-break\s*:\s*break-(all|word)"
)
_PRE_WRAP = re.compile(r"white-space\s*:\s*(pre-wrap|pre-line|normal)")
_NOWRAP = re.compile(r"white-space\s*:\s*(nowrap|pre)(?![\w-])")
_HIDDEN = re.compile(r"display\s*:\s*none|mso-hide\s*:\s*all|visibility\s*:\s*hidden")
_PX_WIDTH = re.compile(r"(?<![\w-])(min-)?width\s*:\s*(\d+)px")
_FLUID_WIDTH = re.compile(r"(?<![\w-])width\s*:\s*\d+(\.\d+)?%")


def hidden(element: lxml.html.HtmlElement) -> bool:
    """Hidden by its own inline style or an ancestor's: a preheader, a spacer."""
    return any(_HIDDEN.search(node.get("style") or "") for node in (element, *element.iterancestors()))


def layout(docs: Documents, tree: lxml.html.HtmlElement) -> Iterator[Finding]:
    if docs.layout is not None:
        titles = {post.url: post.title[:60] for post in docs.issue.posts}
        yield measured(docs.layout, titles)
        return
    problems = static_problems(tree, docs)
    yield Finding(
        "H9",
        not problems,
        f"content that cannot wrap on a phone: {'; '.join(problems[:4])}"
        if problems
        else "nothing found that cannot wrap on a phone (static pass)",
    )
    yield Finding(
        "H9",
        True,
        "the browser layout check did not run: `digest check` runs it where Chromium is installed (or DIGEST_CHROMIUM set)",
        warning=True,
    )


def measured(measures: Sequence[Measure], titles: dict[str, str]) -> Finding:
    wide = [measure for measure in measures if measure.scroll_width > measure.width]
    if not wide:
        widths = sorted({measure.width for measure in measures})
        return Finding("H9", True, f"no overflow at {widths} px, with and without <style> (Chromium)")
    details = [
        f"{m.scroll_width} px wide at {m.width} px{'' if m.styled else ' without <style>'}"
        + (f", in {', '.join(f'«{titles.get(c, c)}»' for c in m.culprits[:3])}" if m.culprits else "")
        for m in wide
    ]
    return Finding("H9", False, f"the email overflows: {'; '.join(details)}")


def static_problems(tree: lxml.html.HtmlElement, docs: Documents) -> list[str]:
    titles = {post.url: post.title for post in docs.issue.posts}
    problems: list[str] = []
    body = tree.find("body")
    for element in body.iter() if body is not None else ():
        if not isinstance(element.tag, str) or hidden(element):
            continue
        problem = _cannot_wrap(element) or _too_wide(element)
        if problem:
            where = post_of(element, titles)[:60]
            problems.append(f"{problem}{f' in «{where}»' if where else ''}")
    return list(dict.fromkeys(problems))


def _style(element: lxml.html.HtmlElement, pattern: re.Pattern[str]) -> bool:
    """Whether `pattern` is in the inline style of the element or of one of its ancestors."""
    return any(pattern.search(node.get("style") or "") for node in (element, *element.iterancestors()))


def _cannot_wrap(element: lxml.html.HtmlElement) -> str:
    text = (element.text or "") + "".join(child.tail or "" for child in element)
    if element.tag == "pre" and not _style(element, _PRE_WRAP):
        longest = max((len(line) for line in element.text_content().splitlines()), default=0)
        if longest > RUN:
            return f"<pre> keeps a {longest}-character line (white-space: pre-wrap is missing)"
    if _style(element, _NOWRAP) and len(text.strip()) > RUN:
        return f"{len(text.strip())} characters kept on one line (white-space: nowrap)"
    run = max((match.group(0) for match in _RUN.finditer(text)), key=len, default="")
    if run and not _style(element, _WRAPS):
        return f"a {len(run)}-character run that cannot wrap ({run[:24]}…)"
    return ""


def _too_wide(element: lxml.html.HtmlElement) -> str:
    style = element.get("style") or ""
    declared = _PX_WIDTH.findall(style)
    widths = [int(value) for _, value in declared]
    attribute = (element.get("width") or "").strip()
    if attribute.isdigit() and not _FLUID_WIDTH.search(style) and not declared:
        widths.append(int(attribute))
    widest = max(widths, default=0)
    if widest > PHONE_COLUMN:
        return f"<{element.tag}> fixed at {widest} px (a phone's column is {PHONE_COLUMN} px)"
    return ""


def post_of(element: lxml.html.HtmlElement, titles: dict[str, str]) -> str:
    """The post an element belongs to: the one heading of its nearest block, or its link's post."""
    for node in (element, *element.iterancestors()):
        headings = node.findall(".//h2")
        if len(headings) == 1:
            return str(headings[0].text_content().strip())
        if len(headings) > 1:
            break
    link = next((node for node in (element, *element.iterancestors()) if node.tag == "a"), None)
    return titles.get(link.get("href", "") if link is not None else "", "")
