"""An editor at the desk, in the system Chromium: one browser session, every kind of change.

Selenium drives Debian's Chromium through Debian's chromedriver; Selenium Manager is kept
offline (SE_OFFLINE) so nothing is ever downloaded. Missing either, the test is skipped, but
not in CI (CI=true), where `.ci/run` installs them.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from digest.config import load_settings
from digest.environment import Environment
from digest.issuefile import read_stored
from digest.pipeline import preview_server, rerender
from digest.preview import CHROMIUM_FLAGS, find_chromium
from tests.test_desk import ENV, OUTPUTS, Desk, agree

CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def _missing() -> str:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (the `test` extra)"
    if not os.access(CHROMEDRIVER, os.X_OK):
        return "no chromedriver (Debian: apt-get install chromium-driver)"
    if not find_chromium():
        return "no Chromium (Debian: apt-get install chromium)"
    return ""


@pytest.fixture
def browser() -> Iterator[Any]:
    missing = _missing()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must drive the desk in a browser: {missing}")
        pytest.skip(missing)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager: never download a driver or a browser
    options = webdriver.ChromeOptions()
    options.binary_location = str(find_chromium())
    profile = tempfile.mkdtemp(prefix="digest-desk-chromium-")
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--window-size=1280,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def open_desk(tmp_path: Path) -> Iterator[Desk]:
    from typer.testing import CliRunner

    from digest.cli import app

    root = tmp_path / "demo"
    assert CliRunner().invoke(app, ["demo", "--out", str(root)], env=ENV).exit_code == 0
    issue = root / "issues/2026-W47"
    server = preview_server(
        issue, load_settings(root / "digest.toml"), host="127.0.0.1", port=0, env=Environment.read(ENV)
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Desk(root, issue, server)
    finally:
        server.shutdown()
        thread.join(10)


class Editor:
    """What the editor does, and what each step must leave behind."""

    def __init__(self, driver: Any, desk: Desk) -> None:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver, self.desk, self.by = driver, desk, By
        self.wait = WebDriverWait(driver, 20)

    def version(self) -> int:
        return int(self.driver.find_element(self.by.ID, "panel").get_attribute("data-version"))

    def press(self, name: str, post: str = "", *, keyboard: bool = False, xpath: str = "") -> None:
        """The button named `name` (its accessible name: its words), of the post `post`."""
        scope = f"//li[@id='post-{post}']" if post else "//body"
        xpath = xpath or f"{scope}//button[normalize-space()='{name}']"
        button = self.driver.find_element(self.by.XPATH, xpath)
        before = self.version()
        if keyboard:
            from selenium.webdriver.common.keys import Keys

            self.driver.execute_script("arguments[0].focus()", button)
            self.driver.switch_to.active_element.send_keys(Keys.ENTER)
        else:
            button.click()
        self.wait.until(lambda _: self.version() > before)
        self.check()

    def type_into(self, element_id: str, text: str) -> None:
        field = self.driver.find_element(self.by.ID, element_id)
        field.clear()
        field.send_keys(text)

    def check(self) -> None:
        """issue.json, the three files and the view in the browser agree."""
        agree(self.desk)
        stored = read_stored(self.desk.issue)
        frame = self.driver.find_element(self.by.ID, "view")
        self.wait.until(lambda _: f"v={self.version()}" in (frame.get_attribute("src") or ""))
        self.driver.switch_to.frame(frame)
        try:
            self.wait.until(lambda d: stored.posts[0].title in d.find_element(self.by.TAG_NAME, "body").text)
        finally:
            self.driver.switch_to.default_content()

    def ids(self) -> list[str]:
        return self.desk.ids()


def test_an_editor_makes_the_issue_in_the_browser(browser: Any, open_desk: Desk) -> None:
    editor, desk = Editor(browser, open_desk), open_desk
    browser.get(desk.server.url)
    assert browser.current_url == desk.server.base  # the token became a cookie, and left the URL
    ids = editor.ids()
    assert browser.find_element(editor.by.TAG_NAME, "html").get_attribute("lang") == "fr"

    editor.press("Descendre", ids[0], keyboard=True)  # reorder, from the keyboard
    assert editor.ids() == [ids[1], ids[0], *ids[2:]]
    focused = browser.switch_to.active_element.get_attribute("data-key")
    assert focused == f"down:{ids[0]}"  # the focus follows the post moved

    editor.press("Monter", ids[0])
    assert editor.ids() == ids

    editor.press("Mettre à la une", ids[4])  # the lead story
    assert editor.ids()[0] == ids[4]
    subject = json.loads((desk.issue / "issue.json").read_text(encoding="utf-8"))["preheader"]
    assert "{first}" in subject  # the preheader quotes the lead: it followed
    assert read_stored(desk.issue).posts[0].title in (desk.issue / "email.txt").read_text(encoding="utf-8")

    editor.press("Retirer", ids[2])  # drop, then restore where it was
    assert ids[2] not in editor.ids()
    assert "Rétablir" in browser.find_element(editor.by.ID, "panel").text
    browser.find_element(editor.by.XPATH, f"//button[@data-key='restore:{ids[2]}']").click()
    editor.wait.until(lambda _: ids[2] in editor.ids())
    editor.check()
    assert editor.ids() == [ids[4], *[i for i in ids if i != ids[4]]]

    post = ids[1]  # edit a post's title and summary
    browser.find_element(editor.by.XPATH, f"//li[@id='post-{post}']//summary").click()
    editor.type_into(f"title-{post}", "Un titre écrit au bureau")
    editor.type_into(f"summary-{post}", "<p>Un résumé <script>x</script>au bureau.</p>")
    editor.press("Enregistrer", post)
    stored = read_stored(desk.issue)
    edited = next(p for p in stored.posts if p.id == post)
    assert edited.title == "Un titre écrit au bureau" and "<script>" not in edited.summary_html
    for name in OUTPUTS:
        assert "Un titre écrit au bureau" in (desk.issue / name).read_text(encoding="utf-8")

    editor.type_into("subject", "{name} : la semaine {week_number}")  # the issue's texts
    editor.type_into("intro", "Bonjour à toutes et à tous.")
    editor.press("Enregistrer les textes")
    stored = read_stored(desk.issue)
    assert stored.subject == "{name} : la semaine {week_number}" and stored.intro.startswith("Bonjour")
    assert "la semaine 47" in (desk.issue / "email.html").read_text(encoding="utf-8")

    candidate = browser.find_element(editor.by.XPATH, "//button[normalize-space()='Ajouter']")
    added = candidate.get_attribute("data-key").removeprefix("add:")
    candidate.click()  # a candidate of the week, with its score
    editor.wait.until(lambda _: added in editor.ids())
    editor.check()

    before_undo = (desk.issue / "issue.json").read_bytes()
    undo = browser.find_element(editor.by.XPATH, "//header//button")
    assert undo.text.startswith("Annuler : Ajouter")
    editor.press("", xpath="//header//button")
    assert added not in editor.ids() and (desk.issue / "issue.json").read_bytes() != before_undo
    assert read_stored(desk.issue).intro.startswith("Bonjour")  # only the last change undone

    browser.set_window_size(500, 900)  # a phone's width (headless Chromium goes no narrower)
    width = "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    scroll, client = browser.execute_script(width)
    assert scroll <= client  # one column, nothing to scroll sideways

    written = {name: (desk.issue / name).read_bytes() for name in (*OUTPUTS, "issue.json")}
    rerender(desk.issue, load_settings(desk.root / "digest.toml"))  # the same file, the same bytes
    assert {name: (desk.issue / name).read_bytes() for name in (*OUTPUTS, "issue.json")} == written
