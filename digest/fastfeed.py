"""A fast reader for well-formed RSS 2.0, RSS 1.0 and Atom 1.0, with feedparser as its fallback.

feedparser spends most of its time in Python callbacks of a SAX parser. Here lxml builds the tree
in C and one walk applies, element by element, **feedparser's own rules** for the elements it
knows (ported from its `mixin` and `namespaces`: xml:base and xml:lang scopes, the summary and
content precedence, title depths, guids as links, author details, tags, enclosures, Media RSS,
iTunes), producing the same dicts feedparser would for every key `parse` reads. Anything else
raises `Unsupported` and `parse` hands the document to feedparser: a document lxml rejects, a
DOCTYPE, bytes that are not UTF-8, markup inside a text element (XHTML content), base64 content,
an element feedparser handles that is not ported here (GeoRSS, podcast chapters, Creative
Commons...), an undeclared prefix. `tests/test_fastfeed.py` runs both readers on every file of
two corpora and requires the same posts wherever this one accepts a document. Pure.
"""

from __future__ import annotations

import contextlib
import functools
import re
from typing import Any

from feedparser.api import StrictFeedParser
from feedparser.mixin import _cp1252
from feedparser.urls import _urljoin, make_safe_absolute_uri
from lxml import etree

from digest.fastfeed_media import Unsupported
from digest.fastfeed_rules import END, START

Dict = dict[str, Any]
__all__ = ["Unsupported", "read", "xml_media_type"]
NAMESPACES: dict[str, str] = {uri.lower(): prefix for uri, prefix in StrictFeedParser.namespaces.items()}
HANDLED = frozenset(
    name.split("_", 2)[2] for name in dir(StrictFeedParser) if name.startswith(("_start_", "_end_"))
)
RSS10, ATOM10, XLINK = (
    "http://purl.org/rss/1.0/",
    "http://www.w3.org/2005/Atom",
    "http://www.w3.org/1999/xlink",
)
RELATIVE = StrictFeedParser.can_be_relative_uri
HTML_TYPES = StrictFeedParser.html_types
# Keys `parse` reads: an unknown element of that name would be stored over them (a generic key).
READ = {"links", "content", "summary_detail", "title_detail", "author_detail", "tags", "authors"}
READ |= {"media_content", "media_thumbnail", "image", "published_parsed", "updated_parsed", "created_parsed"}
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?\bencoding\s*=\s*["']([^"']*)""")
_AMP = re.compile("&([A-Za-z0-9_]+);")
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, collect_ids=False)
_XML_TYPES = ("application/xml", "application/xml-dtd", "application/xml-external-parsed-entity")
_TEXT_XML_TYPES = ("text/xml", "text/xml-external-parsed-entity")


def xml_media_type(content_type: str) -> bool:
    """feedparser's test (RFC 3023): else it reports the document as "not served as XML"."""
    mime = content_type.split(";")[0].strip()
    return (
        mime in _XML_TYPES
        or mime in _TEXT_XML_TYPES
        or (mime.startswith(("application/", "text/")) and mime.endswith("+xml"))
    )


def read(data: bytes, headers: dict[str, str]) -> tuple[Dict, list[Dict]]:
    """The feed's and its entries' dicts as feedparser would give them; `Unsupported` otherwise.

    `data` is valid UTF-8 (`parse._trust_utf8` made sure), `headers` lower-cased."""
    declared_encoding = _XML_ENCODING.match(data[:512].removeprefix(b"\xef\xbb\xbf"))
    if declared_encoding and declared_encoding.group(1).lower() not in (b"utf-8", b"utf8"):
        raise Unsupported("declared encoding")  # lxml would believe it; feedparser reads UTF-8
    if XLINK.encode() in data:  # feedparser adds an xlink declaration to the next element's attributes
        raise Unsupported("xlink")
    try:
        root = etree.fromstring(data, _PARSER)
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise Unsupported(str(exc)) from exc
    if root.getroottree().docinfo.doctype:
        raise Unsupported("DOCTYPE")  # feedparser rewrites it and may define entities
    declared = {str(uri).lower() for uri in root.nsmap.values()}
    tag = root.tag if isinstance(root.tag, str) else ""
    if tag == "rss" or tag.startswith("{http://backend.userland.com/rss"):
        atom = False
    elif tag == f"{{{ATOM10}}}feed" and RSS10 not in declared:
        atom = True
    elif tag == "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}RDF" and RSS10 in declared:
        atom = ATOM10.lower() in declared
        if atom:
            raise Unsupported("RDF with Atom: feedparser's version depends on declaration order")
    else:
        raise Unsupported(f"root {tag}")
    walk = _Walk(headers.get("content-location", ""), headers.get("content-language"), atom)
    walk.element(root)
    return walk.feed, walk.entries


