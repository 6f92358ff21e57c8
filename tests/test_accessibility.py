"""axe-core in the system Chromium: no critical or serious violation in the email or the web
version, light or dark. axe-core comes from npm (tests/axe, `make axe`); nothing is downloaded
at test time. Locally the test is skipped when Chromium or axe-core is missing; in CI
(CI=true) a missing axe-core is a failure, not a skip."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from digest.pipeline import anonymous
from digest.preview import dark_variant, find_chromium, run_chromium
from digest.render import render_issue
from tests.hostile import hostile_issue

AXE = Path(__file__).parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = find_chromium()

_RUN = """<script>
axe.run(document, {resultTypes: ['violations']}).then(function (r) {
  var out = r.violations.map(function (v) {
    return {id: v.id, impact: v.impact, nodes: v.nodes.map(function (n) { return n.target.join(' '); }).slice(0, 3)};
  });
  var pre = document.createElement('pre'); pre.id = 'axe-result';
  pre.textContent = JSON.stringify(out); document.body.appendChild(pre);
});
</script>"""


def _violations(document: str, tmp_path: Path) -> list[dict[str, object]]:
    assert CHROMIUM
    axe = "<script>" + AXE.read_text(encoding="utf-8") + "</script>"
    page = tmp_path / "axe.html"
    page.write_text(document.replace("</body>", axe + _RUN + "</body>", 1), encoding="utf-8")
    dom = run_chromium(CHROMIUM, page, "--virtual-time-budget=20000", "--dump-dom", timeout=120)
    found = re.search(r'<pre id="axe-result">([^<]*)</pre>', dom)
    assert found, "axe-core did not report"
    return list(json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&")))


@pytest.fixture(scope="module")
def documents() -> dict[str, str]:
    issue = hostile_issue()
    rendered = render_issue(issue)
    email, _ = anonymous(rendered, issue)
    return {"email.html": email, "web.html": rendered.web}


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (.ci/run installs Debian's chromium)")
@pytest.mark.parametrize("name", ["email.html", "web.html"])
@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_axe_finds_no_critical_or_serious_violation(
    documents: dict[str, str], name: str, dark: bool, tmp_path: Path
) -> None:
    if not AXE.is_file():
        if os.environ.get("CI") == "true":
            pytest.fail("axe-core is missing: run `make axe` (npm ci in tests/axe)")
        pytest.skip("axe-core is not installed: `make axe` (npm ci in tests/axe)")
    document = dark_variant(documents[name]) if dark else documents[name]
    violations = _violations(document, tmp_path)
    assert [v for v in violations if v["impact"] in ("critical", "serious")] == []
