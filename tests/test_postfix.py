"""A signed issue through a real Postfix (loopback, local Maildir delivery), checked by OpenDKIM
and Mail::DKIM with the public key from a file. Skips, with the reason, where Postfix cannot
start; in CI (CI=true) it must run."""

from __future__ import annotations

import base64
import email
import email.policy
import os
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from digest import pipeline
from digest.config import Settings
from digest.envelope import ascii_address
from digest.models import Post
from digest.sender import SendOptions
from digest.smtp import parse_smtp_url
from tests.factories import env_of, issue_of
from tests.postfix import Postfix, PostfixUnavailable, running_postfix

SECRET = "test-secret-0123456789abcdefghijklmnop"  # at least 32 bytes
DOMAIN = "digest.example.org"
LONG = "l" * 64 + "@" + ".".join(["p" * 60, "q" * 60, "r" * 59]) + ".net"
READERS = [
    "amelie@example.org",
    "user@exämple.org",
    "josé@example.org",
    "jose@example.org",
    "admin@аpple.example",
    "Upper.Case@Example.org",
    LONG,
]
REQUIRED = ("From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "List-Id", "List-Unsubscribe",
            "List-Unsubscribe-Post", "DKIM-Signature")  # fmt: skip


@pytest.fixture
def postfix() -> Iterator[Postfix]:
    try:
        with running_postfix() as server:
            yield server
    except PostfixUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Postfix must run in CI: {exc}")
        pytest.skip(str(exc))


def key_files(folder: Path) -> tuple[Path, Path]:
    """(the private key, OpenDKIM's TestPublicKeys file: `name TXT`)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = folder / "dkim.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    public = base64.b64encode(
        key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    ).decode("ascii")
    keys = folder / "keys"
    keys.write_text(f"news._domainkey.{DOMAIN} v=DKIM1; k=rsa; p={public}\n", encoding="utf-8")
    return private, keys


def test_a_signed_issue_through_postfix_reaches_everyone_once_and_verifies(
    postfix: Postfix, tmp_path: Path, settings: Settings, make_post: Callable[..., Post]
) -> None:
    issue_dir = tmp_path / "issues" / "2026-W47"
    pipeline.write_issue(
        issue_of([make_post(title="Première"), make_post(title="x<y {{ a }}")]), issue_dir, None
    )
    csv = tmp_path / "readers.csv"
    csv.write_text(
        "email,name,locale\n" + "".join(f'"{a}","Zoé Ñandú {n}",fr\n' for n, a in enumerate(READERS)),
        encoding="utf-8",
    )
    private, keys = key_files(tmp_path)
    signed = replace(settings, delivery=replace(settings.delivery, dkim_selector="news", dkim_key=private))
    report = pipeline.send(
        issue_dir,
        signed,
        env_of(unsubscribe_secret=SECRET),
        target=parse_smtp_url(f"smtp://127.0.0.1:{postfix.port}"),
        options=SendOptions(concurrency=2, retry_delays=()),
        subscribers=csv,
    )
    assert report.complete and report.sent == len(READERS), (report.failed, report.deferred)
    messages = postfix.wait_for(len(READERS))
    delivered = Counter(
        email.message_from_bytes(raw, policy=email.policy.SMTPUTF8)["Delivered-To"] for raw in messages
    )
    expected = Counter(ascii_address(a) for a in READERS)
    assert {k.lower(): v for k, v in delivered.items()} == {k.lower(): v for k, v in expected.items()}
    for raw in messages:
        check_message(raw, keys, tmp_path)


def check_message(raw: bytes, keys: Path, folder: Path) -> None:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    for name in REQUIRED:
        assert len(message.get_all(name, [])) == 1, name
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]
    head = raw.split(b"\n\n", 1)[0]
    ours = head.split(b"\nDKIM-Signature:", 1)[1]  # what digest wrote: from the signature on
    assert all(b < 128 for b in ours), "digest's headers are ASCII"
    path = folder / "received.eml"
    path.write_bytes(raw)
    verified = opendkim_verify(path, keys, folder)
    assert "verification (s=news, d=digest.example.org, 2048-bit key) succeeded" in verified, verified
    if shutil.which("perl") and perl_has_mail_dkim():
        result = subprocess.run(
            ["perl", str(Path(__file__).with_name("dkim_verify.pl")), str(keys), str(path)],
            capture_output=True, text=True, check=True, timeout=60,
        )  # fmt: skip
        assert result.stdout.split()[-1] == "pass", result.stdout + result.stderr
    public = keys.read_text(encoding="utf-8").split(" ", 1)[1].strip().encode()
    assert dkim.verify(raw.replace(b"\n", b"\r\n"), dnsfunc=lambda name, timeout=5: public)


def opendkim_verify(message: Path, keys: Path, folder: Path) -> str:
    """`opendkim -t` with the public key from a file (TestPublicKeys), never from DNS.
    (opendkim-testmsg, its other front end, can only look keys up in DNS.)"""
    if not shutil.which("opendkim"):
        if os.environ.get("CI") == "true":
            pytest.fail("opendkim must be installed in CI (.ci/run)")
        pytest.skip("opendkim is not installed (.ci/run installs it)")
    config = folder / "opendkim.conf"
    config.write_text(f"TestPublicKeys {keys}\nSyslog no\nMode v\n", encoding="utf-8")
    done = subprocess.run(
        ["opendkim", "-x", str(config), "-t", str(message)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.stdout + done.stderr


def perl_has_mail_dkim() -> bool:
    return (
        subprocess.run(
            ["perl", "-MMail::DKIM::Verifier", "-e", "1"], capture_output=True, check=False
        ).returncode
        == 0
    )
