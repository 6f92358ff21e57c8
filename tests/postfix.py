"""A real Postfix for the tests: its own configuration folder, loopback only, local delivery.

`running_postfix()` writes a main.cf and master.cf into a folder of its own, starts Postfix with
`postfix -c folder start` (nothing system-wide is read or changed), and stops it at the end.
Every recipient, whatever its domain, is delivered by virtual(8) into one Maildir; Postfix adds
`Delivered-To:` naming the envelope recipient. Nothing is ever relayed: any other destination
is an error. `PostfixUnavailable` says why it could not start (not installed, not root, …).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"

MASTER = """\
{address} inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
virtual   unix  - n n - - virtual
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
"""


class PostfixUnavailable(Exception):
    """Postfix cannot run here; the message says why."""


@dataclass(frozen=True)
class Postfix:
    port: int
    maildir: Path
    log: Path

    def delivered(self) -> list[bytes]:
        return [path.read_bytes() for path in sorted((self.maildir / "new").glob("*"))]

    def wait_for(self, count: int, timeout: float = 60.0) -> list[bytes]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            messages = self.delivered()
            if len(messages) >= count and _queue_empty(self.maildir.parent.parent):
                return messages
            time.sleep(0.2)
        return self.delivered()


def _queue_empty(folder: Path) -> bool:
    queue = folder / "queue"
    return not any(
        files
        for name in ("incoming", "active", "deferred", "maildrop")
        for _, _, files in os.walk(queue / name)
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _configure(folder: Path, port: int) -> Postfix:
    for name in ("queue", "data", "mail"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    (folder / "domains").write_text("/.+/ OK\n", encoding="utf-8")
    (folder / "mailboxes").write_text("/.+/ inbox/\n", encoding="utf-8")
    nobody = 65534
    os.chown(folder / "mail", nobody, nobody)
    owner = pwd.getpwnam("postfix")  # the data folder is Postfix's own (its lock files)
    os.chown(folder / "data", owner.pw_uid, owner.pw_gid)
    main = {
        "compatibility_level": "3.6",
        "queue_directory": folder / "queue",
        "data_directory": folder / "data",
        "maillog_file": folder / "maillog",
        "maillog_file_prefixes": folder,
        "inet_interfaces": "127.0.0.1",
        "inet_protocols": "ipv4",
        "myhostname": "postfix.digest.test",
        "mydestination": "",
        "mynetworks": "127.0.0.0/8",
        "smtpd_recipient_restrictions": "permit_mynetworks, reject",
        "smtputf8_enable": "yes",
        "virtual_mailbox_domains": f"regexp:{folder / 'domains'}",
        "virtual_mailbox_maps": f"regexp:{folder / 'mailboxes'}",
        "virtual_mailbox_base": folder / "mail",
        "virtual_uid_maps": f"static:{nobody}",
        "virtual_gid_maps": f"static:{nobody}",
        "virtual_minimum_uid": "100",
        "default_transport": "error:this test Postfix relays nothing",
        "relay_transport": "error:this test Postfix relays nothing",
        "alias_maps": "",
        "alias_database": "",
        "message_size_limit": "52428800",
        "virtual_mailbox_limit": "0",
        "smtpd_tls_security_level": "none",
        "smtp_tls_security_level": "none",
        "biff": "no",
    }
    (folder / "main.cf").write_text("".join(f"{k} = {v}\n" for k, v in main.items()), encoding="utf-8")
    (folder / "master.cf").write_text(MASTER.format(address=f"127.0.0.1:{port}"), encoding="utf-8")
    return Postfix(port, folder / "mail" / "inbox", folder / "maillog")


def _run(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [POSTFIX, "-c", str(folder), *args], capture_output=True, text=True, timeout=60, check=False
    )


@contextlib.contextmanager
def running_postfix() -> Iterator[Postfix]:
    """Postfix in a folder of its own under /tmp: its daemons run as the postfix user, which
    must reach the queue (pytest's temporary folders are private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="digest-postfix-"))
    folder.chmod(0o755)
    try:
        with _running(folder) as postfix:
            yield postfix
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def _running(folder: Path) -> Iterator[Postfix]:
    if not os.path.exists(POSTFIX):
        raise PostfixUnavailable("postfix is not installed (.ci/run installs it)")
    try:
        pwd.getpwnam("postfix")
    except KeyError:
        raise PostfixUnavailable("there is no postfix user (install the postfix package)") from None
    if os.geteuid() != 0:
        raise PostfixUnavailable("starting Postfix needs root (CI runs the tests as root)")
    postfix = _configure(folder, _free_port())
    started = _run(folder, "start")
    if started.returncode != 0:
        log = (folder / "maillog").read_text(errors="replace")[-600:] if (folder / "maillog").exists() else ""
        _run(folder, "stop")
        raise PostfixUnavailable(f"postfix -c {folder} start failed: {started.stderr.strip()} {log}")
    try:
        _wait_listening(postfix.port)
        yield postfix
    finally:
        _run(folder, "stop")


def _wait_listening(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.1)
    raise PostfixUnavailable(f"Postfix did not listen on 127.0.0.1:{port} within {timeout:.0f} s")
