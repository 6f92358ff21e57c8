"""Fetching one feed: what gather's fetcher does, and the default one (httpx, or a file).

A fetcher takes where to fetch and the validators of the last answer, and returns a `Fetched`:
the body of a 2xx, a 304 Not Modified or a 410 Gone, and where every redirect followed was
permanent. Anything else (a 404, a timeout, a body too large, a redirect loop) raises
`FeedError` with the reason. Deciding what that means for the store is `gather_decide`'s.
docs/gather.md explains the limits, retries and redirects.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import zlib
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urljoin, urlsplit

import httpx

from digest import __version__
from digest.errors import FeedError
from digest.gather_decide import Fetched
from digest.storage import FeedCache

USER_AGENT = f"digest/{__version__} (newsletter digest; +https://github.com/digest-newsletter/digest)"
ACCEPT = (
    "application/atom+xml, application/rss+xml, application/feed+json, "
    "application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5"
)
MAX_BYTES = 10 * 1024 * 1024  # a feed larger than this is refused, compressed or not
PER_HOST = 4  # connections to any one host, so that a big site is not hammered
TIMEOUT = httpx.Timeout(10.0, connect=5.0)  # between two bytes; see DEADLINE for the whole
DEADLINE = 30.0  # seconds for one feed's fetch, redirects and retries included
RETRIES = 2  # more attempts after a timeout, a dropped connection, a 5xx or a 429
BACKOFF = 0.5  # seconds before the first retry, doubled for each next one
MAX_REDIRECTS = 5
INFLATE_STEP = 256 * 1024  # bytes a compressed body may inflate to at a time


class Fetcher(Protocol):
    async def fetch(self, location: str, cache: FeedCache) -> Fetched:
        """Ask `location` for the feed, conditionally on `cache`; raise `FeedError` without an answer."""
        ...


class _Transient(Exception):
    """A failure worth another try: a timeout, a dropped connection, a 5xx or a 429."""


class HttpFetcher:
    """The default fetcher: http(s) with httpx, paths and file: URLs from the disk.

    One client per host, each pooling at most PER_HOST connections: httpcore scans its whole
    pool on every request state change, and one big shared pool made that scan the main cost of
    a large gather (measured with benchmarks/gather.py). Use it as an async context manager.
    """

    def __init__(self) -> None:
        self.clients: dict[str, httpx.AsyncClient] = {}
        self.tls = ssl.create_default_context()  # built once: loading the CA bundle costs ~50 ms

    async def __aenter__(self) -> HttpFetcher:
        _more_sockets()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await asyncio.gather(*(client.aclose() for client in self.clients.values()))

    async def fetch(self, location: str, cache: FeedCache) -> Fetched:
        """One feed's fetch, within DEADLINE whatever the server does (slow-loris included)."""
        if not location.startswith(("http://", "https://")):
            return _read_file(location)
        client = self._for_host(urlsplit(location).netloc)
        try:
            async with asyncio.timeout(DEADLINE):
                return await _fetch_with_retries(client, location, cache)
        except TimeoutError:
            raise FeedError(location, f"no complete answer within {DEADLINE:g} s") from None

    def _for_host(self, host: str) -> httpx.AsyncClient:
        if host not in self.clients:
            self.clients[host] = httpx.AsyncClient(
                timeout=TIMEOUT,
                verify=self.tls,
                limits=httpx.Limits(max_connections=PER_HOST, max_keepalive_connections=PER_HOST),
                http2=True,  # where the server offers it (TLS ALPN): one connection, many feeds
                # Only what `_decoded` can inflate within the size cap, a chunk at a time.
                headers={"User-Agent": USER_AGENT, "Accept": ACCEPT, "Accept-Encoding": "gzip, deflate"},
                follow_redirects=False,  # followed by hand, to tell permanent moves from temporary ones
            )
        return self.clients[host]


def _more_sockets(wanted: int = 16384) -> None:
    """Raise the soft limit of open files towards the hard one: each host keeps its connections
    open until the run ends, and a thousand hosts would exhaust the usual soft limit of 1,024."""
    try:
        import resource  # not on Windows
    except ImportError:
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


async def _fetch_with_retries(client: httpx.AsyncClient, url: str, cache: FeedCache) -> Fetched:
    for attempt in range(RETRIES + 1):
        try:
            return await _follow(client, url, cache)
        except _Transient as exc:
            if attempt == RETRIES:
                raise FeedError(url, f"{exc} (tried {RETRIES + 1} times)") from exc
        await asyncio.sleep(BACKOFF * 2**attempt)
    raise AssertionError("unreachable")  # pragma: no cover


