"""The unsubscribe app: the URL in every message's List-Unsubscribe header.

A plain WSGI application (the standard library serves it in development; waitress or gunicorn
in production, see docs/subscribers.md). It answers `<unsubscribe_url path>/<token>`:

- POST with the body `List-Unsubscribe=One-Click` (RFC 8058: what Gmail and Yahoo send, and what
  the page's button sends): records the unsubscribe in the state and answers 200. No cookie, no
  login: the token is the proof.
- GET or HEAD: a confirmation page with that button. A GET never unsubscribes, because mail
  scanners and link previews fetch every URL of a message.

Tokens are `tokens.unsubscribe_token(secret, list_id, email)`, checked by `tokens.verify_token`:
a forged or altered token, or one for another list, is a 400; a genuine token for an address not
in the list is a 404. Neither changes anything.

The environment is read in one place, `create_app`, the entry point of a production server;
`digest unsubscribe serve` reads it in the CLI. Everything else is given what it needs.
"""

from __future__ import annotations

import email.policy
import html
import os
import re
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes
from pathlib import Path
from socketserver import ThreadingMixIn
from urllib.parse import parse_qs, urlsplit
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from digest.config import LOCALES, Settings, load_settings
from digest.environment import Environment, system_clock
from digest.errors import ConfigError, DigestError, SubscriberError
from digest.sqldb import DRIVER_ERRORS
from digest.storage import Store
from digest.store import StorePool
from digest.subscribers import addresses
from digest.tokens import signing_secret, verify_token

CONFIG_ENV = "DIGEST_CONFIG"  # where `create_app` finds digest.toml under a production server
MAX_BODY = 8192
UNAVAILABLE: tuple[type[Exception], ...] = (DigestError, OSError, *DRIVER_ERRORS)  # answered 503
# What a request line may hold of a token, encoded or not (`%2E` for a dot): any long run of
# token-like characters in the path is hidden, so no log ever holds a working unsubscribe link.
_LOGGED_TOKEN = re.compile(r"(?<=/)[A-Za-z0-9_=%.-]{16,}")


def list_id_of(settings: Settings) -> str:
    """The list a token is bound to (`Settings.list_id`, the rule export and send use too)."""
    return settings.list_id


class AddressBook:
    """The list's addresses (lower-cased) and their locales, read again when the CSV changes.

    Every row that names a valid address counts, whatever its status or other faults: someone
    already unsubscribed who clicks again is told so, not that they are unknown.
    """

    def __init__(self, path: Path, default_locale: str) -> None:
        self.path = path
        self.default_locale = default_locale
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._locales: dict[str, str] = {}

    def locale_of(self, address: str) -> str | None:
        """The subscriber's locale, or None when the address is not in the list."""
        with self._lock:
            try:
                stat = self.path.stat()
            except OSError as exc:
                raise SubscriberError(
                    f"{self.path}: subscriber list not found",
                    hint="set [delivery] subscribers in digest.toml",
                ) from exc
            if self._stamp != (stat.st_mtime_ns, stat.st_size):
                self._locales = addresses(self.path, default_locale=self.default_locale)
                self._stamp = (stat.st_mtime_ns, stat.st_size)
            return self._locales.get(address.lower())


# --- Pages ----------------------------------------------------------------------------------------

PAGES: dict[str, dict[str, str]] = {
    "en": {
        "confirm_title": "Unsubscribe from {name}?",
        "confirm_text": "Press the button and {email} will receive no more issues of {name}.",
        "button": "Unsubscribe",
        "done_title": "You are unsubscribed",
        "done_text": "{email} will receive no more issues of {name}.",
        "already_title": "You were already unsubscribed",
        "already_text": "{email} receives no issues of {name}.",
        "invalid_title": "This unsubscribe link does not work",
        "invalid_text": "It may have been cut or changed when it was copied. Use the unsubscribe link at the bottom of the latest issue.",
        "unknown_title": "This address is not on the list",
        "unknown_text": "There is nothing to unsubscribe from: {name} sends nothing to this address.",
        "missing_title": "Unsubscribe with the button",
        "missing_text": "Nothing has changed: the request did not say List-Unsubscribe=One-Click.",
        "unavailable_title": "Please try again in a few minutes",
        "unavailable_text": "Your request could not be recorded just now. Nothing has changed yet.",
        "not_found_title": "Page not found",
        "not_found_text": "This server only answers unsubscribe links.",
    },
    "fr": {
        "confirm_title": "Se désabonner de {name} ?",
        "confirm_text": "Appuyez sur le bouton : {email} ne recevra plus aucun numéro de {name}.",
        "button": "Me désabonner",
        "done_title": "Vous êtes désabonné·e",
        "done_text": "{email} ne recevra plus aucun numéro de {name}.",
        "already_title": "Vous étiez déjà désabonné·e",
        "already_text": "{email} ne reçoit aucun numéro de {name}.",
        "invalid_title": "Ce lien de désabonnement ne fonctionne pas",
        "invalid_text": "Il a peut-être été coupé ou modifié lors d’un copier-coller. Utilisez le lien de désabonnement en bas du dernier numéro.",
        "unknown_title": "Cette adresse n’est pas dans la liste",
        "unknown_text": "Il n’y a rien à désabonner : {name} n’envoie rien à cette adresse.",
        "missing_title": "Désabonnez-vous avec le bouton",
        "missing_text": "Rien n’a changé : la requête ne contenait pas List-Unsubscribe=One-Click.",
        "unavailable_title": "Réessayez dans quelques minutes",
        "unavailable_text": "Votre demande n’a pas pu être enregistrée à l’instant. Rien n’a encore changé.",
        "not_found_title": "Page introuvable",
        "not_found_text": "Ce serveur ne répond qu’aux liens de désabonnement.",
    },
}

