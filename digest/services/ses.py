"""Amazon SES v2 `SendBulkEmail` with the template inline (`{{x}}` simple substitutions).

Checked against botocore's own service model in the tests. SES takes ASCII addresses only
(domains in Punycode) and printable ASCII header values of at most 995 characters.
"""

from __future__ import annotations

import json

from digest.deliver import Prepared
from digest.models import Subscriber
from digest.services.common import (
    JSON,
    Service,
    anonymous,
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


def _braces(name: str, is_html: bool) -> str:
    return "{{" + variable(name) + ("_html" if is_html else "") + "}}"


def entry(prepared: Prepared, subscriber: Subscriber) -> JSON:
    to = recipient(subscriber, "SES")
    values, unsubscribe = personal(prepared, subscriber)
    return {
        "Destination": {"ToAddresses": [to]},
        "ReplacementEmailContent": {
            "ReplacementTemplate": {"ReplacementTemplateData": json.dumps(values, ensure_ascii=False)}
        },
        "ReplacementHeaders": [{"Name": "List-Unsubscribe", "Value": unsubscribe}],
    }


def request(prepared: Prepared, entries: list[JSON]) -> JSON:
    text, markup = bodies(prepared, _braces, guard_braces)
    headers = [{"Name": name, "Value": value} for name, value in common_headers(prepared).items()]
    body: JSON = {
        "FromEmailAddress": sender(prepared),
        "DefaultContent": {
            "Template": {
                "TemplateContent": {
                    "Subject": guard_braces(subject(prepared), False),
                    "Text": text,
                    "Html": markup,
                },
                "TemplateData": json.dumps(anonymous(prepared), ensure_ascii=False),
                "Headers": headers,
            }
        },
        "BulkEmailEntries": entries,
    }
    if prepared.reply_to:
        body["ReplyToAddresses"] = [reply_to(prepared)]
    return body


SERVICE = Service("ses", 50, entry, request)
