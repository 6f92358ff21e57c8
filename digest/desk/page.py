"""The desk's one page, rendered on the server: plain forms that work without JavaScript.

Every control is a real <button> in a <form> that POSTs to /act, named by its visible words
(« Monter », "Move up"…) and grouped under the post's title, so a screen reader says which post
a button acts on. The script (desk.js beside this module) only makes it quicker: it sends the
form in place, swaps the parts that changed and keeps the focus on the button just used.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from digest.check import Finding
from digest.desk.words import words
from digest.edits import PLACEHOLDERS
from digest.models import Issue, Post

STYLE = (Path(__file__).with_name("desk.css")).read_text(encoding="utf-8")
SCRIPT = (Path(__file__).with_name("desk.js")).read_text(encoding="utf-8")
VIEWS = (("phone", 375, ""), ("small_phone", 320, ""), ("tablet", 600, ""), ("desktop", 1200, ""))
MAX_CANDIDATES = 40


@dataclass(frozen=True)
class View:
    name: str  # the issue folder's name
    stored: Issue  # patterns unfilled: what the editor edits
    shown: Issue  # as its edition shows it
    findings: Sequence[Finding]
    candidates: Sequence[tuple[Post, float]]
    dropped: Sequence[Post]
    undo: str | None  # the label of the change an undo would take back
    notice: str
    token: str
    version: int
    nonce: str


def e(text: object) -> str:
    return html.escape(str(text), quote=True)


def concerning(post: Post, findings: Sequence[Finding]) -> list[Finding]:
    """The findings that name the post (its title or its link): shown beside it."""
    return [
        f for f in findings if (not f.ok or f.warning) and (post.title in f.message or post.url in f.message)
    ]


def page(view: View) -> str:
    w = words(view.stored.locale)
    title = w["title"].format(issue=view.name)
    return (
        f'<!DOCTYPE html><html lang="{e(view.stored.locale)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">'
        f"<title>{e(title)}</title><style>{STYLE}</style></head><body>"
        f'<a class="skip" href="#posts">{e(w["skip"])}</a>'
        f'<header><h1>{e(title)}</h1><div id="bar">{_bar(view, w)}</div></header>'
        f'<div class="desk"><main id="panel" data-version="{view.version}">{_panel(view, w)}</main>'
        f'<aside class="views" aria-label="{e(w["views"])}">{_views(view, w)}'
        f'<section id="checks" aria-labelledby="checks-h">{_checks(view, w)}</section></aside></div>'
        f'<script nonce="{e(view.nonce)}">{SCRIPT}</script></body></html>'
    )


def _hidden(view: View, **fields: str) -> str:
    pairs = {"token": view.token, **fields}
    return "".join(f'<input type="hidden" name="{e(k)}" value="{e(v)}">' for k, v in pairs.items())


def _form(view: View, inner: str, label: str = "", **fields: str) -> str:
    group = f' role="group" aria-labelledby="{e(label)}"' if label else ""
    return f'<form class="act" method="post" action="act"{group}>{_hidden(view, **fields)}{inner}</form>'


def _button(action: str, text: str, key: str = "") -> str:
    return f'<button name="action" value="{e(action)}" data-key="{e(action + ":" + key)}">{e(text)}</button>'


def _bar(view: View, w: dict[str, str]) -> str:
    notice = f'<p id="notice" role="status" aria-live="polite">{e(view.notice)}</p>'
    if view.undo is None:
        return f'<p class="muted">{e(w["nothing_to_undo"])}</p>{notice}'
    return _form(view, _button("undo", w["undo"].format(label=view.undo))) + notice


def _panel(view: View, w: dict[str, str]) -> str:
    return _texts(view, w) + _posts(view, w) + _dropped(view, w) + _candidates(view, w)


def _texts(view: View, w: dict[str, str]) -> str:
    issue = view.stored
    help_text = w["subject_help"].format(placeholders=" ".join(f"{{{p}}}" for p in PLACEHOLDERS))
    fields = (
        f'<p><label for="subject">{e(w["subject"])}</label>'
        f'<input id="subject" name="subject" value="{e(issue.subject)}" aria-describedby="subject-help subject-now">'
        f'<small id="subject-help">{e(help_text)}</small>'
        f'<small id="subject-now">→ {e(view.shown.subject)}</small></p>'
        f'<p><label for="preheader">{e(w["preheader"])}</label>'
        f'<input id="preheader" name="preheader" value="{e(issue.preheader)}" aria-describedby="preheader-now">'
        f'<small id="preheader-now">→ {e(view.shown.preheader)}</small></p>'
        f'<p><label for="intro">{e(w["intro"])}</label>'
        f'<textarea id="intro" name="intro" rows="4">{e(issue.intro)}</textarea></p>'
        + _button("texts", w["save_texts"])
    )
    return f'<section aria-labelledby="texts-h"><h2 id="texts-h">{e(w["texts"])}</h2>{_form(view, fields)}</section>'


def _posts(view: View, w: dict[str, str]) -> str:
    parts = []
    first = True
    for index, section in enumerate(view.stored.sections):
        heading = w["section"].format(title=section.title) if section.title else w["opening"]
        items = []
        for position, post in enumerate(section.posts):
            last = index == len(view.stored.sections) - 1 and position == len(section.posts) - 1
            items.append(_post(view, w, post, first=first, last=last, opening=index == 0))
            first = False
        parts.append(f"<h3>{e(heading)}</h3><ol>{''.join(items)}</ol>")
    return f'<section id="posts" aria-labelledby="posts-h"><h2 id="posts-h">{e(w["posts"])}</h2>{"".join(parts)}</section>'


def _post(view: View, w: dict[str, str], post: Post, *, first: bool, last: bool, opening: bool) -> str:
    pid = e(post.id)
    editions = dict(view.stored.only).get(post.id)
    meta = [
        post.source or post.feed,
        f'<a href="{e(post.url)}" target="_blank" rel="noopener noreferrer">{e(post.url)}</a>',
    ]
    badge = f'<strong class="lead">{e(w["lead"])}</strong> ' if first else ""
    if editions:
        meta.append(e(w["editions_only"].format(editions=", ".join(editions))))
    buttons = [
        "" if first else _button("up", w["up"], post.id),
        "" if last else _button("down", w["down"], post.id),
        "" if first else _button("lead", w["make_lead"], post.id),
        "" if opening else _button("pin", w["pin"], post.id),
        _button("drop", w["drop"], post.id),
    ]
    notes = "".join(
        f'<li class="finding">{e(f.rule)}: {e(f.message)}</li>' for f in concerning(post, view.findings)
    )
    editor = _form(
        view,
        f'<p><label for="title-{pid}">{e(w["post_title"])}</label>'
        f'<input id="title-{pid}" name="title" value="{e(post.title)}"></p>'
        f'<p><label for="summary-{pid}">{e(w["summary"])}</label>'
        f'<textarea id="summary-{pid}" name="summary" rows="4">{e(post.summary_html)}</textarea></p>'
        + _button("edit", w["save"], post.id),
        post=post.id,
    )
    return (
        f'<li id="post-{pid}" class="post"><h4 id="t-{pid}">{badge}{e(post.title)}</h4>'
        f'<p class="meta">{" · ".join(meta)}</p>'
        + (f'<ul class="notes" aria-label="{e(w["about_post"])}">{notes}</ul>' if notes else "")
        + _form(view, "".join(buttons), f"t-{post.id}", post=post.id)
        + f"<details><summary>{e(w['edit'])}</summary>{editor}</details></li>"
    )


def _dropped(view: View, w: dict[str, str]) -> str:
    if not view.dropped:
        return ""
    items = "".join(
        f'<li><span id="d-{e(p.id)}">{e(p.title)}</span>'
        + _form(view, _button("restore", w["restore"], p.id), f"d-{p.id}", post=p.id)
        + "</li>"
        for p in view.dropped
    )
    return f'<section aria-labelledby="dropped-h"><h2 id="dropped-h">{e(w["dropped"])}</h2><ul>{items}</ul></section>'


def _candidates(view: View, w: dict[str, str]) -> str:
    dropped = {p.id for p in view.dropped}
    shown = [(p, s) for p, s in view.candidates if p.id not in dropped][:MAX_CANDIDATES]
    items = "".join(
        f'<li><span id="c-{e(p.id)}">{e(p.title)}</span> <small>{e(p.source or p.feed)} · '
        f"{e(w['score'].format(score=f'{s:.2f}'))}</small>"
        + _form(view, _button("add", w["add"], p.id), f"c-{p.id}", post=p.id)
        + "</li>"
        for p, s in shown
    )
    body = f"<ol>{items}</ol>" if items else f'<p class="muted">{e(w["no_candidates"])}</p>'
    return f'<section aria-labelledby="cand-h"><h2 id="cand-h">{e(w["candidates"])}</h2>{body}</section>'


def _views(view: View, w: dict[str, str]) -> str:
    buttons = "".join(
        f'<button type="button" data-width="{width}" aria-pressed="{"true" if i == 0 else "false"}">{e(w[key])}</button>'
        for i, (key, width, _) in enumerate(VIEWS)
    )
    token = e(view.token)
    return (
        f'<div class="switch" role="group" aria-label="{e(w["views"])}">{buttons}'
        f'<button type="button" id="dark" aria-pressed="false">{e(w["dark"])}</button>'
        f'<button type="button" id="text" aria-pressed="false">{e(w["text"])}</button></div>'
        f'<iframe id="view" title="{e(w["email"])}" sandbox="allow-popups allow-popups-to-escape-sandbox" '
        f'src="email.html?token={token}&amp;v={view.version}" style="width:375px"></iframe>'
        f'<pre id="plain" hidden></pre>'
    )


def _checks(view: View, w: dict[str, str]) -> str:
    items = []
    for finding in view.findings:
        if finding.ok and not finding.warning:
            continue
        post = next((p for p in view.stored.posts if concerning(p, [finding])), None)
        link = f' <a href="#post-{e(post.id)}">{e(post.title)}</a>' if post else ""
        kind = "warning" if finding.warning else "fail"
        items.append(f'<li class="{kind}">{e(finding.rule)}: {e(finding.message)}{link}</li>')
    passed = sum(1 for f in view.findings if f.ok and not f.warning)
    body = f"<ul>{''.join(items)}</ul>" if items else f"<p>{e(w['all_ok'])}</p>"
    return f'<h2 id="checks-h">{e(w["checks"])} <small>({passed} ✓)</small></h2>{body}'
