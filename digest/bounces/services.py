"""Mailing services' event documents, as `Finding`s: Amazon SES (through SNS, or SES event
publishing), SendGrid's event webhook, Mailgun's events (webhook or events API), Postmark's
bounce, spam complaint and subscription change webhooks. Pure: JSON in, findings out.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from digest.bounces.findings import COMPLAINT, HARD, IGNORED, SOFT, UNSUBSCRIBE, Finding

Json = Any


def parse_events(data: Json, *, where: str = "") -> list[Finding]:
    """Whatever service wrote `data` (recognised by its shape), its findings."""
    found: list[Finding] = []
    for event in _events(data):
        for parser in (_ses, _sendgrid, _mailgun, _postmark):
            result = parser(event)
            if result is not None:
                found.extend(
                    Finding(f.kind, f.email.lower(), f.reason, f.source, f.message_id, where=where)
                    for f in result
                )
                break
        else:
            found.append(Finding(IGNORED, reason="an event of no known service", where=where))
    return found


def _events(data: Json) -> Iterator[dict[str, Any]]:
    if isinstance(data, list):
        for item in data:
            yield from _events(item)
    elif isinstance(data, dict):
        if isinstance(data.get("items"), list):  # Mailgun's events API page
            yield from _events(data["items"])
        elif isinstance(data.get("Records"), list):  # SNS delivered through Lambda/S3
            yield from _events([record.get("Sns", record) for record in data["Records"]])
        else:
            yield data


def _ses(event: dict[str, Any]) -> list[Finding] | None:
    if event.get("Type") in ("Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"):
        if event.get("Type") != "Notification":
            return [Finding(IGNORED, reason=f"SNS {event.get('Type')}", source="ses")]
        try:
            event = json.loads(event.get("Message", "{}"))
        except ValueError:
            return [Finding(IGNORED, reason="SNS message is not JSON", source="ses")]
    kind = event.get("notificationType") or event.get("eventType")
    if kind not in (
        "Bounce",
        "Complaint",
        "Delivery",
        "Send",
        "Reject",
        "Open",
        "Click",
        "DeliveryDelay",
        "Subscription",
    ):
        return None
    mail = event.get("mail") or {}
    message_id = _header(mail.get("headers"), "Message-ID")
    if kind == "Bounce":
        bounce = event.get("bounce") or {}
        permanent = bounce.get("bounceType") == "Permanent"
        reason = f"{bounce.get('bounceType')}/{bounce.get('bounceSubType')}"
        return [
            Finding(
                HARD if permanent else SOFT,
                r.get("emailAddress", ""),
                f"{reason} {r.get('diagnosticCode', '')}".strip(),
                "ses",
                message_id,
            )
            for r in bounce.get("bouncedRecipients", [])
        ]
    if kind == "Complaint":
        complaint = event.get("complaint") or {}
        if complaint.get("complaintFeedbackType") == "not-spam":
            return [Finding(IGNORED, reason="feedback type not-spam", source="ses")]
        reason = f"complaint {complaint.get('complaintFeedbackType') or 'abuse'}"
        return [
            Finding(COMPLAINT, r.get("emailAddress", ""), reason, "ses", message_id)
            for r in complaint.get("complainedRecipients", [])
        ]
    return [Finding(IGNORED, reason=f"SES {kind}", source="ses")]


def _header(headers: Any, name: str) -> str:
    for header in headers or []:
        if isinstance(header, dict) and str(header.get("name", "")).lower() == name.lower():
            return str(header.get("value", ""))
    return ""


def _sendgrid(event: dict[str, Any]) -> list[Finding] | None:
    kind = event.get("event")
    if not isinstance(kind, str) or "email" not in event or "event-data" in event:
        return None
    address, reason = str(event["email"]), str(event.get("reason") or event.get("response") or kind)
    status = str(event.get("status", ""))
    if kind == "bounce":  # type "blocked" is SendGrid's soft bounce; "bounce" a hard one
        hard = event.get("type", "bounce") == "bounce" and not status.startswith("4")
        return [Finding(HARD if hard else SOFT, address, f"{status} {reason}".strip(), "sendgrid")]
    if kind == "blocked":
        return [Finding(SOFT, address, reason, "sendgrid")]
    if kind == "dropped" and "bounced address" in reason.lower():
        return [Finding(HARD, address, reason, "sendgrid")]
    if kind == "spamreport":
        return [Finding(COMPLAINT, address, "spam report", "sendgrid")]
    if kind in ("unsubscribe", "group_unsubscribe"):
        return [Finding(UNSUBSCRIBE, address, kind, "sendgrid")]
    return [Finding(IGNORED, address, f"SendGrid {kind}", "sendgrid")]


def _mailgun(event: dict[str, Any]) -> list[Finding] | None:
    data = event.get("event-data", event if "recipient" in event and "event" in event else None)
    if not isinstance(data, dict):
        return None
    kind, address = data.get("event"), str(data.get("recipient", ""))
    headers = (data.get("message") or {}).get("headers") or {}
    message_id = str(headers.get("message-id", ""))
    message_id = f"<{message_id}>" if message_id and not message_id.startswith("<") else message_id
    status = data.get("delivery-status") or {}
    reason = f"{status.get('code', '')} {status.get('description') or status.get('message') or ''}".strip()
    if kind == "failed":
        permanent = data.get("severity") == "permanent"
        return [
            Finding(
                HARD if permanent else SOFT,
                address,
                reason or str(data.get("reason", "")),
                "mailgun",
                message_id,
            )
        ]
    if kind == "complained":
        return [Finding(COMPLAINT, address, "complaint", "mailgun", message_id)]
    if kind == "unsubscribed":
        return [Finding(UNSUBSCRIBE, address, "unsubscribed", "mailgun", message_id)]
    return [Finding(IGNORED, address, f"Mailgun {kind}", "mailgun")]


_POSTMARK_SOFT = {
    "Unknown",
    "SoftBounce",
    "Transient",
    "DnsError",
    "AutoResponder",
    "ChallengeVerification",
    "Blocked",
}
_POSTMARK_HARD = {"HardBounce", "BadEmailAddress", "ManuallyDeactivated", "SMTPApiError"}
_POSTMARK_COMPLAINT = {"SpamComplaint", "SpamNotification", "AbuseComplaint"}


def _postmark(event: dict[str, Any]) -> list[Finding] | None:
    record = event.get("RecordType")
    if record is None and "Type" in event and "Email" in event:
        record = "Bounce"
    if record not in ("Bounce", "SpamComplaint", "SubscriptionChange", "Delivery", "Open", "Click"):
        return None
    address = str(event.get("Email") or event.get("Recipient") or "")
    message_id = str(event.get("MessageID", ""))
    kind = str(event.get("Type", ""))
    rules: dict[str, Callable[[], list[Finding]]] = {
        "Bounce": lambda: [_postmark_bounce(kind, address, str(event.get("Description", "")), message_id)],
        "SpamComplaint": lambda: [Finding(COMPLAINT, address, "spam complaint", "postmark", message_id)],
        "SubscriptionChange": lambda: [
            Finding(
                UNSUBSCRIBE if event.get("SuppressSending") else IGNORED,
                address,
                str(event.get("SuppressionReason", "")),
                "postmark",
            )
        ],
    }
    return rules.get(str(record), lambda: [Finding(IGNORED, address, f"Postmark {record}", "postmark")])()


def _postmark_bounce(kind: str, address: str, description: str, message_id: str) -> Finding:
    if kind in _POSTMARK_COMPLAINT:
        return Finding(COMPLAINT, address, kind, "postmark", message_id)
    if kind in _POSTMARK_HARD:
        return Finding(HARD, address, f"{kind} {description}".strip(), "postmark", message_id)
    if kind in _POSTMARK_SOFT:
        return Finding(SOFT, address, f"{kind} {description}".strip(), "postmark", message_id)
    return Finding(IGNORED, address, f"Postmark {kind}", "postmark")
