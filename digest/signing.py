"""Optional DKIM signing (dkimpy). On when `[delivery] dkim_selector` is set.

The private key comes from `DIGEST_DKIM_KEY` (the PEM text itself), else from the file named by
`[delivery] dkim_key`; it is never printed. The signature covers the headers receivers and
RFC 8058 §4 care about, List-Unsubscribe and List-Unsubscribe-Post included.
"""

from __future__ import annotations

from dataclasses import dataclass

import dkim
import dkim.crypto

from digest.config import DeliverySettings
from digest.errors import ConfigError, DeliveryError

KEY_ENV = "DIGEST_DKIM_KEY"
SIGNED = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "Reply-To",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "MIME-Version",
    "Content-Type",
)


@dataclass(frozen=True)
class Signer:
    selector: str
    domain: str
    key: bytes  # PEM

    def __repr__(self) -> str:  # never show the key, even in a traceback
        return f"Signer(selector={self.selector!r}, domain={self.domain!r})"

    def sign(self, message: bytes) -> bytes:
        try:
            signature = dkim.sign(
                message,
                self.selector.encode("ascii"),
                self.domain.encode("ascii"),
                self.key,
                canonicalize=(b"relaxed", b"relaxed"),
                include_headers=[name.encode("ascii") for name in SIGNED],
            )
        except dkim.DKIMException as exc:
            raise DeliveryError(
                f"DKIM signing for {self.domain} failed: {exc}", hint="check the key and selector"
            ) from exc
        return bytes(signature) + message


def load_signer(
    delivery: DeliverySettings, default_domain: str, *, key_text: str = "", source: str = "digest.toml"
) -> Signer | None:
    """The DKIM signer `[delivery]` asks for, or None. The key is `key_text` (from
    $DIGEST_DKIM_KEY, read by the CLI), else the file `dkim_key`; `source` names the config."""
    if not delivery.dkim_selector:
        return None
    key = key_text.encode("utf-8")
    where = f"${KEY_ENV}"
    if not key.strip() and delivery.dkim_key:
        where = str(delivery.dkim_key)
        try:
            key = delivery.dkim_key.read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"{source}: delivery.dkim_key: cannot read {delivery.dkim_key}: {exc.strerror}"
            ) from exc
    if not key.strip():
        raise ConfigError(
            f"{source}: delivery.dkim_selector is set but there is no DKIM key",
            hint=f"set {KEY_ENV} to the PEM private key, or [delivery] dkim_key to its file",
        )
    key = key.replace(b"\r\n", b"\n")
    try:
        dkim.crypto.parse_pem_private_key(key)
    except dkim.crypto.UnparsableKeyError:
        raise ConfigError(
            f"the DKIM key in {where} is not a PEM RSA private key", hint="PKCS#1 or PKCS#8, PEM"
        ) from None
    return Signer(delivery.dkim_selector, delivery.dkim_domain or default_domain, key)
