"""A real HTTP server on loopback for gather tests and the benchmark.

Routes can answer with ETags and Last-Modified (then 304), a delay, gzip, redirects (a
`Location` header), a few 503s before answering, a dropped connection, a huge body, or a
slow-loris trickle. Every misbehaviour is bounded in time, so a test can never hang on it.
"""

from __future__ import annotations

import gzip
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHUNK = 64 * 1024
TRICKLE_LIMIT = 30.0  # seconds a slow-loris route keeps trickling before it gives up by itself


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    delay: float = 0.0  # seconds before answering
    gzip: bool = False
    failures: int = 0  # answer 503 to this many requests first
    drop: bool = False  # close the connection without answering
    filler: int = 0  # bytes of spaces streamed after the body (a huge response)
    declare_length: bool = True  # send Content-Length (else the body ends when the connection does)
    trickle: float = 0.0  # send one byte of the body every `trickle` seconds, and never finish
    hits: int = 0  # requests answered so far


@dataclass
class FeedServer:
    base: str
    routes: dict[str, Route]
    requests: list[tuple[str, dict[str, str]]]
    in_flight: int = 0
    peak: int = 0  # most requests being answered at once

    def url(self, path: str) -> str:
        return self.base + path


@contextmanager
def feed_server(routes: dict[str, Route], host: str = "127.0.0.1") -> Iterator[FeedServer]:
    """Serve `routes` on `host` (a loopback address) and a free port, in a background thread."""
    served = FeedServer("", routes, [])
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real servers do

        def do_GET(self) -> None:
            with lock:
                served.requests.append((self.path, dict(self.headers)))
                served.in_flight += 1
                served.peak = max(served.peak, served.in_flight)
                route = routes.get(self.path)
                if route is not None:
                    route.hits += 1
            try:
                self._route(route)
            finally:
                with lock:
                    served.in_flight -= 1

        def _route(self, route: Route | None) -> None:
            if route is None:
                self.send_error(404, "Not Found")
            elif route.drop:
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
            elif route.hits <= route.failures:
                self.send_error(503, "Service Unavailable")
            else:
                if route.delay:
                    time.sleep(route.delay)
                self._answer(route)

        def _answer(self, route: Route) -> None:
            if self._not_modified(route):
                self.send_response(304)
                if route.etag:
                    self.send_header("ETag", route.etag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if route.trickle:
                self._trickle(route)
                return
            body = gzip.compress(route.body, compresslevel=1) if route.gzip else route.body
            self.send_response(route.status)
            for name, value in route.headers.items():
                self.send_header(name, value)
            if route.etag:
                self.send_header("ETag", route.etag)
            if route.last_modified:
                self.send_header("Last-Modified", route.last_modified)
            if route.gzip:
                self.send_header("Content-Encoding", "gzip")
            if route.declare_length:
                self.send_header("Content-Length", str(len(body) + route.filler))
            else:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(body)
            for start in range(0, route.filler, CHUNK):
                self.wfile.write(b" " * min(CHUNK, route.filler - start))

        def _not_modified(self, route: Route) -> bool:
            etag, since = self.headers.get("If-None-Match"), self.headers.get("If-Modified-Since")
            return bool(
                (route.etag and etag == route.etag) or (route.last_modified and since == route.last_modified)
            )

        def _trickle(self, route: Route) -> None:
            """Promise a large body, then send it a byte at a time: no read timeout ever fires."""
            self.send_response(route.status)
            self.send_header("Content-Length", str(10 * 1024 * 1024))
            self.end_headers()
            started = time.monotonic()
            for offset in itertools.count():
                if time.monotonic() - started > TRICKLE_LIMIT:
                    break
                self.wfile.write(route.body[offset : offset + 1] or b" ")
                self.wfile.flush()
                time.sleep(route.trickle)
            self.close_connection = True

        def log_message(self, format: str, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        request_queue_size = 256  # the benchmark opens dozens of connections at once
        daemon_threads = True

        def handle_error(self, request: object, client_address: object) -> None:
            pass  # a client that gave up (a timeout, a size cap) is expected, not news

    server = Server((host, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        served.base = f"http://{host}:{server.server_address[1]}"
        yield served
    finally:
        server.shutdown()
        server.server_close()
