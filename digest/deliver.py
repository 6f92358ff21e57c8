"""Deliver: one personalised MIME message per active subscriber, built from the issue rendered once.

`prepare` splits the rendered HTML and text at their merge tokens and encodes the headers every
message shares, once per issue. `render_message` then only fills strings, quoted-printable
encodes the two bodies (in C) and joins bytes: the CSS inliner, Jinja and `email.message`
never run per subscriber. `build_message` builds the same message with `email.message`; it is
the reference the fast path is tested against, and the benchmark's baseline.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from email.headerregistry import Address, Group
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, parseaddr
from zoneinfo import ZoneInfo

from digest import mime
from digest.envelope import ascii_address
from digest.errors import ConfigError
from digest.greeting import greeting_name
from digest.i18n import translate
from digest.identity import parse_week
from digest.models import Issue, RenderedIssue, Subscriber
from digest.tokens import unsubscribe_token

# refold_source="none": headers set with `set_raw` (List-Unsubscribe) go out exactly as given;
# an https URL has no whitespace to fold at, and encoding it as RFC 2047 would break it.
POLICY = SMTP.clone(max_line_length=78, refold_source="none")
Sign = Callable[[bytes], bytes]  # a DKIM signer: the message in, the signed message out


@dataclass(frozen=True)
class Template:
    """Text split at its merge tokens: literal, field, literal, field, …, literal."""

    parts: tuple[str, ...]

    @classmethod
    def split(cls, text: str, prefix: str) -> Template:
        return cls(tuple(re.split(rf"%%{re.escape(prefix)}:([a-z_][a-z0-9_.]*)%%", text)))

    @property
    def fields(self) -> frozenset[str]:
        return frozenset(self.parts[1::2])

    def fill(self, values: dict[str, str], escape: bool) -> str:
        out = list(self.parts)
        for index in range(1, len(out), 2):
            value = values.get(out[index], "")
            out[index] = html.escape(value, quote=True) if escape else value
        return "".join(out)

    def placeholders(self, placeholder: Callable[[str], str]) -> str:
        """The text with each merge token replaced by a mailing service's placeholder for it."""
        out = list(self.parts)
        for index in range(1, len(out), 2):
            out[index] = placeholder(out[index])
        return "".join(out)


@dataclass(frozen=True)
class Encoded:
    """A template quoted-printable encoded once, line by line.

    Quoted-printable is line-local (RFC 2045 §6.7): soft breaks and the trailing-space rule
    never look past a hard line break. So the lines without merge fields are encoded once, and
    only the few lines holding a field are filled and encoded per message; joined, they are
    byte for byte the encoding of the whole filled text.
    """

    pieces: tuple[bytes | Template, ...]

    @classmethod
    def of(cls, template: Template) -> Encoded:
        pieces: list[bytes | Template] = []
        static: list[str] = []
        for line in _lines(template):
            if len(line.parts) == 1:
                static.append(line.parts[0])
                continue
            if static:
                pieces.append(mime.quoted_printable("".join(static)))
                static = []
            pieces.append(line)
        if static:
            pieces.append(mime.quoted_printable("".join(static)))
        return cls(tuple(pieces))

    def fill(self, values: dict[str, str], escape: bool) -> bytes:
        return b"".join(
            piece if isinstance(piece, bytes) else mime.quoted_printable(piece.fill(values, escape))
            for piece in self.pieces
        )


def _lines(template: Template) -> list[Template]:
    """The template cut after each line break; each piece keeps its own merge fields."""
    lines: list[Template] = []
    current = [""]
    for index, part in enumerate(template.parts):
        if index % 2:
            current += [part, ""]
            continue
        chunks = part.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        for chunk in chunks[:-1]:
            current[-1] += chunk + "\n"
            lines.append(Template(tuple(current)))
            current = [""]
        current[-1] += chunks[-1]
    if current != [""]:
        lines.append(Template(tuple(current)))
    return lines


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
    token_prefix: str = ""  # of the issue's merge tokens
    mailto: str = ""  # unsubscribe mailbox for List-Unsubscribe, or ""
    feedback_id: str = ""
    headers: bytes = b""  # From … Precedence: encoded and folded once per issue
    html_qp: Encoded = Encoded(())
    text_qp: Encoded = Encoded(())

    @property
    def fields(self) -> frozenset[str]:
        return self.html.fields | self.text.fields


