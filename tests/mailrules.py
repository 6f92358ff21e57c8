"""EMAIL_RULES M1–M9 as one assertion over a message's bytes, shared by the delivery tests."""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage

SIGNED_HEADERS = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "List-Id",
)


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def assert_email_rules(
    raw: bytes, *, domain: str = "digest.example.org", mailto: bool = False
) -> EmailMessage:
    """Parse `raw` with Python's email package and check M1–M9; return the parsed message."""
    message = parse(raw)
    assert not message.defects, message.defects
    # M1: multipart/alternative, text first, HTML last
    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [part.get_content_type() for part in parts] == ["text/plain", "text/html"]
    # M2: utf-8, quoted-printable or base64, never 8bit
    for part in parts:
        assert part.get_content_charset() == "utf-8"
        assert part["Content-Transfer-Encoding"] in ("quoted-printable", "base64")
        assert not part.defects, part.defects
    # M3: no line over 998 octets; headers folded to 78 (the unbreakable unsubscribe URL aside)
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    assert b"\n" not in raw.replace(b"\r\n", b"")
    header_block = raw.split(b"\r\n\r\n", 1)[0]
    for line in header_block.split(b"\r\n"):
        if not line.startswith((b"List-Unsubscribe:", b" <https:", b" <mailto:", b"DKIM-Signature:", b"\t")):
            assert len(line) <= 78, line
    # M4: headers are ASCII (RFC 2047 for names and subject)
    assert all(byte < 128 for byte in header_block)
    # M5
    for name in ("Message-ID", "Date", "From", "To", "Subject", "MIME-Version", "Reply-To"):
        assert message[name], name
    assert message["From"].addresses[0].display_name
    assert re.fullmatch(rf"<[^@<>\s]+@{re.escape(domain)}>", message["Message-ID"])
    # M6: one-click unsubscribe, and the same link visible in both parts
    uris = [uri.strip() for uri in str(message["List-Unsubscribe"]).split(",")]
    assert re.fullmatch(r"<https://[^>\s]+>", uris[0])
    assert (len(uris) == 2 and uris[1].startswith("<mailto:")) if mailto else len(uris) == 1
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = uris[0][1:-1]
    text, html = parts[0].get_content(), parts[1].get_content()
    assert url in text and url.replace("&", "&amp;") in html
    # M7: List-Id: name <dot-atom>
    assert re.fullmatch(r".* <[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+>", message["List-Id"])
    # M8: every link of the HTML part's posts is in the text part
    for href in re.findall(r'href="(https://(?!digest\.example\.org)[^"]+)"', html):
        assert href.replace("&amp;", "&") in text, href
    # M9
    assert message["Precedence"] == "bulk"
    if message["Feedback-ID"]:
        assert re.fullmatch(r"[^:]*:[^:]*:[^:]*:[A-Za-z0-9._-]{5,15}", message["Feedback-ID"])
    return message
