"""Brevo email campaign `POST /v3/emailCampaigns` aimed at Brevo lists, and a contacts CSV.

For a list that lives at Brevo, with its unsubscribes: Brevo sends to the list's contacts and
puts its own unsubscribe link (`{{ unsubscribe }}`) and List-Unsubscribe in each message. The
campaign API takes HTML only (no text part, no custom headers). Reader values are contact
attributes (`{{ contact.NAME }}`), which Brevo escapes for HTML itself; literal `{{`, `{%` and
`{#` in feed text are never a tag. `brevo-campaign-subscribers.csv` (EMAIL, NAME, LOCALE, and
the custom columns the templates use, in capitals) is for Brevo's contact import.
"""

from __future__ import annotations

import html
import re
from email.utils import parseaddr

from digest import mime
from digest.deliver import Prepared
from digest.errors import ConfigError
from digest.i18n import translate
from digest.models import Subscriber
from digest.services.brevo import contact
from digest.services.common import (
    JSON,
    Options,
    Service,
    address_of,
    guard_statements,
    rewrite,
    subject,
)

_NAME = "\x00name\x00"


def attribute(name: str) -> str:
    """The Brevo contact attribute of a merge field: `subscriber.fields.code_postal` → `CODE_POSTAL`."""
    if name == "subscriber.first_name":
        return "FIRSTNAME"
    return re.sub(r"[^A-Z0-9_]", "_", name.rsplit(".", 1)[-1].upper())


def placeholder(name: str, is_html: bool = True) -> str:
    if name == "unsubscribe_url":
        return "{{ unsubscribe }}"
    return "{{ contact." + attribute(name) + " }}"


def _greeting(locale: str) -> str:
    before, _, after = translate(locale, "hello", name=_NAME).partition(_NAME)
    named = html.escape(before) + "{{ contact.NAME }}" + html.escape(after)
    anonymous = html.escape(translate(locale, "hello_anonymous"))
    return "{% if contact.NAME %}" + named + "{% else %}" + anonymous + "{% endif %}"


def campaign(prepared: Prepared, options: Options) -> dict[str, JSON]:
    if not options.lists:
        raise ConfigError(
            f"{options.source}: [delivery] brevo_lists is empty: a Brevo campaign is aimed at lists",
            hint="brevo_lists = [3], or with several editions one per language: brevo_lists = { fr = [3], en = [4] }",
        )
    locale = prepared.issue.locale
    markup = rewrite(
        prepared.html,
        lambda name: _greeting(locale) if name == "greeting" else placeholder(name),
        lambda text: guard_statements(text, True),
    )
    edition = f" ({prepared.issue.ref.edition})" if prepared.issue.ref.edition else ""
    body: JSON = {
        "name": f"{mime.clean(prepared.issue.newsletter)} {prepared.issue.ref.slug}{edition}",
        "subject": guard_statements(subject(prepared), False),
        "sender": contact(prepared.sender.display_name, prepared.sender.addr_spec),
        "htmlContent": markup,
        "recipients": {"listIds": list(options.lists)},
        "tag": f"digest-{prepared.issue.ref.slug}",
        "inlineImageActivation": False,
    }
    if prepared.reply_to:
        body["replyTo"] = parseaddr(prepared.reply_to)[1]
    return {"brevo-campaign.json": body}


def entry(prepared: Prepared, subscriber: Subscriber) -> JSON:
    """A row for Brevo's contact import: the attributes the templates use."""
    row: JSON = {"EMAIL": address_of(subscriber, "Brevo"), "NAME": mime.clean(subscriber.name)}
    row["LOCALE"] = subscriber.locale
    fields = dict(subscriber.fields)
    for name in sorted(prepared.fields):
        if name == "subscriber.first_name":
            row["FIRSTNAME"] = mime.clean(subscriber.name).split(" ", 1)[0]
        elif name.startswith("subscriber.fields."):
            row[attribute(name)] = mime.clean(fields.get(name.removeprefix("subscriber.fields."), ""))
    return row


SERVICE = Service("brevo-campaign", 0, entry, None, campaign, placeholder=placeholder)
