"""`digest serve`: the list's web app. Plain WSGI: any WSGI server runs it (docs/web.md).

| path | does |
|---|---|
| `GET/POST /subscribe` | the sign-up form (honeypot, signed form token, same-origin check, rate limits per address and per IP); a POST records `subscribed` and mails a signed, expiring confirmation link. Nobody is mailed an issue before confirming |
| `GET/POST /confirm/{token}` | GET shows a button (mail scanners open links); POST records `confirmed` |
| `/unsubscribe/{token}` | `unsubscribe.UnsubscribeApp`: RFC 8058 one-click POST; GET shows a button |
| `GET/POST /preferences/{token}` | edition language and segments (the token of the message's unsubscribe link) |
| `POST /webhooks/{service}` | SES (SNS), SendGrid, Mailgun, Postmark events, signatures verified (`web.hooks`) |
| `GET /healthz` | 200 `ok` when the store answers |

No cookie, no redirect, nothing of a request echoed back; every form posts to its own path.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from urllib.parse import parse_qs
from wsgiref.types import StartResponse, WSGIEnvironment

from email_validator import EmailNotValidError

from digest.addresses import AddressChecker
from digest.config import LOCALES, Settings
from digest.environment import system_clock
from digest.storage import Profile, Store
from digest.tokens import verify_token
from digest.unsubscribe import _HEADERS, MAX_BODY, UNAVAILABLE, Response, UnsubscribeApp
from digest.web import pages, signed
from digest.web.guard import RateLimiter, same_origin
from digest.web.hooks import Webhooks

CONFIRM_TTL = timedelta(days=7)
FORM_TTL = timedelta(hours=6)
Mailer = Callable[[str, str, str], None]  # (address, locale, confirmation link)


class ListApp:
    def __init__(
        self,
        settings: Settings,
        secret: bytes,
        *,
        database_url: str = "",
        mailer: Mailer | None = None,
        clock: Callable[[], datetime] = system_clock,
        log: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
        webhook_secrets: dict[str, str] | None = None,
    ) -> None:
        self.unsubscribe = UnsubscribeApp(settings, secret, clock=clock, log=log, database_url=database_url)
        self.settings, self.secret, self.mailer, self.clock, self.log = settings, secret, mailer, clock, log
        self.list_id = self.unsubscribe.list_id
        self.stores = self.unsubscribe.stores
        self.per_ip = RateLimiter(10, 600)
        self.per_address = RateLimiter(3, 86400)
        self.checker = AddressChecker()
        self.hooks = Webhooks(
            settings, self.stores, webhook_secrets or {}, clock=clock, log=log, unsubscribe_secret=secret
        )

    def load(self) -> None:
        self.unsubscribe.load()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        if not path.startswith(("/subscribe", "/confirm/", "/preferences/", "/webhooks/", "/healthz")):
            return self.unsubscribe(environ, start_response)
        try:
            response = self.respond(environ, path)
        except UNAVAILABLE as exc:
            self.stores.reset()
            self.log(f"serve: cannot answer now: {exc}")
            response = Response("503 Service Unavailable", b"unavailable\n", (("Retry-After", "120"),))
        headers = [*_HEADERS, *response.headers, ("Content-Length", str(len(response.body)))]
        start_response(response.status, headers)
        return [b""] if environ.get("REQUEST_METHOD") == "HEAD" else [response.body]

    def respond(self, environ: WSGIEnvironment, path: str) -> Response:
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/healthz":
            self.stores.get().db.execute("SELECT 1").fetchone()
            return Response("200 OK", b"ok\n", (("Content-Type", "text/plain"),))
        if path.startswith("/webhooks/"):
            if method != "POST":
                return Response("405 Method Not Allowed", b"", (("Allow", "POST"),))
            return self.hooks.receive(path.removeprefix("/webhooks/"), environ, _body(environ))
        if method not in ("GET", "HEAD", "POST"):
            return Response("405 Method Not Allowed", b"", (("Allow", "GET, HEAD, POST"),))
        language = self.unsubscribe._browser_locale(environ)
        form = _form(environ) if method == "POST" else {}
        if method == "POST" and not self._genuine_form(environ, form, path):
            return self._page("403 Forbidden", language, "stale")
        if path == "/subscribe":
            return (
                self._subscribe(environ, form, language)
                if method == "POST"
                else self._subscribe_page(language)
            )
        if path.startswith("/confirm/"):
            return self._confirm(path.removeprefix("/confirm/"), method, language)
        return self._preferences(path.removeprefix("/preferences/"), method, form, language)

    # --- sign-up -------------------------------------------------------------------------------

    def _subscribe_page(self, language: str, status: str = "200 OK") -> Response:
        form = pages.subscribe_form(language, self._form_token("/subscribe"), LOCALES)
        return self._page(status, language, "subscribe", form=form)

    def _subscribe(self, environ: WSGIEnvironment, form: dict[str, str], language: str) -> Response:
        locale = form.get("locale", "") if form.get("locale") in LOCALES else language
        days = CONFIRM_TTL.days
        if form.get("website"):  # the honeypot: a bot filled in what people never see
            return self._page("200 OK", locale, "sent", days=days)
        if not self.per_ip.allow(str(environ.get("REMOTE_ADDR", ""))):
            return self._page("429 Too Many Requests", locale, "limited", headers=(("Retry-After", "600"),))
        try:
            address = self.checker.check(form.get("email", "").strip()).normalized.lower()
        except EmailNotValidError:
            return self._page("400 Bad Request", locale, "bad_email")
        if not self.per_address.allow(address):
            return self._page("429 Too Many Requests", locale, "limited", headers=(("Retry-After", "3600"),))
        if self.mailer is None:
            raise OSError("no SMTP server to send confirmations: set DIGEST_SMTP_URL or --smtp-url")
        store = self.stores.get()
        known = store.subscriber(self.list_id, address)
        if known is None or known.status != "active":  # an active reader is not asked again
            profile = Profile(known.name if known else "", locale, known.tags if known else (), {})
            store.record_event(self.list_id, address, "subscribed", self.clock(), "web", profile=profile)
            token = signed.sign(
                self.secret,
                "confirm",
                self.list_id,
                {"e": address, "l": locale},
                now=self.clock(),
                ttl=CONFIRM_TTL,
            )
            self.mailer(address, locale, f"{self.settings.newsletter.base_url}/confirm/{token}")
        return self._page("200 OK", locale, "sent", days=days)

    def _confirm(self, token: str, method: str, language: str) -> Response:
        payload = signed.verify(self.secret, "confirm", self.list_id, token, now=self.clock())
        if payload is None:
            return self._page("400 Bad Request", language, "expired")
        address, locale = str(payload["e"]), str(payload.get("l", language))
        if method != "POST":
            button = pages.button_form(locale, "confirm_button", self._form_token(f"/confirm/{token}"))
            return self._page("200 OK", locale, "confirm", email=address, form=button)
        store = self.stores.get()
        known = store.subscriber(self.list_id, address)
        if known is None or known.status != "active":
            store.record_event(self.list_id, address, "confirmed", self.clock(), "web")
        return self._page("200 OK", locale, "confirmed", email=address)

    # --- preferences ---------------------------------------------------------------------------

    def _preferences(self, token: str, method: str, form: dict[str, str], language: str) -> Response:
        address = verify_token(self.secret, self.list_id, token)
        store = self.stores.get()
        reader = store.subscriber(self.list_id, address) if address else None
        if address is None or reader is None:
            return self._page("404 Not Found", language, "unknown")
        segments = self._segments(store)
        if method == "POST":
            locale = form.get("locale", "") if form.get("locale") in LOCALES else reader.locale
            chosen = [tag for tag in form.get("segment", "").split("\n") if tag in segments]
            store.save_preferences(self.list_id, address, locale=locale, tags=chosen)
            return self._page("200 OK", locale or language, "saved", email=address)
        locale = reader.locale or self.settings.newsletter.locale
        body = pages.preferences_form(
            locale, self._form_token(f"/preferences/{token}"), LOCALES, segments, reader.tags
        )
        return self._page("200 OK", locale, "prefs", form=body)

    def _segments(self, store: Store) -> list[str]:
        return sorted(
            {tag for reader in store.subscribers(self.list_id) for tag in reader.tags}, key=str.casefold
        )

    # --- helpers -------------------------------------------------------------------------------

    def _form_token(self, path: str) -> str:
        return signed.sign(self.secret, "form", self.list_id, {"p": path}, now=self.clock(), ttl=FORM_TTL)

    def _genuine_form(self, environ: WSGIEnvironment, form: dict[str, str], path: str) -> bool:
        """CSRF: the form token we signed for this very path, and a same-origin browser."""
        payload = signed.verify(
            self.secret, "form", self.list_id, form.get("form_token", ""), now=self.clock()
        )
        origin_ok = same_origin(
            str(environ.get("HTTP_ORIGIN", "")),
            str(environ.get("HTTP_REFERER", "")),
            str(environ.get("HTTP_HOST", "")),
            self.settings.newsletter.base_url,
        )
        return payload is not None and payload.get("p") == path and origin_ok

    def _page(
        self,
        status: str,
        locale: str,
        kind: str,
        *,
        email: str = "",
        form: str = "",
        days: int = 0,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> Response:
        name = self.settings.newsletter.name
        return Response(
            status, pages.document(locale, kind, newsletter=name, email=email, form=form, days=days), headers
        )


def _body(environ: WSGIEnvironment) -> bytes:
    try:
        length = max(0, int(environ.get("CONTENT_LENGTH") or 0))
    except ValueError:
        length = 0
    return bytes(environ["wsgi.input"].read(min(length, 1_048_576))) if length else b""


def _form(environ: WSGIEnvironment) -> dict[str, str]:
    """A form-encoded body: each field's values joined by newlines (checkboxes repeat)."""
    body = _body(environ)[:MAX_BODY]
    fields = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {name: "\n".join(values) for name, values in fields.items()}
