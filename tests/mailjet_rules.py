"""Mailjet's Send API v3.1 rules, as its documentation states them (Mailjet publishes no schema).

Sources, read 2026-12: Send API v3.1 reference, https://dev.mailjet.com/email/reference/send-emails/
("v3.1, where the limit is 50 messages per call"); guides "Send a basic email"
(https://dev.mailjet.com/email/guides/send-api-v31/: `Messages` first, `From` {Email, Name},
`To`/`Cc`/`Bcc` arrays of {Email, Name}, `TextPart` and/or `HTMLPart`, at most 50 recipients a
message), "Use Template Language" (`TemplateLanguage: true`, `Variables`), "Add a custom ID"
(`CustomID`), "Add email headers" (`Headers`: an object, some headers reserved), "Globals"
(properties applied to every message). The template language: https://dev.mailjet.com/template-language/reference/
(`{{ … }}` expressions, `{% … %}` statements, `{{var:name}}`).
"""

from __future__ import annotations

import json
import re
from typing import Any

MESSAGES_PER_CALL = 50
RECIPIENTS_PER_MESSAGE = 50  # To, Cc and Bcc together
MESSAGE_BYTES = 15 * 1024 * 1024
TOP = {"Messages", "Globals", "SandboxMode", "AdvanceErrorHandling"}
MESSAGE = {
    "From", "Sender", "To", "Cc", "Bcc", "ReplyTo", "Subject", "TextPart", "HTMLPart", "TemplateID",
    "TemplateLanguage", "TemplateErrorReporting", "TemplateErrorDeliver", "Attachments",
    "InlinedAttachments", "Priority", "CustomCampaign", "DeduplicateCampaign", "TrackOpens",
    "TrackClicks", "CustomID", "EventPayload", "MonitoringCategory", "URLTags", "Headers", "Variables",
}  # fmt: skip
RESERVED_HEADERS = {
    "from", "sender", "subject", "to", "cc", "bcc", "return-path", "delivered-to", "dkim-signature",
    "domainkey-status", "received-spf", "authentication-results", "received", "user-agent",
    "x-mailer", "x-mj-customid", "x-mj-eventpayload", "x-mj-vars", "x-mj-templatelanguage",
    "x-mj-templateid", "x-mailjet-prio", "x-mailjet-debug", "reply-to", "content-type",
}  # fmt: skip
VARIABLE = re.compile(r"\{\{var:(\w+)\}\}")


def _contact(value: Any, where: str) -> list[str]:
    if not isinstance(value, dict) or not isinstance(value.get("Email"), str):
        return [f"{where}: not an object with Email"]
    extra = set(value) - {"Email", "Name"}
    return [f"{where}: unknown {sorted(extra)}"] if extra else []


def problems(body: Any) -> list[str]:
    """What Mailjet's documentation says it would refuse in this request body."""
    if not isinstance(body, dict) or not isinstance(body.get("Messages"), list):
        return ["the body must start with Messages, an array"]
    found = [f"unknown top-level {sorted(set(body) - TOP)}"] if set(body) - TOP else []
    if not 1 <= len(body["Messages"]) <= MESSAGES_PER_CALL:
        found.append(f"{len(body['Messages'])} messages: 1 to {MESSAGES_PER_CALL} a call")
    for index, own in enumerate(body["Messages"]):
        found += _message({**body.get("Globals", {}), **own}, f"Messages[{index}]")
    return found


def _message(message: dict[str, Any], where: str) -> list[str]:
    found = [f"{where}: unknown {sorted(set(message) - MESSAGE)}"] if set(message) - MESSAGE else []
    found += _contact(message.get("From"), f"{where}.From")
    recipients = [r for key in ("To", "Cc", "Bcc") for r in message.get(key, [])]
    if not message.get("To") or len(recipients) > RECIPIENTS_PER_MESSAGE:
        found.append(f"{where}: {len(recipients)} recipients (To required, at most 50)")
    for n, recipient in enumerate(recipients):
        found += _contact(recipient, f"{where}.To[{n}]")
    if not (message.get("TextPart") or message.get("HTMLPart") or message.get("TemplateID")):
        found.append(f"{where}: no TextPart, HTMLPart or TemplateID")
    headers = message.get("Headers", {})
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        found.append(f"{where}.Headers: an object of strings")
    found += [f"{where}.Headers: {name} is reserved" for name in headers if name.lower() in RESERVED_HEADERS]
    if not isinstance(message.get("CustomID", ""), str):
        found.append(f"{where}.CustomID: a string")
    used = set(VARIABLE.findall(message.get("TextPart", "") + message.get("HTMLPart", "")))
    if used and message.get("TemplateLanguage") is not True:
        found.append(f"{where}: {{{{var:…}}}} without TemplateLanguage: true is sent as is")
    if missing := used - set(message.get("Variables", {})):
        found.append(f"{where}.Variables: missing {sorted(missing)} (Mailjet blocks the message)")
    if len(json.dumps(message).encode()) > MESSAGE_BYTES:
        found.append(f"{where}: over 15 MB")
    return found
