"""Mailgun `POST /v3/DOMAIN/messages`, batch sending: form fields, `%recipient.x%` placeholders.

Mailgun substitutes in the subject and the bodies, so a literal `%recipient.` there is split.
"""

from __future__ import annotations

import json

from digest.deliver import Prepared
from digest.models import Subscriber
from digest.services.common import (
    JSON,
    Service,
    address_of,
    bodies,
    common_headers,
    personal,
    recipient,
    reply_to,
    sender,
    subject,
    variable,
)


def guard(text: str, is_html: bool) -> str:
    return text.replace("%recipient.", "&#37;recipient." if is_html else "%\u200brecipient.")


def entry(prepared: Prepared, subscriber: Subscriber) -> JSON:
    address = address_of(subscriber, "Mailgun")
    values, unsubscribe = personal(prepared, subscriber)
    return {
        "to": recipient(subscriber, "Mailgun"),
        "email": address,
        "variables": {**values, "list_unsubscribe": unsubscribe},
    }


def request(prepared: Prepared, entries: list[JSON]) -> JSON:
    def placeholder(name: str, is_html: bool) -> str:
        return f"%recipient.{variable(name)}{'_html' if is_html else ''}%"

    text, markup = bodies(prepared, placeholder, guard)
    fields: JSON = {
        "from": sender(prepared),
        "to": [entry["to"] for entry in entries],
        "subject": guard(subject(prepared), False),
        "text": text,
        "html": markup,
        "recipient-variables": json.dumps(
            {entry["email"]: entry["variables"] for entry in entries}, ensure_ascii=False, sort_keys=True
        ),
        "h:List-Unsubscribe": "%recipient.list_unsubscribe%",
        **{f"h:{name}": value for name, value in common_headers(prepared).items()},
        "o:tag": ["digest", prepared.issue.ref.slug],
    }
    if prepared.reply_to:
        fields["h:Reply-To"] = reply_to(prepared)
    return fields


SERVICE = Service("mailgun", 1000, entry, request)
