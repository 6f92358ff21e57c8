"""`digest bounces import`: DSNs, ARF complaints (redacted ones too), mailto unsubscribes and
services' event files suppress the right readers and nobody else; webhooks check signatures."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import mailbox
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from digest.cli import app as cli_app
from digest.config import Settings
from digest.store import open_store
from digest.tokens import unsubscribe_token
from digest.web.app import ListApp
from tests.conftest import NOW, SECRET
from tests.test_web import serving

SAMPLES = Path(__file__).parent / "bounces"
ENV = {"DIGEST_UNSUBSCRIBE_SECRET": SECRET, "NO_COLOR": "1", "DIGEST_NOW": "2026-11-26T06:00:00Z"}
AMELIE, JEROME, FRANCOIS = (
    "amelie.durand@example.org",
    "jerome.lefevre@example.net",
    "francois.njoya@example.org",
)


def run(
    settings: Settings, *paths: Path | str, extra: tuple[str, ...] = ()
) -> dict[str, list[dict[str, str]]]:
    args = ["bounces", "import", *map(str, paths), "--config", str(settings.path), "--json", *extra]
    result = CliRunner().invoke(cli_app, args, env=ENV)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def suppressed(settings: Settings) -> frozenset[str]:
    with open_store(settings.state) as store:
        return store.unsubscribed(settings.list_id)


def test_mbox_of_dsns_and_a_redacted_complaint(settings: Settings, tmp_path: Path) -> None:
    box = mailbox.mbox(tmp_path / "bounces.mbox")
    token = unsubscribe_token(SECRET.encode(), settings.list_id, AMELIE)
    for name in ("postfix-dsn.eml", "exim-full-mailbox.eml", "delayed.eml", "yahoo-arf-redacted.eml"):
        box.add((SAMPLES / name).read_bytes().replace(b"TOKEN", token.encode()))
    box.flush()
    report = run(settings, tmp_path / "bounces.mbox")
    assert {(o["email"], o["kind"]) for o in report["suppressed"]} == {
        (JEROME, "hard"),
        (AMELIE, "complaint"),
    }
    assert [(o["email"], o["kind"]) for o in report["soft_counted"]] == [(FRANCOIS, "soft")]
    assert suppressed(settings) == {AMELIE, JEROME}
    with open_store(settings.state) as store:
        assert store.subscriber(settings.list_id, AMELIE).status == "complained"  # type: ignore[union-attr]
    run(settings, SAMPLES / "exim-full-mailbox.eml")
    run(settings, SAMPLES / "exim-full-mailbox.eml")  # the third soft bounce in a row
    assert FRANCOIS in suppressed(settings)


def test_a_maildir_mailto_unsubscribe_with_our_token(settings: Settings, tmp_path: Path) -> None:
    from dataclasses import replace

    box = mailbox.Maildir(tmp_path / "Maildir")
    token = unsubscribe_token(SECRET.encode(), settings.list_id, JEROME)
    box.add(
        f"From: someone@else.example\nTo: unsubscribe@digest.example.org\nSubject: unsubscribe {token}\n\n".encode()
    )
    box.add(b"From: stranger@example.com\nTo: unsubscribe@digest.example.org\nSubject: unsubscribe\n\n")
    toml = settings.path.read_text(encoding="utf-8").replace(
        "[delivery]", '[delivery]\nmailto_unsubscribe = "unsubscribe@digest.example.org"'
    )
    settings.path.write_text(toml, encoding="utf-8")
    report = run(replace(settings), tmp_path / "Maildir")
    assert [o["email"] for o in report["suppressed"]] == [JEROME]
    assert [o["reason"] for o in report["ignored"]] == ["not on this list"]
    assert suppressed(settings) == {JEROME}


def service_files(tmp_path: Path) -> list[Path]:
    ses = {
        "Type": "Notification",
        "Message": json.dumps(
            {
                "notificationType": "Bounce",
                "bounce": {
                    "bounceType": "Permanent",
                    "bounceSubType": "General",
                    "bouncedRecipients": [
                        {
                            "emailAddress": JEROME,
                            "status": "5.1.1",
                            "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                        }
                    ],
                },
                "mail": {"messageId": "0000", "destination": [JEROME]},
            }
        ),
    }
    sendgrid = [
        {"email": AMELIE, "event": "spamreport", "timestamp": 1764054000},
        {"email": "stranger@example.com", "event": "bounce", "type": "bounce", "status": "5.0.0"},
        {"email": FRANCOIS, "event": "delivered"},
    ]
    mailgun = {
        "event-data": {
            "event": "failed",
            "severity": "temporary",
            "recipient": FRANCOIS,
            "delivery-status": {"code": 452},
        }
    }
    postmark = {
        "RecordType": "Bounce",
        "Type": "HardBounce",
        "Email": "daniel.oconnor@example.net",
        "Description": "unknown user",
    }
    files = []
    for name, data in [
        ("ses.json", ses),
        ("sendgrid.json", sendgrid),
        ("mailgun.json", mailgun),
        ("postmark.json", postmark),
    ]:
        path = tmp_path / name
        path.write_text(json.dumps(data), encoding="utf-8")
        files.append(path)
    return files


def test_service_event_files(settings: Settings, tmp_path: Path) -> None:
    report = run(settings, *service_files(tmp_path))
    assert {o["email"] for o in report["suppressed"]} == {JEROME, AMELIE, "daniel.oconnor@example.net"}
    assert [o["email"] for o in report["soft_counted"]] == [FRANCOIS]
    assert suppressed(settings) == {JEROME, AMELIE, "daniel.oconnor@example.net"}


def test_webhooks_apply_signed_events_and_refuse_others(settings: Settings) -> None:
    key = "mailgun-signing-key"
    app = ListApp(
        settings, SECRET.encode(), clock=lambda: NOW, log=lambda _: None, webhook_secrets={"mailgun": key}
    )
    stamp, nonce = str(int(NOW.timestamp())), "n0nce"  # fresh by the app's clock
    signature = hmac.new(key.encode(), (stamp + nonce).encode(), hashlib.sha256).hexdigest()
    event = {"event": "failed", "severity": "permanent", "recipient": JEROME}
    with serving(app) as client:
        forged = {
            "signature": {"timestamp": stamp, "token": nonce, "signature": "0" * 64},
            "event-data": event,
        }
        assert client.post("/webhooks/mailgun", json=forged).status_code == 403
        unsigned = [{"email": JEROME, "event": "bounce", "type": "bounce"}]
        assert client.post("/webhooks/sendgrid", json=unsigned).status_code == 403
        basic = base64.b64encode(b"u:wrong").decode()
        assert (
            client.post(
                "/webhooks/postmark", json={}, headers={"Authorization": f"Basic {basic}"}
            ).status_code
            == 403
        )
        assert suppressed(settings) == frozenset()
        genuine = {
            "signature": {"timestamp": stamp, "token": nonce, "signature": signature},
            "event-data": event,
        }
        answer = client.post("/webhooks/mailgun", json=genuine)
        assert answer.status_code == 200 and isinstance(answer, httpx.Response)
    assert suppressed(settings) == {JEROME}


def test_send_records_permanent_failures_as_bounces(settings: Settings, tmp_path: Path, make_post) -> None:
    from digest import pipeline
    from tests.factories import issue_of
    from tests.smtpserver import Faults, Mailbox, smtp_server

    folder = tmp_path / "issues" / "2026-W47"
    pipeline.write_issue(issue_of([make_post(title="Première")]), folder, None)
    with smtp_server(Mailbox(Faults(rejected={JEROME}))) as smtp:
        args = [
            "send",
            str(folder),
            "--config",
            str(settings.path),
            "--smtp-url",
            f"smtp://127.0.0.1:{smtp.port}",
        ]
        result = CliRunner().invoke(cli_app, args, env=ENV)
    assert result.exit_code == 1, result.output
    assert suppressed(settings) == {JEROME}
    with open_store(settings.state) as store:
        (event,) = store.events(settings.list_id, JEROME)
    assert event.kind == "bounced" and event.source == "smtp" and "550" in event.detail


def test_sendgrid_and_ses_signatures_are_verified(settings: Settings) -> None:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.x509.oid import NameOID

    ec_key = ec.generate_private_key(ec.SECP256R1())
    public = base64.b64encode(
        ec_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    ).decode()
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(rsa_key.public_key())
        .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
        .sign(rsa_key, hashes.SHA256())
    )  # fmt: skip
    cert_url = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem"
    app = ListApp(
        settings, SECRET.encode(), clock=lambda: NOW, log=lambda _: None, webhook_secrets={"sendgrid": public}
    )
    app.hooks.fetch_cert = lambda url: (
        cert.public_bytes(serialization.Encoding.PEM) if url == cert_url else b""
    )
    body = json.dumps([{"email": JEROME, "event": "bounce", "type": "bounce", "status": "5.1.1"}]).encode()
    stamp = str(int(time.time()))
    signature = base64.b64encode(ec_key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
    message = json.dumps(
        {"notificationType": "Complaint", "complaint": {"complainedRecipients": [{"emailAddress": AMELIE}]}}
    )
    sns = {"Type": "Notification", "MessageId": "m1", "TopicArn": "arn:aws:sns:eu-west-1:1:t", "Message": message,
           "Timestamp": "2026-11-26T06:00:00.000Z", "SignatureVersion": "2", "SigningCertURL": cert_url}  # fmt: skip
    canonical = "".join(
        f"{k}\n{sns[k]}\n" for k in ("Message", "MessageId", "Timestamp", "TopicArn", "Type")
    ).encode()
    sns["Signature"] = base64.b64encode(rsa_key.sign(canonical, padding.PKCS1v15(), hashes.SHA256())).decode()
    headers = {
        "X-Twilio-Email-Event-Webhook-Signature": signature,
        "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
    }
    with serving(app) as client:
        tampered = client.post(
            "/webhooks/sendgrid", content=body.replace(b"5.1.1", b"5.1.2"), headers=headers
        )
        assert tampered.status_code == 403
        assert (
            client.post(
                "/webhooks/ses", json={**sns, "Message": message.replace("amelie", "jerome")}
            ).status_code
            == 403
        )
        assert (
            client.post(
                "/webhooks/ses", json={**sns, "SigningCertURL": "https://evil.example/x.pem"}
            ).status_code
            == 403
        )
        assert suppressed(settings) == frozenset()
        assert client.post("/webhooks/sendgrid", content=body, headers=headers).status_code == 200
        assert client.post("/webhooks/ses", json=sns).status_code == 200
    assert suppressed(settings) == {JEROME, AMELIE}
