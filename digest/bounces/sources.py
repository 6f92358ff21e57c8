"""Where reports come from: mbox files, Maildir folders, an IMAP mailbox over TLS, and service
event files (JSON). Each yields findings, named by where they were found."""

from __future__ import annotations

import imaplib
import json
import mailbox
import ssl
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

from digest.bounces.findings import Finding
from digest.bounces.mail import parse_message
from digest.bounces.services import parse_events
from digest.errors import ConfigError, InputError


def read_path(path: Path, *, mailto: str = "") -> Iterator[Finding]:
    """A Maildir folder, an mbox file, a JSON event file, or a single message (.eml)."""
    if path.is_dir():
        if not (path / "cur").is_dir() and not (path / "new").is_dir():
            raise InputError(
                str(path),
                "a folder but not a Maildir (no cur/ or new/)",
                hint="pass a Maildir, an mbox or a JSON file",
            )
        box = mailbox.Maildir(path, create=False)
        for key in box.iterkeys():
            yield from parse_message(box.get_bytes(key), mailto=mailto, where=f"{path.name}/{key}")
        return
    try:
        head = path.read_bytes()[:64].lstrip()
    except OSError as exc:
        raise InputError.from_os(str(path), exc) from exc
    if head.startswith((b"{", b"[")):
        try:
            data = json.loads(path.read_bytes())
        except ValueError as exc:
            raise InputError(
                str(path), f"not valid JSON: {exc}", hint="pass a service's event file as it was sent"
            ) from exc
        yield from parse_events(data, where=path.name)
    elif head.startswith(b"From "):
        for index, message in enumerate(mailbox.mbox(path, create=False)):
            yield from parse_message(message.as_bytes(), mailto=mailto, where=f"{path.name}#{index + 1}")
    else:
        yield from parse_message(path.read_bytes(), mailto=mailto, where=path.name)


def read_imap(url: str, password: str, *, mailto: str = "") -> Iterator[Finding]:
    """`imaps://user@host[:port]/MAILBOX`: every message of the mailbox, over TLS only (the
    password comes from DIGEST_IMAP_PASSWORD). Messages are read, not deleted or flagged."""
    parts = urlsplit(url)
    if parts.scheme != "imaps" or not parts.hostname or not parts.username:
        raise ConfigError(
            f"{url}: expected imaps://user@host[:port]/MAILBOX", hint="only IMAP over TLS is supported"
        )
    folder = unquote(parts.path.lstrip("/")) or "INBOX"
    try:
        with imaplib.IMAP4_SSL(
            parts.hostname, parts.port or 993, ssl_context=ssl.create_default_context()
        ) as imap:
            imap.login(unquote(parts.username), password)
            imap.select(f'"{folder}"', readonly=True)
            _, numbers = imap.search(None, "ALL")
            for number in numbers[0].split():
                _, data = imap.fetch(number, "(BODY.PEEK[])")
                raw = next((item[1] for item in data if isinstance(item, tuple)), b"")
                yield from parse_message(raw, mailto=mailto, where=f"{folder}#{number.decode()}")
    except (imaplib.IMAP4.error, OSError, ssl.SSLError) as exc:
        raise InputError(
            f"imaps://{parts.hostname}",
            f"IMAP: {exc}",
            hint="check the URL, DIGEST_IMAP_PASSWORD and the server's certificate",
        ) from exc
