"""Deliver: one personalised MIME message per active subscriber, built from the issue rendered once.

`prepare` splits the rendered HTML and text at their merge tokens once; `personalise` only
joins strings, so the CSS inliner and Jinja never run per subscriber.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, parseaddr
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from digest.config import Settings
from digest.errors import ConfigError, DeliveryError
from digest.i18n import translate
from digest.models import Issue, RenderedIssue, Subscriber
from digest.selection import parse_week

# refold_source="none": headers set with `set_raw` (List-Unsubscribe) go out exactly as given;
# an https URL has no whitespace to fold at, and encoding it as RFC 2047 would break it.
POLICY = SMTP.clone(max_line_length=78, refold_source="none")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


@dataclass(frozen=True)
class Template:
    """Text split at its merge tokens: literal, field, literal, field, …, literal."""

    parts: tuple[str, ...]

    @classmethod
    def split(cls, text: str, prefix: str) -> Template:
        return cls(tuple(re.split(rf"%%{re.escape(prefix)}:([a-z_][a-z0-9_.]*)%%", text)))

    def fill(self, values: dict[str, str], escape: bool) -> str:
        out = list(self.parts)
        for index in range(1, len(out), 2):
            value = values.get(out[index], "")
            out[index] = html.escape(value, quote=True) if escape else value
        return "".join(out)


@dataclass(frozen=True)
class Prepared:
    """Everything every message of one issue shares."""

    issue: Issue
    html: Template
    text: Template
    sender: Address
    reply_to: str
    list_id: str
    domain: str
    date: datetime
    unsubscribe_url: str  # with {token}
    secret: bytes


def prepare(rendered: RenderedIssue, issue: Issue, settings: Settings, secret: str) -> Prepared:
    name, address = parseaddr(settings.newsletter.sender)
    if "@" not in address:
        raise ConfigError(
            f"{settings.path}: newsletter.from: {settings.newsletter.sender!r} has no email address"
        )
    domain = address.rsplit("@", 1)[1].lower()
    list_id = settings.newsletter.list_id or urlsplit(settings.newsletter.base_url).hostname or domain
    return Prepared(
        issue=issue,
        html=Template.split(rendered.html, rendered.token_prefix),
        text=Template.split(rendered.text, rendered.token_prefix),
        sender=Address(display_name=name or settings.newsletter.name, addr_spec=address),
        reply_to=settings.newsletter.reply_to,
        list_id=list_id,
        domain=domain,
        date=issue_date(issue.week, settings.zone),
        unsubscribe_url=settings.unsubscribe_url,
        secret=secret.encode("utf-8"),
    )


def issue_date(week: str, zone: ZoneInfo) -> datetime:
    """The issue's date: the Monday after its week, 08:00 in the newsletter's zone (deterministic)."""
    year, number = parse_week(week)
    monday = datetime.combine(
        datetime.fromisocalendar(year, number, 1).date() + timedelta(days=7), time(8), tzinfo=zone
    )
    return monday


def unsubscribe_token(secret: bytes, list_id: str, email: str) -> str:
    """`<address>.<signature>`, both base64url: verifiable without a lookup, bound to the list."""
    who = base64.urlsafe_b64encode(email.lower().encode("utf-8")).rstrip(b"=").decode("ascii")
    mac = hmac.new(secret, f"{list_id}\n{email.lower()}".encode(), hashlib.sha256).digest()
    return f"{who}.{base64.urlsafe_b64encode(mac[:18]).decode('ascii')}"


def merge_values(prepared: Prepared, subscriber: Subscriber) -> dict[str, str]:
    locale = prepared.issue.locale
    name = _CONTROL.sub(" ", subscriber.name).strip()
    token = unsubscribe_token(prepared.secret, prepared.list_id, subscriber.email)
    values = {
        "subscriber.name": name,
        "subscriber.email": subscriber.email,
        "subscriber.locale": subscriber.locale,
        "greeting": translate(locale, "hello", name=name) if name else translate(locale, "hello_anonymous"),
        "unsubscribe_url": prepared.unsubscribe_url.replace("{token}", token),
    }
    for key, value in subscriber.fields.items():
        values[f"subscriber.fields.{key}"] = _CONTROL.sub(" ", value)
    return values


def build_message(prepared: Prepared, subscriber: Subscriber) -> EmailMessage:
    """One subscriber's message (EMAIL_RULES M1–M9): text first, HTML last, quoted-printable."""
    values = merge_values(prepared, subscriber)
    message = EmailMessage(policy=POLICY)
    message["From"] = prepared.sender
    message["To"] = Address(display_name=values["subscriber.name"], addr_spec=subscriber.email)
    if prepared.reply_to:
        message["Reply-To"] = prepared.reply_to
    message["Subject"] = prepared.issue.subject
    message["Date"] = format_datetime(prepared.date)
    message["Message-ID"] = message_id(prepared, subscriber.email)
    message["List-Id"] = f"{_CONTROL.sub(' ', prepared.issue.newsletter)} <{prepared.list_id}>"
    message.set_raw("List-Unsubscribe", f"<{values['unsubscribe_url']}>")
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["Precedence"] = "bulk"
    message.set_content(
        prepared.text.fill(values, escape=False),
        subtype="plain",
        charset="utf-8",
        cte="quoted-printable",
    )
    message.add_alternative(
        prepared.html.fill(values, escape=True),
        subtype="html",
        charset="utf-8",
        cte="quoted-printable",
    )
    # A boundary from the content, not from random: the same inputs give the same bytes.
    seed = hashlib.sha256(message_id(prepared, subscriber.email).encode()).hexdigest()[:24]
    message.set_boundary(f"==digest_{seed}==")
    return message


def message_id(prepared: Prepared, email: str) -> str:
    digest = hashlib.sha256(
        f"{prepared.list_id}\n{prepared.issue.week}\n{email.lower()}".encode()
    ).hexdigest()[:20]
    return f"<{prepared.issue.week.lower()}.{digest}@{prepared.domain}>"


def write_eml(message: EmailMessage, out_dir: Path, subscriber: Subscriber) -> Path:
    """Write to a temporary name, then rename: a crash never leaves half a message."""
    name = re.sub(r"[^A-Za-z0-9._@+-]", "_", subscriber.email.lower()) + ".eml"
    path = out_dir / name
    temporary = path.with_suffix(".eml.tmp")
    try:
        temporary.write_bytes(message.as_bytes(policy=POLICY))
        temporary.replace(path)
    except OSError as exc:
        raise DeliveryError(f"cannot write {path}: {exc.strerror}") from exc
    return path
