from __future__ import annotations

import email
import email.policy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from digest import __version__
from digest.cli import app

runner = CliRunner()
ENV = {
    "DIGEST_NOW": "2026-11-26T06:00:00+00:00",
    "NO_COLOR": "1",
    "DIGEST_UNSUBSCRIBE_SECRET": "s3cret-for-tests-0123456789abcdefghijkl",
}


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env={**ENV, **(env or {})})
    return result.exit_code, result.stdout, result.stderr


def test_demo_runs_the_whole_pipeline_offline(tmp_path: Path) -> None:
    code, _, err = run("demo", "--out", str(tmp_path / "demo"))
    assert code == 0, err
    issue = tmp_path / "demo" / "issues" / "2026-W47"
    html = (issue / "email.html").read_text(encoding="utf-8")
    assert 'style="' in html
    for name in ("issue.json", "email.txt", "web.html"):
        assert (issue / name).is_file()
    messages = sorted((tmp_path / "demo" / "messages").glob("*.eml"))
    assert len(messages) == 6  # 7 rows, one unsubscribed
    parsed = email.message_from_bytes(messages[0].read_bytes(), policy=email.policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    assert str(issue) in err and "6 .eml files" in err


def test_demo_is_deterministic(tmp_path: Path) -> None:
    run("demo", "--out", str(tmp_path / "a"))
    run("demo", "--out", str(tmp_path / "b"))
    for name in ("issue.json", "email.html", "email.txt", "web.html"):
        assert (tmp_path / "a/issues/2026-W47" / name).read_bytes() == (
            tmp_path / "b/issues/2026-W47" / name
        ).read_bytes()
    for message in (tmp_path / "a/messages").glob("*.eml"):
        assert message.read_bytes() == (tmp_path / "b/messages" / message.name).read_bytes()


def test_init_gather_build_export_session(tmp_path: Path) -> None:
    assert run("init", str(tmp_path / "news"))[0] == 0
    config = str(tmp_path / "news" / "digest.toml")
    code, out, _ = run("gather", "--config", config, "--json")
    assert code == 0
    report = json.loads(out)
    assert [feed["status"] for feed in report["feeds"]] == ["ok", "ok", "ok"]
    assert set(report["feeds"][0]) == {"url", "status", "new_posts", "error", "warnings", "moved_to"}
    code, out, _ = run(
        "posts", "--config", config, "--since", "2026-11-16", "--until", "2026-11-22", "--json"
    )
    assert code == 0
    posts = json.loads(out)["posts"]
    assert posts and {"id", "feed", "url", "title", "author", "published", "published_from"} <= set(posts[0])
    assert {"summary_html", "summary_text", "image"} <= set(posts[0])
    assert all(
        p["published"].endswith("+00:00") and "2026-11-15" < p["published"] < "2026-11-23" for p in posts
    )
    code, _, err = run("build", "--config", config)  # default: last complete week, 2026-W47
    assert code == 0, err
    issue = tmp_path / "news" / "issues" / "2026-W47"
    assert (issue / "issue.json").is_file()
    code, out, _ = run("check", str(issue), "--json")
    assert code == 0 and json.loads(out)["ok"] is True
    code, _, err = run(
        "export", str(issue), "--format", "eml", "--config", config, "--out", str(tmp_path / "outbox")
    )
    assert code == 0, err
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 6
    assert not list((tmp_path / "outbox").glob("*.tmp"))


def test_build_with_pin_and_drop(tmp_path: Path) -> None:
    run("init", str(tmp_path / "news"))
    config = str(tmp_path / "news" / "digest.toml")
    run("gather", "--config", config)
    pinned = "https://carnet-du-libre.example.org/2026/11/contribuer-sans-savoir-coder"
    dropped = "https://leveilleur.example.com/2026/11/newsletters-fidelite-lecteurs"
    code, _, err = run(
        "build",
        "--config",
        config,
        "--week",
        "2026-W47",
        "--pin",
        pinned,
        "--drop",
        dropped,
        "--pin",
        "https://nowhere.example/x",
    )
    assert code == 0, err
    assert "pinned URL matches no post of the week: https://nowhere.example/x" in err
    issue = json.loads((tmp_path / "news/issues/2026-W47/issue.json").read_text(encoding="utf-8"))
    urls = [post["url"] for section in issue["sections"] for post in section["posts"]]
    assert urls[0] == pinned and dropped not in urls


def test_a_week_without_posts_exits_3_and_writes_nothing(tmp_path: Path) -> None:
    run("init", str(tmp_path / "news"))
    config = str(tmp_path / "news" / "digest.toml")
    run("gather", "--config", config)
    code, _, err = run("build", "--config", config, "--week", "2026-W10")
    assert code == 3
    assert "no posts in 2026-W10" in err
    assert not (tmp_path / "news" / "issues" / "2026-W10").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("build", "--config", "{dir}/missing.toml"), "configuration file not found"),
        (("build", "--config", "{dir}/news/digest.toml", "--week", "2026-48"), "is not an ISO week"),
        (("render", "{dir}/nowhere"), "issue.json: not found"),
    ],
)
def test_usage_errors_exit_2_with_a_message_and_no_traceback(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    run("init", str(tmp_path / "news"))
    code, _, err = run(*(arg.format(dir=tmp_path) for arg in args))
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_an_unknown_config_key_names_the_key_and_file(tmp_path: Path) -> None:
    config = tmp_path / "digest.toml"
    config.write_text('[newsletter]\nnmae = "x"\n[[feeds]]\nurl = "f.xml"\n', encoding="utf-8")
    code, _, err = run("gather", "--config", str(config))
    assert code == 2 and "newsletter.nmae: unknown key" in err and str(config) in err


def test_a_missing_feed_is_reported_and_the_others_are_gathered(tmp_path: Path) -> None:
    run("init", str(tmp_path / "news"))
    config = tmp_path / "news" / "digest.toml"
    config.write_text(
        config.read_text(encoding="utf-8") + '\n[[feeds]]\nurl = "feeds/gone.xml"\n', encoding="utf-8"
    )
    code, out, _ = run("gather", "--config", str(config), "--json")
    assert code == 0
    feeds = json.loads(out)["feeds"]
    assert feeds[-1] == {
        "url": "feeds/gone.xml",
        "status": "error",
        "new_posts": 0,
        "error": "no such file",
        "warnings": [],
        "moved_to": None,
    }
    assert sum(feed["new_posts"] for feed in feeds) == 33


def test_every_feed_failing_exits_1(tmp_path: Path) -> None:
    config = tmp_path / "digest.toml"
    config.write_text('[[feeds]]\nurl = "nothing.xml"\n', encoding="utf-8")
    assert run("gather", "--config", str(config))[0] == 1


def test_a_template_typo_exits_2_naming_the_template(tmp_path: Path) -> None:
    run("init", str(tmp_path / "news"))
    config = str(tmp_path / "news" / "digest.toml")
    run("gather", "--config", config)
    post = tmp_path / "news" / "templates" / "post.html"
    post.write_text(post.read_text(encoding="utf-8").replace("post.title", "post.titel", 1), encoding="utf-8")
    code, _, err = run("build", "--config", config)
    assert code == 2 and "post.html" in err and "titel" in err and "Traceback" not in err


def test_export_without_the_secret_exits_2(tmp_path: Path) -> None:
    run("demo", "--out", str(tmp_path / "demo"))
    code, _, err = run(
        "export",
        str(tmp_path / "demo/issues/2026-W47"),
        "--config",
        str(tmp_path / "demo/digest.toml"),
        "--out",
        str(tmp_path / "out"),
        env={"DIGEST_UNSUBSCRIBE_SECRET": ""},
    )
    assert code == 2 and "DIGEST_UNSUBSCRIBE_SECRET" in err


def test_render_of_invalid_issue_json_exits_2_and_overwrites_nothing(tmp_path: Path) -> None:
    run("demo", "--out", str(tmp_path / "demo"))
    issue = tmp_path / "demo/issues/2026-W47"
    html = (issue / "email.html").read_bytes()
    (issue / "issue.json").write_text('{"schema": 1, "week": ', encoding="utf-8")
    code, _, err = run("render", str(issue))
    assert code == 2 and "invalid JSON at line 1" in err
    assert (issue / "email.html").read_bytes() == html
    (issue / "issue.json").write_text('{"schema": 99}', encoding="utf-8")
    code, _, err = run("render", str(issue))
    assert code == 2 and "unknown schema version 99" in err


def test_version() -> None:
    code, out, _ = run("--version")
    assert code == 0 and out.strip() == f"digest {__version__}"


def _commands() -> list[tuple[str, ...]]:
    """Every command path of the CLI, sub-apps included, read from the app itself."""
    import typer.main

    def walk(group: Any, path: tuple[str, ...]) -> list[tuple[str, ...]]:
        found = []
        for name, command in group.commands.items():
            if hasattr(command, "commands"):  # a sub-app
                found.extend(walk(command, (*path, name)))
            else:
                found.append((*path, name))
        return found

    return walk(typer.main.get_command(app), ())


def test_every_command_is_covered() -> None:
    names = {" ".join(path) for path in _commands()}
    expected = {"demo", "init", "gather", "build", "render", "check", "preview", "export", "send", "archive"}
    assert expected <= names and "subscribers check" in names and "unsubscribe serve" in names


@pytest.mark.parametrize("command", _commands(), ids=" ".join)
def test_every_command_has_help_with_an_example(command: tuple[str, ...]) -> None:
    code, out, _ = run(*command, "--help")
    assert code == 0
    assert re.search(r"Example: digest " + re.escape(" ".join(command)), out), out


def test_readme_quick_start_and_commands_are_in_step_with_the_cli() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    assert "make demo" in readme and "make test" in readme
    for command in re.findall(r"^\$ digest (\w+)", readme, flags=re.M):
        assert run(command, "--help")[0] == 0, command


def test_the_repository_is_itself_a_newsletter_with_its_own_template(tmp_path: Path) -> None:
    config = str(Path(__file__).parents[1] / "digest.toml")
    state = str(tmp_path / "state")
    assert run("gather", "--config", config, "--state", state)[0] == 0
    code, _, err = run("build", "--config", config, "--state", state, "--out", str(tmp_path / "issues"))
    assert code == 0, err
    html = (tmp_path / "issues/2026-W47/email.html").read_text(encoding="utf-8")
    assert "— La rédaction" in html  # templates/email.html, extending the shipped default


def test_a_rebuild_never_replaces_an_edited_issue_without_force(tmp_path: Path) -> None:
    run("init", str(tmp_path / "news"))
    config = str(tmp_path / "news" / "digest.toml")
    run("gather", "--config", config)
    assert run("build", "--config", config)[0] == 0
    assert run("build", "--config", config)[0] == 0  # same inputs: same bytes, nothing lost
    issue_json = tmp_path / "news/issues/2026-W47/issue.json"
    edited = issue_json.read_text(encoding="utf-8").replace('"intro": ""', '"intro": "Édito"')
    issue_json.write_text(edited, encoding="utf-8")
    code, _, err = run("build", "--config", config)
    assert code == 2 and "--force" in err and "digest render" in err
    assert issue_json.read_text(encoding="utf-8") == edited
    assert run("build", "--config", config, "--force")[0] == 0
    assert '"intro": ""' in issue_json.read_text(encoding="utf-8")


def test_issues_are_numbered_in_order_and_spans_get_their_own_folder(tmp_path: Path) -> None:
    run("init", str(tmp_path / "news"))
    config = str(tmp_path / "news" / "digest.toml")
    run("gather", "--config", config)
    for week in ("2026-W45", "2026-W46", "2026-W47"):
        assert run("build", "--config", config, "--week", week)[0] == 0
    numbers = {
        week: json.loads((tmp_path / f"news/issues/{week}/issue.json").read_text(encoding="utf-8"))["number"]
        for week in ("2026-W45", "2026-W46", "2026-W47")
    }
    assert numbers == {"2026-W45": 1, "2026-W46": 2, "2026-W47": 3}
    code, _, err = run("build", "--config", config, "--since", "2026-11-01", "--until", "2026-11-14")
    assert code == 0, err
    span = json.loads(
        (tmp_path / "news/issues/2026-11-01--2026-11-14/issue.json").read_text(encoding="utf-8")
    )
    assert (span["first_day"], span["last_day"], span["week"]) == ("2026-11-01", "2026-11-14", "2026-W46")
    assert (span["slug"], span["number"]) == ("2026-11-01--2026-11-14", 4)
    assert run("build", "--config", config, "--week", "2026-W46", "--force")[0] == 0  # a rebuild keeps it
    rebuilt = json.loads((tmp_path / "news/issues/2026-W46/issue.json").read_text(encoding="utf-8"))
    assert rebuilt["number"] == 2


def test_quiet_and_verbose(tmp_path: Path) -> None:
    run("init", str(tmp_path / "news"))
    config = str(tmp_path / "news" / "digest.toml")
    code, _, err = run("-q", "gather", "--config", config)
    assert code == 0 and err == ""
    code, _, err = run("-q", "build", "--config", config, "--week", "2026-W10")
    assert code == 3 and "notice: no posts in 2026-W10" in err  # notices and errors survive --quiet
    run("build", "--config", config)
    code, _, err = run("-v", "render", str(tmp_path / "news/issues/2026-W47"), "--config", config)
    assert code == 0 and "ok  H1" in err
    code, _, err = run("render", str(tmp_path / "news/issues/2026-W47"), "--config", config)
    assert code == 0 and "ok  H1" not in err


def test_editions_in_two_languages_and_segments(tmp_path: Path) -> None:
    run("init", str(tmp_path / "news"))
    config = tmp_path / "news" / "digest.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace('locale = "fr"', 'locale = "fr"\nlocales = ["fr", "en"]', 1), encoding="utf-8"
    )
    run("gather", "--config", str(config))
    code, _, err = run("build", "--config", str(config))
    assert code == 0, err
    issue = tmp_path / "news/issues/2026-W47"
    english = json.loads((issue / "en" / "issue.json").read_text(encoding="utf-8"))
    french = json.loads((issue / "issue.json").read_text(encoding="utf-8"))
    assert (english["locale"], english["slug"], english["edition"]) == ("en", "2026-W47", "en")
    assert (french["slug"], french["edition"]) == ("2026-W47", "")
    assert english["subject"] == "{name} — week {week_number}, {year}"  # a pattern, filled at render
    assert "sections" not in english  # the content is the main edition's: one place to edit it
    assert "Le Digest des Médias — week 47, 2026" in (issue / "en" / "email.html").read_text(encoding="utf-8")
    assert all(
        p["url"] in (issue / "en" / "email.html").read_text(encoding="utf-8")
        for s in french["sections"]
        for p in s["posts"]
    )
    assert "https://digest.example.org/issues/2026-W47/en/" in (issue / "en" / "email.html").read_text(
        encoding="utf-8"
    )
    code, _, err = run("export", str(issue), "--config", str(config), "--out", str(tmp_path / "out"))
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").glob("*.eml")) == [
        "amelie.durand@example.org.eml",
        "francois.njoya@example.org.eml",
        "jerome.lefevre@example.net.eml",
        "jonas.weiss@example.org.eml",
    ]
    assert sorted(p.name for p in (tmp_path / "out/en").glob("*.eml")) == [
        "daniel.oconnor@example.net.eml",
        "priya.raman@example.com.eml",
    ]
    assert err.count("unknown locale 'de'") == 1  # reported once, not once per edition
    code, _, err = run(
        "export", str(issue), "--config", str(config), "--out", str(tmp_path / "seg"), "--segment", "OpenWeb"
    )
    assert code == 0, err
    assert [p.name for p in (tmp_path / "seg").rglob("*.eml")] == ["daniel.oconnor@example.net.eml"]


def test_reporting_commands_print_json_on_stdout(tmp_path: Path) -> None:
    code, out, _ = run("demo", "--out", str(tmp_path / "demo"), "--json")
    assert code == 0
    demo = json.loads(out)
    assert demo["messages"]["written"] == 6 and len(demo["feeds"]) == 3 and demo["issue"].endswith("2026-W47")
    config = str(tmp_path / "demo" / "digest.toml")
    issue = str(tmp_path / "demo/issues/2026-W47")
    code, out, _ = run("render", issue, "--config", config, "--json")
    assert code == 0 and all(check["ok"] for check in json.loads(out)["checks"])
    code, out, _ = run(
        "export", issue, "--config", config, "--format", "mbox", "--out", str(tmp_path / "m"), "--json"
    )
    assert code == 0 and json.loads(out)["written"] == 6 and len(json.loads(out)["files"]) == 1
    code, out, _ = run("archive", "--config", config, "--out", str(tmp_path / "site"), "--json")
    assert code == 0 and any(path.endswith("feed.xml") for path in json.loads(out)["files"])
