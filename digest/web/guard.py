"""What keeps the sign-up form from being abused: rate limits, and same-origin POSTs (CSRF).

Limits are per address and per client IP, in memory (one process: behind gunicorn with several
workers each keeps its own, which only loosens them by that factor). The client IP is the
socket's peer (REMOTE_ADDR): behind a reverse proxy, let the proxy set it (e.g. waitress
`--trusted-proxy`), never trust a header from the internet.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from urllib.parse import urlsplit


class RateLimiter:
    """At most `limit` hits per key in `window` seconds (a sliding window)."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = self.clock()
        with self._lock:
            if len(self._hits) > 100_000:  # forget everyone rather than grow without end
                self._hits.clear()
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return False
            hits.append(now)
            return True


def same_origin(origin: str, referer: str, host: str, base_url: str) -> bool:
    """A browser's POST says where its page came from (Origin, else Referer): it must be this
    site (the request's Host or base_url's). A request naming neither is not a browser's
    cross-site form, and the signed form token still has to be genuine."""
    claimed = origin if origin and origin != "null" else referer
    if not claimed:
        return origin != "null"
    where = urlsplit(claimed).netloc.lower()
    return where in {host.lower(), urlsplit(base_url).netloc.lower()}
