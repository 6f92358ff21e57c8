"""What a bounce, a complaint or an unsubscribe says, whatever it came from."""

from __future__ import annotations

from dataclasses import dataclass

HARD, SOFT, COMPLAINT, UNSUBSCRIBE, IGNORED = "hard", "soft", "complaint", "unsubscribe", "ignored"


@dataclass(frozen=True)
class Finding:
    kind: str  # hard | soft | complaint | unsubscribe | ignored
    email: str = ""  # the recipient, when the report names it (lower-cased)
    reason: str = ""  # the status and diagnostic, the feedback type, or why it is ignored
    source: str = ""  # dsn, arf, mailto, ses, sendgrid, mailgun, postmark
    message_id: str = ""  # our Message-ID, quoted by the report
    token: str = ""  # the unsubscribe token of our List-Unsubscribe, quoted by the report
    where: str = ""  # the file or mailbox, and the message in it


def is_hard(status: str, action: str = "failed") -> bool | None:
    """RFC 3463 status: 5.x.x permanent (but a full mailbox, 5.2.2, is counted as soft, as most
    senders do), 4.x.x transient; None when it is not a failure (delivered, relayed, delayed)."""
    action = action.lower().strip()
    if action and action != "failed":
        return None
    code = status.strip().split(" ")[0]
    if code.startswith("5"):
        return code not in ("5.2.2",)
    if code.startswith("4"):
        return False
    return True if action == "failed" and not code else None
