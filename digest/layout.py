"""The layout gate's browser half: the email in Chromium at 320, 375 and 600 px, with and
without its <style>, in one run; what overflows is traced back to its post.

This is the edge: it runs a program. `check` only reads the `Measure`s it returns.
"""

from __future__ import annotations

import html as html_lib
import json
import re
import tempfile
from pathlib import Path

from digest.errors import DigestError
from digest.findings import Measure
from digest.preview import run_chromium, with_placeholder_images, without_styles

WIDTHS = (320, 375, 600)

# For each frame: its scroll width, and when wider than the frame, the posts of the innermost
# elements sticking out (the one <h2> of their nearest block, else the link they sit in).
# The scroll width is taken first; only then are the tables pinned to find the causes.
_SCRIPT = """
function label(el, doc) {
  for (var n = el; n && n !== doc.body; n = n.parentElement) {
    var h = n.querySelectorAll('h2');
    if (h.length === 1) return h[0].textContent.trim().slice(0, 60);
    if (h.length > 1) break;
  }
  var a = el.closest('a[href]');
  return a ? a.getAttribute('href') : '';
}
window.addEventListener('load', function () {
  var result = {};
  document.querySelectorAll('iframe').forEach(function (f) {
    var d = f.contentDocument, w = f.clientWidth, found = [];
    var sw = Math.max(d.documentElement.scrollWidth, d.body ? d.body.scrollWidth : 0);
    if (sw > w) {
      // Tables grow to fit what cannot wrap: pin them to the frame, and what sticks out is the cause.
      var pin = d.createElement('style');
      pin.textContent = 'table{table-layout:fixed!important;width:100%!important}';
      d.head.appendChild(pin);
      var add = function (el) { var l = label(el, d); if (l && found.indexOf(l) < 0) found.push(l); };
      d.body.querySelectorAll('*').forEach(function (el) {
        if (el.getBoundingClientRect().right <= w + 0.5) return;
        for (var c = el.firstElementChild; c; c = c.nextElementSibling)
          if (c.getBoundingClientRect().right > w + 0.5) return;
        add(el);
      });
      var text = d.createTreeWalker(d.body, NodeFilter.SHOW_TEXT), range = d.createRange();
      while (text.nextNode()) {
        range.selectNodeContents(text.currentNode);
        if (range.getBoundingClientRect().right > w + 0.5) add(text.currentNode.parentElement);
      }
    }
    result[f.id] = {width: sw, culprits: found.slice(0, 5)};
  });
  document.getElementById('result').textContent = JSON.stringify(result);
});
"""


def page(document: str) -> str:
    """One frame per width, styled and unstyled; borderless so the frame is the viewport."""
    variants = {
        "s": with_placeholder_images(document),
        "u": with_placeholder_images(without_styles(document)),
    }
    frames = "".join(
        f'<iframe id="{key}{width}" style="border:0;display:block;width:{width}px;height:600px" '
        f'srcdoc="{html_lib.escape(shown, quote=True)}"></iframe>'
        for key, shown in variants.items()
        for width in WIDTHS
    )
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>layout</title></head>'
        f'<body style="margin:0">{frames}<pre id="result"></pre><script>{_SCRIPT}</script></body></html>'
    )


def measure(document: str, chromium: str) -> tuple[Measure, ...]:
    """The email's width at each of `WIDTHS`, as sent and with every <style> removed."""
    with tempfile.TemporaryDirectory(prefix="digest-layout-") as folder:
        harness = Path(folder) / "layout.html"
        harness.write_text(page(document), encoding="utf-8")
        dom = run_chromium(chromium, harness, "--virtual-time-budget=5000", "--dump-dom")
    match = re.search(r'<pre id="result">([^<]*)</pre>', dom)
    if not match or not match.group(1):
        raise DigestError("Chromium gave no layout measurement", hint="is it a recent Chromium?")
    found = json.loads(html_lib.unescape(match.group(1)))
    return tuple(
        Measure(
            width=int(key[1:]),
            styled=key[0] == "s",
            scroll_width=int(value["width"]),
            culprits=tuple(value["culprits"]),
        )
        for key, value in sorted(found.items(), key=lambda item: (item[0][0] == "u", int(item[0][1:])))
    )
