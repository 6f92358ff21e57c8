from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from digest.config import load_settings
from digest.errors import ConfigError

MINIMAL = '[[feeds]]\nurl = "feed.xml"\n'


def test_sample_config_loads_with_paths_relative_to_the_file(newsletter: Path) -> None:
    settings = load_settings(newsletter)
    assert settings.newsletter.name == "Le Digest des Médias"
    assert settings.newsletter.locale == "fr"
    assert settings.newsletter.timezone == "Europe/Paris"
    assert settings.delivery.subscribers == newsletter.parent / "subscribers.csv"
    assert settings.state == newsletter.parent / ".digest"
    assert settings.issues == newsletter.parent / "issues"
    assert next(feed.url for feed in settings.feeds) == "feeds/magazine-medias.rss.xml"
    assert settings.feeds[0].location == str(newsletter.parent / "feeds" / "magazine-medias.rss.xml")


def test_every_key_but_feeds_has_a_default(write_config: Callable[[str], Path]) -> None:
    settings = load_settings(write_config(MINIMAL))
    assert settings.selection.max_posts == 12
    assert settings.selection.per_source_max == 3
    assert settings.newsletter.locale == "en"
    assert settings.unsubscribe_url == "https://digest.example.org/unsubscribe/{token}"


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[newsletter]\nnmae = 'x'\n" + MINIMAL, "newsletter.nmae"),
        ("[selection]\nmax_posts = 0\n" + MINIMAL, "selection.max_posts"),
        ("[selection]\nmax_posts = 'ten'\n" + MINIMAL, "selection.max_posts"),
        ("[newsletter]\nlocale = 'de'\n" + MINIMAL, "newsletter.locale"),
        ("[newsletter]\ntimezone = 'Europe/Pariss'\n" + MINIMAL, "newsletter.timezone"),
        ("[newsletter]\nbase_url = 'digest.example.org'\n" + MINIMAL, "newsletter.base_url"),
        ("[delivery]\nunsubscribe_url = 'https://x.example/u'\n" + MINIMAL, "delivery.unsubscribe_url"),
        ("[[feeds]]\nurl = 'ftp://x.example/feed'\n", "feeds.url"),
        ("[[feeds]]\nurl = 'a.xml'\nweight = -1\n", "feeds[1].weight"),
        ("[[feeds]]\nlink = 'a.xml'\n", "feeds[1].link"),
        ("[newsletter]\nname = 'x'\n", "feeds"),
        ("extra = 1\n" + MINIMAL, "extra"),
        ("[newsletter]\nlocales = ['de']\n" + MINIMAL, "newsletter.locales"),
        ("[newsletter]\nlocale = 'fr'\nlocales = ['en']\n" + MINIMAL, "newsletter.locales"),
        ("[selection]\nsubject = '{nope}'\n" + MINIMAL, "selection.subject"),
        ("[selection]\nper_author_max = true\n" + MINIMAL, "selection.per_author_max"),
        ("[selection.weights]\nshares = -1\n" + MINIMAL, "selection.weights.shares"),
        ("[delivery]\nfeedback_id = 'x'\n" + MINIMAL, "delivery.feedback_id"),
        ("[delivery]\nmailto_unsubscribe = 'nope'\n" + MINIMAL, "delivery.mailto_unsubscribe"),
        ("[delivery]\nlistmonk_lists = [true]\n" + MINIMAL, "delivery.listmonk_lists"),
        ("[paths]\nstate = 3\n" + MINIMAL, "paths.state"),
    ],
)
def test_a_bad_key_is_named_with_the_file(write_config: Callable[[str], Path], text: str, named: str) -> None:
    path = write_config(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert named in str(caught.value)
    assert str(path) in str(caught.value)
    assert caught.value.exit_code == 2


def test_invalid_toml_and_missing_file_are_config_errors(
    write_config: Callable[[str], Path], tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(write_config("[newsletter\n"))
    with pytest.raises(ConfigError, match="not found") as caught:
        load_settings(tmp_path / "missing.toml")
    assert "digest init" in str(caught.value)


def test_state_folder_is_the_one_passed_in(write_config: Callable[[str], Path], tmp_path: Path) -> None:
    assert load_settings(write_config(MINIMAL), state=tmp_path / "elsewhere").state == tmp_path / "elsewhere"


def test_state_folder_defaults_to_paths_state_beside_the_file(write_config: Callable[[str], Path]) -> None:
    path = write_config(MINIMAL)
    assert load_settings(path).state == path.parent / ".digest"
    moved = write_config('[paths]\nstate = "var/state"\n' + MINIMAL)
    assert load_settings(moved).state == moved.parent / "var" / "state"


def test_loading_settings_reads_no_environment_variable(
    write_config: Callable[[str], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGEST_STATE", str(tmp_path / "elsewhere"))
    path = write_config(MINIMAL)
    assert load_settings(path).state == path.parent / ".digest"
