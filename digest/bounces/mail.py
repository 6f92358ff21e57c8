"""Delivery status notifications (RFC 3464), complaint reports (ARF, RFC 5965) and `mailto:`
unsubscribes, from one message, as `Finding`s.

A complaint's recipient is often redacted by the mailbox provider (`redacted@`, `xxxxx`): it is
then found from the headers of ours that the report quotes, the unsubscribe token in our
List-Unsubscribe (which names the address) or our Message-ID (looked up in the send journal, by
`apply`). A DSN names its recipients in `Final-Recipient`; an MTA that sends none (Exim's
`X-Failed-Recipients`, qmail's text) is read from those.
"""

from __future__ import annotations

import email
import email.policy
import re
from email.message import Message
from email.utils import getaddresses, parseaddr

from digest.bounces.findings import COMPLAINT, HARD, IGNORED, SOFT, UNSUBSCRIBE, Finding, is_hard

_TOKEN_IN_URL = re.compile(r"/unsubscribe/([A-Za-z0-9_\-.=]+)")
_TOKEN_IN_SUBJECT = re.compile(r"unsubscribe(?:%20|\s)+([A-Za-z0-9_\-.=]+)", re.IGNORECASE)
_STATUS = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
_QMAIL = re.compile(r"^<([^>\s]+@[^>\s]+)>:\s*\n((?:.+\n?){1,6})", re.MULTILINE)
_REDACTED = re.compile(r"redacted|^x+@|\*\*\*|^$", re.IGNORECASE)


def parse_message(raw: bytes, *, mailto: str = "", where: str = "") -> list[Finding]:
    """The findings of one message: a DSN, an ARF report, a mailto unsubscribe, or one `ignored`."""
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    report = str(message.get_param("report-type", "", header="content-type") or "").lower()
    if (message.get_content_type() == "multipart/report" and report == "feedback-report") or _part(
        message, "message/feedback-report"
    ):
        return [_arf(message, where)]
    if message.get_content_type() == "multipart/report" or _part(message, "message/delivery-status"):
        return _dsn(message, where) or [
            Finding(IGNORED, reason="a report without a failed recipient", where=where)
        ]
    if mailto and _to_us(message, mailto):
        return [_mailto(message, where)]
    failed = message.get("X-Failed-Recipients")
    if failed:
        return [
            Finding(HARD, a.lower(), "X-Failed-Recipients", "dsn", where=where)
            for _, a in getaddresses([failed])
        ]
    return _qmail(message, where) or [
        Finding(IGNORED, reason="neither a bounce, a complaint nor an unsubscribe", where=where)
    ]


def _part(message: Message, content_type: str) -> Message | None:
    for part in message.walk():
        if part.get_content_type() == content_type:
            return part
    return None


def _quoted_headers(message: Message) -> Message | None:
    """The headers of our message that a report quotes (message/rfc822 or text/rfc822-headers)."""
    for part in message.walk():
        kind = part.get_content_type()
        if kind in ("message/rfc822", "message/rfc822-headers", "text/rfc822-headers"):
            payload = part.get_payload()
            if isinstance(payload, list) and payload:
                return payload[0] if isinstance(payload[0], Message) else None
            text = part.get_payload(decode=True) or b""
            return email.message_from_bytes(bytes(text), policy=email.policy.compat32)
    return None


def _ours(quoted: Message | None) -> tuple[str, str]:
    """(Message-ID, unsubscribe token) of the quoted message of ours; "" for each unknown."""
    if quoted is None:
        return "", ""
    message_id = str(quoted.get("Message-ID", "") or "").strip()
    match = _TOKEN_IN_URL.search(str(quoted.get("List-Unsubscribe", "") or ""))
    return message_id, match[1] if match else ""


