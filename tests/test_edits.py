"""Edits that stay consistent: a hand edit of issue.json, or `digest edit`, is reflected in every
part (subject, preheader, HTML, text, web) of every edition, or refused by name."""

from __future__ import annotations

import email
import email.policy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from digest.cli import app

ENV = {
    "DIGEST_NOW": "2026-11-26T06:00:00+00:00",
    "NO_COLOR": "1",
    "DIGEST_UNSUBSCRIBE_SECRET": "s3cret-s3cret-s3cret-s3cret-s3cret!",
}
runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=ENV)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def issue(tmp_path: Path) -> Path:
    """A built issue in two editions: French (main) and English."""
    run("init", str(tmp_path / "news"))
    config = tmp_path / "news" / "digest.toml"
    text = config.read_text(encoding="utf-8")
    text = text.replace('locale = "fr"', 'locale = "fr"\nlocales = ["fr", "en"]', 1)
    text = text.replace("\n[[feeds]]", '\n[utm]\nsource = "digest"\n\n[[feeds]]', 1)
    config.write_text(text, encoding="utf-8")
    assert run("gather", "--config", str(config))[0] == 0
    code, _, err = run("build", "--config", str(config))
    assert code == 0, err
    return tmp_path / "news/issues/2026-W47"


def load(folder: Path) -> dict[str, Any]:
    data = json.loads((folder / "issue.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def save(folder: Path, data: dict[str, Any]) -> None:
    (folder / "issue.json").write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")


def parts(folder: Path) -> str:
    return "\n".join(
        (folder / name).read_text(encoding="utf-8") for name in ("email.html", "email.txt", "web.html")
    )


def subjects(out: Path) -> set[str]:
    return {
        str(email.message_from_bytes(path.read_bytes(), policy=email.policy.default)["Subject"])
        for path in out.rglob("*.eml")
    }


def test_dropping_a_post_by_hand_updates_every_part_of_every_edition(issue: Path, tmp_path: Path) -> None:
    data = load(issue)
    first, second = data["sections"][0]["posts"][:2]
    count = sum(len(section["posts"]) for section in data["sections"])
    data["sections"][0]["posts"].pop(0)
    save(issue, data)
    code, _, err = run("render", str(issue))
    assert code == 0, err
    for folder in (issue, issue / "en"):
        assert first["url"] not in parts(folder)  # nowhere: not the HTML, the text, the web page
        assert second["url"] in parts(folder)
        assert first["title"][:12] not in parts(folder)  # nor the preheader
    french, english = (
        (issue / "email.html").read_text(encoding="utf-8"),
        (issue / "en/email.html").read_text(encoding="utf-8"),
    )
    assert f"{count - 1} articles cette semaine" in french and f"{count - 1} posts this week" in english
    assert run("export", str(issue), "--out", str(tmp_path / "out"))[0] == 0
    everyone = (tmp_path / "out").rglob("*.eml")
    assert all(first["url"] not in path.read_text(encoding="utf-8") for path in everyone)


def test_an_edited_summary_and_title_reach_the_text_part_and_the_subject(issue: Path, tmp_path: Path) -> None:
    data = load(issue)
    post = data["sections"][0]["posts"][0]
    post["summary_html"] = "<p>Un résumé <strong>réécrit</strong> à la main.</p>"
    post["title"] = "Titre corrigé"
    data["subject"] = "{name} : « {first} » et {count} autres"
    save(issue, data)
    assert run("render", str(issue))[0] == 0
    for folder in (issue, issue / "en"):
        text = (folder / "email.txt").read_text(encoding="utf-8")
        assert "réécrit à la main" in text and "Titre corrigé" in text
    assert run("export", str(issue), "--out", str(tmp_path / "out"))[0] == 0
    found = subjects(tmp_path / "out")
    assert any("« Titre corrigé »" in subject for subject in found)  # the English edition's own pattern too
    assert any("week 47" in subject for subject in found)


def test_a_misspelt_key_is_refused_by_name_and_nothing_is_lost(issue: Path) -> None:
    data = load(issue)
    data["introduction"] = "Bonjour à toutes et à tous"
    save(issue, data)
    before = (issue / "email.html").read_bytes()
    for command in (
        ("render", str(issue)),
        ("check", str(issue), "--no-browser"),
        ("edit", "list", str(issue)),
    ):
        code, _, err = run(*command)
        assert code == 2 and "introduction: unknown key" in err and "did you mean 'intro'" in err, command
    assert load(issue)["introduction"] == "Bonjour à toutes et à tous"  # the editor's text is still there
    assert (issue / "email.html").read_bytes() == before
    post = data["sections"][0]["posts"][0]
    del data["introduction"]
    post["summmary_html"] = post.pop("summary_html")
    save(issue, data)
    code, _, err = run("render", str(issue))
    assert code == 2 and "sections[0].posts[0].summmary_html: unknown key" in err and "'summary_html'" in err


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda d: d.update(subject="{name} n°{numero}"), "unknown placeholder {numero}"),
        (lambda d: d.update(preheader="{count"), "preheader"),
        (lambda d: d.update(slug="2026-W46"), "slug"),
        (lambda d: d["sections"][0]["posts"][0].update(published="hier"), "published"),
        (
            lambda d: d["sections"][0]["posts"][0].update(summary_text="stale copy"),
            "summary_text: unknown key",
        ),
    ],
)
def test_an_edit_that_cannot_be_reflected_is_refused_by_name(issue: Path, change: Any, named: str) -> None:
    data = load(issue)
    change(data)
    save(issue, data)
    code, _, err = run("render", str(issue))
    assert code == 2 and named in err, err


