"""The desk's server: one issue folder on loopback, its views, its controls, and nothing else.

It watches the sources (issue.json, the main edition's, the templates) and, only when one's
content changed, renders the issue again in memory: a change made in an editor or by
`digest edit` shows up, a change made here too (the session wrote it). Watching never writes;
only a button does, through the session. A render that fails (a typo mid-edit) keeps the last
good one on show, with the error. Only the paths below are served: no file of the folder, or
outside it, is reachable by name.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

from digest.check import Finding
from digest.desk import guard
from digest.desk.actions import Session, perform
from digest.desk.page import View, page
from digest.desk.words import words
from digest.errors import ConfigError, DigestError
from digest.models import Issue, Post
from digest.preview import dark_variant

DOCUMENTS = {"/email.html": "email.html", "/dark.html": "email.html", "/web.html": "web.html"}
MAX_FORM = 1_000_000
PAGE_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-{nonce}'; connect-src 'self'; "
    "frame-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
EMAIL_POLICY = (
    "default-src 'none'; img-src * data:; style-src 'unsafe-inline'; font-src * data:; "
    "script-src 'none'; form-action 'none'; frame-ancestors 'self'; base-uri 'none'"
)


@dataclass(frozen=True)
class Snapshot:
    """What the desk shows: the issue as stored and as its edition shows it, rendered and checked."""

    stored: Issue  # patterns unfilled, every post (this edition's own texts when it is one)
    shown: Issue
    documents: dict[str, str]
    findings: tuple[Finding, ...]


@dataclass(frozen=True)
class Reply:
    status: int
    body: str = ""
    kind: str = "text/plain"
    headers: tuple[tuple[str, str], ...] = ()


class DeskSession(Session, Protocol):
    issue_dir: Path

    def sources(self) -> list[Path]: ...
    def snapshot(self) -> Snapshot: ...
    def candidates(self) -> Sequence[tuple[Post, float]]: ...
    def dropped_posts(self) -> list[Post]: ...
    def undo_label(self) -> str | None: ...


class DeskServer:
    """`digest preview`: the issue's views and the editor's controls, for this machine only."""

    def __init__(self, session: DeskSession, host: str, port: int) -> None:
        issue_dir = session.issue_dir
        if not (issue_dir / "email.html").is_file():
            raise ConfigError(
                f"{issue_dir} is not an issue folder (no email.html)", hint="build one with `digest build`"
            )
        guard.loopback_only(host)
        self.session = session
        self.token = guard.new_token()
        self.lock = threading.Lock()
        self.stamp = self._stamp()
        self.shot = session.snapshot()
        self.version = 0
        self.notice = ""
        try:
            self.server = ThreadingHTTPServer((host, port), _handler(self))
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {host}:{port}: {exc.strerror}", hint="choose another --port"
            ) from exc
        self.port = int(self.server.server_address[1])

    @property
    def base(self) -> str:
        host = str(self.server.server_address[0])
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}/"

    @property
    def url(self) -> str:
        """The address to open: with this run's token, which nothing works without."""
        return f"{self.base}?token={self.token}"

    def _stamp(self) -> str:
        """A digest of every source's content: a save without a change is not a change."""
        digest = hashlib.sha256()
        for path in self.session.sources():
            digest.update(str(path).encode() + b"\0")
            with contextlib.suppress(OSError):
                digest.update(path.read_bytes())
        return digest.hexdigest()

    def refresh(self) -> int:
        """Render again when a source changed since the last look; the version the page polls for."""
        with self.lock:
            stamp = self._stamp()
            if stamp != self.stamp:
                self.stamp = stamp
                try:
                    self.shot = self.session.snapshot()
                except DigestError as exc:  # a typo mid-edit: keep serving the last good render
                    print(f"error: {exc}", file=sys.stderr)
                    self.notice = str(exc)
                    return self.version
                self.version += 1
            return self.version

    def act(self, fields: dict[str, str]) -> None:
        """One button pressed: its change made (or refused, saying why), the views rendered again."""
        stored = self.shot.stored
        titles = {p.id: p.title for p in self.session.dropped_posts()}
        titles |= {p.id: p.title for p in stored.posts}
        w = words(stored.locale)
        try:
            if fields.get("action") == "add":
                titles |= {post.id: post.title for post, _ in self.session.candidates()}
            notice = perform(self.session, fields, titles, w)
        except DigestError as exc:
            notice = w["failed"].format(error=exc.message + (f" ({exc.hint})" if exc.hint else ""))
        self.refresh()
        self.notice = notice

    def render_page(self, nonce: str) -> str:
        with self.lock:
            shot, version, notice = self.shot, self.version, self.notice
        try:
            candidates = list(self.session.candidates())
        except DigestError as exc:  # no store here: the issue can still be edited
            candidates, notice = [], notice or str(exc)
        held = {p.id for p in shot.stored.posts}
        view = View(
            name=self.session.issue_dir.name,
            stored=shot.stored,
            shown=shot.shown,
            findings=shot.findings,
            candidates=candidates,
            dropped=[p for p in self.session.dropped_posts() if p.id not in held],
            undo=self.session.undo_label(),
            notice=notice,
            token=self.token,
            version=version,
            nonce=nonce,
        )
        return page(view)

    def document(self, path: str) -> str:
        with self.lock:
            documents = self.shot.documents
        if path == "/email.txt":
            return documents["email.txt"]
        body = documents[DOCUMENTS[path]]
        return dark_variant(body) if path == "/dark.html" else body

    def get(self, path: str, query: str, cookie: str | None) -> Reply:
        """A page, a view or the version, for whoever holds the token (URL or cookie)."""
        given = parse_qs(query).get("token", [None])[0]
        if not (guard.same(given, self.token) or guard.same(guard.cookie_token(cookie), self.token)):
            return _refused("no token: open the address `digest preview` printed")
        if path == "/" and given:  # the printed URL: the token becomes a cookie
            return _see_other(("Set-Cookie", guard.set_cookie(self.token)))
        if path == "/":
            nonce = secrets.token_urlsafe(16)
            self.refresh()
            policy = ("Content-Security-Policy", PAGE_POLICY.format(nonce=nonce))
            return Reply(200, self.render_page(nonce), "text/html", (policy,))
        if path == "/version":
            return Reply(200, str(self.refresh()))
        if path in DOCUMENTS or path == "/email.txt":
            kind = "text/plain" if path.endswith(".txt") else "text/html"
            return Reply(200, self.document(path), kind, (("Content-Security-Policy", EMAIL_POLICY),))
        return Reply(404, "not found")

    def post(self, path: str, kind: str, body: bytes) -> Reply:
        """A button: only from a form of this run's page (its hidden token, not the cookie)."""
        if path != "/act":
            return Reply(404, "not found")
        if kind != "application/x-www-form-urlencoded":
            return Reply(415, "a form, please")
        raw = body.decode("utf-8", "replace")
        fields = {key: values[0] for key, values in parse_qs(raw, keep_blank_values=True).items()}
        if not guard.same(fields.get("token"), self.token):
            return _refused("no token")
        self.act(fields)
        return _see_other()

    def serve_forever(self) -> None:
        try:
            self.server.serve_forever()
        finally:
            self.server.server_close()

    def shutdown(self) -> None:
        self.server.shutdown()


