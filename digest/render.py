"""Render: an `Issue` into the inlined HTML email, its plain-text twin and the web version.

Rendering happens once per issue. Subscriber-specific values are left as merge tokens
(`%%<prefix>:name%%`) that `deliver` fills in per subscriber, so neither Jinja nor the CSS
inliner ever runs in the per-subscriber loop. The prefix is derived from the issue itself:
deterministic, and not guessable by a feed author who would like to smuggle one in.
"""

from __future__ import annotations

import hashlib
import logging
import re
import textwrap
from collections.abc import Mapping
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import jinja2
import markupsafe
import premailer

from digest.errors import TemplateError
from digest.i18n import long_date, translate, typography
from digest.identity import parse_week
from digest.issuefile import issue_to_json
from digest.models import Issue, RenderedIssue
from digest.postview import PostView, post_view

DEFAULT_TEMPLATES = Path(__file__).parent / "templates"
TEMPLATE_NAMES = ("email.html", "email.txt", "web.html")
__all__ = ["PostView", "render_issue", "template_context"]
TEXT_WIDTH = 78


# The closed set of merge fields (docs/templates.md): anything else stops the build.
SUBSCRIBER_FIELDS = ("email", "name", "first_name", "locale")
_FIELD_KEY = re.compile(r"[a-z][a-z0-9_]*")


class MergeField:
    """Renders as a merge token; `deliver` replaces it with the subscriber's value."""

    __slots__ = ("_path", "_prefix")

    def __init__(self, prefix: str, path: str) -> None:
        self._prefix, self._path = prefix, path

    def __str__(self) -> str:
        return f"%%{self._prefix}:{self._path}%%"

    def __html__(self) -> str:
        return str(self)

    def __repr__(self) -> str:
        return f"MergeField({self._path!r})"


class _Namespace:
    """`subscriber` and `subscriber.fields`: attribute access yields merge fields, or an error
    that names the template and line (raised as Jinja's, so `_render` places it)."""

    __slots__ = ("_path", "_prefix")

    def __init__(self, prefix: str, path: str) -> None:
        self._prefix, self._path = prefix, path

    def __getattr__(self, item: str) -> MergeField | _Namespace:
        if item.startswith("__"):
            raise AttributeError(item)
        if self._path == "subscriber" and item == "fields":
            return _Namespace(self._prefix, "subscriber.fields")
        if self._path == "subscriber" and item in SUBSCRIBER_FIELDS:
            return MergeField(self._prefix, f"subscriber.{item}")
        if self._path == "subscriber.fields" and _FIELD_KEY.fullmatch(item):
            return MergeField(self._prefix, f"subscriber.fields.{item}")
        if self._path == "subscriber.fields":
            raise jinja2.UndefinedError(
                f"subscriber.fields.{item}: a column's key is its header in lower case, accents "
                "dropped, other characters as _ (e.g. subscriber.fields.code_postal)"
            )
        known = ", ".join(f"subscriber.{name}" for name in (*SUBSCRIBER_FIELDS, "fields.<column>"))
        raise jinja2.UndefinedError(f"subscriber.{item} is not a merge field (they are: {known})")

    def __str__(self) -> str:
        raise jinja2.UndefinedError(f"{self._path} is not a value: name a field, e.g. subscriber.name")

    def __html__(self) -> str:
        return str(self)


def template_environment(user_templates: Path | None) -> jinja2.Environment:
    """User templates first, then the shipped defaults; `default/NAME` always means the shipped one."""
    shipped = jinja2.FileSystemLoader(DEFAULT_TEMPLATES)
    loaders: list[jinja2.BaseLoader] = [jinja2.PrefixLoader({"default": shipped})]
    if user_templates and user_templates.is_dir():
        loaders.append(jinja2.FileSystemLoader(user_templates))
    loaders.append(shipped)
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["wrap"] = wrap_text
    env.filters["bdi"] = bdi
    env.filters["isolate"] = isolate
    return env


def bdi(value: object) -> markupsafe.Markup:
    """A name or a source title, isolated for text direction in HTML: an Urdu feed's name must not
    reorder the byline around it."""
    return markupsafe.Markup("<bdi>{}</bdi>").format(value)


def isolate(value: object) -> str:
    """The same in text: FIRST STRONG ISOLATE … POP DIRECTIONAL ISOLATE."""
    return f"\u2068{value}\u2069"


def render_issue(issue: Issue, user_templates: Path | None = None) -> RenderedIssue:
    env = template_environment(user_templates)
    prefix = hashlib.sha256(issue_to_json(issue).encode("utf-8")).hexdigest()[:12]
    context = template_context(issue, prefix)
    html = _render(env, "email.html", context)
    web = _render(env, "web.html", {**context, "web": True})
    text = _render(env, "email.txt", context)
    return RenderedIssue(html=inline_css(html), text=text, web=inline_css(web), token_prefix=prefix)


