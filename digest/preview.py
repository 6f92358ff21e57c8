"""Preview: the email as phones, desktops and dark mode show it, in a browser or as PNGs.

Headless Chromium (Debian's `chromium`) does the rendering. Its window is never narrower than
500 px, so a phone is an <iframe> of the phone's width inside a harness page, and the
measurements are taken inside the frame.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html as html_lib
import json
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from digest.errors import ConfigError, DigestError
from digest.files import ensure_folder

PHONE, SMALL_PHONE, TABLET, DESKTOP = 375, 320, 600, 1200
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--mute-audio",
    "--blink-settings=imagesEnabled=true",
)
_DARK = re.compile(r"@media[^{]*prefers-color-scheme\s*:\s*dark[^{]*\{((?:[^{}]*\{[^{}]*\})*)\s*\}", re.I)
_STYLE = re.compile(r"<style\b[^>]*>.*?</style>", re.I | re.S)


def find_chromium(explicit: str = "") -> str | None:
    """`explicit` ($DIGEST_CHROMIUM, read by the CLI), else the first Chromium or Chrome on PATH.

    A wrong explicit path is a configuration error, not a silent fallback."""
    if explicit:
        found = shutil.which(explicit)
        if not found:
            raise ConfigError(
                f"DIGEST_CHROMIUM={explicit!r} is not an executable program",
                hint="point it at Chromium or Chrome (e.g. /usr/bin/chromium), or unset it",
            )
        return found
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def dark_variant(document: str) -> str:
    """The email as a dark-mode client shows it: its dark rules applied unconditionally."""
    rules = "\n".join(match.group(1) for match in _DARK.finditer(document))
    return document.replace("</head>", f"<style>{rules}</style>\n</head>", 1) if rules else document


def without_styles(document: str) -> str:
    """The email as Gmail's mobile webmail and non-Google accounts show it: every <style> removed."""
    return _STYLE.sub("", document)


def placeholder_png(width: int = 1200, height: int = 675) -> bytes:
    """A plain grey PNG: stands in for remote images, which a test or offline run cannot load."""
    row = b"\x00" + b"\xc8\xc4\xbc" * width
    raw = zlib.compress(row * height, 9)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def with_placeholder_images(document: str) -> str:
    """Every http(s) image replaced by a large local one, so image sizing is really exercised."""
    uri = "data:image/png;base64," + base64.b64encode(placeholder_png()).decode("ascii")
    return re.sub(
        r'(<img\b[^>]*?\bsrc=")https?://[^"]*(")', lambda m: m.group(1) + uri + m.group(2), document
    )


def harness(document: str, widths: Sequence[int], *, height: int = 900, measure: bool = True) -> str:
    """A page showing `document` in one frame per width, recording each frame's scrollWidth."""
    frames = "\n".join(
        f'<iframe id="w{width}" title="{width} px" style="border:1px solid #999;width:{width}px;height:{height}px;'
        f'margin:8px;background:#fff;vertical-align:top" srcdoc="{html_lib.escape(document, quote=True)}"></iframe>'
        for width in widths
    )
    script = (
        "<script>window.addEventListener('load',function(){var r={};"
        "document.querySelectorAll('iframe').forEach(function(f){var d=f.contentDocument;"
        "r[f.id.slice(1)]=Math.max(d.documentElement.scrollWidth,d.body?d.body.scrollWidth:0);"
        "f.style.height=Math.max(d.documentElement.scrollHeight," + str(height) + ")+'px';});"
        "document.getElementById('result').textContent=JSON.stringify(r);});</script>"
        if measure
        else ""
    )
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>digest preview</title></head>'
        f'<body style="margin:0;background:#d9d6d0">{frames}<pre id="result"></pre>{script}</body></html>'
    )


def run_chromium(chromium: str, page: Path, *args: str, timeout: float = 60) -> str:
    with tempfile.TemporaryDirectory(prefix="digest-chromium-") as profile:
        command = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise DigestError(f"{chromium} did not finish within {timeout:.0f} s") from exc
        except OSError as exc:
            raise ConfigError(
                f"cannot run {chromium}: {exc.strerror or exc}",
                hint="install Debian's `chromium`, or fix DIGEST_CHROMIUM",
            ) from exc
    if done.returncode != 0:
        raise DigestError(f"{chromium} failed (exit {done.returncode}): {done.stderr.strip()[-300:]}")
    return done.stdout


