"""What a template sees of one post: display-ready values, sized images, the text twin's links.

Pure functions of the post and the edition's locale. The lead story and the cards differ only
in how much of the summary they show and how wide their picture may be.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from markupsafe import Markup, escape

from digest.i18n import long_date, translate, typography, typography_html
from digest.models import Image, Post
from digest.sanitize import safe_html, text_with_references, truncate_html

PAGE = 600  # the email's width on a desktop: the lead picture spans it
COLUMN = 536  # a card's column on a desktop (600 - 2 x 32 px of padding)
PHONE_COLUMN = 568  # the widest a card's column gets under the phone rules (600 - 2 x 16 px)
LEAD_CHARS = 420  # of summary text: what the feed gave, at most (parse.SUMMARY_CHARS)
CARD_CHARS = 240


@dataclass(frozen=True)
class Picture:
    """An image at the width it is shown: never wider than it is, never wider than the column."""

    url: str
    alt: str
    width: int  # the `width` attribute and the CSS max-width
    height: int | None  # in proportion, when the feed gave both dimensions
    fill: bool  # large enough to fill the column on phones too


def picture(image: Image | None, column: int) -> Picture | None:
    if image is None:
        return None
    natural = image.width if image.width and image.width > 0 else None
    width = min(natural, column) if natural else column
    height = round(image.height * width / natural) if natural and image.height else None
    # Unknown natural width: shown at the column, as before (nothing says it is smaller).
    fill = natural is None or natural >= max(column, PHONE_COLUMN)
    return Picture(image.url, image.alt, width, height, fill)


@dataclass(frozen=True)
class PostView:
    """What the post partial sees: the post plus display-ready values (docs/templates.md)."""

    post: Post
    title: str
    url: str
    source: str
    author: str
    date: str
    categories: tuple[str, ...]
    summary_html: str
    summary_text: str
    links: tuple[str, ...]  # the summary's links, numbered [1], [2]… in `summary_text`
    image: Image | None
    picture: Picture | None
    comments: int | None
    lang: str
    read_label: Markup  # "Lire « titre » sur Source", the title marked with the post's lang
    lead: bool


def tracked(url: str, utm: Sequence[tuple[str, str]]) -> str:
    """`url` with the newsletter's utm_… parameters, keeping any the post's own URL has."""
    if not utm:
        return url
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    present = {name for name, _ in query}
    query += [(name, value) for name, value in utm if name not in present]
    return urlunsplit(parts._replace(query=urlencode(query)))


def post_view(
    post: Post, locale: str, *, lead: bool = False, utm: Sequence[tuple[str, str]] = ()
) -> PostView:
    language = (post.language or "").split("-")[0]
    own = language or locale
    lang = language if language and language != locale else ""
    # sanitised again: issue.json may have been edited by hand
    summary = truncate_html(safe_html(post.summary_html), LEAD_CHARS if lead else CARD_CHARS)
    text, links = text_with_references(summary)
    title = typography(post.title, own)
    marked = Markup('<span lang="{}">{}</span>').format(lang, title) if lang else escape(title)
    return PostView(
        post=post,
        title=title,
        url=tracked(post.url, utm),  # only the post's own links: never unsubscribe or archive links
        source=post.source,
        author=post.author,
        date=long_date(post.published, locale),
        categories=post.categories,
        summary_html=typography_html(summary, own),
        summary_text=typography(text, own),
        links=links,
        image=post.image,
        picture=picture(post.image, PAGE if lead else COLUMN),
        comments=post.comments,
        lang=lang,
        read_label=Markup(translate(locale, "read_post", title=marked, source=escape(post.source))),
        lead=lead,
    )