@dataclass(frozen=True)
class Sender:
    """What the newsletter says about itself in every message (from digest.toml)."""

    name: str  # the newsletter's name, the From display name when `address` has none
    address: str  # the `from` value, "Name <address>"
    list_id: str
    zone: ZoneInfo
    unsubscribe_url: str  # with {token}
    reply_to: str = ""
    mailto_unsubscribe: str = ""
    feedback_id: str = ""  # may hold {week}: the issue's slug
    source: str = ""  # the file these came from, named in errors


def prepare(rendered: RenderedIssue, issue: Issue, sender: Sender, secret: str) -> Prepared:
    name, address = parseaddr(sender.address)
    if "@" not in address:
        raise ConfigError(f"{sender.source}: newsletter.from: {sender.address!r} has no email address")
    address = ascii_address(address)  # an IDN domain in A-labels: headers stay ASCII
    domain = address.rsplit("@", 1)[1].lower()
    reply_address = parseaddr(sender.reply_to)[1]
    prepared = Prepared(
        issue=issue,
        html=Template.split(rendered.html, rendered.token_prefix),
        text=Template.split(rendered.text, rendered.token_prefix),
        sender=Address(display_name=name or sender.name, addr_spec=address),
        reply_to=sender.reply_to.replace(reply_address, ascii_address(reply_address))
        if reply_address
        else "",
        list_id=sender.list_id,
        domain=domain,
        date=issue_date(issue, sender.zone),
        unsubscribe_url=sender.unsubscribe_url,
        secret=secret.encode("utf-8"),
        token_prefix=rendered.token_prefix,
        mailto=ascii_address(sender.mailto_unsubscribe) if sender.mailto_unsubscribe else "",
        feedback_id=sender.feedback_id.replace("{week}", issue.ref.slug),
    )
    return replace(
        prepared,
        headers=shared_headers(prepared),
        html_qp=Encoded.of(prepared.html),
        text_qp=Encoded.of(prepared.text),
    )


def shared_headers(prepared: Prepared) -> bytes:
    """The header lines that are the same in every message of the issue."""
    lines = [mime.fold("From", mime.address(prepared.sender.display_name, prepared.sender.addr_spec, "From"))]
    if prepared.reply_to:
        name, address = parseaddr(prepared.reply_to)
        lines.append(mime.fold("Reply-To", mime.address(name, address, "Reply-To")))
    lines += [
        mime.unstructured("Subject", prepared.issue.subject),
        mime.header("Date", format_datetime(prepared.date)),
        mime.fold("List-Id", [*mime.phrase(prepared.issue.newsletter, 69), f"<{prepared.list_id}>"]),
        mime.header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        mime.header("Precedence", "bulk"),
    ]
    if prepared.feedback_id:
        lines.append(mime.header("Feedback-ID", prepared.feedback_id))
    return b"".join(lines)


def dated(prepared: Prepared, at: datetime) -> Prepared:
    """The same messages with `Date:` set to `at`, in the newsletter's zone: `send` stamps the
    moment it hands each message over (to the second). Files (`.eml`, mbox) and service
    payloads keep the issue's date, so the same inputs give the same bytes."""
    moment = at.astimezone(prepared.date.tzinfo).replace(microsecond=0)
    old = mime.header("Date", format_datetime(prepared.date))
    new = mime.header("Date", format_datetime(moment))
    return replace(prepared, date=moment, headers=prepared.headers.replace(old, new, 1))


def issue_date(issue: Issue, zone: ZoneInfo) -> datetime:
    """The issue's date: the day after the span it covers (the Monday after a week), 08:00 in the
    newsletter's zone (deterministic)."""
    if issue.last_day:
        last = date.fromisoformat(issue.last_day)
    else:
        year, number = parse_week(issue.week)
        last = date.fromisocalendar(year, number, 7)
    return datetime.combine(last + timedelta(days=1), time(8), tzinfo=zone)


def merge_values(prepared: Prepared, subscriber: Subscriber) -> dict[str, str]:
    locale = prepared.issue.locale
    name = mime.clean(subscriber.name)
    token = unsubscribe_token(prepared.secret, prepared.list_id, subscriber.email)
    values = {
        "subscriber.name": name,
        "subscriber.first_name": name.split(" ", 1)[0],
        "subscriber.email": subscriber.email,
        "subscriber.locale": subscriber.locale,
        "greeting": greeting(locale, subscriber),
        "unsubscribe_url": prepared.unsubscribe_url.replace("{token}", token),
    }
    for key, value in subscriber.fields.items():
        values[f"subscriber.fields.{key}"] = mime.clean(value)
    return values


