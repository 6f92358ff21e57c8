"""What an article page adds to a post whose feed gave no picture or only a teaser. Pure.

`gather` fetches the page (only with `enrich = true`, see docs/gather.md); this module reads it:
its `og:image`/`twitter:image`, its description, and a clean lead paragraph found by
readability-lxml's main-content extraction (docs/dependencies.md says why that extractor), then
cleaned of boilerplate by `summary.clean`. `build` never fetches anything: what is kept is stored
with the post.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, replace
from urllib.parse import urljoin

import lxml.html
from readability import Document

from digest.images import Candidate, choose
from digest.models import Post
from digest.sanitize import safe_html, safe_html_text, text_html, truncate_html
from digest.summary import clean

TEASER_CHARS = 200  # a summary shorter than this (in text) is a teaser
LEAD_MIN_CHARS = 80  # a lead paragraph is at least this long

logging.getLogger("readability.readability").setLevel(logging.ERROR)  # it logs every page it reads


@dataclass(frozen=True)
class Article:
    """What an article page says of itself: all optional."""

    image: str = ""
    description: str = ""
    lead: str = ""  # sanitised HTML, one paragraph

    def to_json(self) -> str:
        return json.dumps(vars(self), ensure_ascii=False, sort_keys=True)

    @staticmethod
    def from_json(text: str) -> Article:
        data = json.loads(text)
        return Article(
            str(data.get("image", "")), str(data.get("description", "")), str(data.get("lead", ""))
        )


def wants(post: Post) -> bool:
    """Whether a post's page may help: no picture, or only a teaser (or nothing) as summary."""
    return post.image is None or len(post.summary_text) < TEASER_CHARS


def read_article(page: bytes, url: str, *, title: str = "", names: tuple[str, ...] = ()) -> Article:
    """The picture, description and lead paragraph of an article page; empty when unreadable."""
    text = decoded(page)
    try:
        tree = lxml.html.document_fromstring(text)
    except (ValueError, lxml.etree.ParserError):
        return Article()
    image = _meta(
        tree, "og:image", "og:image:url", "og:image:secure_url", "twitter:image", "twitter:image:src"
    )
    description = _meta(tree, "og:description", "description", "twitter:description")
    return Article(
        image=urljoin(url, image) if image else "",
        description=" ".join(description.split()),
        lead=_lead(text, url, title, names),
    )


_DECLARED = re.compile(rb"""<meta[^>]+charset=["']?([-\w]+)""", re.I)
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*>")


def decoded(page: bytes) -> str:
    """A page's text: UTF-8 when it is valid, else the charset it declares, else windows-1252."""
    try:
        text = page.decode("utf-8")
    except UnicodeDecodeError:
        declared = _DECLARED.search(page[:4096])
        try:
            text = page.decode(declared.group(1).decode("ascii") if declared else "windows-1252", "replace")
        except LookupError:
            text = page.decode("windows-1252", "replace")
    return _XML_DECLARATION.sub("", text)


def enriched(post: Post, article: Article, summary_chars: int) -> Post:
    """`post` with what its page adds: the page's picture when it has none; the page's lead (else
    its description) when the feed gave only a teaser."""
    image = post.image or choose([Candidate(article.image, medium="image")], post.url, post.title)
    summary_html = post.summary_html
    if len(post.summary_text) < TEASER_CHARS:
        better = article.lead or (text_html(article.description) if article.description else "")
        better = clean(safe_html(better, post.url), title=post.title, names=(post.source, post.author))
        if len(safe_html_text(better)) > len(post.summary_text):
            summary_html = truncate_html(better, summary_chars)
    return replace(post, image=image, summary_html=summary_html, summary_text=safe_html_text(summary_html))


def _meta(tree: lxml.html.HtmlElement, *names: str) -> str:
    for name in names:
        for attribute in ("property", "name"):
            found = tree.xpath(f'//meta[@{attribute}="{name}"]/@content')
            if found and str(found[0]).strip():
                return str(found[0]).strip()
    return ""


def _lead(page: str, url: str, title: str, names: tuple[str, ...]) -> str:
    """The first substantial paragraph of the main content, without the page's furniture."""
    try:
        main = Document(page, url=url).summary(html_partial=True)
    except Exception:  # readability raises its own Unparseable, and lxml errors, on odd pages
        return ""
    body = clean(safe_html(main, url), title=title, names=names)
    for paragraph in lxml.html.fragments_fromstring(body) if body.strip() else []:
        if isinstance(paragraph, str):
            continue
        text = " ".join(paragraph.text_content().split())
        if paragraph.tag == "p" and len(text) >= LEAD_MIN_CHARS:
            return safe_html(lxml.html.tostring(paragraph, encoding="unicode"), url)
    return ""
