"""Unsubscribe tokens: made for every message, verified by the unsubscribe app.

A token is `<address>.<signature>`, both base64url (the signature without padding is 24
characters): the address lower-cased, the signature the first 18 bytes of
HMAC-SHA256(secret, list_id + "\\n" + address). It is verifiable without a lookup and bound to
one list. Links already sent carry tokens in this exact form, so it must never change.

The secret is passed in: it lives in `DIGEST_UNSUBSCRIBE_SECRET`, which only the edges read (the
CLI and `unsubscribe.create_app`, through `environment.Environment`).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re

from digest.environment import UNSUBSCRIBE_SECRET
from digest.errors import ConfigError

MAX_TOKEN = 512  # an address is at most 254 bytes: a longer token is not ours
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_=-]+")


def unsubscribe_token(secret: bytes, list_id: str, email: str) -> str:
    """`<address>.<signature>`, both base64url: verifiable without a lookup, bound to the list."""
    who = base64.urlsafe_b64encode(email.lower().encode("utf-8")).rstrip(b"=").decode("ascii")
    mac = _keyed(secret).copy()  # cheaper than keying anew, and no OpenSSL lookup by name
    mac.update(f"{list_id}\n{email.lower()}".encode())
    return f"{who}.{base64.urlsafe_b64encode(mac.digest()[:18]).decode('ascii')}"


def verify_token(secret: bytes, list_id: str, token: str) -> str | None:
    """The (lower-cased) address a genuine token names, or None for anything else."""
    if len(token) > MAX_TOKEN or not _TOKEN_SHAPE.fullmatch(token):
        return None
    who = token.partition(".")[0]
    try:
        address = base64.urlsafe_b64decode(who + "=" * (-len(who) % 4)).decode("utf-8")
    except (ValueError, UnicodeDecodeError):  # binascii.Error is a ValueError
        return None
    expected = unsubscribe_token(secret, list_id, address)
    return address if hmac.compare_digest(expected.encode(), token.encode()) else None


def signing_secret(secret: str) -> bytes:
    """The key tokens are signed with, from the secret the edge read; a `ConfigError` when empty."""
    if not secret:
        raise ConfigError(
            f"{UNSUBSCRIBE_SECRET} is not set",
            hint="set it to the secret `digest export` signs unsubscribe links with",
        )
    return secret.encode("utf-8")


@functools.lru_cache(maxsize=8)
def _keyed(secret: bytes) -> hmac.HMAC:
    return hmac.new(secret, digestmod=hashlib.sha256)