class _Walk:
    """feedparser's `_FeedParserMixin` state machine, for the elements ported here."""

    def __init__(self, base: str, lang: str | None, atom: bool) -> None:
        self.feed: Dict = {"language": lang.replace("_", "-")} if lang else {}
        self.entries: list[Dict] = []
        self.base, self.lang, self.atom = base, lang, atom
        self.bases: list[str] = []
        self.langs: list[str | None] = []
        self.stack: list[tuple[str, bool, list[str]]] = []
        self.depth, self.title_depth, self.incontent, self.has_content = 0, -1, 0, False
        self.infeed = self.inentry = self.inimage = self.intextinput = self.insource = False
        self.inauthor = self.incontributor = self.inpublisher = self.guidislink = False
        self.params: Dict = {}
        self.summary_key: str | None = None
        self.entry_depth: dict[str, int] = {}
        self.source: Dict = {}

    # The walk: start tag, text, children and their tails, end tag; comments and PIs are skipped.

    def element(self, el: Any) -> None:
        name, plain = _name(el)
        self.start(name, plain, _attributes(el))
        if el.text:
            self.data(el.text)
        for child in el:
            if isinstance(child.tag, str):
                self.element(child)
            if child.tail:
                self.data(child.tail)
        self.end(name)

    def data(self, text: str) -> None:
        if self.stack:
            self.stack[-1][2].append(text)

    def start(self, name: str, plain: bool, attrs: Dict) -> None:
        self.depth += 1
        base = attrs.get("xml:base", attrs.get("base")) or self.base
        if base or self.base:  # (both empty: feedparser's join gives "")
            self.base = _scoped_base(self.base, base)
        lang = attrs.get("xml:lang", attrs.get("lang"))
        lang = None if lang == "" else self.lang if lang is None else lang
        if lang and name in ("feed", "rss"):
            self.feed["language"] = lang.replace("_", "-")
        self.lang = lang
        self.bases.append(self.base)
        self.langs.append(lang)
        if self.incontent:
            raise Unsupported("markup inside a text element")
        if plain and name not in ("title", "link", "description", "name"):
            self.intextinput = False
        if plain and name not in ("title", "link", "description", "url", "href", "width", "height"):
            self.inimage = False
        handler = START.get(name)
        if handler is not None:
            handler(self, attrs)
        elif name in UNPORTED or name in READ or name.endswith("shares") or (attrs and name in END):
            raise Unsupported(
                f"element {name}"
            )  # (an end rule expects what a start without attributes pushed)
        elif not attrs:
            self.push(name, True)
        else:
            self.context()[name] = attrs

    def end(self, name: str) -> None:
        handler = END.get(name)
        if handler is not None:
            handler(self)
        else:
            self.pop(name)
        if self.bases:
            self.bases.pop()
            if self.bases and self.bases[-1]:
                self.base = self.bases[-1]
        if self.langs:
            self.langs.pop()
            if self.langs:
                self.lang = self.langs[-1]
        self.depth -= 1

    # feedparser's push, pop and contexts.

    def push(self, element: str, expecting_text: bool) -> None:
        self.stack.append((element, expecting_text, []))

    def pop(self, element: str, strip: bool = True) -> str | None:
        if not self.stack or self.stack[-1][0] != element:
            return None
        element, expecting_text, pieces = self.stack.pop()
        output = "".join(pieces)
        output = output.strip() if strip else output
        if not expecting_text:
            return output
        if element in RELATIVE and output and (element != "id" or self.guidislink):
            output = _urljoin(self.base or "", output)
        if not self.atom and self.params.get("type") == "text/plain" and _looks_like_html(output):
            self.params["type"] = "text/html"
        self.params.pop("mode", None)
        self.params.pop("base64", None)
        output = _repaired(output)
        if element in ("category", "tags", "itunes_keywords"):
            return output
        if element == "title" and -1 < self.title_depth <= self.depth:
            return output
        if self.inentry and not self.insource:
            self.store_entry(element, output)
        elif self.infeed or self.insource:
            self.store_feed(element, output)
        return output

    def store_entry(self, element: str, output: str) -> None:
        entry = self.entries[-1]
        if element == "content":
            entry.setdefault("content", []).append({**self.params, "value": output})
        elif element == "link":
            if not self.inimage:
                output = _AMP.sub(r"&\g<1>", output.replace("&amp;", "&"))
                entry["link"] = output
                if output:
                    entry["links"][-1]["href"] = output
        else:
            element = "summary" if element == "description" else element
            old = self.entry_depth.get(element)
            if old is None or self.depth <= old:
                self.entry_depth[element] = self.depth
                entry[element] = output
            if self.incontent:
                entry[f"{element}_detail"] = {**self.params, "value": output}

    def store_feed(self, element: str, output: str) -> None:
        context = self.context()
        element = "subtitle" if element == "description" else element
        context[element] = output
        if element == "link":
            output = _AMP.sub(r"&\g<1>", output)
            context[element] = output
            context["links"][-1]["href"] = output
        elif self.incontent:
            context[f"{element}_detail"] = {**self.params, "value": output}

    def context(self) -> Dict:
        if self.insource:
            return self.source
        if self.inimage and "image" in self.feed:
            return self.feed["image"]  # type: ignore[no-any-return]
        if self.intextinput:
            return self.feed["textinput"]  # type: ignore[no-any-return]
        return self.entries[-1] if self.inentry else self.feed

    def resolve(self, uri: str) -> str:
        return str(_urljoin(self.base or "", uri))

    def save(self, key: str, value: Any, overwrite: bool = False) -> None:
        context = self.context()
        if overwrite:
            context[key] = value
        else:
            context.setdefault(key, value)

    def push_content(self, tag: str, attrs: Dict, default_type: str, expecting_text: bool) -> None:
        self.incontent += 1
        if self.lang:
            self.lang = self.lang.replace("_", "-")
        kind = _content_type(attrs.get("type", default_type))
        if attrs.get("mode", "") == "base64" or not (kind.startswith("text/") or kind.endswith("xml")):
            raise Unsupported("base64 content")
        self.params = {"type": kind, "language": self.lang, "base": self.base, "base64": 0}
        self.push(tag, expecting_text)

    def pop_content(self, tag: str) -> str | None:
        value = self.pop(tag)
        self.incontent -= 1
        self.params = {}
        return value

    def add_tag(self, term: Any, scheme: Any, label: Any) -> None:
        tags = self.context().setdefault("tags", [])
        if not term and not scheme and not label:
            return
        value = {"term": term, "scheme": scheme, "label": label}
        if value not in tags:
            tags.append(value)

    def save_author(self, key: str, value: Any, prefix: str = "author") -> None:
        context = self.context()
        context.setdefault(f"{prefix}_detail", {})[key] = value
        self.sync_author_detail()
        context.setdefault("authors", [{}])[-1][key] = value

    def save_contributor(self, key: str, value: Any) -> None:
        self.context().setdefault("contributors", [{}])[-1][key] = value

    def sync_author_detail(self, key: str = "author") -> None:
        context = self.context()
        detail = context.get(f"{key}s", [{}])[-1]
        if detail:
            name, email = detail.get("name"), detail.get("email")
            if name or email:
                context[key] = f"{name} ({email})" if name and email else name or email
            return
        author = context.get(key)
        if not author:
            return
        author, email = _split_address(author)
        if author or email:
            context.setdefault(f"{key}_detail", detail)  # the same dict: named below
        if author:
            detail["name"] = author
        if email:
            detail["email"] = email


