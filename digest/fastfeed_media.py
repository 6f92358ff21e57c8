"""feedparser's rules for tags, Media RSS, iTunes, sources, generators and enclosures, ported
for `fastfeed` (see `fastfeed_rules`), and the small rule makers. Pure."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from digest.fastfeed import _Walk

Dict = dict[str, Any]
ITUNES = "http://www.itunes.com/"


class Unsupported(Exception):
    """This document is left to feedparser."""


def _enforce_href(attrs: Dict) -> Dict:
    href = attrs.get("url", attrs.get("uri", attrs.get("href")))
    if href:
        attrs.pop("url", None)
        attrs.pop("uri", None)
        attrs["href"] = href
    return attrs


def _generator(w: _Walk, attrs: Dict) -> None:
    if attrs:
        attrs = _enforce_href(attrs)
        if "href" in attrs:
            attrs["href"] = w.resolve(attrs["href"])
    w.context()["generator_detail"] = dict(attrs)
    w.push("generator", True)


def _end_generator(w: _Walk) -> None:
    value = w.pop("generator")
    context = w.context()
    if "generator_detail" in context:
        context["generator_detail"]["name"] = value


def _enclosure(w: _Walk, attrs: Dict) -> None:
    attrs = _enforce_href(attrs)
    attrs["rel"] = "enclosure"
    w.context().setdefault("links", []).append(dict(attrs))


def _source(w: _Walk, attrs: Dict) -> None:
    if "url" in attrs:
        w.source["href"] = attrs["url"]
    w.push("source", True)
    w.insource, w.title_depth = True, -1


def _end_source(w: _Walk) -> None:
    w.insource = False
    value = w.pop("source")
    if value:
        w.source["title"] = value
    w.context()["source"] = dict(w.source)
    w.source.clear()


def _media_content(w: _Walk, attrs: Dict) -> None:
    w.context().setdefault("media_content", []).append(attrs)


def _media_thumbnail(w: _Walk, attrs: Dict) -> None:
    context = w.context()
    context.setdefault("media_thumbnail", [])
    w.push("url", True)
    context["media_thumbnail"].append(attrs)


def _end_media_thumbnail(w: _Walk) -> None:
    url = w.pop("url")
    context = w.context()
    if url is not None and url.strip() and "url" not in context["media_thumbnail"][-1]:
        context["media_thumbnail"][-1]["url"] = url


def _media_keyed(key: str, w: _Walk, attrs: Dict) -> None:
    w.context().setdefault(f"media_{key}", attrs)
    w.push(key, True)


def _end_media_keyed(key: str, w: _Walk) -> None:
    value = w.pop(key)
    if value is not None and value.strip():
        context = w.context()
        if key == "restriction":
            context["media_restriction"]["content"] = [cc.strip().lower() for cc in value.split(" ")]
        else:
            context[f"media_{key}"]["content"] = value


def _media_credit(w: _Walk, attrs: Dict) -> None:
    w.context().setdefault("media_credit", []).append(attrs)
    w.push("credit", True)


def _end_media_credit(w: _Walk) -> None:
    credit = w.pop("credit")
    if credit is not None and credit.strip():
        w.context()["media_credit"][-1]["content"] = credit


def _media_player(w: _Walk, attrs: Dict) -> None:
    w.push("media_player", False)
    w.context()["media_player"] = dict(attrs)


def _end_media_player(w: _Walk) -> None:
    value = w.pop("media_player")
    w.context()["media_player"]["content"] = value


def _itunes_image(w: _Walk, attrs: Dict) -> None:
    w.push("itunes_image", False)
    href = attrs.get("href") or attrs.get("url")
    if href:
        w.context()["image"] = {"href": href}


def _end_itunes_flag(key: str, w: _Walk) -> None:
    value = w.pop(key, strip=False)
    if key == "itunes_block":
        w.context()[key] = 1 if value in ("yes", "Yes") else 0
    else:
        w.context()[key] = (None, False, True)[(value == "yes" and 2) or value == "clean" or 0]


def _cloud(w: _Walk, attrs: Dict) -> None:
    w.context()["cloud"] = dict(attrs)


def _itunes_owner(w: _Walk, attrs: Dict) -> None:
    w.inpublisher = True
    w.push("publisher", False)


def _end_itunes_owner(w: _Walk) -> None:
    w.pop("publisher")
    w.inpublisher = False
    w.sync_author_detail("publisher")


def _itunes_category(w: _Walk, attrs: Dict) -> None:
    w.add_tag(attrs.get("text"), ITUNES, None)
    w.push("category", True)


def _media_category(w: _Walk, attrs: Dict) -> None:
    attrs.setdefault("scheme", "http://search.yahoo.com/mrss/category_schema")
    _category(w, attrs)


def _category(w: _Walk, attrs: Dict) -> None:
    w.add_tag(attrs.get("term"), attrs.get("scheme", attrs.get("domain")), attrs.get("label"))
    w.push("category", True)


def _end_category(w: _Walk) -> None:
    value = w.pop("category")
    if not value:
        return
    tags = w.context()["tags"]
    if tags and not tags[-1]["term"]:
        tags[-1]["term"] = value
    else:
        w.add_tag(value, None, None)


def _end_keywords(key: str, scheme: str | None, w: _Walk) -> None:
    for term in (w.pop(key) or "").split(","):
        if term.strip():
            w.add_tag(term.strip(), scheme, None)


def _end_tags(w: _Walk) -> None:
    for term in (w.pop("tags") or "").split(","):
        w.add_tag(term.strip(), None, None)


def _pusher(key: str, expecting_text: bool) -> Callable[[_Walk, Dict], None]:
    return lambda w, attrs: w.push(key, expecting_text)


def _content_pusher(key: str, default_type: str) -> Callable[[_Walk, Dict], None]:
    return lambda w, attrs: w.push_content(key, attrs, default_type, True)


def _popper(key: str, content: bool = False) -> Callable[[_Walk], object]:
    return (lambda w: w.pop_content(key)) if content else (lambda w: w.pop(key))


def _nothing(w: _Walk, attrs: Dict) -> None:
    pass
