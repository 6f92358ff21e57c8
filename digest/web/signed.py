"""Signed, expiring values for the web app: confirmation links and form (CSRF) tokens.

`<base64url(JSON payload)>.<base64url(HMAC-SHA256(secret, purpose + list + payload))[:18]>`;
the payload carries its expiry. A value signed for one purpose (confirm, form) or list is
refused for any other. Kept apart from `tokens.py`, whose unsubscribe tokens are in every
message already sent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timedelta
from typing import Any

MAX_SIGNED = 2048


def sign(
    secret: bytes, purpose: str, list_id: str, data: dict[str, Any], *, now: datetime, ttl: timedelta
) -> str:
    payload = dict(data, x=int((now + ttl).timestamp()))
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    return f"{body}.{_mac(secret, purpose, list_id, body)}"


def verify(secret: bytes, purpose: str, list_id: str, value: str, *, now: datetime) -> dict[str, Any] | None:
    """The payload of a genuine, unexpired value; None for anything else."""
    if len(value) > MAX_SIGNED or value.count(".") != 1:
        return None
    body, mac = value.split(".")
    if not hmac.compare_digest(_mac(secret, purpose, list_id, body), mac):
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except ValueError:
        return None
    if not isinstance(payload, dict) or int(payload.get("x", 0)) < now.timestamp():
        return None
    return payload


def _mac(secret: bytes, purpose: str, list_id: str, body: str) -> str:
    digest = hmac.new(secret, f"{purpose}\n{list_id}\n{body}".encode(), hashlib.sha256).digest()
    return _b64(digest[:18])


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