def greeting(locale: str, subscriber: Subscriber) -> str:
    name = mime.clean(greeting_name(subscriber))
    return translate(locale, "hello", name=name) if name else translate(locale, "hello_anonymous")


def list_unsubscribe(prepared: Prepared, url: str, email: str) -> list[str]:
    """RFC 2369 URIs: the https one-click URL first, then the mailto when one is configured."""
    uris = [f"<{url}>"]
    if prepared.mailto:
        token = unsubscribe_token(prepared.secret, prepared.list_id, email)
        uris.append(f"<mailto:{prepared.mailto}?subject=unsubscribe%20{token}>")
    return uris


def render_message(prepared: Prepared, subscriber: Subscriber) -> bytes:
    """One subscriber's message as bytes (EMAIL_RULES M1–M9), without `email.message`."""
    values = merge_values(prepared, subscriber)
    mid = message_id(prepared, subscriber.email)
    boundary = _boundary(mid)
    head = b"".join(
        (
            prepared.headers,
            mime.fold("To", mime.address(values["subscriber.name"], ascii_address(subscriber.email), "To")),
            b"Message-ID: " + mid.encode("ascii") + mime.CRLF,
            mime.fold(
                "List-Unsubscribe",
                list_unsubscribe(prepared, values["unsubscribe_url"], subscriber.email),
                separator=", ",
            ),
            b'MIME-Version: 1.0\r\nContent-Type: multipart/alternative;\r\n boundary="',
            boundary,
            b'"\r\n\r\n',
        )
    )
    return b"".join(
        (
            head,
            b"--" + boundary + _TEXT_PART,
            prepared.text_qp.fill(values, escape=False),
            b"\r\n--" + boundary + _HTML_PART,
            prepared.html_qp.fill(values, escape=True),
            b"\r\n--" + boundary + b"--\r\n",
        )
    )


_TEXT_PART = (
    b'\r\nContent-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
)
_HTML_PART = (
    b'\r\nContent-Type: text/html; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
)


def _boundary(mid: str) -> bytes:
    # From the content, not from random: the same inputs give the same bytes. `=` never
    # appears unencoded in a quoted-printable body, so this cannot occur inside a part.
    return f"==digest_{hashlib.sha256(mid.encode()).hexdigest()[:24]}==".encode("ascii")


def build_message(prepared: Prepared, subscriber: Subscriber) -> EmailMessage:
    """The same message through `email.message`: the reference for tests and benchmarks."""
    values = merge_values(prepared, subscriber)
    message = EmailMessage(policy=POLICY)
    message["From"] = prepared.sender
    message["To"] = recipient_header(values["subscriber.name"], ascii_address(subscriber.email))
    if prepared.reply_to:
        message["Reply-To"] = prepared.reply_to
    message["Subject"] = prepared.issue.subject
    message["Date"] = format_datetime(prepared.date)
    message["Message-ID"] = message_id(prepared, subscriber.email)
    message["List-Id"] = f"{mime.clean(prepared.issue.newsletter)} <{prepared.list_id}>"
    message.set_raw(
        "List-Unsubscribe", ", ".join(list_unsubscribe(prepared, values["unsubscribe_url"], subscriber.email))
    )
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["Precedence"] = "bulk"
    if prepared.feedback_id:
        message["Feedback-ID"] = prepared.feedback_id
    message.set_content(
        prepared.text.fill(values, escape=False), subtype="plain", charset="utf-8", cte="quoted-printable"
    )
    message.add_alternative(
        prepared.html.fill(values, escape=True), subtype="html", charset="utf-8", cte="quoted-printable"
    )
    message.set_boundary(_boundary(message_id(prepared, subscriber.email)).decode("ascii"))
    return message


def recipient_header(name: str, address: str) -> Address | Group:
    """The To value `email.message` would write: an empty group named after an address whose
    local part is not ASCII (as `mime.address` does)."""
    if address.rpartition("@")[0].isascii():
        return Address(display_name=name, addr_spec=address)
    return Group(display_name=f"{name} <{address}>" if name else address)


def message_id(prepared: Prepared, email: str) -> str:
    return prepared.issue.ref.message_id(prepared.list_id, email, prepared.domain)
