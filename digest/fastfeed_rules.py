"""feedparser's element rules, ported for `fastfeed`: what each start and end tag does. Pure.

Each rule is feedparser's handler of the same name (`feedparser/namespaces/_base.py`, `dc.py`,
`itunes.py`, `mediarss.py`), line for line, acting on `fastfeed._Walk`'s state. An element with
a feedparser handler that is not here makes `fastfeed` hand the document to feedparser.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from feedparser.datetimes import _parse_date
from feedparser.urls import make_safe_absolute_uri

from digest.fastfeed_media import (
    ITUNES,
    Unsupported,
    _category,
    _cloud,
    _content_pusher,
    _enclosure,
    _end_category,
    _end_generator,
    _end_itunes_flag,
    _end_itunes_owner,
    _end_keywords,
    _end_media_credit,
    _end_media_keyed,
    _end_media_player,
    _end_media_thumbnail,
    _end_source,
    _end_tags,
    _enforce_href,
    _generator,
    _itunes_category,
    _itunes_image,
    _itunes_owner,
    _media_category,
    _media_content,
    _media_credit,
    _media_keyed,
    _media_player,
    _media_thumbnail,
    _nothing,
    _popper,
    _pusher,
    _source,
)

if TYPE_CHECKING:
    from digest.fastfeed import _Walk

Dict = dict[str, Any]


def _cdf_common(w: _Walk, attrs: Dict) -> None:
    if "lastmod" in attrs or "href" in attrs:
        raise Unsupported("CDF attributes")


def _rss(w: _Walk, attrs: Dict) -> None:
    w.atom = False  # feedparser corrects a version guessed from an Atom namespace declaration


def _channel(w: _Walk, attrs: Dict) -> None:
    w.infeed = True
    _cdf_common(w, attrs)


def _feed(w: _Walk, attrs: Dict) -> None:
    w.infeed = True


def _end_channel(w: _Walk) -> None:
    w.infeed = False


def _image(w: _Walk, attrs: Dict) -> None:
    context = w.context()
    if not w.inentry:
        context.setdefault("image", {})
    w.inimage, w.title_depth = True, -1
    w.push("image", False)


def _end_image(w: _Walk) -> None:
    w.pop("image")
    w.inimage = False


def _textinput(w: _Walk, attrs: Dict) -> None:
    w.context().setdefault("textinput", {})
    w.intextinput, w.title_depth = True, -1
    w.push("textinput", False)


def _end_textinput(w: _Walk) -> None:
    w.pop("textinput")
    w.intextinput = False


def _author(w: _Walk, attrs: Dict) -> None:
    w.inauthor = True
    w.push("author", True)
    w.context().setdefault("authors", []).append({})


def _end_author(w: _Walk) -> None:
    w.pop("author")
    w.inauthor = False
    w.sync_author_detail()


def _contributor(w: _Walk, attrs: Dict) -> None:
    w.incontributor = True
    w.context().setdefault("contributors", []).append({})
    w.push("contributor", False)


def _end_contributor(w: _Walk) -> None:
    w.pop("contributor")
    w.incontributor = False


def _dc_contributor(w: _Walk, attrs: Dict) -> None:
    w.incontributor = True
    w.context().setdefault("contributors", []).append({})
    w.push("name", False)


def _end_dc_contributor(w: _Walk) -> None:
    _end_name(w)
    w.incontributor = False


def _end_name(w: _Walk) -> None:
    value = w.pop("name")
    if w.inpublisher:
        w.save_author("name", value, "publisher")
    elif w.inauthor:
        w.save_author("name", value)
    elif w.incontributor:
        w.save_contributor("name", value)
    elif w.intextinput:
        w.context()["name"] = value


def _end_href(w: _Walk) -> None:
    value = w.pop("href")
    if w.inauthor:
        w.save_author("href", value)
    elif w.incontributor:
        w.save_contributor("href", value)


def _end_email(w: _Walk) -> None:
    value = w.pop("email")
    if w.inpublisher:
        w.save_author("email", value, "publisher")
    elif w.inauthor:
        w.save_author("email", value)
    elif w.incontributor:
        w.save_contributor("email", value)


def _item(w: _Walk, attrs: Dict) -> None:
    w.entries.append({})
    w.entry_depth = {}
    w.push("item", False)
    w.inentry, w.guidislink, w.title_depth = True, False, -1
    about = attrs.get("rdf:about")
    if about:
        w.context()["id"] = about
    _cdf_common(w, attrs)


def _end_item(w: _Walk) -> None:
    w.pop("item")
    w.inentry, w.has_content = False, False


def _end_language(w: _Walk) -> None:
    w.lang = w.pop("language")


def _end_publisher(w: _Walk) -> None:
    w.pop("publisher")
    w.sync_author_detail("publisher")


def _end_date(key: str, w: _Walk) -> None:
    value = w.pop(key)
    # Read only when `dates` cannot read the date itself: feedparser's guess, checked there.
    w.save(f"{key}_parsed", partial(_parse_date, value) if value else None, overwrite=True)


def _link(w: _Walk, attrs: Dict) -> None:
    attrs.setdefault("rel", "alternate")
    attrs.setdefault("type", "application/atom+xml" if attrs["rel"] == "self" else "text/html")
    context = w.context()
    attrs = _enforce_href(attrs)
    if "href" in attrs:
        attrs["href"] = w.resolve(attrs["href"])
    expecting_text = w.infeed or w.inentry or w.insource
    context.setdefault("links", [])
    if not (w.inentry and w.inimage):
        context["links"].append(dict(attrs))
    if "href" in attrs:
        if attrs.get("rel") == "alternate" and _map_type(attrs.get("type")) in (
            "text/html",
            "application/xhtml+xml",
        ):
            context["link"] = attrs["href"]
    else:
        w.push("link", expecting_text)


def _map_type(kind: Any) -> str:
    lowered = str(kind).lower()
    return {
        "text": "text/plain",
        "plain": "text/plain",
        "html": "text/html",
        "xhtml": "application/xhtml+xml",
    }.get(lowered, lowered)


def _guid(w: _Walk, attrs: Dict) -> None:
    w.guidislink = attrs.get("ispermalink", "true") == "true"
    w.push("id", True)


def _end_guid(w: _Walk) -> None:
    value = w.pop("id")
    w.save("guidislink", w.guidislink and "link" not in w.context())
    if w.guidislink:
        w.save("link", value)


def _title(w: _Walk, attrs: Dict) -> None:
    w.push_content("title", attrs, "text/plain", w.infeed or w.inentry or w.insource)


def _end_title(w: _Walk) -> None:
    if w.pop_content("title"):
        w.title_depth = w.depth


def _end_media_title(w: _Walk) -> None:
    depth = w.title_depth
    _end_title(w)
    w.title_depth = depth


def _description(w: _Walk, attrs: Dict) -> None:
    if "summary" in w.context() and not w.has_content:
        w.summary_key = "content"
        _content(w, attrs)
    else:
        w.push_content("description", attrs, "text/html", w.infeed or w.inentry or w.insource)


def _end_description(w: _Walk) -> None:
    if w.summary_key == "content":
        _end_content(w)
    else:
        w.pop_content("description")
    w.summary_key = None


def _summary(w: _Walk, attrs: Dict) -> None:
    if "summary" in w.context() and not w.has_content:
        w.summary_key = "content"
        _content(w, attrs)
    else:
        w.summary_key = "summary"
        w.push_content("summary", attrs, "text/plain", True)


def _end_summary(w: _Walk) -> None:
    if w.summary_key == "content":
        _end_content(w)
    else:
        w.pop_content(w.summary_key or "summary")
    w.summary_key = None


def _content(w: _Walk, attrs: Dict) -> None:
    w.has_content = True
    w.push_content("content", attrs, "text/plain", True)
    if attrs.get("src"):
        w.params["src"] = attrs["src"]
    w.push("content", True)


def _content_encoded(w: _Walk, attrs: Dict) -> None:
    w.has_content = True
    w.push_content("content", attrs, "text/html", True)


def _end_content(w: _Walk) -> None:
    copy = _map_type(w.params.get("type")) in ("text/plain", "text/html", "application/xhtml+xml")
    value = w.pop_content("content")
    if copy:
        w.save("summary", value)


def _end_newlocation(w: _Walk) -> None:
    url = w.pop("newlocation")
    if w.context() is w.feed:
        w.feed["newlocation"] = make_safe_absolute_uri(w.base, (url or "").strip())


START: dict[str, Callable[[_Walk, Dict], None]] = {
    "rss": _rss, "channel": _channel, "feed": _feed, "image": _image, "textinput": _textinput,
    "author": _author, "managingeditor": _author, "dc_author": _author, "dc_creator": _author,
    "itunes_author": _author, "contributor": _contributor, "dc_contributor": _dc_contributor,
    "name": _pusher("name", False), "itunes_name": _pusher("name", False),
    "width": _pusher("width", False), "height": _pusher("height", False),
    "url": _pusher("href", True), "homepage": _pusher("href", True), "uri": _pusher("href", True),
    "email": _pusher("email", False), "itunes_email": _pusher("email", False),
    "subtitle": _content_pusher("subtitle", "text/plain"), "tagline": _content_pusher("subtitle", "text/plain"),
    "itunes_subtitle": _content_pusher("subtitle", "text/plain"),
    "rights": _content_pusher("rights", "text/plain"), "copyright": _content_pusher("rights", "text/plain"),
    "dc_rights": _content_pusher("rights", "text/plain"),
    "info": _content_pusher("info", "text/plain"), "feedburner_browserfriendly": _content_pusher("info", "text/plain"),
    "item": _item, "entry": _item, "language": _pusher("language", True), "dc_language": _pusher("language", True),
    "webmaster": _pusher("publisher", True), "dc_publisher": _pusher("publisher", True), "itunes_owner": _itunes_owner,
    "published": _pusher("published", True), "issued": _pusher("published", True),
    "pubdate": _pusher("published", True), "dcterms_issued": _pusher("published", True),
    "updated": _pusher("updated", True), "modified": _pusher("updated", True),
    "lastbuilddate": _pusher("updated", True), "dc_date": _pusher("updated", True),
    "dcterms_modified": _pusher("updated", True), "created": _pusher("created", True),
    "dcterms_created": _pusher("created", True), "expirationdate": _pusher("expired", True),
    "category": _category, "keywords": _category, "dc_subject": _category, "media_category": _media_category,
    "itunes_category": _itunes_category, "tags": _pusher("tags", True), "cloud": _cloud, "link": _link,
    "guid": _guid, "id": _guid, "title": _title, "dc_title": _title, "media_title": _title,
    "description": _description, "dc_description": _description, "media_description": _description,
    "summary": _summary, "itunes_summary": _summary, "generator": _generator, "enclosure": _enclosure,
    "source": _source, "content": _content, "content_encoded": _content_encoded, "fullitem": _content_encoded,
    "newlocation": _pusher("newlocation", True), "media_group": _nothing, "media_content": _media_content,
    "media_thumbnail": _media_thumbnail, "media_rating": partial(_media_keyed, "rating"),
    "media_restriction": partial(_media_keyed, "restriction"), "media_license": partial(_media_keyed, "license"),
    "media_credit": _media_credit, "media_player": _media_player, "itunes_image": _itunes_image,
    "itunes_link": _itunes_image,
}  # fmt: skip
END: dict[str, Callable[[_Walk], object]] = {
    "channel": _end_channel, "feed": _end_channel, "image": _end_image, "textinput": _end_textinput,
    "author": _end_author, "managingeditor": _end_author, "dc_author": _end_author, "dc_creator": _end_author,
    "itunes_author": _end_author, "contributor": _end_contributor, "dc_contributor": _end_dc_contributor,
    "name": _end_name, "itunes_name": _end_name, "width": _popper("width"), "height": _popper("height"),
    "url": _end_href, "homepage": _end_href, "uri": _end_href, "email": _end_email, "itunes_email": _end_email,
    "subtitle": _popper("subtitle", True), "tagline": _popper("subtitle", True),
    "itunes_subtitle": _popper("subtitle", True), "rights": _popper("rights", True),
    "copyright": _popper("rights", True), "dc_rights": _popper("rights", True),
    "info": _popper("info", True), "feedburner_browserfriendly": _popper("info", True),
    "item": _end_item, "entry": _end_item, "language": _end_language, "dc_language": _end_language,
    "webmaster": _end_publisher, "dc_publisher": _end_publisher, "itunes_owner": _end_itunes_owner,
    "published": partial(_end_date, "published"), "issued": partial(_end_date, "published"),
    "pubdate": partial(_end_date, "published"), "dcterms_issued": partial(_end_date, "published"),
    "updated": partial(_end_date, "updated"), "modified": partial(_end_date, "updated"),
    "lastbuilddate": partial(_end_date, "updated"), "dc_date": partial(_end_date, "updated"),
    "dcterms_modified": partial(_end_date, "updated"), "created": partial(_end_date, "created"),
    "dcterms_created": partial(_end_date, "created"), "expirationdate": partial(_end_date, "expired"),
    "category": _end_category, "keywords": _end_category, "dc_subject": _end_category,
    "media_category": _end_category, "itunes_category": _end_category, "tags": _end_tags,
    "itunes_keywords": partial(_end_keywords, "itunes_keywords", ITUNES),
    "media_keywords": partial(_end_keywords, "media_keywords", None), "link": _popper("link"),
    "guid": _end_guid, "id": _end_guid, "title": _end_title, "dc_title": _end_title,
    "media_title": _end_media_title, "description": _end_description, "dc_description": _end_description,
    "media_description": _end_description, "summary": _end_summary, "itunes_summary": _end_summary,
    "generator": _end_generator, "source": _end_source, "content": _end_content,
    "content_encoded": _end_content, "fullitem": _end_content, "newlocation": _end_newlocation,
    "media_thumbnail": _end_media_thumbnail, "media_rating": partial(_end_media_keyed, "rating"),
    "media_restriction": partial(_end_media_keyed, "restriction"),
    "media_license": partial(_end_media_keyed, "license"), "media_credit": _end_media_credit,
    "media_player": _end_media_player, "itunes_block": partial(_end_itunes_flag, "itunes_block"),
    "itunes_explicit": partial(_end_itunes_flag, "itunes_explicit"),
}  # fmt: skip
