"""One SMTP connection: the URL, TLS (verified), AUTH, and one message's transaction.

The transaction is written out command by command (MAIL, RCPT, DATA) rather than with
`smtplib.sendmail`, because the journal must record a message durably between writing its
content and writing the final `.` that asks the server to accept it.
"""

from __future__ import annotations

import functools
import ipaddress
import select
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

# Before writing the final `.`, how long to listen for a server that is cutting the session: a
# reset takes a moment to arrive, and a message whose end is written into a dying connection
# becomes uncertain instead of certainly undelivered. A millisecond catches it (measured against
# a server that cuts after a line of DATA: 1-10% missed with no wait, none with 1 ms), and
# costs the other connections nothing: the thread waits without the GIL.
SETTLE = 0.001

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
        return ConfigError(f"--smtp-url {redact_url(url)}: {problem}", hint=hint)

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


def redact_url(url: str) -> str:
    """The URL as it may be shown: whatever lies between `//` and the last `@` (a user and a
    password, which may itself hold `/`, `:` or `@`) is reduced to the user before its first `:`."""
    scheme, separator, rest = url.partition("//")
    if not separator or "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user, colon, _ = credentials.partition(":")
    return f"{scheme}//{user}{':***' if colon else ''}@{host}"


@dataclass(frozen=True)
class Result:
    status: str  # SENT | FAILED | RETRY | UNCERTAIN
    reply: str  # the server's words, or what went wrong
    reconnect: bool = False  # the connection is no longer usable
    host_fault: bool = False  # the server as a whole misbehaved (timeout, cut, 421), not this message


