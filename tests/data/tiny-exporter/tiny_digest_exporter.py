"""A digest exporter for the (fictional) Tiny Mail API: `POST /v1/batch`, 100 readers a call.

Tiny substitutes `{{name}}` in the subject and both bodies and inserts values as given, so each
HTML value is the `_html` one, escaped by digest. Registered in this package's pyproject.toml:

    [project.entry-points."digest.exporters"]
    tiny = "tiny_digest_exporter:EXPORTER"
"""

from __future__ import annotations

from digest.deliver import Prepared
from digest.models import Subscriber
from digest.services import (
    JSON,
    Service,
    address_of,
    bodies,
    common_headers,
    guard_braces,
    personal,
    sender,
    subject,
    variable,
)

READERS_PER_CALL = 100  # Tiny's documented limit


def placeholder(field: str, is_html: bool) -> str:
    """How Tiny writes a merge field: `{{greeting}}`, `{{greeting_html}}`."""
    return "{{" + variable(field) + ("_html" if is_html else "") + "}}"


def entry(prepared: Prepared, subscriber: Subscriber) -> JSON:
    """One reader: raises `digest.services.Unservable` for an address Tiny cannot take."""
    values, unsubscribe = personal(prepared, subscriber)
    return {
        "to": address_of(subscriber, "Tiny"),  # ASCII, the domain in IDNA
        "values": values,
        "headers": {"List-Unsubscribe": unsubscribe},
    }


def request(prepared: Prepared, entries: list[JSON]) -> JSON:
    """One request body for up to READERS_PER_CALL entries."""
    text, html = bodies(prepared, placeholder, guard_braces)  # literal `{{` is never a tag
    return {
        "from": sender(prepared),
        "subject": guard_braces(subject(prepared), False),
        "text": text,
        "html": html,
        "headers": common_headers(prepared),  # List-Id, List-Unsubscribe-Post, Precedence
        "messages": entries,
    }


EXPORTER = Service("tiny", READERS_PER_CALL, entry, request, placeholder=placeholder)