def test_an_edition_holds_only_its_own_part_and_refuses_the_rest(issue: Path) -> None:
    english = load(issue / "en")
    assert set(english) <= {
        "schema",
        "config",
        "slug",
        "edition",
        "locale",
        "intro",
        "subject",
        "preheader",
        "section_titles",
    }
    english["intro"] = "A word for English readers."
    save(issue / "en", english)
    assert run("render", str(issue / "en"))[0] == 0
    assert "A word for English readers." in parts(issue / "en") and "A word for" not in parts(issue)
    english["sections"] = []
    save(issue / "en", english)
    code, _, err = run("render", str(issue))
    assert code == 2 and "en/issue.json: sections: unknown key" in err and "main edition" in err


def test_digest_edit_operations_keep_every_edition_consistent(issue: Path) -> None:
    code, out, _ = run("edit", "list", str(issue), "--json")
    assert code == 0
    posts = json.loads(out)["posts"]
    first, second, third = posts[0], posts[1], posts[2]
    code, out, err = run("edit", "pin", str(issue), third["id"][:8], "--json")
    assert code == 0, err
    assert json.loads(out)["preheader"].endswith("»") and third["title"][:8] in json.loads(out)["preheader"]
    assert third["url"] in (issue / "en/email.html").read_text(encoding="utf-8").split("<h2")[1]  # the lead
    assert run("edit", "retitle", str(issue), third["url"], "Un titre neuf")[0] == 0
    assert run("edit", "resummarise", str(issue), third["id"], "<p>Neuf.</p><script>x()</script>")[0] == 0
    for folder in (issue, issue / "en"):
        assert "Un titre neuf" in parts(folder) and "Neuf." in (folder / "email.txt").read_text(
            encoding="utf-8"
        )
        assert "<script>x()" not in parts(folder)
    assert run("edit", "move", str(issue), second["id"], "--to", "1")[0] == 0
    assert run("edit", "drop", str(issue), first["id"], "--edition", "en")[0] == 0
    assert first["url"] in parts(issue) and first["url"] not in parts(issue / "en")  # edition-specific
    assert run("edit", "drop", str(issue), second["id"])[0] == 0
    assert all(second["url"] not in parts(folder) for folder in (issue, issue / "en"))  # every edition
    code, _, err = run("edit", "drop", str(issue), "no-such-post")
    assert code == 2 and "no post 'no-such-post'" in err and "digest edit list" in err
    code, _, err = run("edit", "move", str(issue), third["id"], "--to", "1", "--section", "Nowhere")
    assert code == 2 and "no section 'Nowhere'" in err