STYLE = """
body{margin:0;font:1.0625rem/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
background:#fff;color:#1a1a1a}
main{max-width:34rem;margin:10vh auto;padding:0 1.25rem}
h1{font-size:1.5rem;line-height:1.25;margin:0 0 1rem}
button{font:inherit;font-weight:600;padding:.75rem 1.5rem;border:0;border-radius:.375rem;
background:#174ea6;color:#fff;cursor:pointer}
button:focus-visible{outline:3px solid #f0b400;outline-offset:2px}
@media (prefers-color-scheme:dark){body{background:#121212;color:#eee}button{background:#8ab4f8;color:#121212}}
"""


def page(locale: str, kind: str, *, newsletter: str, address: str = "", button: bool = False) -> bytes:
    """A small accessible page: language set, one heading, the button a real form."""
    words = PAGES.get(locale, PAGES["en"])
    values = {"name": html.escape(newsletter), "email": f"<strong>{html.escape(address)}</strong>"}
    title = words[f"{kind}_title"].format(name=newsletter, email=address)
    form = (
        '<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">'
        f'<button type="submit">{html.escape(words["button"])}</button></form>'
        if button
        else ""
    )
    return (
        f'<!doctype html>\n<html lang="{locale}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<meta name="robots" content="noindex"><title>{html.escape(title)}</title>'
        f"<style>{STYLE}</style></head>\n<body><main><h1>{html.escape(title)}</h1>"
        f"<p>{words[f'{kind}_text'].format(**values)}</p>{form}</main></body></html>\n"
    ).encode()


# --- The application ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Response:
    status: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


_HEADERS = (
    ("Content-Type", "text/html; charset=utf-8"),
    ("Cache-Control", "no-store"),
    ("Referrer-Policy", "no-referrer"),  # the token is in the URL: never pass it on
    ("X-Content-Type-Options", "nosniff"),
    ("X-Robots-Tag", "noindex"),
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
)