_EMAIL = re.compile(
    r"(([a-zA-Z0-9\_\-\.\+]+)@((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.)|(([a-zA-Z0-9\-]+\.)+))"
    r"([a-zA-Z]{2,4}|[0-9]{1,3})(\]?))(\?subject=\S+)?"
)


def _split_address(author: str) -> tuple[str, str | None]:
    """feedparser's `_sync_author_detail`: "x@y.org (Jane)" is Jane, x@y.org."""
    match = _EMAIL.search(author)
    if not match:
        return author, None
    email = match.group(0)
    author = author.replace(email, "").replace("()", "").replace("<>", "").replace("&lt;&gt;", "").strip()
    if author and author[0] == "(":
        author = author[1:]
    if author and author[-1] == ")":
        author = author[:-1]
    return author.strip(), email


@functools.lru_cache(maxsize=1024)
def _scoped_base(current: str, base: str) -> str:
    """feedparser's base URI inside an element (once per pair: most elements change nothing)."""
    return str((make_safe_absolute_uri(current, base) or current) if current else _urljoin("", base))


def _repaired(output: str) -> str:
    """feedparser's last touches: UTF-8 read as Latin-1 undone, C1 controls as windows-1252."""
    if output.isascii():
        return output
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        output = output.encode("iso-8859-1").decode("utf-8")
    return output.translate(_cp1252)


def _looks_like_html(text: str) -> bool:
    return bool(StrictFeedParser.looks_like_html(text))


def _content_type(kind: str) -> str:
    kind = kind.lower()
    return {
        "text": "text/plain",
        "plain": "text/plain",
        "html": "text/html",
        "xhtml": "application/xhtml+xml",
    }.get(kind, kind)


_NAMES: dict[str, tuple[str, bool]] = {}


def _name(el: Any) -> tuple[str, bool]:
    """feedparser's name for an element ("title", "dc_creator"), and whether it has no prefix."""
    tag = el.tag
    found = _NAMES.get(tag) if el.prefix is None else None
    if found is not None:
        return found
    uri, _, local = tag[1:].partition("}") if tag[0] == "{" else ("", "", tag)
    if ":" in local:
        raise Unsupported("undeclared prefix")
    uri = uri.lower()
    if "backend.userland.com/rss" in uri:
        uri = "http://backend.userland.com/rss"
    prefix = NAMESPACES.get(uri, el.prefix or "") if uri else ""
    name = (f"{prefix.lower()}_{local.lower()}" if prefix else local.lower(), not prefix)
    if el.prefix is None or uri in NAMESPACES:
        _NAMES[tag] = name
    return name


def _attributes(el: Any) -> Dict:
    attrs: Dict = {}
    for key, value in el.attrib.items():
        if key[0] == "{":
            uri, _, local = key[1:].partition("}")
            prefix = NAMESPACES.get(uri.lower(), "")
            key = f"{prefix}:{local}" if prefix else local
        key = key.lower()
        attrs[key] = value.lower() if key in ("rel", "type") else value
    return attrs


UNPORTED = HANDLED - START.keys() - END.keys()
