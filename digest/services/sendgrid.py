"""SendGrid v3 `POST /v3/mail/send`, checked against SendGrid's own JSON schema in the tests.

Substitutions replace any string, so their keys are the issue's own merge tokens, whose prefix
(a hash of the issue) no feed author can know: literal text needs no guard. SendGrid refuses a
personalization whose substitutions exceed 10,000 bytes; such a recipient is named, not sent.
"""

from __future__ import annotations

from email.utils import parseaddr

from digest import mime
from digest.deliver import Prepared
from digest.models import Subscriber
from digest.services.common import (
    JSON,
    Service,
    Unservable,
    address_of,
    bodies,
    common_headers,
    guard_nothing,
    personal,
    subject,
    variable,
)

SUBSTITUTIONS_LIMIT = 10_000  # bytes per personalization, keys and values together


def _key(prepared: Prepared, name: str, is_html: bool) -> str:
    return f"%%{prepared.token_prefix}:{name}{':html' if is_html else ''}%%"


def entry(prepared: Prepared, subscriber: Subscriber) -> JSON:
    address = address_of(subscriber, "SendGrid")
    values, unsubscribe = personal(prepared, subscriber)
    substitutions = {
        _key(prepared, name, is_html): values[variable(name) + ("_html" if is_html else "")]
        for name in sorted(prepared.fields)
        for is_html in (False, True)
        if name in (prepared.html.fields if is_html else prepared.text.fields)
    }
    size = sum(len(key.encode()) + len(value.encode()) for key, value in substitutions.items())
    if size > SUBSTITUTIONS_LIMIT:
        raise Unservable(
            f"SendGrid substitutions of {subscriber.email} are {size:,} bytes, over its "
            f"{SUBSTITUTIONS_LIMIT:,}-byte limit per personalization (shorten the name or fields)"
        )
    to: JSON = {"email": address}
    if mime.clean(subscriber.name):
        to["name"] = mime.clean(subscriber.name)
    return {"to": [to], "substitutions": substitutions, "headers": {"List-Unsubscribe": unsubscribe}}


def request(prepared: Prepared, entries: list[JSON]) -> JSON:
    text, markup = bodies(prepared, lambda n, h: _key(prepared, n, h), guard_nothing)
    body: JSON = {
        "personalizations": entries,
        "from": {"email": prepared.sender.addr_spec, "name": mime.clean(prepared.sender.display_name)},
        "subject": subject(prepared),
        "content": [{"type": "text/plain", "value": text}, {"type": "text/html", "value": markup}],
        "headers": common_headers(prepared),
        "categories": ["digest", prepared.issue.ref.slug],
        # digest's own signed link is the unsubscribe mechanism; SendGrid's would be a second one.
        "tracking_settings": {"subscription_tracking": {"enable": False}},
    }
    if prepared.reply_to:
        name, address = parseaddr(prepared.reply_to)
        body["reply_to"] = {"email": address, **({"name": mime.clean(name)} if mime.clean(name) else {})}
    return body


SERVICE = Service("sendgrid", 1000, entry, request)
