"""Service webhooks: `POST /webhooks/{ses|sendgrid|mailgun|postmark}`, each signature verified.

| service | proof checked | secret (environment) |
|---|---|---|
| Mailgun | HMAC-SHA256 of timestamp + token, timestamp within 15 min | DIGEST_MAILGUN_SIGNING_KEY |
| SendGrid | ECDSA P-256 signature of timestamp + body (signed event webhook) | DIGEST_SENDGRID_PUBLIC_KEY |
| Postmark | HTTP Basic credentials in the webhook URL (Postmark does not sign) | DIGEST_POSTMARK_WEBHOOK_AUTH (`user:password`) |
| SES (SNS) | SNS's RSA signature with the certificate at SigningCertURL (an https URL on sns.*.amazonaws.com) | none |

A service without its secret configured is refused (403): unsigned input never suppresses anyone.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit
from wsgiref.types import WSGIEnvironment

from digest.bounces.apply import apply_findings
from digest.bounces.services import parse_events
from digest.config import Settings
from digest.store import StorePool
from digest.subscribers import csv_members
from digest.unsubscribe import Response

_SNS_HOST = re.compile(r"sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?")
_SNS_KEYS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
CertFetcher = Callable[[str], bytes]


def _fetch(url: str) -> bytes:
    import httpx

    return httpx.get(url, timeout=10).raise_for_status().content


class Webhooks:
    def __init__(
        self,
        settings: Settings,
        stores: StorePool,
        secrets: dict[str, str],
        *,
        clock: Callable[[], datetime],
        log: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
        fetch_cert: CertFetcher = _fetch,
        unsubscribe_secret: bytes = b"",
    ) -> None:
        self.settings, self.stores, self.secrets, self.clock, self.log = settings, stores, secrets, clock, log
        self.fetch_cert, self.unsubscribe_secret = fetch_cert, unsubscribe_secret
        self._certs: dict[str, bytes] = {}

    def receive(self, service: str, environ: WSGIEnvironment, body: bytes) -> Response:
        check = {
            "mailgun": self._mailgun,
            "sendgrid": self._sendgrid,
            "postmark": self._postmark,
            "ses": self._ses,
        }
        if service not in check:
            return Response("404 Not Found", b"no such webhook\n")
        try:
            data = json.loads(body)
        except ValueError:
            return Response("400 Bad Request", b"not JSON\n")
        if not check[service](environ, body, data):
            self.log(f"webhook {service}: signature refused")
            return Response("403 Forbidden", b"signature refused\n")
        applied = apply_findings(
            self.stores.get(),
            self.settings.list_id,
            self.unsubscribe_secret,
            parse_events(data, where=service),
            at=self.clock(),
            soft_limit=self.settings.delivery.soft_bounce_limit,
            members=csv_members(self.settings),
        )
        return Response(
            "200 OK",
            f"suppressed {applied.count('suppressed')}\n".encode(),
            (("Content-Type", "text/plain"),),
        )

    def _mailgun(self, environ: WSGIEnvironment, body: bytes, data: Any) -> bool:
        key = self.secrets.get("mailgun", "")
        proof = data.get("signature") if isinstance(data, dict) else None
        if not key or not isinstance(proof, dict):
            return False
        stamp, token = str(proof.get("timestamp", "")), str(proof.get("token", ""))
        expected = hmac.new(key.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
        fresh = stamp.isdigit() and abs(self.clock().timestamp() - int(stamp)) < 900
        return fresh and hmac.compare_digest(expected, str(proof.get("signature", "")))

    def _sendgrid(self, environ: WSGIEnvironment, body: bytes, data: Any) -> bool:
        key = self.secrets.get("sendgrid", "")
        signature = str(environ.get("HTTP_X_TWILIO_EMAIL_EVENT_WEBHOOK_SIGNATURE", ""))
        stamp = str(environ.get("HTTP_X_TWILIO_EMAIL_EVENT_WEBHOOK_TIMESTAMP", ""))
        if not key or not signature or not stamp:
            return False
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        public = serialization.load_der_public_key(base64.b64decode(key))
        try:
            assert isinstance(public, ec.EllipticCurvePublicKey)
            public.verify(base64.b64decode(signature), stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError, AssertionError):
            return False
        return True

    def _postmark(self, environ: WSGIEnvironment, body: bytes, data: Any) -> bool:
        expected = self.secrets.get("postmark", "")
        given = str(environ.get("HTTP_AUTHORIZATION", ""))
        if not expected or not given.startswith("Basic "):
            return False
        try:
            credentials = base64.b64decode(given[6:], validate=True).decode("utf-8")
        except ValueError:
            return False
        return hmac.compare_digest(credentials.encode(), expected.encode())

    def _ses(self, environ: WSGIEnvironment, body: bytes, data: Any) -> bool:
        """SNS signs each message; the certificate must come from SNS itself over https."""
        if not isinstance(data, dict) or data.get("Type") not in _SNS_KEYS:
            return False
        cert_url = str(data.get("SigningCertURL", ""))
        parts = urlsplit(cert_url)
        if (
            parts.scheme != "https"
            or not _SNS_HOST.fullmatch(parts.hostname or "")
            or not parts.path.endswith(".pem")
        ):
            return False
        canonical = "".join(f"{k}\n{data[k]}\n" for k in _SNS_KEYS[data["Type"]] if k in data).encode()
        from cryptography import x509
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding, rsa

        if cert_url not in self._certs:
            self._certs[cert_url] = self.fetch_cert(cert_url)
        public = x509.load_pem_x509_certificate(self._certs[cert_url]).public_key()
        algorithm = hashes.SHA256() if str(data.get("SignatureVersion")) == "2" else hashes.SHA1()
        try:
            assert isinstance(public, rsa.RSAPublicKey)
            public.verify(
                base64.b64decode(str(data.get("Signature", ""))), canonical, padding.PKCS1v15(), algorithm
            )
        except (InvalidSignature, ValueError, AssertionError):
            return False
        return True