def _fields(part: Message) -> list[Message]:
    """The blocks of a message/delivery-status or feedback-report part: the per-message one, then
    one per recipient (the email package parses each block as headers)."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [block for block in payload if isinstance(block, Message)]
    text = part.get_payload(decode=True) or b""
    blocks = re.split(rb"\r?\n\r?\n", bytes(text).strip())
    return [
        email.message_from_bytes(block + b"\n", policy=email.policy.compat32) for block in blocks if block
    ]


def _address(value: str) -> str:
    """`rfc822; a@b` → `a@b` (lower-cased); "" when missing."""
    value = value.split(";", 1)[-1].strip().strip("<>")
    return parseaddr(value)[1].lower() if "@" in value else ""


def _dsn(message: Message, where: str) -> list[Finding]:
    part = _part(message, "message/delivery-status")
    message_id, token = _ours(_quoted_headers(message))
    found = []
    for block in _fields(part)[1:] if part else []:
        recipient = _address(str(block.get("Final-Recipient") or block.get("Original-Recipient") or ""))
        status = str(block.get("Status", "") or "")
        diagnostic = " ".join(str(block.get("Diagnostic-Code", "") or "").split())
        hard = is_hard(status or _status_in(diagnostic), str(block.get("Action", "failed") or "failed"))
        if hard is None:
            continue
        reason = f"{status} {diagnostic}".strip()[:300]
        found.append(Finding(HARD if hard else SOFT, recipient, reason, "dsn", message_id, token, where))
    return found


def _status_in(text: str) -> str:
    match = _STATUS.search(text)
    return match[1] if match else ""


def _arf(message: Message, where: str) -> Finding:
    part = _part(message, "message/feedback-report")
    fields = _fields(part)[0] if part and _fields(part) else Message()
    kind = str(fields.get("Feedback-Type", "abuse") or "abuse").strip().lower()
    message_id, token = _ours(_quoted_headers(message))
    if kind == "not-spam":
        return Finding(IGNORED, reason="feedback type not-spam", source="arf", where=where)
    named = _address(str(fields.get("Original-Rcpt-To", "") or fields.get("Removal-Recipient", "") or ""))
    quoted = _quoted_headers(message)
    if not named and quoted is not None:
        named = _address(str(quoted.get("To", "") or ""))
    if _REDACTED.search(named):
        named = ""
    return Finding(COMPLAINT, named, f"feedback type {kind}", "arf", message_id, token, where)


def _to_us(message: Message, mailto: str) -> bool:
    targets = [str(message.get(h, "") or "") for h in ("To", "Delivered-To", "X-Original-To", "Envelope-To")]
    return any(address.lower() == mailto.lower() for _, address in getaddresses(targets))


def _mailto(message: Message, where: str) -> Finding:
    """A message to our List-Unsubscribe mailbox: the token in its subject names the reader;
    without one, the sender's own address is taken."""
    subject = str(message.get("Subject", "") or "")
    match = _TOKEN_IN_SUBJECT.search(subject)
    sender = parseaddr(str(message.get("From", "") or ""))[1].lower()
    if match:
        return Finding(UNSUBSCRIBE, "", "mailto", "mailto", token=match[1], where=where)
    if "unsubscribe" in subject.lower() or "désabonn" in subject.lower() or not subject.strip():
        return Finding(UNSUBSCRIBE, sender, "mailto from the reader's address", "mailto", where=where)
    return Finding(IGNORED, reason="a message to the unsubscribe address without 'unsubscribe'", where=where)


def _qmail(message: Message, where: str) -> list[Finding]:
    """qmail's plain-text bounce: `<address>:` then the remote server's answer."""
    sender = str(message.get("From", "") or "").lower()
    if "mailer-daemon" not in sender and "postmaster" not in sender:
        return []
    body = message.get_payload(decode=True) if not message.is_multipart() else b""
    text = bytes(body or b"").decode("utf-8", errors="replace")
    found = []
    for address, answer in _QMAIL.findall(text):
        status = _status_in(answer) or ("5.0.0" if re.search(r"\b5\d\d\b", answer) else "4.0.0")
        kind = HARD if is_hard(status) else SOFT
        found.append(Finding(kind, address.lower(), " ".join(answer.split())[:300], "dsn", where=where))
    return found
