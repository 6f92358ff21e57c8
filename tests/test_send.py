"""`digest send` against real SMTP servers on 127.0.0.1: TLS, AUTH, faults, crashes, the journal."""

from __future__ import annotations

import base64
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from typer.testing import CliRunner

from digest import pipeline
from digest.cli import app
from digest.config import Settings
from digest.deliver import Prepared, render_message
from digest.errors import ConfigError, DeliveryError
from digest.journal import FAILED, SENDING, SENT, Journal, Key
from digest.models import Issue, Post, Subscriber
from digest.newsletter import scaffold
from digest.sender import SendOptions, SendReport, send_issue
from digest.signing import Signer, load_signer
from digest.smtp import SmtpTarget, parse_smtp_url
from digest.subscribers import Row
from tests.factories import issue_of
from tests.mailrules import SIGNED_HEADERS, assert_email_rules, parse
from tests.smtpserver import Faults, Mailbox, free_port, self_signed, server_context, smtp_server

SECRET = "test-secret-0123456789abcdefghijklmnop"
FAST = SendOptions(concurrency=3, retry_delays=(0.05, 0.1, 0.2))


def _issue(posts: list[Post]) -> Issue:
    return issue_of(posts)


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal.open(tmp_path / "state") as opened:
        yield opened


def people(count: int) -> list[str]:
    return [f"reader{n:03d}@example.org" for n in range(count)]


def rows(emails: list[str]) -> list[Row]:
    return [
        Row(Subscriber(email=e, name=f"Lecteur {e[:9]}", locale="fr", line=n + 2))
        for n, e in enumerate(emails)
    ]


def plain(port: int, timeout: float = 5.0) -> SmtpTarget:
    return SmtpTarget("smtp", "127.0.0.1", port, timeout=timeout)


def send(
    prepared: Prepared, emails: list[str], target: SmtpTarget, journal: Journal, **options: object
) -> SendReport:
    settings = {**FAST.__dict__, **options}
    return send_issue(prepared, rows(emails), target, journal, SendOptions(**settings))  # type: ignore[arg-type]


