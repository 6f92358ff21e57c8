"""Unsubscribe tokens: made for every message, verified by the unsubscribe app.

A token is opaque: the lower-cased address encrypted and authenticated with AES-SIV (RFC 5297,
from `cryptography`), the list id as associated data, base64url without padding. Nobody who sees
a link can read the address in it, nor make a token for another address or list; it is still
stateless (verified without a lookup) and deterministic (SIV: the same address and list give the
same token, so exports stay byte for byte the same). The 64-byte AES-SIV key is derived from the
secret with HMAC-SHA512, so one secret can serve other purposes later.

Tokens made before (`<base64url address>.<base64url HMAC>`, which showed the address) are still
accepted until `LEGACY_UNTIL`, time enough for every link already sent to be out of use; after
that date they name no one.

The secret is passed in: it lives in `DIGEST_UNSUBSCRIBE_SECRET`, which only the edges read (the
CLI and `unsubscribe.create_app`, through `environment.Environment`). It must be at least 32
bytes (`signing_secret`).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import re
from datetime import UTC, datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

from digest.environment import UNSUBSCRIBE_SECRET
from digest.errors import ConfigError

MAX_TOKEN = 512  # an address is at most 254 bytes: a longer token is not ours
MIN_SECRET = 32  # bytes
LEGACY_UNTIL = datetime(2027, 12, 31, 23, 59, 59, tzinfo=UTC)  # old HMAC tokens accepted until then
_TOKEN = re.compile(r"[A-Za-z0-9_-]+")
_LEGACY_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_=-]+")
_KEY_LABEL = b"digest unsubscribe token v2"


def unsubscribe_token(secret: bytes, list_id: str, email: str) -> str:
    """The address, encrypted and authenticated for this list: opaque, stateless, deterministic."""
    sealed = _cipher(secret).encrypt(email.lower().encode("utf-8"), [list_id.encode("utf-8")])
    return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode("ascii")


def verify_token(secret: bytes, list_id: str, token: str, *, now: datetime | None = None) -> str | None:
    """The (lower-cased) address a genuine token names, or None for anything else. A token of
    the old form is accepted until `LEGACY_UNTIL` (`now`: the app's clock; None: accepted)."""
    if len(token) > MAX_TOKEN:
        return None
    if _TOKEN.fullmatch(token):
        try:
            sealed = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            return _cipher(secret).decrypt(sealed, [list_id.encode("utf-8")]).decode("utf-8")
        except (ValueError, InvalidTag, UnicodeDecodeError):  # binascii.Error is a ValueError
            return None
    if _LEGACY_SHAPE.fullmatch(token) and (now is None or now <= LEGACY_UNTIL):
        return _verify_legacy(secret, list_id, token)
    return None


def legacy_token(secret: bytes, list_id: str, email: str) -> str:
    """The old form, `<address>.<signature>` (base64url): what links sent before carry."""
    who = base64.urlsafe_b64encode(email.lower().encode("utf-8")).rstrip(b"=").decode("ascii")
    mac = _keyed(secret).copy()
    mac.update(f"{list_id}\n{email.lower()}".encode())
    return f"{who}.{base64.urlsafe_b64encode(mac.digest()[:18]).decode('ascii')}"


def _verify_legacy(secret: bytes, list_id: str, token: str) -> str | None:
    who = token.partition(".")[0]
    try:
        address = base64.urlsafe_b64decode(who + "=" * (-len(who) % 4)).decode("utf-8")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    expected = legacy_token(secret, list_id, address)
    return address if hmac.compare_digest(expected.encode(), token.encode()) else None


def signing_secret(secret: str) -> bytes:
    """The key tokens are made with, from the secret the edge read; a `ConfigError` when it is
    missing or shorter than 32 bytes (a short secret can be guessed, and tokens forged)."""
    how = "make one with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
    if not secret:
        raise ConfigError(f"{UNSUBSCRIBE_SECRET} is not set", hint=f"it protects unsubscribe links; {how}")
    key = secret.encode("utf-8")
    if len(key.strip()) < MIN_SECRET:
        raise ConfigError(
            f"{UNSUBSCRIBE_SECRET} is too short: it must be at least {MIN_SECRET} bytes of random",
            hint=f"{how} (changing it makes the links already sent stop working)",
        )
    return key


@functools.lru_cache(maxsize=8)
def _cipher(secret: bytes) -> AESSIV:
    return AESSIV(hmac.new(secret, _KEY_LABEL, hashlib.sha512).digest())


@functools.lru_cache(maxsize=8)
def _keyed(secret: bytes) -> hmac.HMAC:
    return hmac.new(secret, digestmod=hashlib.sha256)