class Connection:
    """A lazily opened, reusable SMTP session."""

    def __init__(self, target: SmtpTarget) -> None:
        self.target = target
        self.smtp: smtplib.SMTP | None = None
        self.messages = 0

    def open(self) -> bool:
        """Connect unless connected; True when a new session was opened."""
        if self.smtp is not None:
            return False
        self.smtp = _connect(self.target)
        self.messages = 0
        return True

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
        """One transaction; `before_end` runs after the content and before the final `.`.

        Before the final `.` the message cannot have been accepted (RFC 5321 §4.1.1.4): a
        connection lost until then is certain non-delivery (RETRY). Once the `.` is written and
        no reply comes, the server may have it: UNCERTAIN. If `before_end` raises (the journal
        could not record the message), the connection is dropped without the `.`.
        """
        self.open()
        smtp = self.smtp
        assert smtp is not None
        ended = False
        try:
            options = ["SMTPUTF8", "BODY=8BITMIME"] if needs_smtputf8(recipient) else []
            if options and not smtp.has_extn("smtputf8"):
                return Result(FAILED, smtputf8_reason(recipient, f"{self.target.name} does not offer it"))
            code, reply = _envelope(smtp, sender, recipient, options)
            if code != 354:
                return self._refused(code, reply)
            smtp.send(dot_stuffed(message))
            self._before_end(before_end)
            if _spoke_too_soon(smtp):  # the server closed or answered before the end of DATA
                raise smtplib.SMTPServerDisconnected("the server ended the session during DATA")
            ended = True
            smtp.send(b".\r\n")
            code, reply = smtp.getreply()
        except (smtplib.SMTPException, OSError) as exc:
            self.drop()
            what = _describe(exc)
            if ended:
                return Result(UNCERTAIN, f"no reply after the end of DATA: {what}", True, _timed_out(exc))
            return Result(RETRY, f"connection lost before the end of DATA: {what}", True, True)
        self.messages += 1
        if code // 100 == 2:
            return Result(SENT, _text(code, reply))
        return self._refused(code, reply)

    def _before_end(self, before_end: Callable[[], None]) -> None:
        try:
            before_end()
        except BaseException:
            self.drop()  # never write the `.` of a message the journal does not know about
            raise

    def _refused(self, code: int, reply: bytes) -> Result:
        """4xx: try again later; 5xx: that recipient failed. The session is reset for the next one."""
        if code == 421 or code < 0:  # the server is closing the connection
            self.drop()
            return Result(RETRY, _text(code, reply), reconnect=True, host_fault=True)
        try:
            assert self.smtp is not None
            self.smtp.rset()
        except (smtplib.SMTPException, OSError):
            self.drop()
        return Result(RETRY if code // 100 == 4 else FAILED, _text(code, reply))


def _envelope(smtp: smtplib.SMTP, sender: str, recipient: str, options: list[str]) -> tuple[int, bytes]:
    """MAIL, RCPT and DATA: the reply to DATA (354 to go on), or the first refusal.

    When the server offers PIPELINING (RFC 2920) and the addresses are plain ASCII, the three
    commands go out in one write and their three replies are read after: one round trip
    instead of three, each of which costs a thread wake-up (and the GIL) in the sender."""
    if options or not (smtp.has_extn("pipelining") and sender.isascii() and recipient.isascii()):
        code, reply = smtp.mail(sender, options)
        if code == 250:
            code, reply = smtp.rcpt(recipient)
        if code in (250, 251):
            code, reply = smtp.docmd("DATA")
        return code, reply
    smtp.send(f"MAIL FROM:{smtplib.quoteaddr(sender)}\r\nRCPT TO:{smtplib.quoteaddr(recipient)}\r\nDATA\r\n")
    replies = [smtp.getreply() for _ in range(3)]  # every reply is read, whatever they say
    for (code, reply), ok in zip(replies, ((250,), (250, 251), (354,)), strict=True):
        if code not in ok:
            if replies[2][0] == 354:  # a server that said go on to DATA after a refusal: leave it
                raise smtplib.SMTPServerDisconnected(f"{code} {reply!r} then 354 to DATA")
            return code, reply
    return replies[2]


def dot_stuffed(message: bytes) -> bytes:
    """RFC 5321 §4.5.2: a line starting with `.` gets another; the content ends with CRLF.

    One C pass (`bytes.replace`), not a regular expression: a single line starting with `.` in
    a 30 KB body made the regex scan every message (a fifth of the sender's time)."""
    if not message.endswith(b"\r\n"):
        message += b"\r\n"
    message = message.replace(b"\n.", b"\n..")
    return b"." + message if message.startswith(b".") else message


def _spoke_too_soon(smtp: smtplib.SMTP) -> bool:
    """Whether the server closed the connection or said something before the end of DATA.

    A server must stay silent until it has the final `.`; anything readable now (a 421, an
    EOF, a reset) means it gave up on this message, which it therefore cannot have accepted."""
    sock = smtp.sock
    if sock is None:
        return True
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    try:
        readable, _, _ = select.select([sock], [], [], SETTLE)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _timed_out(exc: BaseException) -> bool:
    """smtplib turns a timeout while reading into SMTPServerDisconnected; look underneath."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, socket.timeout | TimeoutError) or "timed out" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _text(code: int, reply: bytes | str) -> str:
    words = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return f"{code} {words}".strip()


def _describe(exc: BaseException) -> str:
    if _timed_out(exc):
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
        code, reply = smtp.ehlo()
        if code // 100 != 2:
            raise smtplib.SMTPConnectError(code, reply)
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
            f"cannot talk to {target.name}: {_connect_problem(exc)}",
            hint=_hint(exc, target),
            temporary=_temporary(exc),
            timed_out=_timed_out(exc),
        ) from None


def _connect_problem(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        return _text(exc.smtp_code, exc.smtp_error)
    return _describe(exc)


def _temporary(exc: BaseException) -> bool:
    """A 4xx greeting (421: busy), a timeout or a cut: worth trying again after a pause. A
    refused connection, an unknown host or a 5xx greeting is more likely a wrong --smtp-url."""
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code // 100 == 4 or exc.smtp_code < 0
    if isinstance(exc, ConnectionRefusedError | socket.gaierror):
        return False
    return isinstance(exc, smtplib.SMTPServerDisconnected | ConnectionError) or _timed_out(exc)


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
    """The server could not be reached or spoke no SMTP; worth retrying once it has worked, and
    at once when `temporary` (a 421 greeting, a timeout, a cut)."""

    def __init__(
        self, message: str, *, hint: str | None = None, temporary: bool = False, timed_out: bool = False
    ) -> None:
        super().__init__(message, hint=hint)
        self.temporary = temporary
        self.timed_out = timed_out


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
    if _timed_out(exc):
        return "the server did not answer in time; try again later or raise --timeout"
    if isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code // 100 == 4:
        return "the server is busy or limiting connections: run the same command again later"
    return "check --smtp-url"


def _close(smtp: smtplib.SMTP | None) -> None:
    if smtp is not None:
        smtp.close()


def needs_smtputf8(address: str) -> bool:
    """A non-ASCII local part (RFC 6531); a non-ASCII domain is sent in its IDNA form instead."""
    return not address.rpartition("@")[0].isascii()