async def _follow(client: httpx.AsyncClient, url: str, cache: FeedCache) -> Fetched:
    """GET `url`, following redirects by hand; `moved_to` is set when every hop was permanent."""
    seen, current, permanent = [url], url, True
    for _ in range(MAX_REDIRECTS + 1):
        try:
            async with client.stream("GET", current, headers=_conditional(cache)) as response:
                if not (response.status_code in _REDIRECTS and "Location" in response.headers):
                    fetched = await _read(response, url)
                    moved = current if permanent and current != url else None
                    return replace(fetched, moved_to=moved)
                target = urljoin(current, response.headers["Location"])
                permanent = permanent and response.status_code in (301, 308)
        except httpx.TimeoutException as exc:
            raise _Transient(f"timed out ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise _Transient(f"connection failed ({type(exc).__name__}: {reason_of(exc)})") from exc
        except httpx.HTTPError as exc:
            raise FeedError(url, f"{type(exc).__name__}: {reason_of(exc)}") from exc
        if urlsplit(target).scheme not in ("http", "https"):
            raise FeedError(url, f"redirected to {target[:100]!r}, which is not an http(s) URL")
        if target in seen:
            raise FeedError(url, f"redirect loop: {target[:100]} was already visited")
        seen.append(target)
        current = target
    raise FeedError(url, f"more than {MAX_REDIRECTS} redirects")


_REDIRECTS = (301, 302, 303, 307, 308)


def _conditional(cache: FeedCache) -> dict[str, str]:
    headers = {}
    if _validator(cache.etag):
        headers["If-None-Match"] = str(cache.etag)
    if _validator(cache.last_modified):
        headers["If-Modified-Since"] = str(cache.last_modified)
    return headers


def _validator(value: str | None) -> str | None:
    """A validator to send back, or None: one that is not printable ASCII cannot be sent in a
    header, and would break the feed for good if it were kept."""
    return value if value and value.isascii() and value.isprintable() else None


async def _read(response: httpx.Response, url: str) -> Fetched:
    status = response.status_code
    if status == 304:
        await response.aread()  # nothing to parse, but reading the (empty) end keeps the connection
        return Fetched(status)
    if status == 410:
        return Fetched(status)  # its page is not read: closing drops the connection, as for errors
    if status >= 500 or status == 429:
        raise _Transient(f"HTTP {status} {response.reason_phrase}")
    if not 200 <= status < 300:
        raise FeedError(url, f"HTTP {status} {response.reason_phrase}")
    too_big = f"response larger than {MAX_BYTES // (1024 * 1024)} MB; not read"
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > MAX_BYTES:
        raise FeedError(url, too_big)
    body = bytearray()
    async for chunk in _decoded(response, MAX_BYTES + 1):  # the cap counts decompressed bytes
        if len(body) + len(chunk) > MAX_BYTES:
            raise FeedError(url, too_big)
        body += chunk
    headers = {
        name: response.headers[name]
        for name in ("Content-Type", "Content-Language", "Content-Location")
        if name in response.headers
    }
    headers.setdefault("Content-Location", str(response.url))  # relative links resolve against it
    new_cache = FeedCache(
        _validator(response.headers.get("ETag")), _validator(response.headers.get("Last-Modified"))
    )
    return Fetched(status, bytes(body), headers, new_cache)


async def _decoded(response: httpx.Response, limit: int) -> AsyncIterator[bytes]:
    """The body, decompressed while streaming, never more than `limit` bytes out of one piece of
    input: a gzip bomb (a few KB that inflate to gigabytes) costs at most the cap in memory.
    httpx's own decoding inflates a whole network chunk at once (hundreds of MB for a bomb)."""
    encoding = response.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in ("gzip", "x-gzip", "deflate"):
        stream = response.aiter_bytes() if encoding not in ("", "identity") else response.aiter_raw()
        async for chunk in stream:
            yield chunk
        return
    decoder = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib, told by the header
    produced = 0
    async for chunk in response.aiter_raw():
        pending = chunk
        while pending and produced < limit:
            try:
                out = decoder.decompress(pending, min(INFLATE_STEP, limit - produced))
            except zlib.error as exc:
                raise httpx.DecodingError(f"cannot decompress ({exc})") from exc
            produced += len(out)
            yield out
            pending = decoder.unconsumed_tail
            if decoder.eof:  # the next gzip member, if any
                pending, decoder = decoder.unused_data + pending, zlib.decompressobj(zlib.MAX_WBITS | 32)
        if produced >= limit:
            return


def _read_file(url: str) -> Fetched:
    path = Path(unquote(urlsplit(url).path)) if url.startswith("file://") else Path(url)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise FeedError(url, f"file larger than {MAX_BYTES // (1024 * 1024)} MB; not read")
        return Fetched(200, path.read_bytes())
    except FileNotFoundError as exc:
        raise FeedError(
            url, "no such file", hint="check the path in digest.toml (relative to the file)"
        ) from exc
    except OSError as exc:
        raise FeedError(url, f"cannot read: {exc.strerror}") from exc


def reason_of(exc: BaseException) -> str:
    """An exception as one short line, for a report."""
    return " ".join(str(exc).split())[:200] or type(exc).__name__