def test_utm_parameters_go_on_post_links_only(issue: Path) -> None:
    html = (issue / "email.html").read_text(encoding="utf-8")
    links = re.findall(r'href="([^"]+)"', html)
    assert any("utm_source=digest" in link and "utm_campaign=2026-W47" in link for link in links)
    assert all("utm_" not in link for link in links if "/issues/" in link or "unsubscribe" in link)


def test_postal_address_in_every_footer_and_checked(issue: Path) -> None:
    _, out, _ = run("check", str(issue), "--no-browser", "--json")
    assert any(c["rule"] == "L1" and c["warning"] for c in json.loads(out)["checks"])
    data = load(issue)
    data["postal_address"] = "Le Digest, 12 rue de l'Exemple, 75011 Paris"
    save(issue, data)
    assert run("render", str(issue))[0] == 0
    for folder in (issue, issue / "en"):
        for name in ("email.html", "email.txt", "web.html"):
            assert "12 rue de l" in (folder / name).read_text(encoding="utf-8"), (folder, name)
    _, out, _ = run("check", str(issue), "--no-browser", "--json")
    assert [c["ok"] and not c["warning"] for c in json.loads(out)["checks"] if c["rule"] == "L1"] == [True]


def test_export_removes_the_messages_of_readers_gone_since(issue: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run("export", str(issue), "--out", str(out))[0] == 0
    left = out / "amelie.durand@example.org.eml"
    assert left.is_file()
    csv = tmp_path / "news/subscribers.csv"
    csv.write_text(
        csv.read_text(encoding="utf-8").replace("Amélie Durand,fr,active", "Amélie Durand,fr,unsubscribed"),
        encoding="utf-8",
    )
    code, _, err = run("export", str(issue), "--out", str(out))
    assert code == 0 and "1 stale messages of an earlier export removed" in err
    assert not left.exists()


def test_weeks_are_named_exactly(tmp_path: Path) -> None:
    run("init", str(tmp_path / "news"))
    config = str(tmp_path / "news/digest.toml")
    run("gather", "--config", config)
    assert run("build", "--config", config, "--week", "2026-w47")[0] == 0  # case does not matter
    assert (tmp_path / "news/issues/2026-W47/issue.json").is_file()
    code, _, err = run("build", "--config", config, "--week", "2025-W53")
    assert code == 2 and "2025 has 52 ISO weeks" in err
    code, _, err = run("build", "--config", config, "--week", "2027-W10")
    assert code == 2 and "has not begun" in err and "2026-W47" in err
    code, _, err = run("build", "--config", config, "--week", "2026-W48")
    assert "2026-W48 is not over" in err
    code, _, err = run("build", "--config", config, "--week", "2026-W10")
    assert code == 3 and err.startswith("notice:") and "error" not in err


def test_init_writes_a_gitignore_for_state_messages_and_secrets(tmp_path: Path) -> None:
    code, _, err = run("init", str(tmp_path / "news"))
    assert code == 0 and "edit [newsletter] and [[feeds]]" in err
    lines = (tmp_path / "news/.gitignore").read_text(encoding="utf-8").splitlines()
    ignored = [line for line in lines if line and not line.startswith("#")]
    assert {".digest/", "outbox/", "*.eml", ".env", "*.pem", ".venv/"} <= set(ignored)
    assert "issues/" not in ignored and "site/" not in ignored  # the workflow commits them


def test_check_fails_while_an_edit_is_not_rendered(issue: Path) -> None:
    code, out, _ = run("check", str(issue), "--no-browser", "--json")
    assert [c["ok"] for c in json.loads(out)["checks"] if c["rule"] == "R1"] == [True]
    data = load(issue)
    data["intro"] = "Un mot de la rédaction."
    save(issue, data)
    code, _, err = run("check", str(issue), "--no-browser")
    assert code == 1 and "older than issue.json: run `digest render`" in err
    assert run("render", str(issue))[0] == 0
    assert run("check", str(issue), "--no-browser")[0] == 0
