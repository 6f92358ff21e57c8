"""Postmark `POST /email/batchWithTemplates`, the template created once with `POST /templates`.

Triple braces: Mustachio then inserts the value as given, escaped by digest for HTML. One
template alias per issue and edition (`digest-LIST-SLUG[-EDITION]`), so two editions never
share one; `InlineCss: false`, because digest has inlined the CSS already. Postmark keeps at
most 100 templates: delete each one once its batch is sent (docs/delivery.md).
"""

from __future__ import annotations

import re

from digest import mime
from digest.deliver import Prepared
from digest.models import Subscriber
from digest.services.common import (
    JSON,
    Options,
    Service,
    bodies,
    common_headers,
    guard_braces,
    personal,
    recipient,
    reply_to,
    sender,
    subject,
    variable,
)


def alias(prepared: Prepared) -> str:
    ref = prepared.issue.ref
    name = f"digest-{prepared.list_id}-{ref.slug}" + (f"-{ref.edition}" if ref.edition else "")
    return re.sub(r"[^a-z0-9_.-]", "-", name.lower())


def template(prepared: Prepared, options: Options) -> dict[str, JSON]:
    def placeholder(name: str, is_html: bool) -> str:
        return "{{{" + variable(name) + ("_html" if is_html else "") + "}}}"

    text, markup = bodies(prepared, placeholder, guard_braces)
    edition = f" ({prepared.issue.ref.edition})" if prepared.issue.ref.edition else ""
    return {
        "postmark-template.json": {
            "Name": f"{mime.clean(prepared.issue.newsletter)} {prepared.issue.ref.slug}{edition}",
            "Alias": alias(prepared),
            "TemplateType": "Standard",
            "Subject": guard_braces(subject(prepared), False),
            "HtmlBody": markup,
            "TextBody": text,
        }
    }


def entry(prepared: Prepared, subscriber: Subscriber) -> JSON:
    to = recipient(subscriber, "Postmark")
    values, unsubscribe = personal(prepared, subscriber)
    headers = {"List-Unsubscribe": unsubscribe, **common_headers(prepared)}
    message: JSON = {
        "From": sender(prepared),
        "To": to,
        "TemplateAlias": alias(prepared),
        "TemplateModel": values,
        "InlineCss": False,
        "Headers": [{"Name": name, "Value": value} for name, value in headers.items()],
        "MessageStream": "broadcast",
        "Tag": f"digest-{prepared.issue.ref.slug}",
    }
    if prepared.reply_to:
        message["ReplyTo"] = reply_to(prepared)
    return message


def request(prepared: Prepared, entries: list[JSON]) -> JSON:
    return {"Messages": entries}


SERVICE = Service("postmark", 500, entry, request, template)
