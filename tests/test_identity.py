"""One identity per issue: its folder, number, journal key, Message-ID and URLs all derive from it."""

from __future__ import annotations

import email
import json
import sqlite3
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import feedparser
import pytest
from typer.testing import CliRunner

from digest import migrations as store_module
from digest.cli import app
from digest.errors import ConfigError, StateError
from digest.identity import IssueRef
from digest.store import open_store
from tests.smtpserver import Mailbox, smtp_server

runner = CliRunner()
ENV = {"DIGEST_NOW": "2026-11-26T06:00:00+00:00", "DIGEST_UNSUBSCRIBE_SECRET": "s" * 32 * 32, "NO_COLOR": "1"}
BASE = "https://digest.example.org"


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env=ENV)
    return result.exit_code, result.stdout + result.stderr


def bilingual(newsletter: Path) -> Path:
    text = newsletter.read_text(encoding="utf-8")
    newsletter.write_text(
        text.replace('locale = "fr"', 'locale = "fr"\nlocales = ["fr", "en"]', 1), encoding="utf-8"
    )
    return newsletter


def test_every_name_of_an_issue_derives_from_its_ref() -> None:
    week, span, english = IssueRef("2026-W48"), IssueRef("2026-11-23--2026-11-29"), IssueRef("2026-W48", "en")
    assert (week.path, span.path, english.path) == ("2026-W48", "2026-11-23--2026-11-29", "2026-W48/en")
    assert english.web_url(BASE + "/") == f"{BASE}/issues/2026-W48/en/"
    assert english.archive_file == "2026-W48/en/index.html"
    assert english.journal_key == week.journal_key == "2026-W48"  # one send per reader, whatever the edition
    ids = {ref.message_id("list.example.org", "Zoe@Example.org", "example.org") for ref in (week, span)}
    assert len(ids) == 2 and all(mid.endswith("@example.org>") for mid in ids)
    assert week.message_id("l", "zoe@example.org", "d") == week.message_id("l", "ZOE@example.org", "d")


@pytest.mark.parametrize(
    "slug", ["2026-W54", "2026-W00", "2026-11-29--2026-11-23", "2026-13-01--2026-13-02", "../x", ""]
)
def test_a_slug_that_names_no_issue_is_refused(slug: str) -> None:
    with pytest.raises(ConfigError):
        IssueRef(slug)


def test_a_span_ending_in_a_week_already_sent_is_sent_with_its_own_message_id(newsletter: Path) -> None:
    config = str(newsletter)
    assert run("gather", "--config", config)[0] == 0
    assert run("build", "--config", config, "--week", "2026-W47")[0] == 0
    code, text = run("build", "--config", config, "--since", "2026-11-18", "--until", "2026-11-22")
    assert code == 0, text
    issues = newsletter.parent / "issues"
    mailbox = Mailbox()
    with smtp_server(mailbox) as server:
        url = f"smtp://127.0.0.1:{server.port}"
        for folder in ("2026-W47", "2026-11-18--2026-11-22"):
            code, text = run("send", str(issues / folder), "--smtp-url", url, "--json")
            assert code == 0, text
            assert json.loads(text[: text.rindex("}") + 1])["sent"] == 6, text
    ids = [email.message_from_bytes(raw)["Message-ID"] for _, raw in mailbox.messages]
    assert len(ids) == 12 and len(set(ids)) == 12
    assert sorted(mailbox.counts.values()) == [2] * 6


def test_a_span_that_is_exactly_one_week_is_that_weeks_issue(newsletter: Path) -> None:
    config = str(newsletter)
    run("gather", "--config", config)
    code, text = run("build", "--config", config, "--since", "2026-11-16", "--until", "2026-11-22")
    assert code == 0 and (newsletter.parent / "issues/2026-W47/issue.json").is_file(), text


def numbers(issues: Path) -> dict[str, int]:
    return {
        path.parent.name: json.loads(path.read_text(encoding="utf-8"))["number"]
        for path in issues.glob("*/issue.json")
    }


def test_numbers_are_given_once_distinct_and_stable_whatever_the_build_order(newsletter: Path) -> None:
    config = str(newsletter)
    run("gather", "--config", config)
    for args in (
        ("--week", "2026-W47"),
        ("--week", "2026-W45"),
        ("--since", "2026-11-01", "--until", "2026-11-14"),
    ):
        assert run("build", "--config", config, *args)[0] == 0
    issues = newsletter.parent / "issues"
    first = numbers(issues)
    assert first == {"2026-W47": 1, "2026-W45": 2, "2026-11-01--2026-11-14": 3}
    for args in (("--week", "2026-W45"), ("--week", "2026-W47")):
        assert run("build", "--config", config, *args, "--force")[0] == 0
    assert numbers(issues) == first
    # A new machine (an emptied state) continues the series instead of starting again at 1.
    for leftover in (newsletter.parent / ".digest").iterdir():
        leftover.unlink()
    run("gather", "--config", config)
    assert run("build", "--config", config, "--week", "2026-W46")[0] == 0
    assert run("build", "--config", config, "--week", "2026-W47", "--force")[0] == 0
    assert numbers(issues) == {**first, "2026-W46": 4}


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.hrefs += [value for name, value in attrs if name in ("href", "src") and value]