def test_starttls_and_auth_deliver_each_message_once(
    tmp_path: Path, prepared: Prepared, journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = self_signed(tmp_path)
    mailbox = Mailbox()
    with smtp_server(mailbox, starttls=server_context(cert, key), auth=("news", "pa55")) as server:
        target = parse_smtp_url(
            f"smtp://news@127.0.0.1:{server.port}", password="pa55", ca_file=cert, timeout=5
        )
        emails = people(20)
        report = send(prepared, emails, target, journal)
        assert (report.sent, report.complete) == (20, True)
        assert mailbox.counts == dict.fromkeys(emails, 1)
        message = assert_email_rules(mailbox.messages[0][1])
        assert message["To"].addresses[0].addr_spec == mailbox.messages[0][0]
        again = send(prepared, emails, target, journal)  # the same command again: nothing twice
    assert (again.sent, again.earlier) == (0, 20)
    assert mailbox.counts == dict.fromkeys(emails, 1)


def test_smtps_from_the_first_byte(tmp_path: Path, prepared: Prepared, journal: Journal) -> None:
    cert, key = self_signed(tmp_path)
    mailbox = Mailbox()
    with smtp_server(mailbox, implicit_tls=server_context(cert, key)) as server:
        target = parse_smtp_url(f"smtps://127.0.0.1:{server.port}", ca_file=cert)
        report = send(prepared, people(5), target, journal)
    assert report.sent == 5 and sum(mailbox.counts.values()) == 5


def test_a_faulty_server_still_gets_every_good_message_exactly_once(
    prepared: Prepared, journal: Journal
) -> None:
    emails = people(30)
    faults = Faults(
        temporary_rcpt={emails[3], emails[11]},
        temporary_data={emails[5], emails[20]},  # 451 after the content: recorded, then retried
        rejected={emails[7]},
        cut_every=4,  # the connection is cut between messages
        stall_mail_number=9,
        stall_seconds=4.0,  # longer than the client's timeout
    )
    mailbox = Mailbox(faults)
    with smtp_server(mailbox) as server:
        report = send(prepared, emails, plain(server.port, timeout=1.5), journal)
    good = [e for e in emails if e != emails[7]]
    assert mailbox.counts == dict.fromkeys(good, 1), report
    assert report.sent == 29 and not report.deferred and not report.uncertain
    [failure] = report.failed
    assert failure.recipient == emails[7] and failure.reply.startswith("550 5.1.1")
    assert journal.get(Key("2026-W47", "digest.example.org", emails[7])).state == FAILED  # type: ignore[union-attr]
    assert journal.get(Key("2026-W47", "digest.example.org", emails[5])).state == SENT  # type: ignore[union-attr]
    assert mailbox.connections >= 8  # reconnected after every cut
    assert not report.complete


def test_messages_per_connection_are_capped(prepared: Prepared, journal: Journal) -> None:
    mailbox = Mailbox()
    with smtp_server(mailbox) as server:
        send(prepared, people(10), plain(server.port), journal, concurrency=1, per_connection=3)
    assert mailbox.connections == 4


def test_the_rate_limit_spaces_messages(prepared: Prepared, journal: Journal) -> None:
    mailbox = Mailbox()
    with smtp_server(mailbox) as server:
        started = time.monotonic()
        send(prepared, people(6), plain(server.port), journal, rate=20.0)
        assert time.monotonic() - started >= 5 / 20


def test_a_server_that_keeps_saying_later_defers_and_the_next_run_delivers(
    prepared: Prepared, journal: Journal
) -> None:
    emails = people(3)
    mailbox = Mailbox(Faults(temporary_rcpt={emails[1]}))
    with smtp_server(mailbox) as server:
        report = send(prepared, emails, plain(server.port), journal, retry_delays=())
        assert [o.recipient for o in report.deferred] == [emails[1]] and report.sent == 2
        again = send(prepared, emails, plain(server.port), journal)
    assert (again.sent, again.earlier) == (1, 2)
    assert mailbox.counts == dict.fromkeys(emails, 1)


class _LaterThenYes(Mailbox):
    """Says 451 at RCPT to the first `refusals` attempts, and notes when each attempt came."""

    def __init__(self, refusals: int) -> None:
        super().__init__()
        self.refusals = refusals
        self.attempts: list[float] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        self.attempts.append(time.monotonic())
        if len(self.attempts) <= self.refusals:
            return "451 4.7.1 greylisted, try again later"
        return await super().handle_RCPT(server, session, envelope, address, options)


def test_a_4xx_is_retried_only_after_each_back_off_delay(prepared: Prepared, journal: Journal) -> None:
    mailbox = _LaterThenYes(refusals=2)
    with smtp_server(mailbox) as server:
        report = send(
            prepared, people(1), plain(server.port), journal, concurrency=1, retry_delays=(0.3, 0.6, 0.05)
        )
    assert (report.sent, report.deferred) == (1, ())
    first, second, third = mailbox.attempts
    assert second - first >= 0.3 and third - second >= 0.6


def test_no_reply_after_the_end_of_data_is_uncertain_and_never_resent_unasked(
    prepared: Prepared, journal: Journal
) -> None:
    emails = people(4)
    mailbox = Mailbox(Faults(withhold_reply_for=emails[2]))
    with smtp_server(mailbox) as server:
        report = send(prepared, emails, plain(server.port, timeout=0.5), journal, concurrency=1)
        assert [o.recipient for o in report.uncertain] == [emails[2]] and report.sent == 3
        assert journal.get(Key("2026-W47", "digest.example.org", emails[2])).state == SENDING  # type: ignore[union-attr]
        mailbox.faults.withhold_reply_for = ""
        again = send(prepared, emails, plain(server.port), journal)
        assert ([o.recipient for o in again.uncertain], again.sent) == ([emails[2]], 0)
        assert mailbox.counts == dict.fromkeys(emails, 1)
        forced = send(prepared, emails, plain(server.port), journal, resend_uncertain=True)
    assert forced.sent == 1 and forced.complete  # the editor chose a possible duplicate


def test_dry_run_connects_to_nothing(prepared: Prepared, journal: Journal) -> None:
    report = send(prepared, people(7), plain(free_port()), journal, dry_run=True)
    assert (report.would_send, report.sent, report.dry_run) == (7, 0, True)


def test_a_refused_connection_names_the_server(prepared: Prepared, journal: Journal) -> None:
    port = free_port()
    with pytest.raises(
        DeliveryError, match=rf"cannot talk to smtp://127\.0\.0\.1:{port}: .*refused"
    ) as caught:
        send(prepared, people(3), plain(port), journal)
    assert "listening" in str(caught.value.hint)


def test_failed_auth_names_the_server_and_the_user(
    tmp_path: Path, prepared: Prepared, journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = self_signed(tmp_path)
    with smtp_server(Mailbox(), starttls=server_context(cert, key), auth=("news", "right")) as server:
        target = parse_smtp_url(f"smtp://news@127.0.0.1:{server.port}", password="wrong", ca_file=cert)
        with pytest.raises(DeliveryError, match=r"refused AUTH for user 'news': 535") as caught:
            send(prepared, people(2), target, journal)
    assert "wrong" not in str(caught.value)


def test_a_certificate_that_does_not_verify_stops_the_run(
    tmp_path: Path, prepared: Prepared, journal: Journal
) -> None:
    cert, key = self_signed(tmp_path)
    mailbox = Mailbox()
    with smtp_server(mailbox, starttls=server_context(cert, key)) as server:
        with pytest.raises(DeliveryError, match=r"certificate of smtp://127\.0\.0\.1:\d+ does not verify"):
            send(prepared, people(2), plain(server.port), journal)
    assert not mailbox.counts


def test_starttls_is_required_off_this_machine() -> None:
    from digest.smtp import _starttls

    class NoTls:
        def has_extn(self, name: str) -> bool:
            return False

    remote = SmtpTarget("smtp", "mail.example.org", 587)
    with pytest.raises(DeliveryError, match="does not offer STARTTLS"):
        _starttls(NoTls(), remote)  # type: ignore[arg-type]
    _starttls(NoTls(), SmtpTarget("smtp", "mail.example.org", 587, insecure=True))  # type: ignore[arg-type]
    _starttls(NoTls(), SmtpTarget("smtp", "127.0.0.1", 25))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://mail.example.org", "the scheme must be smtp://"),
        ("smtp://user:hunter2@mail.example.org", "no password in the URL"),
        ("smtp://mail.example.org:99999", "port"),
        ("smtp://", "no host"),
        ("smtp://mail.example.org/inbox", "unexpected path"),
    ],
)
def test_a_wrong_smtp_url_is_a_configuration_error(url: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem) as caught:
        parse_smtp_url(url)
    assert "hunter2" not in str(caught.value)


