"""Who may use the desk: this machine, this run's token, pages the desk itself served.

The desk listens on loopback only, yet any web page open in the editor's browser can send
requests to 127.0.0.1. So every request must name the desk by its own Host (a DNS rebinding
attack names another), carry this run's random token (printed with the URL; a cookie after the
first visit; a hidden field of every form), and a browser's POST must come from the desk's own
origin. Each check is a pure function of the request's headers.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from http.cookies import CookieError, SimpleCookie
from urllib.parse import urlsplit

from digest.errors import ConfigError

COOKIE = "digest_desk"


def new_token() -> str:
    return secrets.token_urlsafe(24)


def loopback_only(host: str) -> None:
    """The desk edits files: it never listens beyond this machine."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ConfigError(
            f"--host {host}: the desk edits the issue and listens on this machine only",
            hint="use 127.0.0.1 (the default); to show the issue elsewhere, use `digest archive`",
        )


def own_hosts(port: int) -> set[str]:
    return {f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"}


def host_ok(host: str | None, port: int) -> bool:
    """The Host header names the desk (not a rebound name that resolves to 127.0.0.1)."""
    return (host or "").lower() in own_hosts(port)


def origin_ok(origin: str | None, fetch_site: str | None, port: int) -> bool:
    """A browser's request comes from the desk's own pages (no Origin: not a browser's form)."""
    if fetch_site and fetch_site.lower() not in ("same-origin", "none"):
        return False
    if origin is None:
        return True
    parts = urlsplit(origin)
    return parts.scheme == "http" and parts.netloc.lower() in own_hosts(port)


def same(given: str | None, token: str) -> bool:
    return bool(given) and hmac.compare_digest(str(given).encode(), token.encode())


def cookie_token(header: str | None) -> str | None:
    if not header:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:
        return None
    morsel = jar.get(COOKIE)
    return morsel.value if morsel else None


def set_cookie(token: str) -> str:
    return f"{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
