"""Real SMTP servers on 127.0.0.1 for tests and benchmarks (aiosmtpd), good and faulty.

`Mailbox` keeps every accepted message by recipient, so tests can assert "exactly once".
`Faults` makes a server misbehave in the ways real ones do, by recipient or on a schedule (every
Nth message of the server's life): 451 at RCPT or after the final dot, 550, a 421 greeting, a 421
that closes the session, a connection cut between messages, in the middle of DATA (before the
final dot) or after the final dot before the reply (the message kept or lost), a stall longer
than the client's timeout, a server that hangs from some command on, and a reply withheld
after the end of DATA (to kill a client in the uncertain window). `hung_server` is a port that
accepts connections and never says a word.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import email
import email.policy
import ipaddress
import os
import socket
import ssl
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def self_signed(directory: Path, rsa_bits: int = 0) -> tuple[Path, Path]:
    """A certificate for localhost and 127.0.0.1, its own CA: (cert.pem, key.pem). An EC key
    (quick to make), or RSA of `rsa_bits` like most mail servers present."""
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey = (
        rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
        if rsa_bits
        else ec.generate_private_key(ec.SECP256R1())
    )
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


@dataclass
class Faults:
    temporary_rcpt: set[str] = field(default_factory=set)  # 451 at RCPT, the first time
    temporary_data: set[str] = field(default_factory=set)  # 451 after the end of DATA, the first time
    rejected: set[str] = field(default_factory=set)  # 550 at RCPT, always
    cut_every: int = 0  # drop the connection at the MAIL after this many messages on it
    stall_mail_number: int = 0  # the Nth MAIL of the server's life stalls for stall_seconds
    stall_seconds: float = 0.0
    withhold_reply_for: str = ""  # accept this recipient's message, then never answer
    greet_421: int = 0  # the first N connections are greeted with 421 and closed
    busy_every: int = 0  # every Nth MAIL of the server's life: 421, and the connection is closed
    later_every: int = 0  # every Nth DATA of the server's life: 451 after the final dot
    rejected_every: int = 0  # every Nth RCPT of the server's life: 550 (that recipient, for good)
    cut_in_data: set[str] = field(default_factory=set)  # cut after a line of content, the first time
    cut_in_data_every: int = 0  # every Nth DATA: cut after a line of its content
    cut_after_dot: set[str] = field(default_factory=set)  # cut after the final dot, no reply, first time
    cut_after_dot_every: int = 0  # every Nth DATA: cut after its final dot, no reply
    keep_cut: bool = True  # a message cut after its final dot was accepted (True) or lost
    hang_from_mail: int = 0  # the Nth MAIL of the server's life and every later command: no reply
    delay: float = 0.0  # seconds the server takes to accept each message (a slower, realistic server)


class Mailbox:
    """An aiosmtpd handler that keeps what it accepts, and can misbehave as `faults` says."""

    def __init__(self, faults: Faults | None = None, keep: bool = True) -> None:
        self.faults = faults or Faults()
        self.keep = keep
        self.lock = threading.Lock()
        self.messages: list[tuple[str, bytes]] = []
        self.counts: Counter[str] = Counter()
        self.seen: Counter[str] = Counter()  # attempts per fault key
        self.mails = 0
        self.rcpts = 0
        self.datas = 0
        self.data_commands = 0
        self.greetings = 0
        self.connections = 0
        self.withheld = threading.Event()
        self.hung = False
        self.rejected_for_good: set[str] = set()

    def _tick(self, counter: str) -> int:
        with self.lock:
            value = getattr(self, counter) + 1
            setattr(self, counter, value)
            return int(value)

    @staticmethod
    def _every(number: int, every: int) -> bool:
        return bool(every) and number % every == 0

    def refuse_greeting(self) -> bool:
        return self._tick("greetings") <= self.faults.greet_421

    def cut_during_data(self, recipient: str) -> bool:
        """Whether to cut this DATA command after a line of its content."""
        number = self._tick("data_commands")
        if recipient in self.faults.cut_in_data and self._first("cut-in-data:" + recipient):
            return True
        return self._every(number, self.faults.cut_in_data_every)

    def _first(self, key: str) -> bool:
        with self.lock:
            self.seen[key] += 1
            return self.seen[key] == 1

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        with self.lock:
            self.mails += 1
            number = self.mails
            if not hasattr(session, "accepted"):
                self.connections += 1
                session.accepted = 0
            done = session.accepted
        if self.faults.cut_every and done and done % self.faults.cut_every == 0:
            server.transport.abort()  # the connection is cut between two messages
            return "421 4.4.2 gone"
        if self._every(number, self.faults.busy_every):
            server.transport.close()  # after the reply: "closing transmission channel"
            return "421 4.3.2 too busy, closing"
        if self.faults.hang_from_mail and number >= self.faults.hang_from_mail:
            self.hung = True
            await asyncio.sleep(3600)  # a hung server: the client's timeout must end it
        if number == self.faults.stall_mail_number:
            await asyncio.sleep(self.faults.stall_seconds)
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self.faults.rejected or address in self.rejected_for_good:
            return "550 5.1.1 no such mailbox here"
        if self._every(self._tick("rcpts"), self.faults.rejected_every):
            self.rejected_for_good.add(address)
            return "550 5.1.1 no such mailbox here"
        if address in self.faults.temporary_rcpt and self._first("rcpt:" + address):
            return "451 4.7.1 greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        (recipient,) = envelope.rcpt_tos
        number = self._tick("datas")
        if self.faults.delay:
            await asyncio.sleep(self.faults.delay)
        if recipient in self.faults.temporary_data and self._first("data:" + recipient):
            return "451 4.3.0 queue full, try again later"
        if self._every(number, self.faults.later_every):
            return "451 4.3.0 queue full, try again later"
        cut = self._every(number, self.faults.cut_after_dot_every) or (
            recipient in self.faults.cut_after_dot and self._first("cut-after-dot:" + recipient)
        )
        if cut and not self.faults.keep_cut:
            server.transport.abort()  # the message is lost with the connection
            return "250 never heard"
        with self.lock:
            self.counts[recipient] += 1
            session.accepted += 1
            if self.keep:
                self.messages.append((recipient, bytes(envelope.original_content or envelope.content)))
        if cut:
            server.transport.abort()  # accepted, but the client never hears it
            return "250 never heard"
        if recipient == self.faults.withhold_reply_for:
            self.withheld.set()
            await asyncio.sleep(3600)  # accepted, but the client never hears it
        return "250 2.0.0 queued"

    def parsed(self, recipient: str) -> email.message.EmailMessage:
        with self.lock:
            raw = next(data for rcpt, data in self.messages if rcpt == recipient)
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, email.message.EmailMessage)
        return message


class _FaultySMTP(SMTP):
    """aiosmtpd's server, with the two faults its handler hooks cannot express: a 421 greeting,
    and a connection cut in the middle of DATA, before the final dot."""

    async def _handle_client(self) -> None:
        handler = self.event_handler
        if isinstance(handler, Mailbox) and handler.refuse_greeting():
            await self.push("421 4.3.2 too busy, try again later")
            assert self.transport is not None
            self.transport.close()
            return
        await super()._handle_client()

    async def smtp_DATA(self, arg: str) -> None:
        handler = self.event_handler
        envelope = self.envelope
        single = envelope is not None and len(envelope.rcpt_tos) == 1
        if single and isinstance(handler, Mailbox) and handler.cut_during_data(envelope.rcpt_tos[0]):  # type: ignore[union-attr]
            await self.push("354 End data with <CR><LF>.<CR><LF>")
            await self._reader.readuntil(b"\r\n")  # a line of the content, then the cable is cut
            assert self.transport is not None
            self.transport.abort()
            self._reader._buffer.clear()  # type: ignore[attr-defined]  # read no more of it as commands
            return
        await super().smtp_DATA(arg)


class _FaultyController(Controller):
    def factory(self) -> SMTP:
        return _FaultySMTP(self.handler, **self.SMTP_kwargs)


@contextmanager
def hung_server() -> Iterator[int]:
    """A port that accepts TCP connections (the kernel's backlog) and never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield int(listener.getsockname()[1])


class PostfixSink:
    """Postfix's smtp-sink: C, plain SMTP; its running counters (`-c`) say what it accepted."""

    name = "smtp-sink"
    tls = None
    cert = ""
    label = "Postfix smtp-sink (C, plain)"

    def __init__(self, root: Path | None = None, plain: bool = True, options: tuple[str, ...] = ()) -> None:
        self.port = free_port()
        self.accepted = 0
        self.options = options  # smtp-sink's own faults, e.g. ("-Q", "RCPT"): 421 and disconnect
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        self.process = subprocess.Popen(
            ["smtp-sink", *user, *self.options, "-c", f"127.0.0.1:{self.port}", "256"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        threading.Thread(target=self._read, daemon=True).start()
        for _ in range(100):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return
            time.sleep(0.05)
        raise RuntimeError("smtp-sink did not start")

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        field_ = b""
        while chunk := self.process.stdout.read1(4096):
            field_ += chunk
            *done, field_ = field_.replace(b"\r", b"\n").split(b"\n")
            for line in done:
                if b"mesg=" in line:
                    self.accepted = int(line.rsplit(b"mesg=", 1)[1].split()[0])

    def count(self) -> int:
        return self.accepted

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)


def password_check(user: str, password: str) -> Any:
    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            user.encode(),
            password.encode(),
        )
        return AuthResult(success=ok, handled=False)

    return authenticator


@contextmanager
def smtp_server(
    handler: Mailbox,
    *,
    starttls: ssl.SSLContext | None = None,
    implicit_tls: ssl.SSLContext | None = None,
    auth: tuple[str, str] | None = None,
) -> Iterator[Controller]:
    """A real SMTP server on 127.0.0.1 while the block runs; `.port` says where."""
    kwargs: dict[str, Any] = {}
    if starttls:
        kwargs.update(tls_context=starttls, require_starttls=True)
    if auth:
        kwargs.update(
            authenticator=password_check(*auth),
            auth_required=True,
            auth_require_tls=bool(starttls or implicit_tls),
        )
    controller = _FaultyController(
        handler, hostname="127.0.0.1", port=free_port(), ssl_context=implicit_tls, **kwargs
    )
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()