def test_a_user_without_a_password_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="DIGEST_SMTP_PASSWORD is not set"):
        parse_smtp_url("smtp://news@mail.example.org", password="")


def test_one_send_at_a_time_per_state_folder(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "state"):
        with pytest.raises(DeliveryError, match="another `digest send` is running"):
            with Journal.open(tmp_path / "state"):
                pass


# DKIM -------------------------------------------------------------------------------------------


def rsa_key() -> tuple[bytes, bytes]:
    """(PEM private key, the p= of its DNS record)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, base64.b64encode(public)


def verify(message: bytes, public: bytes) -> bool:
    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"news._domainkey.digest.example.org."
        return b"v=DKIM1; k=rsa; p=" + public

    return bool(dkim.verify(message, dnsfunc=dns))


def test_dkim_signs_the_headers_receivers_check(
    settings: Settings, prepared: Prepared, journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    private, public = rsa_key()
    signer = load_signer(
        replace(settings.delivery, dkim_selector="news"), prepared.domain, key_text=private.decode()
    )
    assert isinstance(signer, Signer) and "PRIVATE" not in repr(signer)
    signed = signer.sign(render_message(prepared, Subscriber(email="zoe@example.org", name="Zoé")))
    assert verify(signed, public)
    tags = dict(
        tag.strip().split("=", 1) for tag in parse(signed)["DKIM-Signature"].replace("\r\n", "").split(";")
    )
    signed_names = {name.strip().lower() for name in tags["h"].split(":")}
    assert {name.lower() for name in SIGNED_HEADERS} <= signed_names
    assert_email_rules(signed)
    assert not verify(signed.replace(b"Subject: =?utf-8?q?Le", b"Subject: =?utf-8?q?La"), public)
    mailbox = Mailbox()  # and what the server receives still verifies
    with smtp_server(mailbox) as server:
        send_issue(prepared, rows(people(2)), plain(server.port), journal, FAST, sign=signer.sign)
    assert all(verify(raw, public) for _, raw in mailbox.messages)


def test_a_dkim_selector_without_a_key_is_a_configuration_error(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    configured = replace(settings.delivery, dkim_selector="news")
    with pytest.raises(ConfigError, match="no DKIM key"):
        load_signer(configured, "digest.example.org")
    broken = "-----BEGIN RSA PRIVATE KEY-----\nnope\n-----END RSA PRIVATE KEY-----\n"
    with pytest.raises(
        ConfigError, match=r"the DKIM key in \$DIGEST_DKIM_KEY is not a PEM RSA or Ed25519 private key"
    ):
        load_signer(configured, "digest.example.org", key_text=broken)


# The command line, and a crash in the middle ----------------------------------------------------

ENV = {"DIGEST_UNSUBSCRIBE_SECRET": SECRET, "NO_COLOR": "1"}


@pytest.fixture
def newsletter_issue(tmp_path: Path, newsletter: Path, make_post: Callable[..., Post]) -> Path:
    directory = tmp_path / "issues" / "2026-W47"
    pipeline.write_issue(_issue([make_post(title="Première"), make_post(title="Seconde")]), directory, None)
    return directory


def write_list(path: Path, emails: list[str], extra: str = "") -> Path:
    lines = [f"{e},Lecteur {n},fr,active,,Lyon" for n, e in enumerate(emails)]
    path.write_text(
        "email,name,locale,status,tags,city\n" + "\n".join(lines) + "\n" + extra, encoding="utf-8"
    )
    return path


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=ENV)
    return result.exit_code, result.stdout, result.stderr


def test_send_command_reports_and_exits_1_when_a_recipient_is_rejected(
    tmp_path: Path, newsletter: Path, newsletter_issue: Path
) -> None:
    emails = people(6)
    csv = write_list(
        tmp_path / "list.csv",
        emails,
        'bad@example.org,"Eve\nBcc: x",fr,active,,\ngone@example.org,G,fr,unsubscribed,,\n',
    )
    mailbox = Mailbox(Faults(rejected={emails[2]}))
    with smtp_server(mailbox) as server:
        base = ("send", str(newsletter_issue), "--config", str(newsletter), "--subscribers", str(csv))
        code, _, err = cli(*base, "--smtp-url", f"smtp://127.0.0.1:{server.port}", "--dry-run")
        assert code == 1 and "Would send 6 messages" in err and not mailbox.counts
        code, out, err = cli(*base, "--smtp-url", f"smtp://127.0.0.1:{server.port}", "--json")
    assert code == 1
    assert f"failed     {emails[2]}: 550 5.1.1" not in err  # --json: the report is on stdout
    assert '"sent": 5' in out and emails[2] in out and '"line": 8' in out
    assert "rejected line 8: control character or line break in column 'name'" in err
    assert mailbox.counts == {e: 1 for e in emails if e != emails[2]}


@pytest.mark.parametrize(
    ("url", "code", "message"),
    [
        ("smtp://127.0.0.1:{closed}", 1, "error: cannot talk to smtp://127.0.0.1:{closed}: "),
        ("smtp:/nowhere", 2, "error: --smtp-url smtp:/nowhere: no host"),
    ],
)
def test_send_command_errors_name_the_server(
    newsletter: Path, newsletter_issue: Path, url: str, code: int, message: str
) -> None:
    closed = str(free_port())
    got, _, err = cli(
        "send", str(newsletter_issue), "--config", str(newsletter), "--smtp-url", url.format(closed=closed)
    )
    assert got == code and message.format(closed=closed) in err and "Traceback" not in err


def test_killed_mid_send_and_run_again_every_recipient_gets_exactly_one(
    tmp_path: Path, newsletter: Path, newsletter_issue: Path
) -> None:
    emails = people(25)
    csv = write_list(tmp_path / "list.csv", emails)
    state = tmp_path / "state"
    mailbox = Mailbox(Faults(withhold_reply_for=emails[12]))
    with smtp_server(mailbox) as server:
        command = [
            sys.executable, "-m", "digest", "send", str(newsletter_issue), "--config", str(newsletter),
            "--state", str(state), "--subscribers", str(csv), "--smtp-url", f"smtp://127.0.0.1:{server.port}",
            "--concurrency", "1",
        ]  # fmt: skip
        env = {**os.environ, **ENV}
        first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert mailbox.withheld.wait(30), first.communicate(timeout=5)
        time.sleep(0.2)  # the end of DATA has been sent and recorded; no reply will come
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        with sqlite3.connect(state / "digest.sqlite3") as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        mailbox.faults.withhold_reply_for = ""
        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert second.returncode == 1, second.stderr  # one message is uncertain: not known delivered
    assert f"uncertain  {emails[12]}:" in second.stderr and "--resend-uncertain" in second.stderr
    assert "12 sent earlier" in second.stderr and "0 failed" in second.stderr
    assert mailbox.counts == dict.fromkeys(emails, 1)


def test_lines_starting_with_a_dot_survive_the_wire(prepared: Prepared, journal: Journal) -> None:
    from digest.smtp import dot_stuffed

    assert dot_stuffed(b"a\r\n.b\r\n.") == b"a\r\n..b\r\n..\r\n"
    reader = Subscriber(email="dot@example.org", name=".Dot", locale="fr")
    mailbox = Mailbox()
    with smtp_server(mailbox) as server:
        send_issue(
            prepared, [Row(reader)], plain(server.port), journal, FAST, sign=lambda m: b".X: y\r\n" + m
        )
    assert mailbox.messages[0][1].replace(b"\r\n", b"\n") == (
        b".X: y\r\n" + render_message(prepared, reader)
    ).replace(b"\r\n", b"\n")


def test_each_reader_gets_the_edition_in_their_language_exactly_once(tmp_path: Path) -> None:
    """With `locales = ["fr", "en"]` the English readers get the English edition, over one journal."""
    config = scaffold(tmp_path / "news")
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            'locale = "fr"', 'locale = "fr"\nlocales = ["fr", "en"]', 1
        ),
        encoding="utf-8",
    )
    env = {"DIGEST_NOW": "2026-11-26T06:00:00+00:00", "DIGEST_UNSUBSCRIBE_SECRET": "s" * 32, "NO_COLOR": "1"}
    runner = CliRunner()
    assert runner.invoke(app, ["gather", "--config", str(config)], env=env).exit_code == 0
    assert runner.invoke(app, ["build", "--config", str(config)], env=env).exit_code == 0
    issue = tmp_path / "news/issues/2026-W47"
    mailbox = Mailbox()
    with smtp_server(mailbox) as server:
        for _ in range(2):  # the second run finds everything in the journal
            result = runner.invoke(
                app,
                [
                    "send",
                    str(issue),
                    "--config",
                    str(config),
                    "--smtp-url",
                    f"smtp://127.0.0.1:{server.port}",
                ],
                env=env,
            )
            assert result.exit_code == 0, result.stderr
    assert sorted(mailbox.counts.values()) == [1] * 6
    assert mailbox.parsed("priya.raman@example.com")["Subject"].startswith("Le Digest des Médias — week 47")
    assert mailbox.parsed("amelie.durand@example.org")["Subject"].endswith("semaine 47 de 2026")
    assert mailbox.parsed("jonas.weiss@example.org")["Subject"].endswith("semaine 47 de 2026")  # de → main


@pytest.mark.parametrize(
    "url",
    [
        "smtp://news:pa/ss@w0rd@mail.example.org",
        "smtp://news:p@ss:w/0rd@mail.example.org:587",
        "smtp://news:sec/ret@mail.example.org/inbox",
        "http://news:sec/ret@mail.example.org",
    ],
)
def test_no_error_shows_any_part_of_a_password(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_smtp_url(url)
    shown = str(caught.value)
    for part in ("pa/ss", "w0rd", "p@ss", "w/0rd", "sec/ret", "ret@", "ss@"):
        assert part not in shown, shown
    assert "news" in shown and "mail.example.org" in shown
