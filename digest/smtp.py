"""One SMTP connection: the URL, TLS (verified), AUTH, and one message's transaction.

The transaction is written out command by command (MAIL, RCPT, DATA) rather than with
`smtplib.sendmail`, because the journal must record a message durably between writing its
content and writing the final `.` that asks the server to accept it.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import smtplib
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from digest.envelope import smtputf8_reason
from digest.errors import ConfigError, DeliveryError

PASSWORD_ENV = "DIGEST_SMTP_PASSWORD"
PORTS = {"smtp": 587, "smtps": 465}

# What happened to one message.
SENT, FAILED, RETRY, UNCERTAIN = "sent", "failed", "retry", "uncertain"


@dataclass(frozen=True)
class SmtpTarget:
    scheme: str  # smtp (STARTTLS) | smtps (TLS from the start)
    host: str
    port: int
    user: str = ""
    password: str = field(default="", repr=False)
    insecure: bool = False  # allow a server without STARTTLS that is not on loopback
    ca_file: Path | None = None
    timeout: float = 60.0

    @property
    def name(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


def parse_smtp_url(
    url: str,
    *,
    password: str = "",
    insecure: bool = False,
    ca_file: Path | None = None,
    timeout: float = 60.0,
) -> SmtpTarget:
    """`smtp[s]://[user@]host[:port]`; the password only ever comes from $DIGEST_SMTP_PASSWORD,
    which the CLI reads and passes as `password`."""

    def bad(problem: str, hint: str = "e.g. smtp://user@mail.example.org:587") -> ConfigError:
        return ConfigError(f"--smtp-url {_redact(url)}: {problem}", hint=hint)

    parts = urlsplit(url)
    if parts.scheme not in PORTS:
        raise bad("the scheme must be smtp:// (STARTTLS) or smtps:// (TLS)")
    if parts.password is not None:
        raise bad("no password in the URL", f"put it in {PASSWORD_ENV}")
    if not parts.hostname:
        raise bad("no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise bad("unexpected path or query after the host")
    try:
        port = parts.port or PORTS[parts.scheme]
    except ValueError:
        raise bad("the port is not a number between 0 and 65535") from None
    user = unquote(parts.username or "")
    if user and not password:
        raise ConfigError(
            f"--smtp-url names the user {user!r} but {PASSWORD_ENV} is not set",
            hint=f"export {PASSWORD_ENV}=… (never put it in the URL or on the command line)",
        )
    if ca_file is not None and not ca_file.is_file():
        raise ConfigError(f"--ca-file {ca_file}: not found")
    return SmtpTarget(parts.scheme, parts.hostname, port, user, password, insecure, ca_file, timeout)


def _redact(url: str) -> str:
    return re.sub(r"//([^/@:]*):[^/@]*@", r"//\1:***@", url)


@dataclass(frozen=True)
class Result:
    status: str  # SENT | FAILED | RETRY | UNCERTAIN
    reply: str  # the server's words, or what went wrong
    reconnect: bool = False  # the connection is no longer usable


class Connection:
    """A lazily opened, reusable SMTP session."""

    def __init__(self, target: SmtpTarget) -> None:
        self.target = target
        self.smtp: smtplib.SMTP | None = None
        self.messages = 0

    def open(self) -> smtplib.SMTP:
        if self.smtp is None:
            self.smtp = _connect(self.target)
            self.messages = 0
        return self.smtp

    def close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (smtplib.SMTPException, OSError):
                self.smtp.close()
            self.smtp = None

    def drop(self) -> None:
        if self.smtp is not None:
            self.smtp.close()
            self.smtp = None

    def send(self, sender: str, recipient: str, message: bytes, before_end: Callable[[], None]) -> Result:
        """One transaction; `before_end` runs after the content and before the final `.`."""
        smtp = self.open()
        ended = False
        try:
            options = ["SMTPUTF8", "BODY=8BITMIME"] if needs_smtputf8(recipient) else []
            if options and not smtp.has_extn("smtputf8"):
                return Result(FAILED, smtputf8_reason(recipient, f"{self.target.name} does not offer it"))
            code, reply = smtp.mail(sender, options)
            if code == 250:
                code, reply = smtp.rcpt(recipient)
            if code in (250, 251):
                code, reply = smtp.docmd("DATA")
            if code != 354:
                return self._refused(code, reply)
            smtp.send(_dot_stuffed(message))
            before_end()
            ended = True
            smtp.send(b".\r\n")
            code, reply = smtp.getreply()
        except (smtplib.SMTPException, OSError) as exc:
            self.drop()
            what = _describe(exc)
            if ended:
                return Result(UNCERTAIN, f"no reply after the end of DATA: {what}", reconnect=True)
            return Result(RETRY, f"connection lost: {what}", reconnect=True)
        self.messages += 1
        if code // 100 == 2:
            return Result(SENT, _text(code, reply))
        return self._refused(code, reply)

    def _refused(self, code: int, reply: bytes) -> Result:
        """4xx: try again later; 5xx: that recipient failed. The session is reset for the next one."""
        if code == 421 or code < 0:  # the server is closing the connection
            self.drop()
            return Result(RETRY, _text(code, reply), reconnect=True)
        try:
            assert self.smtp is not None
            self.smtp.rset()
        except (smtplib.SMTPException, OSError):
            self.drop()
        return Result(RETRY if code // 100 == 4 else FAILED, _text(code, reply))


def _dot_stuffed(message: bytes) -> bytes:
    """RFC 5321 §4.5.2: a line starting with `.` gets another; the content ends with CRLF."""
    if not message.endswith(b"\r\n"):
        message += b"\r\n"
    if message.startswith(b".") or b"\n." in message:  # rare: quoted-printable encodes most
        message = re.sub(rb"(?m)^\.", b"..", message)
    return message


def _text(code: int, reply: bytes | str) -> str:
    words = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return f"{code} {words}".strip()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


def _connect(target: SmtpTarget) -> smtplib.SMTP:
    """Connect, secure and log in; any failure here is a DeliveryError naming the server."""
    smtp: smtplib.SMTP | None = None
    try:
        if target.scheme == "smtps":
            smtp = smtplib.SMTP_SSL(
                target.host, target.port, timeout=target.timeout, context=_tls_context(target)
            )
        else:
            smtp = smtplib.SMTP(target.host, target.port, timeout=target.timeout)
        # The end of DATA goes out as its own small write, after the journal's mark: without
        # TCP_NODELAY, Nagle's algorithm holds it until the server's delayed ACK (~40 ms).
        if smtp.sock is not None:
            smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        smtp.ehlo()
        if target.scheme == "smtp":
            _starttls(smtp, target)
        if target.user:
            smtp.login(target.user, target.password)
        return smtp
    except smtplib.SMTPAuthenticationError as exc:
        _close(smtp)
        raise DeliveryError(
            f"{target.name} refused AUTH for user {target.user!r}: {_text(exc.smtp_code, exc.smtp_error)}",
            hint=f"check the user in --smtp-url and {PASSWORD_ENV}",
        ) from None
    except ssl.SSLCertVerificationError as exc:
        _close(smtp)
        raise DeliveryError(
            f"the TLS certificate of {target.name} does not verify: {exc.verify_message}",
            hint="pass --ca-file with the CA that signed it (or set SSL_CERT_FILE)",
        ) from None
    except (smtplib.SMTPException, OSError) as exc:
        _close(smtp)
        raise Unreachable(
            f"cannot talk to {target.name}: {_describe(exc)}", hint=_hint(exc, target)
        ) from None


def _tls_context(target: SmtpTarget) -> ssl.SSLContext:
    """Certificates verified, host names checked. Built once for all connections: loading the
    system's CA store takes 50-200 ms, and N workers connecting at once would each do it."""
    with _CONTEXT_LOCK:
        return _cached_context(str(target.ca_file) if target.ca_file else None)


