"""listmonk: one campaign per edition (`POST /api/campaigns`) and a file for its importer.

listmonk renders a campaign's body, text body and subject with Go's html/template, strips HTML
comments from the template text (its issue #1273) and wraps the body in a campaign template.
So: `template_id` names a blank template (`{{ template "content" . }}`) and nothing is
wrapped; every comment (Outlook's conditional blocks) travels inside `{{ Safe "…" }}`; the text
body is made only of `{{ Safe "…" }}` actions, so neither `x<y` nor `O'Connor` is parsed or
escaped; literal `{{` in feed text and subjects is printed, never compiled. listmonk manages
its subscribers: its own `{{ UnsubscribeURL }}` and List-Unsubscribe handle unsubscribing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from digest import mime
from digest.deliver import Prepared
from digest.errors import ConfigError
from digest.i18n import translate
from digest.models import Subscriber
from digest.services.common import JSON, Options, Service, address_of, list_id, rewrite, sender, subject

_COMMENT = re.compile(r"(<!--.*?-->)", re.DOTALL)
_NAME = "\x00name\x00"  # where the reader's name goes in the greeting


def safe(text: str) -> str:
    """`{{ Safe "text" }}`: printed as is by html/template. A JSON string (non-ASCII kept as
    UTF-8) is a valid Go interpreted string literal."""
    return "{{ Safe " + json.dumps(text, ensure_ascii=False) + " }}" if text else ""


def _html_literal(text: str) -> str:
    parts = _COMMENT.split(text)
    return "".join(
        safe(part) if index % 2 else part.replace("{{", "&#123;&#123;") for index, part in enumerate(parts)
    )


def _value(name: str) -> str:
    if name in ("subscriber.name", "subscriber.email"):
        return ".Subscriber." + name.split(".")[1].capitalize()
    if name == "subscriber.first_name":
        return ".Subscriber.FirstName"  # listmonk's own: the first word of the name, as digest's
    if name == "subscriber.locale":
        return 'index .Subscriber.Attribs "locale"'
    return "index .Subscriber.Attribs " + json.dumps(name.removeprefix("subscriber.fields."))


def _placeholder(locale: str, is_html: bool) -> Callable[[str], str]:
    def show(expression: str) -> str:
        return "{{ " + expression + ("" if is_html else " | Safe") + " }}"

    def literal(text: str) -> str:
        return text if is_html else safe(text)

    def placeholder(name: str) -> str:
        if name == "unsubscribe_url":
            return "{{ UnsubscribeURL }}"
        if name == "greeting":
            before, _, after = translate(locale, "hello", name=_NAME).partition(_NAME)
            named = literal(before) + show(".Subscriber.Name") + literal(after)
            anonymous = literal(translate(locale, "hello_anonymous"))
            return "{{ if .Subscriber.Name }}" + named + "{{ else }}" + anonymous + "{{ end }}"
        return show(_value(name))

    return placeholder


def campaign(prepared: Prepared, options: Options) -> dict[str, JSON]:
    _require(options)
    locale = prepared.issue.locale
    markup = rewrite(prepared.html, _placeholder(locale, True), _html_literal)
    text = rewrite(prepared.text, _placeholder(locale, False), safe)
    edition = f" ({prepared.issue.ref.edition})" if prepared.issue.ref.edition else ""
    return {
        "listmonk-campaign.json": {
            "name": f"{mime.clean(prepared.issue.newsletter)} {prepared.issue.ref.slug}{edition}",
            "subject": subject(prepared).replace("{{", '{{ "{{" }}'),
            "lists": list(options.lists),
            "template_id": options.template_id,
            "from_email": sender(prepared),
            "type": "regular",
            "content_type": "html",
            "body": markup,
            "altbody": text,
            "messenger": "email",
            "tags": ["digest", prepared.issue.ref.slug, *([prepared.issue.ref.edition] if edition else [])],
            "headers": [{"List-Id": list_id(prepared)}, {"Precedence": "bulk"}],
        }
    }


def _require(options: Options) -> None:
    if not options.lists:
        raise ConfigError(
            f"{options.source}: [delivery] listmonk_lists is empty: listmonk refuses a campaign without lists",
            hint="listmonk_lists = [3], or with several editions one per language: listmonk_lists = { fr = [3], en = [4] }",
        )
    if not options.template_id:
        raise ConfigError(
            f"{options.source}: [delivery] listmonk_template_id is not set: listmonk would wrap the "
            "issue in its default template (a second <html>, a second unsubscribe link)",
            hint='create a campaign template in listmonk whose body is {{ template "content" . }} and set its id',
        )


def entry(prepared: Prepared, subscriber: Subscriber) -> JSON:
    """A row for listmonk's importer: email, name, attributes (the keys templates use)."""
    address = address_of(subscriber, "listmonk")
    attributes = {"locale": subscriber.locale, **dict(subscriber.fields)}
    return {"email": address, "name": subscriber.name, "attributes": attributes}


SERVICE = Service("listmonk", 0, entry, None, campaign)
