"""The editor's desk (`digest preview`): its operations, its guard, and an editor in Chromium.

The HTTP tests speak to a real server on loopback with the headers a hostile page would send;
the browser test drives the system Chromium through Selenium and Debian's chromedriver (nothing
downloaded) and after every step checks issue.json and the three outputs against each other.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import pytest
from typer.testing import CliRunner

from digest import edits
from digest.cli import app
from digest.config import load_settings
from digest.desk import guard
from digest.desk.server import DeskServer
from digest.environment import Environment
from digest.errors import ConfigError, IssueFileError
from digest.issuefile import read_issue, read_stored
from digest.pipeline import documents, preview_server, rerender

ENV = {"DIGEST_NOW": "2026-11-26T06:00:00+00:00", "NO_COLOR": "1"}
OUTPUTS = ("email.html", "email.txt", "web.html")


@dataclass
class Desk:
    root: Path
    issue: Path
    server: DeskServer

    def request(
        self, method: str, path: str, body: dict[str, str] | None = None, **headers: str
    ) -> tuple[int, str, dict[str, str]]:
        connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=20)
        data = urlencode(body).encode() if body is not None else None
        sent = {"Host": f"127.0.0.1:{self.server.port}"} | {
            k.replace("_", "-"): v for k, v in headers.items()
        }
        if data is not None:
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            connection.request(method, path, body=data, headers=sent)
            response = connection.getresponse()
            return response.status, response.read().decode("utf-8"), dict(response.getheaders())
        finally:
            connection.close()

    def post(self, fields: dict[str, str], **headers: str) -> int:
        return self.request("POST", "/act", {"token": self.server.token, **fields}, **headers)[0]

    def ids(self) -> list[str]:
        return [post.id for post in read_stored(self.issue).posts]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("desk") / "demo"
    result = CliRunner().invoke(app, ["demo", "--out", str(root)], env=ENV)
    assert result.exit_code == 0, result.stderr
    return root


@pytest.fixture
def desk(demo: Path, tmp_path: Path) -> Iterator[Desk]:
    root = tmp_path / "demo"
    shutil.copytree(demo, root)
    issue = root / "issues/2026-W47"
    settings = load_settings(root / "digest.toml")
    server = preview_server(issue, settings, host="127.0.0.1", port=0, env=Environment.read(ENV))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Desk(root, issue, server)
    finally:
        server.shutdown()
        thread.join(10)


def agree(desk: Desk) -> None:
    """issue.json and the three files on disk agree: the files are what issue.json renders to."""
    settings = load_settings(desk.root / "digest.toml")
    fresh = documents(read_issue(desk.issue), settings.templates)
    for name in OUTPUTS:
        assert (desk.issue / name).read_text(encoding="utf-8") == fresh[name], name


# --- the operations, pure ---------------------------------------------------------------------


def test_step_add_and_retext_are_pure_edits(demo: Path) -> None:
    stored = read_stored(demo / "issues/2026-W47")
    ids = [post.id for post in stored.posts]
    down = edits.step(stored, ids[0], 1)
    assert [p.id for p in down.posts] == [ids[1], ids[0], *ids[2:]]
    assert edits.step(stored, ids[0], -1) == stored  # the first goes no higher
    assert edits.step(stored, ids[-1], 1) == stored
    dropped = edits.drop(stored, ids[2])
    back = edits.add(dropped, stored.posts[2], 3)
    assert back == stored
    with pytest.raises(ConfigError, match="already in"):
        edits.add(stored, stored.posts[0])
    texts = edits.retext(stored, subject=" {name}:\n{count} posts ", intro="One.\n\n\n  Two\n lines ")
    assert texts.subject == "{name}: {count} posts" and texts.intro == "One.\n\nTwo lines"
    assert edits.resolve(texts).subject.endswith(f": {len(ids)} posts")
    with pytest.raises(IssueFileError, match="did you mean"):
        edits.retext(stored, subject="{cont} posts")
    with pytest.raises(ConfigError, match="empty"):
        edits.retext(stored, subject="  ")


def test_the_guard_knows_its_own_host_origin_and_token() -> None:
    assert guard.host_ok("127.0.0.1:8001", 8001) and guard.host_ok("localhost:8001", 8001)
    assert not guard.host_ok("evil.example:8001", 8001) and not guard.host_ok(None, 8001)
    assert guard.origin_ok(None, None, 8001) and guard.origin_ok("http://127.0.0.1:8001", "same-origin", 8001)
    assert not guard.origin_ok("http://evil.example", None, 8001)
    assert not guard.origin_ok("null", None, 8001)
    assert not guard.origin_ok(None, "cross-site", 8001)
    assert guard.cookie_token("a=b; digest_desk=xyz") == "xyz"
    assert not guard.same("", "xyz") and not guard.same(None, "xyz")
    for host in ("0.0.0.0", "192.168.1.2", "example.org"):
        with pytest.raises(ConfigError, match="this machine only"):
            guard.loopback_only(host)
    guard.loopback_only("::1")


# --- the server, as a hostile page or a careless client would use it ---------------------------


def test_without_the_token_or_from_elsewhere_nothing_is_read_or_changed(desk: Desk) -> None:
    before = {p.name: p.read_bytes() for p in desk.issue.iterdir()}
    first = desk.ids()[0]
    for path in ("/", "/email.html", "/email.txt", "/version"):
        assert desk.request("GET", path)[0] == 403
    assert desk.request("GET", "/?token=wrong")[0] == 403
    assert desk.post({"action": "down", "post": first, "token": "wrong"}) == 403
    assert desk.request("POST", "/act", {"action": "down", "post": first})[0] == 403  # no token
    assert desk.post({"action": "down", "post": first}, Origin="http://evil.example") == 403
    assert desk.post({"action": "down", "post": first}, Origin="null") == 403
    assert desk.post({"action": "down", "post": first}, Sec_Fetch_Site="cross-site") == 403
    assert desk.post({"action": "down", "post": first}, Host="evil.example") == 403  # DNS rebinding
    cookie = f"{guard.COOKIE}={desk.server.token}"
    assert desk.request("GET", "/", Cookie=cookie, Origin="http://evil.example")[0] == 403
    for path in ("/issue.json", "/../issue.json", "/%2e%2e/digest.toml", "/en/issue.json"):
        assert desk.request("GET", f"{path}?token={desk.server.token}")[0] == 404
    assert {p.name: p.read_bytes() for p in desk.issue.iterdir()} == before
    status, _, headers = desk.request("GET", f"/?token={desk.server.token}")
    assert (
        status == 303 and "HttpOnly" in headers["Set-Cookie"] and "SameSite=Strict" in headers["Set-Cookie"]
    )
    status, page, headers = desk.request("GET", "/", Cookie=cookie)
    assert status == 200 and "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert page.count(f'name="token" value="{desk.server.token}"') == page.count("<form")
    assert desk.post({"action": "down", "post": first}, Origin=desk.server.base.rstrip("/")) == 303
    assert desk.ids()[1] == first


def test_changes_made_elsewhere_show_up_and_undo_never_overwrites_them(desk: Desk) -> None:
    cookie = f"{guard.COOKIE}={desk.server.token}"
    ids = desk.ids()
    assert desk.post({"action": "lead", "post": ids[3]}) == 303
    assert desk.ids()[0] == ids[3]
    agree(desk)
    assert "Annuler" in desk.request("GET", "/", Cookie=cookie)[1]
    data = json.loads((desk.issue / "issue.json").read_text(encoding="utf-8"))
    data["intro"] = "Écrit dans un éditeur"
    (desk.issue / "issue.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    version = desk.request("GET", "/version", Cookie=cookie)[1]
    page = desk.request("GET", "/", Cookie=cookie)[1]
    assert "Écrit dans un éditeur" in page and f'data-version="{version}"' in page
    assert "Écrit dans un éditeur" in desk.request("GET", "/email.html", Cookie=cookie)[1]
    assert desk.post({"action": "undo"}) == 303
    page = desk.request("GET", "/", Cookie=cookie)[1]
    assert "changed since the desk wrote it" in page
    assert "Écrit dans un éditeur" in (desk.issue / "issue.json").read_text(encoding="utf-8")
    assert desk.post({"action": "retitle-nothing", "post": ids[0]}) == 303  # refused, said why
    assert "unknown action" in desk.request("GET", "/", Cookie=cookie)[1]


def test_a_refused_edit_changes_nothing_and_says_why(desk: Desk) -> None:
    cookie = f"{guard.COOKIE}={desk.server.token}"
    before = (desk.issue / "issue.json").read_bytes()
    assert (
        desk.post({"action": "texts", "subject": "{nmae} cette semaine", "preheader": "", "intro": ""}) == 303
    )
    page = desk.request("GET", "/", Cookie=cookie)[1]
    assert "Rien n’a changé" in page and "did you mean {name}?" in page
    assert desk.post({"action": "edit", "post": desk.ids()[0], "title": " ", "summary": "x"}) == 303
    assert (desk.issue / "issue.json").read_bytes() == before


def test_a_host_beyond_loopback_is_refused(demo: Path) -> None:
    result = CliRunner().invoke(
        app, ["preview", str(demo / "issues/2026-W47"), "--host", "0.0.0.0", "--port", "0"], env=ENV
    )
    assert result.exit_code == 2 and "this machine only" in result.stderr
    assert os.path.isfile(demo / "issues/2026-W47/issue.json")


def test_the_same_issue_json_rendered_again_gives_the_same_bytes(desk: Desk) -> None:
    ids = desk.ids()
    assert desk.post({"action": "down", "post": ids[0]}) == 303
    assert (
        desk.post({"action": "edit", "post": ids[1], "title": "Un titre", "summary": "<p>Court.</p>"}) == 303
    )
    written = {name: (desk.issue / name).read_bytes() for name in OUTPUTS}
    rerender(desk.issue, load_settings(desk.root / "digest.toml"))
    assert {name: (desk.issue / name).read_bytes() for name in OUTPUTS} == written


def test_at_an_editions_desk_its_own_texts_change_and_the_posts_stay_the_main_ones(
    demo: Path, tmp_path: Path
) -> None:
    root = tmp_path / "demo"
    shutil.copytree(demo, root)
    config = root / "digest.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace('# locales = ["fr", "en"]', 'locales = ["fr", "en"]'),
        encoding="utf-8",
    )
    built = CliRunner().invoke(
        app, ["build", "--config", str(config), "--week", "2026-W47", "--force"], env=ENV
    )
    assert built.exit_code == 0, built.stderr
    main, edition = root / "issues/2026-W47", root / "issues/2026-W47/en"
    server = preview_server(edition, load_settings(config), host="127.0.0.1", port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        desk = Desk(root, edition, server)
        page = desk.request("GET", "/", Cookie=f"{guard.COOKIE}={server.token}")[1]
        assert 'lang="en"' in page and "Move up" in page and "Make lead" in page
        main_before = (main / "issue.json").read_bytes()
        fields = {"subject": "{name}: {count} reads", "preheader": "Read on", "intro": "Hello there."}
        assert desk.post({"action": "texts", **fields}) == 303
        assert (main / "issue.json").read_bytes() == main_before  # the main edition's texts untouched
        ours = json.loads((edition / "issue.json").read_text(encoding="utf-8"))
        assert ours["subject"] == "{name}: {count} reads" and ours["intro"] == "Hello there."
        assert "Hello there." in (edition / "email.txt").read_text(encoding="utf-8")
        first = desk.ids()[0]
        assert desk.post({"action": "down", "post": first}) == 303  # posts: the main issue's
        assert read_stored(main).posts[1].id == first
        assert desk.post({"action": "undo"}) == 303
        assert read_stored(main).posts[0].id == first
        assert desk.post({"action": "undo"}) == 303
        assert "Hello there." not in (edition / "issue.json").read_text(encoding="utf-8")
    finally:
        server.shutdown()
        thread.join(10)
