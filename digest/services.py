"""Request bodies for mailing services' batch APIs, each in the service's own merge syntax.

Pure: every function here turns the prepared issue and subscribers into JSON-ready values;
`exports` writes them. The issue's merge tokens become the service's placeholders, literal
text is guarded against that syntax (a post about templates must not become a template), and
each recipient's values travel in the service's per-recipient field. Values meant for HTML
are escaped here (`<name>_html`), because not every service escapes what it substitutes.
docs/delivery.md lists the fields used and the documentation each shape follows.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formataddr, parseaddr
from typing import Any

from digest.deliver import Prepared, Template, ascii_domain, list_unsubscribe, merge_values
from digest.i18n import translate
from digest.models import Subscriber

JSON = dict[str, Any]


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


def sender(prepared: Prepared) -> str:
    return formataddr((prepared.sender.display_name, prepared.sender.addr_spec))


def recipient(subscriber: Subscriber) -> str:
    return formataddr((subscriber.name, ascii_domain(subscriber.email)))


def personal(prepared: Prepared, subscriber: Subscriber) -> tuple[dict[str, str], str]:
    """(the recipient's variables, their List-Unsubscribe header value)."""
    values = merge_values(prepared, subscriber)
    uris = list_unsubscribe(prepared, values["unsubscribe_url"], subscriber.email)
    return _variables(prepared, values), ", ".join(uris)


def list_id(prepared: Prepared) -> str:
    return f"{prepared.issue.newsletter} <{prepared.list_id}>"


def common_headers(prepared: Prepared) -> dict[str, str]:
    headers = {
        "List-Id": list_id(prepared),
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "Precedence": "bulk",
    }
    if prepared.feedback_id:
        headers["Feedback-ID"] = prepared.feedback_id
    return headers


Guard = Callable[[str, bool], str]


def bodies(prepared: Prepared, placeholder: Callable[[str, bool], str], guard: Guard) -> tuple[str, str]:
    """(text, html) with every merge token replaced by `placeholder(name, is_html)`."""
    text = _rewrite(prepared.text, lambda name: placeholder(name, False), lambda s: guard(s, False))
    markup = _rewrite(prepared.html, lambda name: placeholder(name, True), lambda s: guard(s, True))
    return text, markup


def _rewrite(template: Template, placeholder: Callable[[str], str], literal: Callable[[str], str]) -> str:
    parts = list(template.parts)
    for index, part in enumerate(parts):
        parts[index] = placeholder(part) if index % 2 else literal(part)
    return "".join(parts)


def _guard_braces(text: str, is_html: bool) -> str:
    """Literal `{{` must not open a template tag: an HTML entity in HTML, a zero-width space in text."""
    return re.sub(r"\{(?=\{)", "&#123;" if is_html else "{\u200b", text)


def _guard_nothing(text: str, is_html: bool) -> str:
    return text


@dataclass(frozen=True)
class Service:
    """One mailing service: its per-request limit and how it spells requests and recipients."""

    name: str
    limit: int  # recipients per request, from the service's documentation
    entry: Callable[[Prepared, Subscriber], JSON]
    request: Callable[[Prepared, list[JSON]], JSON] | None  # None: entries go to a CSV file
    files: Callable[[Prepared, tuple[int, ...]], dict[str, JSON]] = field(default=lambda p, lists: {})


# SendGrid v3 /mail/send: substitutions replace any string, so the keys are the issue's own
# merge tokens, whose prefix (a hash of the issue) no feed author can know.
def _sendgrid_key(prepared: Prepared, name: str, is_html: bool) -> str:
    return f"%%{prepared.token_prefix}:{name}{':html' if is_html else ''}%%"


def sendgrid_entry(prepared: Prepared, subscriber: Subscriber) -> JSON:
    values, unsubscribe = personal(prepared, subscriber)
    substitutions = {
        _sendgrid_key(prepared, name, is_html): values[variable(name) + ("_html" if is_html else "")]
        for name in sorted(prepared.fields)
        for is_html in (False, True)
        if name in (prepared.html.fields if is_html else prepared.text.fields)
    }
    to: JSON = {"email": ascii_domain(subscriber.email)}
    if subscriber.name:
        to["name"] = subscriber.name
    return {
        "to": [to],
        "substitutions": substitutions,
        "headers": {"List-Unsubscribe": unsubscribe},
    }


def sendgrid_request(prepared: Prepared, entries: list[JSON]) -> JSON:
    text, markup = bodies(prepared, lambda n, h: _sendgrid_key(prepared, n, h), _guard_nothing)
    body: JSON = {
        "personalizations": entries,
        "from": {"email": prepared.sender.addr_spec, "name": prepared.sender.display_name},
        "subject": prepared.issue.subject,
        "content": [{"type": "text/plain", "value": text}, {"type": "text/html", "value": markup}],
        "headers": common_headers(prepared),
        "categories": ["digest", prepared.issue.ref.slug],
        # digest's own signed link is the unsubscribe mechanism; SendGrid's would be a second one.
        "tracking_settings": {"subscription_tracking": {"enable": False}},
    }
    if prepared.reply_to:
        name, address = parseaddr(prepared.reply_to)
        body["reply_to"] = {"email": address, **({"name": name} if name else {})}
    return body


# Mailgun /v3/<domain>/messages batch sending: form fields, `%recipient.x%` placeholders.
def _guard_mailgun(text: str, is_html: bool) -> str:
    return text.replace("%recipient.", "&#37;recipient." if is_html else "%\u200brecipient.")


def mailgun_entry(prepared: Prepared, subscriber: Subscriber) -> JSON:
    values, unsubscribe = personal(prepared, subscriber)
    return {
        "to": recipient(subscriber),
        "email": ascii_domain(subscriber.email),
        "variables": {**values, "list_unsubscribe": unsubscribe},
    }


def mailgun_request(prepared: Prepared, entries: list[JSON]) -> JSON:
    def placeholder(name: str, is_html: bool) -> str:
        return f"%recipient.{variable(name)}{'_html' if is_html else ''}%"

    text, markup = bodies(prepared, placeholder, _guard_mailgun)
    fields: JSON = {
        "from": sender(prepared),
        "to": [entry["to"] for entry in entries],
        "subject": prepared.issue.subject,
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
        fields["h:Reply-To"] = prepared.reply_to
    return fields


# Amazon SES v2 SendBulkEmail with the template inline: `{{x}}` simple substitutions.
def _braces(name: str, is_html: bool) -> str:
    return "{{" + variable(name) + ("_html" if is_html else "") + "}}"


def ses_entry(prepared: Prepared, subscriber: Subscriber) -> JSON:
    values, unsubscribe = personal(prepared, subscriber)
    return {
        "Destination": {"ToAddresses": [recipient(subscriber)]},
        "ReplacementEmailContent": {
            "ReplacementTemplate": {"ReplacementTemplateData": json.dumps(values, ensure_ascii=False)}
        },
        "ReplacementHeaders": [{"Name": "List-Unsubscribe", "Value": unsubscribe}],
    }


def ses_request(prepared: Prepared, entries: list[JSON]) -> JSON:
    text, markup = bodies(prepared, _braces, _guard_braces)
    headers = [{"Name": name, "Value": value} for name, value in common_headers(prepared).items()]
    body: JSON = {
        "FromEmailAddress": sender(prepared),
        "DefaultContent": {
            "Template": {
                "TemplateContent": {
                    "Subject": _guard_braces(prepared.issue.subject, False),
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
        body["ReplyToAddresses"] = [prepared.reply_to]
    return body


# Postmark /email/batchWithTemplates, the template created once with POST /templates.
# Triple braces: Mustachio then inserts the value as given, escaped by digest for HTML.
def postmark_alias(prepared: Prepared) -> str:
    return re.sub(r"[^a-z0-9_.-]", "-", f"digest-{prepared.list_id}-{prepared.issue.ref.slug}".lower())


def postmark_template(prepared: Prepared, lists: tuple[int, ...]) -> dict[str, JSON]:
    def placeholder(name: str, is_html: bool) -> str:
        return "{{{" + variable(name) + ("_html" if is_html else "") + "}}}"

    text, markup = bodies(prepared, placeholder, _guard_braces)
    return {
        "postmark-template.json": {
            "Name": f"{prepared.issue.newsletter} {prepared.issue.ref.slug}",
            "Alias": postmark_alias(prepared),
            "TemplateType": "Standard",
            "Subject": _guard_braces(prepared.issue.subject, False),
            "HtmlBody": markup,
            "TextBody": text,
        }
    }


def postmark_entry(prepared: Prepared, subscriber: Subscriber) -> JSON:
    values, unsubscribe = personal(prepared, subscriber)
    headers = {"List-Unsubscribe": unsubscribe, **common_headers(prepared)}
    message: JSON = {
        "From": sender(prepared),
        "To": recipient(subscriber),
        "TemplateAlias": postmark_alias(prepared),
        "TemplateModel": values,
        "Headers": [{"Name": name, "Value": value} for name, value in headers.items()],
        "MessageStream": "broadcast",
        "Tag": f"digest-{prepared.issue.ref.slug}",
    }
    if prepared.reply_to:
        message["ReplyTo"] = prepared.reply_to
    return message


def postmark_request(prepared: Prepared, entries: list[JSON]) -> JSON:
    return {"Messages": entries}


# listmonk: one campaign (POST /api/campaigns) for lists already imported into listmonk, whose
# own {{ UnsubscribeURL }} and List-Unsubscribe handle unsubscribing; the subscribers go in
# listmonk-subscribers.csv for its importer.
def _listmonk_placeholder(locale: str) -> Callable[[str, bool], str]:
    def placeholder(name: str, is_html: bool) -> str:
        if name == "unsubscribe_url":
            return "{{ UnsubscribeURL }}"
        if name == "greeting":
            named = translate(locale, "hello", name="{{ .Subscriber.Name }}")
            return f"{{{{ if .Subscriber.Name }}}}{named}{{{{ else }}}}{translate(locale, 'hello_anonymous')}{{{{ end }}}}"
        if name in ("subscriber.name", "subscriber.email"):
            return "{{ .Subscriber." + name.split(".")[1].capitalize() + " }}"
        key = name.removeprefix("subscriber.").removeprefix("fields.")
        return "{{ index .Subscriber.Attribs " + json.dumps(key) + " }}"

    return placeholder


def _guard_go(text: str, is_html: bool) -> str:
    return text.replace("{{", "&#123;&#123;" if is_html else '{{ "{{" }}')


def listmonk_campaign(prepared: Prepared, lists: tuple[int, ...]) -> dict[str, JSON]:
    text, markup = bodies(prepared, _listmonk_placeholder(prepared.issue.locale), _guard_go)
    return {
        "listmonk-campaign.json": {
            "name": f"{prepared.issue.newsletter} {prepared.issue.ref.slug}",
            "subject": prepared.issue.subject,
            "lists": list(lists),
            "from_email": sender(prepared),
            "type": "regular",
            "content_type": "html",
            "body": markup,
            "altbody": text,
            "messenger": "email",
            "tags": ["digest", prepared.issue.ref.slug],
            "headers": [{"List-Id": list_id(prepared)}, {"Precedence": "bulk"}],
        }
    }


def listmonk_entry(prepared: Prepared, subscriber: Subscriber) -> JSON:
    attributes = {"locale": subscriber.locale, **dict(subscriber.fields)}
    return {"email": subscriber.email, "name": subscriber.name, "attributes": attributes}


SERVICES: dict[str, Service] = {
    "sendgrid": Service("sendgrid", 1000, sendgrid_entry, sendgrid_request),
    "mailgun": Service("mailgun", 1000, mailgun_entry, mailgun_request),
    "ses": Service("ses", 50, ses_entry, ses_request),
    "postmark": Service("postmark", 500, postmark_entry, postmark_request, postmark_template),
    "listmonk": Service("listmonk", 0, listmonk_entry, None, listmonk_campaign),
}
