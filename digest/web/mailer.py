"""The confirmation mail of a sign-up, sent over SMTP (`smtp.Connection`, STARTTLS or TLS)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid, parseaddr

from digest.config import Settings
from digest.smtp import Connection, SmtpTarget
from digest.storage import SENT
from digest.web.app import CONFIRM_TTL
from digest.web.pages import words


def confirmation(settings: Settings, address: str, locale: str, link: str, now: datetime) -> bytes:
    newsletter = settings.newsletter
    w = words(locale)
    message = EmailMessage(policy=SMTP)
    message["From"] = newsletter.sender
    message["To"] = address
    message["Subject"] = w["mail_subject"].format(name=newsletter.name)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(
        "confirm", domain=parseaddr(newsletter.sender)[1].rpartition("@")[2] or None
    )
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(w["mail_body"].format(name=newsletter.name, link=link, days=CONFIRM_TTL.days))
    return message.as_bytes()


def smtp_mailer(
    settings: Settings, target: SmtpTarget, clock: Callable[[], datetime]
) -> Callable[[str, str, str], None]:
    """Send each confirmation in its own short SMTP session; an error becomes the app's 503."""
    sender = parseaddr(settings.newsletter.sender)[1]

    def send(address: str, locale: str, link: str) -> None:
        connection = Connection(target)
        try:
            result = connection.send(
                sender, address, confirmation(settings, address, locale, link, clock()), lambda: None
            )
        finally:
            connection.close()
        if result.status != SENT:
            raise OSError(f"the confirmation to {address} was not sent: {result.reply}")

    return send