def test_the_email_link_the_archive_page_and_the_atom_link_are_one_url_for_every_edition(
    newsletter: Path, tmp_path: Path
) -> None:
    config = str(bilingual(newsletter))
    run("gather", "--config", config)
    for week in ("2026-W46", "2026-W47"):
        assert run("build", "--config", config, "--week", week)[0] == 0
    site = tmp_path / "site"
    assert run("archive", "--config", config, "--out", str(site))[0] == 0
    published = f"{BASE}/issues/"  # where the archive folder is published
    feed = feedparser.parse((site / "feed.xml").read_bytes())
    atom_links = {entry.link for entry in feed.entries}
    assert feed.bozo == 0 and {entry.id for entry in feed.entries} == atom_links
    for edition in ("2026-W46", "2026-W46/en", "2026-W47", "2026-W47/en"):
        html = (newsletter.parent / "issues" / edition / "email.html").read_text(encoding="utf-8")
        web_link = f"{published}{edition}/"
        assert f'href="{web_link}"' in html, edition
        assert web_link in atom_links, edition
        assert (site / urlsplit(web_link).path.removeprefix("/issues/") / "index.html").is_file(), edition
    assert len(atom_links) == 4
    # A link checker over the archive: every internal link (relative, or under the published
    # address) reaches a file of the site.
    dead = []
    for page in site.rglob("*.html"):
        parser = Links()
        parser.feed(page.read_text(encoding="utf-8"))
        page_url = published + page.relative_to(site).as_posix()
        for href in parser.hrefs:
            target = urljoin(page_url, href)
            if not target.startswith(published):
                continue
            path = site / target.removeprefix(published).split("#")[0]
            if not (path.is_file() or (path / "index.html").is_file()):
                dead.append(f"{page.relative_to(site)} → {href}")
    assert dead == []


def test_render_elsewhere_uses_the_templates_of_the_issues_newsletter(
    newsletter: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    footer = "Rédaction du Digest, 1 rue des Exemples, 75000 Paris"
    templates = newsletter.parent / "templates"
    page = templates / "email.html"
    text = page.read_text(encoding="utf-8")
    page.write_text(
        text.replace('<tr><td class="footer">', f'<tr><td class="footer"><p>{footer}</p>', 1),
        encoding="utf-8",
    )
    config = str(newsletter)
    run("gather", "--config", config)
    issues = tmp_path / "elsewhere" / "issues"  # not beside digest.toml: only the record can tell
    assert run("build", "--config", config, "--week", "2026-W47", "--out", str(issues))[0] == 0
    built = (issues / "2026-W47" / "email.html").read_text(encoding="utf-8")
    assert footer in built
    monkeypatch.chdir(tmp_path)
    code, text = run("render", str(issues / "2026-W47"))
    assert code == 0, text
    assert (issues / "2026-W47" / "email.html").read_text(encoding="utf-8") == built


def test_render_refuses_to_guess_when_the_newsletter_is_gone(newsletter: Path, tmp_path: Path) -> None:
    config = str(newsletter)
    run("gather", "--config", config)
    issues = tmp_path / "elsewhere"
    run("build", "--config", config, "--week", "2026-W47", "--out", str(issues))
    newsletter.rename(newsletter.with_name("moved.toml"))
    code, text = run("render", str(issues / "2026-W47"))
    assert code == 2 and "--config" in text and str(newsletter) in text, text


def test_a_failed_migration_leaves_the_previous_version_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state"
    with open_store(state):
        pass
    broken = ("9999_broken", "CREATE TABLE half_done (x INTEGER); INSERT INTO no_such_table VALUES (1)")
    monkeypatch.setattr(store_module, "MIGRATIONS", (*store_module.MIGRATIONS, broken))
    with pytest.raises(StateError, match="9999_broken"), open_store(state):
        pass
    database = sqlite3.connect(state / "digest.sqlite3")
    tables = {name for (name,) in database.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    applied = {name for (name,) in database.execute("SELECT name FROM migrations")}
    database.close()
    assert "half_done" not in tables and "9999_broken" not in applied
    assert {"posts", "sends", "issues"} <= tables
    monkeypatch.undo()
    with open_store(state) as store:  # the next run works on the intact previous version
        assert store.issue_numbers() == {}
