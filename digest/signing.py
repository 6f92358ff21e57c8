"""Optional DKIM signing (RFC 6376), relaxed/relaxed, RSA-SHA256 or Ed25519-SHA256 (RFC 8463).

On when `[delivery] dkim_selector` is set. The private key comes from `DIGEST_DKIM_KEY` (the PEM
text itself), else from the file named by `[delivery] dkim_key`; it is never printed. Signing
runs in OpenSSL through `cryptography` (a few hundred microseconds a message with RSA-2048,
tens with Ed25519); canonicalisation is a handful of C-level regular expressions. dkimpy, whose
pure-Python RSA took 15 ms a message, is kept to verify in tests, with OpenDKIM and Mail::DKIM.
The signature covers the headers receivers and RFC 8058 §4 care about, List-Unsubscribe and
List-Unsubscribe-Post included. It has no `t=`: the same inputs give the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from digest.config import DeliverySettings
from digest.errors import ConfigError

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
PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
_WSP = re.compile(rb"[ \t]+")
_WSP_RUN = re.compile(rb"\t[ \t]*| [ \t]+")  # what relaxed makes one space: not a lone space
_SPACES = re.compile(rb"  +")
_WSP_EOL = re.compile(rb"[ \t]+\r\n")


@dataclass(frozen=True)
class Signer:
    selector: str
    domain: str
    key: PrivateKey = field(repr=False, compare=False)  # never shown, even in a traceback

    @property
    def algorithm(self) -> str:
        return "ed25519-sha256" if isinstance(self.key, ed25519.Ed25519PrivateKey) else "rsa-sha256"

    def sign(self, message: bytes) -> bytes:
        """The message with a `DKIM-Signature:` header in front."""
        split = message.find(b"\r\n\r\n")
        head = message[: split if split >= 0 else len(message)]
        body = message[split + 4 :] if split >= 0 else b""
        body_hash = base64.b64encode(hashlib.sha256(relaxed_body(body)).digest())
        chosen = _chosen_headers(head)
        tags = [
            "v=1",
            f"a={self.algorithm}",
            "c=relaxed/relaxed",
            f"d={self.domain}",
            f"s={self.selector}",
            *_fold_list("h=", [name for name, _ in chosen]),
            "bh=" + body_hash.decode("ascii"),
            "b=",
        ]
        unsigned = _fold_tags(tags)
        data = b"".join(relaxed_header(line) + b"\r\n" for _, line in chosen) + relaxed_header(unsigned)
        signature = base64.b64encode(self._signature(data)).decode("ascii")
        chunks = [signature[i : i + 70] for i in range(0, len(signature), 70)]
        return unsigned + b"".join(b"\r\n " + chunk.encode("ascii") for chunk in chunks) + b"\r\n" + message

    def _signature(self, data: bytes) -> bytes:
        if isinstance(self.key, ed25519.Ed25519PrivateKey):
            return self.key.sign(hashlib.sha256(data).digest())  # RFC 8463 §3: the hash is signed
        return self.key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def relaxed_body(body: bytes) -> bytes | memoryview:
    """RFC 6376 §3.4.4: no trailing whitespace, runs of it as one space, no empty lines at the end.

    A body with nothing to change is returned as a view, not copied."""
    # Searching for a substring is done in C at memory speed; the regular expressions, which
    # stop at every space, run only when there is something for them to change.
    if b"\t" in body or b" \r\n" in body:
        body = _WSP_EOL.sub(b"\r\n", body)
    if b"\t" in body:
        body = _WSP_RUN.sub(b" ", body)
    elif b"  " in body:
        body = _SPACES.sub(b" ", body)  # a literal prefix: the engine skips ahead to each match
    end = len(body)
    while end >= 2 and body[end - 2 : end] == b"\r\n":
        end -= 2
    if not end:
        return b""
    view = memoryview(body)
    return view[: end + 2] if end + 2 <= len(body) else bytes(view[:end]) + b"\r\n"


def relaxed_header(line: bytes) -> bytes:
    """RFC 6376 §3.4.2: the name in lower case, the value unfolded, whitespace compressed."""
    name, _, value = line.partition(b":")
    value = _WSP.sub(b" ", value.replace(b"\r\n", b"")).strip(b" \t")
    return name.strip(b" \t").lower() + b":" + value


def _chosen_headers(head: bytes) -> list[tuple[str, bytes]]:
    """The signed headers present, each its last occurrence (RFC 6376 §5.4.2), as raw lines."""
    last: dict[bytes, bytes] = {}
    lines = head.split(b"\r\n")
    for index, line in enumerate(lines):
        if not line or line[:1] in (b" ", b"\t"):
            continue  # a continuation, joined to the line it continues below
        end = index + 1
        while end < len(lines) and lines[end][:1] in (b" ", b"\t"):
            end += 1
        name = line.split(b":", 1)[0].strip().lower()
        if name in _SIGNED_LOWER:
            last[name] = b"\r\n".join(lines[index:end])
    return [
        (wanted, last[lower]) for wanted, lower in zip(SIGNED, _SIGNED_LOWER, strict=True) if lower in last
    ]


_SIGNED_LOWER = tuple(name.lower().encode("ascii") for name in SIGNED)


def _fold_list(tag: str, names: list[str]) -> list[str]:
    """`h=` as pieces that may be folded between (RFC 6376 allows FWS around its colons)."""
    pieces = [name + ":" for name in names]
    pieces[0] = tag + pieces[0]
    pieces[-1] = pieces[-1].rstrip(":")  # the end of the tag: `;` follows
    return pieces


def _fold_tags(tags: list[str]) -> bytes:
    lines, line = [], "DKIM-Signature:"
    for index, tag in enumerate(tags):
        piece = tag if tag.endswith(":") else tag + (";" if index < len(tags) - 1 else "")
        if len(line) + 1 + len(piece) > 78 and line != "DKIM-Signature:":
            lines.append(line)
            line = ""
        line += " " + piece
    lines.append(line)
    return "\r\n".join(lines).encode("ascii")


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
    return Signer(delivery.dkim_selector, delivery.dkim_domain or default_domain, parse_key(key, where))


def parse_key(pem: bytes, where: str) -> PrivateKey:
    problem = ConfigError(
        f"the DKIM key in {where} is not a PEM RSA or Ed25519 private key",
        hint="PKCS#1 or PKCS#8, PEM, without a passphrase; RSA of 1024 bits or more",
    )
    try:
        key = serialization.load_pem_private_key(pem.replace(b"\r\n", b"\n").strip() + b"\n", password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise problem from None
    if isinstance(key, ed25519.Ed25519PrivateKey) or (
        isinstance(key, rsa.RSAPrivateKey) and key.key_size >= 1024
    ):
        return key
    raise problem