class UnsubscribeApp:
    """The WSGI application. `clock` is passed in so that tests pin the recorded time."""

    def __init__(
        self,
        settings: Settings,
        secret: bytes,
        *,
        clock: Callable[[], datetime] = system_clock,
        log: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
        database_url: str = "",
    ) -> None:
        path = urlsplit(settings.unsubscribe_url).path
        if path.count("{token}") != 1:
            raise ConfigError(
                f"{settings.path}: delivery.unsubscribe_url: {{token}} must be in the path to be served",
                hint="e.g. https://example.org/unsubscribe/{token}",
            )
        self.prefix, self.suffix = path.split("{token}")
        self.settings = settings
        self.secret = secret
        self.list_id = list_id_of(settings)
        self.book = AddressBook(settings.delivery.subscribers, settings.newsletter.locale)
        self.clock = clock
        self.log = log
        self.stores = StorePool(settings.state, database_url)  # one connection per server thread

    def load(self) -> None:
        """Read the list now, not on the first click; raises `SubscriberError` if it cannot be read
        (a list kept only in the store needs no CSV)."""
        if self.book.path.exists() or not self.stores.get().statuses(self.list_id):
            self.book.locale_of("")

    def locale_of(self, store: Store, address: str) -> str | None:
        """The reader's locale, from the CSV or the store; None when neither knows the address."""
        found = self.book.locale_of(address) if self.book.path.exists() else None
        if found is None:
            reader = store.subscriber(self.list_id, address)
            found = (reader.locale or self.settings.newsletter.locale) if reader else None
        return found

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        response = self.respond(environ)
        headers = [*_HEADERS, *response.headers, ("Content-Length", str(len(response.body)))]
        start_response(response.status, headers)
        return [b""] if environ.get("REQUEST_METHOD") == "HEAD" else [response.body]

    def respond(self, environ: WSGIEnvironment) -> Response:
        path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        language = self._browser_locale(environ)
        if path in ("/healthz", f"{self.prefix.rstrip('/')}/healthz"):
            return Response("200 OK", b"ok\n", (("Content-Type", "text/plain"),))
        if not (path.startswith(self.prefix) and path.endswith(self.suffix)) or len(path) <= len(self.prefix):
            return self._page("404 Not Found", language, "not_found")
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in ("GET", "HEAD", "POST"):
            return Response("405 Method Not Allowed", b"", (("Allow", "GET, HEAD, POST"),))
        token = path[len(self.prefix) : len(path) - len(self.suffix)]
        address = verify_token(self.secret, self.list_id, token, now=self.clock())
        if address is None:
            return self._page("400 Bad Request", language, "invalid")
        try:
            store = self.stores.get()
            locale = self.locale_of(store, address)
            if locale is None:
                return self._page("404 Not Found", language, "unknown")
            if method == "POST":
                return self._unsubscribe(environ, store, address, locale)
            done = store.is_unsubscribed(self.list_id, address)
        except UNAVAILABLE as exc:
            self.stores.reset()
            self.log(f"unsubscribe: cannot answer now: {exc}")
            return self._page("503 Service Unavailable", language, "unavailable", (("Retry-After", "120"),))
        kind = "already" if done else "confirm"
        return self._page("200 OK", locale, kind, address=address, button=not done)

    def _unsubscribe(self, environ: WSGIEnvironment, store: Store, address: str, locale: str) -> Response:
        length = _content_length(environ)
        if length > MAX_BODY:
            return Response("413 Content Too Large", b"")
        body = environ["wsgi.input"].read(length) if length else b""
        if not one_click(body, environ.get("CONTENT_TYPE", "")):
            return self._page("400 Bad Request", locale, "missing", address=address)
        new = store.record_unsubscribe(self.list_id, address, self.clock(), via="one-click")
        return self._page("200 OK", locale, "done" if new else "already", address=address)

    def _page(
        self,
        status: str,
        locale: str,
        kind: str,
        headers: tuple[tuple[str, str], ...] = (),
        *,
        address: str = "",
        button: bool = False,
    ) -> Response:
        body = page(locale, kind, newsletter=self.settings.newsletter.name, address=address, button=button)
        return Response(status, body, headers)

    def _browser_locale(self, environ: WSGIEnvironment) -> str:
        """For pages about no one in particular: the browser's first language we speak."""
        accepted = str(environ.get("HTTP_ACCEPT_LANGUAGE", ""))
        for part in accepted.split(","):
            language = part.split(";")[0].strip().lower()[:2]
            if language in LOCALES:
                return language
        return self.settings.newsletter.locale


def _content_length(environ: WSGIEnvironment) -> int:
    try:
        return max(0, int(environ.get("CONTENT_LENGTH") or 0))
    except ValueError:
        return 0


def one_click(body: bytes, content_type: str) -> bool:
    """Whether a POST body says `List-Unsubscribe=One-Click`, form-encoded or multipart (RFC 8058)."""
    if content_type.lower().startswith("multipart/form-data"):
        head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1", errors="replace")
        message = message_from_bytes(head + body, policy=email.policy.HTTP)
        for part in message.walk():
            name = part.get_param("name", header="content-disposition")
            if name == "List-Unsubscribe":
                payload = part.get_payload(decode=True)
                return isinstance(payload, bytes) and payload.strip() == b"One-Click"
        return False
    fields = parse_qs(body.decode("latin-1"), keep_blank_values=True)
    return "One-Click" in fields.get("List-Unsubscribe", [])


# --- Serving --------------------------------------------------------------------------------------


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Handler(WSGIRequestHandler):
    """Request log lines on stderr, tokens hidden: a token in a log is an unsubscribe for anyone."""

    quiet = False

    def log_message(self, format: str, *args: object) -> None:
        if not self.quiet:
            line = format % args
            sys.stderr.write(f"{self.address_string()} {_LOGGED_TOKEN.sub('<token>', line)}\n")


class _QuietHandler(_Handler):
    quiet = True


def server(app: WSGIApplication, host: str, port: int, *, quiet: bool = False) -> WSGIServer:
    """The standard library's WSGI server, threaded: for development and tests, not the internet."""
    return make_server(
        host, port, app, server_class=_Server, handler_class=_QuietHandler if quiet else _Handler
    )


def create_app(environ: Mapping[str, str] | None = None) -> UnsubscribeApp:
    """The app for a production WSGI server, e.g. `waitress-serve --call digest.unsubscribe:create_app`.

    This is an edge, like the CLI: it reads digest.toml from $DIGEST_CONFIG (default:
    ./digest.toml), the state folder from $DIGEST_STATE (default: `.digest/` beside digest.toml,
    or `[paths] state`) and the secret from $DIGEST_UNSUBSCRIBE_SECRET; `environ` replaces
    `os.environ`, for tests.
    """
    variables = os.environ if environ is None else environ
    env = Environment.read(variables)
    settings = load_settings(Path(variables.get(CONFIG_ENV, "digest.toml")), state=env.state)
    app = UnsubscribeApp(settings, signing_secret(env.unsubscribe_secret), database_url=env.database_url)
    app.load()
    return app
