"""Findings applied to the store: who is suppressed, soft-counted or ignored, and why.

The reader is the address the report names; else the one our unsubscribe token names (a
complaint whose recipient the provider redacted still quotes our List-Unsubscribe); else the
recipient of our Message-ID in the send journal. An address in no list we know is ignored:
a bounce never adds anyone to the list. Hard bounces and complaints suppress at once; soft
bounces count, and `soft_limit` of them in a row suppress.
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from digest.bounces.findings import COMPLAINT, HARD, IGNORED, SOFT, UNSUBSCRIBE, Finding
from digest.storage import Store
from digest.tokens import verify_token

EVENT_OF = {HARD: "bounced", COMPLAINT: "complained", UNSUBSCRIBE: "unsubscribed"}


@dataclass(frozen=True)
class Outcome:
    action: str  # suppressed | soft-counted | ignored
    email: str
    kind: str
    reason: str
    where: str = ""

    def as_json(self) -> dict[str, str]:
        return {
            "action": self.action,
            "email": self.email,
            "kind": self.kind,
            "reason": self.reason,
            "where": self.where,
        }


@dataclass
class Applied:
    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for o in self.outcomes if o.action == action)


def apply_findings(
    store: Store,
    list_id: str,
    secret: bytes,
    findings: Iterable[Finding],
    *,
    at: datetime,
    soft_limit: int = 3,
    members: Container[str] = (),
) -> Applied:
    """`members`: the CSV's addresses (lower-cased), when the list has one; the store's readers
    are members too. Anyone else is ignored: a report never adds a stranger to the list."""
    applied = Applied()
    for finding in findings:
        applied.outcomes.append(_apply_one(store, list_id, secret, finding, at, soft_limit, members))
    return applied


def _apply_one(
    store: Store,
    list_id: str,
    secret: bytes,
    f: Finding,
    at: datetime,
    soft_limit: int,
    members: Container[str],
) -> Outcome:
    if f.kind == IGNORED:
        return Outcome("ignored", f.email, f.kind, f.reason, f.where)
    address = _reader(store, list_id, secret, f)
    if not address:
        return Outcome(
            "ignored",
            f.email,
            f.kind,
            "no reader of ours named (recipient redacted, no token or Message-ID we sent)",
            f.where,
        )
    member = address in members or store.subscriber(list_id, address) is not None
    if not (member or f.token or _sent_to(store, f.message_id, list_id, address)):
        return Outcome("ignored", address, f.kind, "not on this list", f.where)
    source = f"{f.source}:{f.where}" if f.where else f.source
    if f.kind == SOFT:
        change = store.soft_bounce(list_id, address, at, source, detail=f.reason, limit=soft_limit)
        action = "suppressed" if change and change.after == "bounced" else "soft-counted"
        return Outcome(action, address, f.kind, f.reason, f.where)
    store.record_event(list_id, address, EVENT_OF[f.kind], at, source, detail=f.reason)
    return Outcome("suppressed", address, f.kind, f.reason, f.where)


def _reader(store: Store, list_id: str, secret: bytes, f: Finding) -> str:
    if f.token:
        named = verify_token(secret, list_id, f.token)
        if named:
            return named
    if f.email:
        return f.email.lower()
    if f.message_id:
        found = store.recipient_of(f.message_id)
        if found and found[0] == list_id:
            return found[1]
    return ""


def _sent_to(store: Store, message_id: str, list_id: str, address: str) -> bool:
    return bool(message_id) and store.recipient_of(message_id) == (list_id, address)