def template_context(issue: Issue, prefix: str) -> dict[str, Any]:
    """Every variable a template receives; docs/templates.md lists them (a test keeps it so)."""
    year, number = parse_week(issue.week)
    monday = date.fromisocalendar(year, number, 1)
    locale = issue.locale

    def t(key: str, **values: object) -> str:
        if not any(isinstance(value, markupsafe.Markup) for value in values.values()):
            return translate(locale, key, **values)
        # A value already HTML (`bdi`): the text around it is escaped, the value kept as it is.
        marks = {name: f"\x00{index}\x00" for index, name in enumerate(values)}
        text = markupsafe.escape(translate(locale, key, **marks))
        for name, mark in marks.items():
            text = markupsafe.Markup(text.replace(mark, markupsafe.escape(values[name])))
        return text

    subscriber = _Namespace(prefix, "subscriber")
    return {
        "issue": issue,
        "newsletter": typography(issue.newsletter, locale),
        "locale": locale,
        "dir": "ltr",
        "subject": typography(issue.subject, locale),
        "preheader": typography(issue.preheader, locale),
        "intro": typography(issue.intro, locale),
        "lead": post_view(issue.posts[0], locale, lead=True, utm=issue.utm) if issue.posts else None,
        "sections": _sections(issue),
        "week": issue.week,
        "week_label": t("week_label", week_number=number, year=year),
        "week_range": t(
            "week_range",
            start=long_date(date.fromisoformat(issue.first_day) if issue.first_day else monday, locale),
            end=long_date(
                date.fromisoformat(issue.last_day) if issue.last_day else monday + timedelta(days=6), locale
            ),
        ),
        "web_url": issue.web_url,
        "postal_address": issue.postal_address,
        "subscriber": subscriber,
        "unsubscribe_url": MergeField(prefix, "unsubscribe_url"),
        "greeting": MergeField(prefix, "greeting"),
        "web": False,
        "t": t,
    }


def _sections(issue: Issue) -> list[dict[str, Any]]:
    """The sections after the lead story (the issue's first post); empty ones are left out.

    When the lead's unnamed section is the only one, what follows it is headed "more"."""
    sections = [(section.title, list(section.posts)) for section in issue.sections if section.posts]
    if sections:
        sections[0][1].pop(0)
    if len(sections) == 1 and not sections[0][0]:
        sections[0] = (translate(issue.locale, "more"), sections[0][1])
    return [
        {"title": title, "posts": [post_view(post, issue.locale, utm=issue.utm) for post in posts]}
        for title, posts in sections
        if posts
    ]


def _render(env: jinja2.Environment, name: str, context: Mapping[str, Any]) -> str:
    try:
        return env.get_template(name).render(context)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"template {exc.filename or exc.name}, line {exc.lineno}: {exc.message}") from exc
    except jinja2.TemplateNotFound as exc:
        raise TemplateError(
            f"template not found: {exc.name}", hint="see docs/templates.md for the names"
        ) from exc
    except jinja2.UndefinedError as exc:
        where = _template_location(exc) or f"template {name}"
        raise TemplateError(f"{where}: {exc.message}", hint="docs/templates.md lists every variable") from exc


def _template_location(exc: BaseException) -> str:
    """Jinja rewrites tracebacks so template frames carry the template's file and line."""
    found = ""
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith((".html", ".txt")):
            found = f"template {filename}, line {tb.tb_lineno}"
        tb = tb.tb_next
    return found


_DOCTYPE = "<!DOCTYPE html>\n"


def inline_css(html: str) -> str:
    """Inline the CSS once per document; media queries and dark-mode rules stay in <style>."""
    inliner = premailer.Premailer(
        html,
        strip_important=False,  # the @media overrides need their !important
        allow_network=False,  # never fetch a stylesheet a feed may have named
        keep_style_tags=False,
        disable_validation=True,
        remove_classes=False,
        cssutils_logging_level=logging.CRITICAL,
        disable_basic_attributes=["width", "height", "align", "bgcolor", "valign"],
    )
    inlined = inliner.transform(pretty_print=False)
    body = re.sub(r"^\s*<!DOCTYPE[^>]*>\s*", "", inlined, flags=re.I)
    return _DOCTYPE + body.strip() + "\n"


_ASCII_SPACE = re.compile(r"[ \t\r\n]+")


LONGEST_WORD = 900  # characters: a text line must stay under 998 (RFC 5322), whatever a feed wrote


def wrap_text(text: str, width: int = TEXT_WIDTH, indent: str = "") -> str:
    """Wrap each paragraph at `width` columns; URLs are never broken, unless longer than a mail
    line may be (then cut every LONGEST_WORD characters)."""
    paragraphs = str(text).split("\n\n")
    wrapped = (
        textwrap.fill(
            " ".join(_words(paragraph)),  # keep no-break spaces: they are typography
            width=width,
            initial_indent=indent,
            subsequent_indent=indent,
            break_long_words=False,
            break_on_hyphens=False,
        )
        for paragraph in paragraphs
        if paragraph.strip()
    )
    return "\n\n".join(wrapped)


def _words(paragraph: str) -> list[str]:
    words = _ASCII_SPACE.split(paragraph.strip())
    if all(len(word) <= LONGEST_WORD for word in words):
        return words
    return [word[i : i + LONGEST_WORD] for word in words for i in range(0, max(len(word), 1), LONGEST_WORD)]