_CONTEXT_LOCK = threading.Lock()


@functools.lru_cache(maxsize=4)
def _cached_context(ca_file: str | None) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca_file)


class Unreachable(DeliveryError):
    """The server could not be reached or spoke no SMTP; worth retrying once it has worked."""


def _starttls(smtp: smtplib.SMTP, target: SmtpTarget) -> None:
    if smtp.has_extn("starttls"):
        smtp.starttls(context=_tls_context(target))
        smtp.ehlo()
        return
    if not (target.loopback or target.insecure):
        raise DeliveryError(
            f"{target.name} does not offer STARTTLS: messages and password would cross the network in clear",
            hint="use smtps://, or pass --insecure if you really mean it",
        )


def _hint(exc: BaseException, target: SmtpTarget) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return f"is a mail server listening on {target.host} port {target.port}?"
    if isinstance(exc, socket.gaierror):
        return f"is {target.host!r} the right host name?"
    if isinstance(exc, socket.timeout | TimeoutError):
        return "the server did not answer in time; try again later or raise --timeout"
    return "check --smtp-url"


def _close(smtp: smtplib.SMTP | None) -> None:
    if smtp is not None:
        smtp.close()


def needs_smtputf8(address: str) -> bool:
    """A non-ASCII local part (RFC 6531); a non-ASCII domain is sent in its IDNA form instead."""
    return not address.rpartition("@")[0].isascii()
