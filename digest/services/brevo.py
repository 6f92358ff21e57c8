"""Brevo (formerly Sendinblue) transactional `POST /v3/smtp/email` with `messageVersions`.

One version per reader, each with its own `params` (Brevo Template Language: `{{ params.x }}`)
and its own `List-Unsubscribe` header. Brevo escapes every variable for HTML by default, so each
placeholder is wrapped in `{% autoescape off %}`: digest escapes the `_html` values itself and the
text values must stay as they are. Literal `{{`, `{%` and `{#` in feed text are never a tag.
Limits (the SDK's `send_transac_email`: 2,000 recipients a call, 99 a version, each `params`
≤ 100 KB, all of them ≤ 1,000 KB; Brevo's batch-sending guide: 1,000 versions a call): 1,000
versions of one reader, fewer when their `params` would pass 1,000 KB. The campaign form
(`brevo-campaign`) lives in `brevo_campaign.py`.
"""

from __future__ import annotations

import json
from email.utils import parseaddr

from digest import mime
from digest.deliver import Prepared
from digest.models import Subscriber
from digest.services.common import (
    JSON,
    Service,
    Unservable,
    address_of,
    ascii_name,
    bodies,
    common_headers,
    guard_statements,
    personal,
    subject,
    variable,
)

VERSIONS_PER_CALL = 1_000  # the batch guide's figure; the SDK's 2,000 recipients is looser
PARAMS_PER_VERSION = 100_000  # bytes, "Individual params objects must not exceed 100 KB"
PARAMS_PER_CALL = 1_000_000  # bytes, "Cumulative params across all versions must not exceed 1000 KB"
NAME_LIMIT = 70  # "Display name of the recipient. Maximum length is 70 characters."


def placeholder(name: str, is_html: bool) -> str:
    value = "params." + variable(name) + ("_html" if is_html else "")
    return "{% autoescape off %}{{ " + value + " }}{% endautoescape %}"


def display(name: str) -> str:
    """A name as Brevo takes it: one line of ASCII, at most 70 characters. A non-ASCII name is
    sent as RFC 2047 encoded-words (Brevo drops a non-ASCII name holding a comma, django-anymail
    notes, and would put raw UTF-8 in Reply-To); a long one is shortened to fit."""
    name = mime.clean(name)
    while name:
        shown = ascii_name(name)
        if len(shown) <= NAME_LIMIT:
            return shown
        name = name[: min(len(name) - 1, NAME_LIMIT)].rstrip()
    return ""


def contact(name: str, address: str) -> JSON:
    """`{"email", "name"}`, the name left out when there is none."""
    shown = display(name)
    return {"email": address, **({"name": shown} if shown else {})}


def params_size(params: JSON) -> int:
    return len(json.dumps(params, ensure_ascii=False).encode())


def entry(prepared: Prepared, subscriber: Subscriber) -> JSON:
    address = address_of(subscriber, "Brevo")
    values, unsubscribe = personal(prepared, subscriber)
    if (size := params_size(values)) > PARAMS_PER_VERSION:
        raise Unservable(
            f"Brevo params of {subscriber.email} are {size:,} bytes, over its "
            f"{PARAMS_PER_VERSION:,}-byte limit per version (shorten the name or fields)"
        )
    return {
        "to": [contact(subscriber.name, address)],
        "params": values,
        "headers": {"List-Unsubscribe": unsubscribe},
    }


def request(prepared: Prepared, entries: list[JSON]) -> JSON:
    text, markup = bodies(prepared, placeholder, guard_statements)
    body: JSON = {
        "sender": contact(prepared.sender.display_name, prepared.sender.addr_spec),
        "subject": guard_statements(subject(prepared), False),
        "htmlContent": markup,
        "textContent": text,
        "headers": common_headers(prepared),
        "tags": ["digest", prepared.issue.ref.slug],
        "messageVersions": entries,
    }
    if prepared.reply_to:
        name, address = parseaddr(prepared.reply_to)
        body["replyTo"] = contact(name, address)
    return body


def weight(version: JSON) -> int:
    """A version's share of the 1,000 KB of `params` one call may carry."""
    return params_size(version["params"])


SERVICE = Service(
    "brevo",
    VERSIONS_PER_CALL,
    entry,
    request,
    placeholder=placeholder,
    max_bytes=PARAMS_PER_CALL,
    weight=weight,
)