def scroll_widths(document: str, widths: Sequence[int], chromium: str) -> dict[int, int]:
    """The laid-out width of `document` in a viewport of each width (more than it: it overflows)."""
    with tempfile.TemporaryDirectory(prefix="digest-layout-") as folder:
        page = Path(folder) / "harness.html"
        page.write_text(harness(with_placeholder_images(document), widths), encoding="utf-8")
        dom = run_chromium(chromium, page, "--virtual-time-budget=5000", "--dump-dom")
    match = re.search(r'<pre id="result">([^<]*)</pre>', dom)
    if not match or not match.group(1):
        raise DigestError("Chromium gave no layout measurement", hint="is it a recent Chromium?")
    return {int(width): int(value) for width, value in json.loads(html_lib.unescape(match.group(1))).items()}


@dataclass(frozen=True)
class Shot:
    name: str
    width: int
    dark: bool = False


SHOTS = (
    Shot("phone", PHONE),
    Shot("phone-dark", PHONE, dark=True),
    Shot("desktop", DESKTOP),
    Shot("desktop-dark", DESKTOP, dark=True),
)


def screenshots(issue_dir: Path, out: Path, chromium: str | None = None) -> list[Path]:
    """PNGs of the issue's email.html: phone and desktop, light and dark. `chromium`: the browser
    to use (default: the first on PATH)."""
    return _screenshots(issue_dir, ensure_folder(out), chromium)


def _screenshots(issue_dir: Path, out: Path, chromium: str | None) -> list[Path]:
    """PNGs of the issue's email.html: phone and desktop, light and dark."""
    email = issue_dir / "email.html"
    if not email.is_file():
        raise ConfigError(
            f"{issue_dir} is not an issue folder (no email.html)", hint="build one with `digest build`"
        )
    chromium = chromium or find_chromium()
    if not chromium:
        raise ConfigError(
            "no Chromium found for screenshots", hint="install Debian's `chromium`, or set DIGEST_CHROMIUM"
        )
    document = email.read_text(encoding="utf-8")
    written = []
    with tempfile.TemporaryDirectory(prefix="digest-shots-") as folder:
        for shot in SHOTS:
            page = Path(folder) / f"{shot.name}.html"
            shown = dark_variant(document) if shot.dark else document
            page.write_text(harness(shown, [shot.width], height=2400, measure=False), encoding="utf-8")
            target = out / f"{shot.name}.png"
            size = f"{max(shot.width + 18, 500)},2420"
            run_chromium(
                chromium,
                page,
                f"--window-size={size}",
                "--virtual-time-budget=5000",
                f"--screenshot={target}",
            )
            written.append(target)
    return written


_UI = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Preview: {title}</title>
<style>
body {{ margin: 0; font: 15px/1.4 system-ui, sans-serif; background: #d9d6d0; color: #1d1b18; }}
header {{ position: sticky; top: 0; padding: 10px 16px; background: #1f2a44; color: #fff; }}
header button {{ margin-right: 6px; padding: 6px 12px; border: 0; border-radius: 4px; cursor: pointer; }}
header button[aria-pressed="true"] {{ background: #ffb59a; font-weight: bold; }}
main {{ padding: 16px; text-align: center; }}
iframe {{ border: 1px solid #999; background: #fff; height: 85vh; }}
pre {{ text-align: left; max-width: 80ch; margin: 0 auto; padding: 16px; background: #fff; white-space: pre-wrap; }}
</style></head>
<body>
<header>
<strong>{title}</strong> ·
<button data-width="375" aria-pressed="true">Phone 375</button><button data-width="320">Phone 320</button>
<button data-width="600">600</button><button data-width="1200">Desktop 1200</button>
<button id="dark" aria-pressed="false">Dark</button><button id="text" aria-pressed="false">Text part</button>
</header>
<main><iframe id="view" title="The email" src="email.html" style="width:375px"></iframe><pre id="plain" hidden></pre></main>
<script>
var view = document.getElementById('view'), plain = document.getElementById('plain'), dark = false, version = null;
function page() {{ return dark ? 'dark.html' : 'email.html'; }}
document.querySelectorAll('button[data-width]').forEach(function (b) {{
  b.onclick = function () {{
    document.querySelectorAll('button[data-width]').forEach(function (o) {{ o.setAttribute('aria-pressed', o === b); }});
    view.style.width = b.dataset.width + 'px';
  }};
}});
document.getElementById('dark').onclick = function () {{
  dark = !dark; this.setAttribute('aria-pressed', dark); view.src = page();
}};
document.getElementById('text').onclick = function () {{
  var on = plain.hidden; this.setAttribute('aria-pressed', on); plain.hidden = !on; view.hidden = on;
  if (on) fetch('email.txt').then(function (r) {{ return r.text(); }}).then(function (t) {{ plain.textContent = t; }});
}};
setInterval(function () {{
  fetch('version').then(function (r) {{ return r.text(); }}).then(function (v) {{
    if (version !== null && v !== version) {{ view.src = page() + '?v=' + v; if (!plain.hidden) document.getElementById('text').click(), document.getElementById('text').click(); }}
    version = v;
  }}).catch(function () {{}});
}}, 1000);
</script>
</body></html>
"""


class PreviewServer:
    """Serves an issue folder on loopback, and only watches: nothing is ever written.

    Each poll of the page compares the sources (issue.json, the main edition's, the templates) with
    what they were; only when one changed is the issue rendered again, in memory, and the page
    told to reload. A render that fails (a typo mid-edit) keeps the last good one on show."""

    def __init__(
        self,
        issue_dir: Path,
        render: Callable[[], dict[str, str]],
        watched: Callable[[], Sequence[Path]],
        host: str,
        port: int,
    ) -> None:
        if not (issue_dir / "email.html").is_file():
            raise ConfigError(
                f"{issue_dir} is not an issue folder (no email.html)", hint="build one with `digest build`"
            )
        self.issue_dir = issue_dir
        self.render = render
        self.watched = watched
        self.stamp = self._stamp()
        self.version = 0
        self.documents: dict[str, str] = {}  # empty: the files of the folder, as built
        self.lock = threading.Lock()
        handler = self._handler()
        try:
            self.server = ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {host}:{port}: {exc.strerror}", hint="choose another --port"
            ) from exc

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/"

    def _stamp(self) -> str:
        """A digest of every source's content: a changed mtime alone (a save without a change,
        a checkout) is not a change."""
        digest = hashlib.sha256()
        for path in self.watched():
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
                    self.documents = self.render()
                except DigestError as exc:  # a typo mid-edit: keep serving the last good render
                    print(f"error: {exc}", file=sys.stderr)
                    return self.version
                self.version += 1
            return self.version

    def document(self, name: str) -> str:
        with self.lock:
            if name in self.documents:
                return self.documents[name]
        return (self.issue_dir / name).read_text(encoding="utf-8")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        preview = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/version":
                    self._send(str(preview.refresh()).encode(), "text/plain")
                elif path == "/":
                    title = html_lib.escape(preview.issue_dir.name)
                    self._send(_UI.format(title=title).encode(), "text/html; charset=utf-8")
                elif path in ("/email.html", "/web.html", "/email.txt", "/dark.html"):
                    name = "email.html" if path == "/dark.html" else path[1:]
                    body = preview.document(name)
                    body = dark_variant(body) if path == "/dark.html" else body
                    kind = "text/plain" if name.endswith(".txt") else "text/html"
                    self._send(body.encode("utf-8"), f"{kind}; charset=utf-8")
                else:
                    self.send_error(404)

            def _send(self, body: bytes, kind: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler

    def serve_forever(self) -> None:
        try:
            self.server.serve_forever()
        finally:
            self.server.server_close()

    def shutdown(self) -> None:
        self.server.shutdown()
