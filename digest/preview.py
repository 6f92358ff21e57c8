"""Preview: the email as phones, desktops and dark mode show it, as PNGs (the desk, digest/desk/,
shows it live in a browser).

Headless Chromium (Debian's `chromium`) does the rendering. Its window is never narrower than
500 px, so a phone is an <iframe> of the phone's width inside a harness page, and the
measurements are taken inside the frame.
"""

from __future__ import annotations

import base64
import html as html_lib
import json
import re
import shutil
import struct
import subprocess
import tempfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
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
