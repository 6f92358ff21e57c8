"""What every service module shares: the recipient's values, ASCII headers, guards, the shape.

The issue's merge tokens become the service's placeholders, literal text is guarded against
that syntax (a post about templates must not become a template), and each recipient's values
travel in the service's per-recipient field. Values meant for HTML are escaped here
(`<name>_html`), because not every service escapes what it substitutes. Every header value
handed to a service is printable ASCII on one line: names as RFC 2047 encoded-words, domains in
IDNA, CR/LF removed (SES refuses anything else; the others would pass it on raw).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import Any

from digest import mime
from digest.deliver import Prepared, Template, list_unsubscribe, merge_values
from digest.envelope import envelope, smtputf8_reason
from digest.models import Subscriber

JSON = dict[str, Any]


class Unservable(ValueError):
    """This service cannot take this recipient; the reason names why. The export goes on."""


@dataclass(frozen=True)
class Options:
    """What `digest.toml` tells one edition's export (listmonk's lists and template)."""

    lists: tuple[int, ...] = ()
    template_id: int = 0
    source: str = "digest.toml"  # named in errors
    editions: int = 1


def _no_files(prepared: Prepared, options: Options) -> dict[str, JSON]:
    return {}


def _braces(name: str, is_html: bool) -> str:
    return "{{" + variable(name) + ("_html" if is_html else "") + "}}"


def _json_size(entry: JSON) -> int:
    return len(json.dumps(entry, ensure_ascii=False).encode())


@dataclass(frozen=True)
class Service:
    """One mailing service (the `digest.exporters` protocol, built in or installed): its
    per-request limits, how it writes a merge field, and how it spells recipients and requests."""

    name: str
    limit: int  # recipients per request, from the service's documentation
    entry: Callable[[Prepared, Subscriber], JSON]  # raises Unservable for a recipient it cannot take
    request: Callable[[Prepared, list[JSON]], JSON] | None  # None: entries go to a CSV file
    files: Callable[[Prepared, Options], dict[str, JSON]] = field(default=_no_files)
    placeholder: Callable[[str, bool], str] = field(default=_braces)  # (merge field, is_html) → syntax
    max_bytes: int = 0  # what `weight` counts, at most, in one request (0: no such limit)
    weight: Callable[[JSON], int] = field(default=_json_size)  # one entry's share of `max_bytes`


def variable(name: str) -> str:
    """A merge field as a plain identifier every service accepts: `subscriber.fields.city` → `field_city`."""
    name = name.removeprefix("subscriber.").replace("fields.", "field_", 1)
    return re.sub(r"[^a-z0-9_]", "_", name.lower())


def variables(prepared: Prepared, subscriber: Subscriber) -> dict[str, str]:
    """One recipient's values: `x` for the text part, `x_html` (escaped) for the HTML part."""
    return _variables(prepared, merge_values(prepared, subscriber))


def _variables(prepared: Prepared, values: dict[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in sorted(prepared.fields):
        value = values.get(name, "")
        if name in prepared.text.fields:
            out[variable(name)] = value
        if name in prepared.html.fields:
            out[variable(name) + "_html"] = html.escape(value, quote=True)
    return out


def anonymous(prepared: Prepared) -> dict[str, str]:
    """Values for a reader with no name, used where a service wants defaults."""
    reader = Subscriber(email="", locale=prepared.issue.locale)
    values = variables(prepared, reader)
    base = prepared.unsubscribe_url.split("{token}")[0]
    return {key: (base if key.startswith("unsubscribe_url") else value) for key, value in values.items()}


def address_of(subscriber: Subscriber, service: str) -> str:
    """The recipient's address as the service takes it (ASCII, IDN domain in A-labels), or
    Unservable: these services accept ASCII addresses only."""
    sent = envelope(subscriber.email)
    if sent.problem:
        raise Unservable(sent.problem)
    if sent.smtputf8:
        raise Unservable(smtputf8_reason(subscriber.email, f"{service} takes ASCII addresses only"))
    return sent.address


def sender(prepared: Prepared) -> str:
    """`From` as one ASCII line: the name in encoded-words when it needs them."""
    return mime.value(mime.address(prepared.sender.display_name, prepared.sender.addr_spec, "From"))


def recipient(subscriber: Subscriber, service: str) -> str:
    return mime.value(mime.address(subscriber.name, address_of(subscriber, service), "To"))


def ascii_name(name: str) -> str:
    """A display name for a JSON `name` field the service turns into a header: one line, and
    RFC 2047 encoded-words when it is not plain ASCII (so the header stays ASCII whatever the
    service does with UTF-8)."""
    text = mime.clean(name)
    return text if text.isascii() and "=?" not in text else mime.value(mime.encoded_words(text))


def reply_to(prepared: Prepared) -> str:
    name, address = parseaddr(prepared.reply_to)
    return mime.value(mime.address(name, address, "Reply-To"))


def subject(prepared: Prepared) -> str:
    """The subject on one line (the service encodes it): CR, LF and controls removed."""
    return mime.clean(prepared.issue.subject)


def personal(prepared: Prepared, subscriber: Subscriber) -> tuple[dict[str, str], str]:
    """(the recipient's variables, their List-Unsubscribe header value)."""
    values = merge_values(prepared, subscriber)
    uris = list_unsubscribe(prepared, values["unsubscribe_url"], envelope(subscriber.email).address)
    return _variables(prepared, values), ", ".join(uris)


def list_id(prepared: Prepared) -> str:
    """`List-Id: Name <id>` (RFC 2919) in ASCII: the name encoded, the identifier as is."""
    return mime.value([*mime.phrase(prepared.issue.newsletter), f"<{prepared.list_id}>"])


def common_headers(prepared: Prepared) -> dict[str, str]:
    headers = {
        "List-Id": list_id(prepared),
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "Precedence": "bulk",
    }
    if prepared.feedback_id:
        headers["Feedback-ID"] = mime.clean(prepared.feedback_id)
    return headers


Guard = Callable[[str, bool], str]


def bodies(prepared: Prepared, placeholder: Callable[[str, bool], str], guard: Guard) -> tuple[str, str]:
    """(text, html) with every merge token replaced by `placeholder(name, is_html)`."""
    text = rewrite(prepared.text, lambda name: placeholder(name, False), lambda s: guard(s, False))
    markup = rewrite(prepared.html, lambda name: placeholder(name, True), lambda s: guard(s, True))
    return text, markup


def rewrite(template: Template, placeholder: Callable[[str], str], literal: Callable[[str], str]) -> str:
    parts = list(template.parts)
    for index, part in enumerate(parts):
        parts[index] = placeholder(part) if index % 2 else literal(part)
    return "".join(parts)


def guard_braces(text: str, is_html: bool) -> str:
    """Literal `{{` must not open a template tag: an HTML entity in HTML, a zero-width space in text."""
    return re.sub(r"\{(?=\{)", "&#123;" if is_html else "{\u200b", text)


def guard_statements(text: str, is_html: bool) -> str:
    """For Django/Twig-like languages (Brevo, Mailjet): `{{`, `{%` and `{#` never open a tag."""
    return re.sub(r"\{(?=[{%#])", "&#123;" if is_html else "{\u200b", text)


def guard_nothing(text: str, is_html: bool) -> str:
    return text