def _refused(why: str) -> Reply:
    return Reply(403, f"403 Forbidden: {why}\n")


def _see_other(*headers: tuple[str, str]) -> Reply:
    return Reply(303, "", "text/plain", (("Location", "/"), *headers))


def allowed(headers: Message, port: int) -> str:
    """Why a request is refused before anything is looked at ("": it is not)."""
    if not guard.host_ok(headers.get("Host"), port):
        return "unknown Host"
    if not guard.origin_ok(headers.get("Origin"), headers.get("Sec-Fetch-Site"), port):
        return "foreign Origin"
    return ""


def _handler(desk: DeskServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            refused = allowed(self.headers, desk.port)
            parts = urlsplit(self.path)
            self._reply(
                _refused(refused)
                if refused
                else desk.get(parts.path, parts.query, self.headers.get("Cookie"))
            )

        def do_POST(self) -> None:
            refused = allowed(self.headers, desk.port)
            length = int(self.headers.get("Content-Length") or 0)
            if refused or not 0 < length <= MAX_FORM:
                self._reply(_refused(refused) if refused else Reply(413, "too large"))
                return
            kind = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            self._reply(desk.post(urlsplit(self.path).path, kind, self.rfile.read(length)))

        def _reply(self, reply: Reply) -> None:
            body = reply.body.encode("utf-8")
            self.send_response(reply.status)
            for name, value in (
                ("Content-Type", f"{reply.kind}; charset=utf-8"),
                ("Content-Length", str(len(body))),
                ("Cache-Control", "no-store"),
                ("X-Content-Type-Options", "nosniff"),
                ("Referrer-Policy", "no-referrer"),
                *reply.headers,
            ):
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler
