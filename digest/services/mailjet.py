"""Mailjet Send API v3.1 `POST /v3.1/send`: `Globals` (the issue) and one message per reader.

The bodies are sent once, in `Globals`, with `TemplateLanguage: true`; each message carries its
reader's `Variables` (`{{var:x}}` in text, `{{var:x_html}}`, escaped by digest, in HTML),
`CustomID` (the reader's Message-ID: Mailjet's events name it) and `Headers` (List-Unsubscribe,
List-Id, …). At most 50 messages a call (Mailjet's Send API reference: "the limit is 50
messages per call" for v3.1). Literal `{{`, `{%`, `{#` and `[[` in feed text are never a tag
(Mailjet also reads its legacy `[[var:x]]` and `[[UNSUB_LINK_FR]]` tags).
"""

from __future__ import annotations

import re
from email.utils import parseaddr

from digest.deliver import Prepared, message_id
from digest.models import Subscriber
from digest.services.common import (
    JSON,
    Service,
    address_of,
    ascii_name,
    bodies,
    common_headers,
    guard_statements,
    personal,
    subject,
    variable,
)

MESSAGES_PER_CALL = 50


def placeholder(name: str, is_html: bool) -> str:
    return "{{var:" + variable(name) + ("_html" if is_html else "") + "}}"


def guard(text: str, is_html: bool) -> str:
    text = guard_statements(text, is_html)
    return re.sub(r"\[(?=\[)", "&#91;" if is_html else "[\u200b", text)


def contact(name: str, address: str) -> JSON:
    """`{"Email", "Name"}`, the name in ASCII (encoded-words when it needs them)."""
    shown = ascii_name(name)
    return {"Email": address, **({"Name": shown} if shown else {})}


def entry(prepared: Prepared, subscriber: Subscriber) -> JSON:
    address = address_of(subscriber, "Mailjet")
    values, unsubscribe = personal(prepared, subscriber)
    headers = {"List-Unsubscribe": unsubscribe, **common_headers(prepared)}
    return {
        "To": [contact(subscriber.name, address)],
        "Variables": values,
        "CustomID": message_id(prepared, subscriber.email).strip("<>"),
        "Headers": headers,
    }


def request(prepared: Prepared, entries: list[JSON]) -> JSON:
    text, markup = bodies(prepared, placeholder, guard)
    globals_: JSON = {
        "From": contact(prepared.sender.display_name, prepared.sender.addr_spec),
        "Subject": guard(subject(prepared), False),
        "TextPart": text,
        "HTMLPart": markup,
        "TemplateLanguage": True,
        "CustomCampaign": f"digest-{prepared.list_id}-{prepared.issue.ref.slug}",
    }
    if prepared.reply_to:
        name, address = parseaddr(prepared.reply_to)
        globals_["ReplyTo"] = contact(name, address)
    return {"Globals": globals_, "Messages": entries}


SERVICE = Service("mailjet", MESSAGES_PER_CALL, entry, request, placeholder=placeholder)
