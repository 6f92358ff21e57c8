"""Shared fixtures: factories for the data model, a sample newsletter folder, golden files."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from digest.config import Settings, load_settings
from digest.deliver import Prepared, prepare
from digest.models import Image, Post, Subscriber
from digest.newsletter import scaffold
from digest.pipeline import sender
from digest.render import render_issue
from tests.factories import issue_of
from tests.pgserver import fresh_schema, server_or_skip

GOLDEN = Path(__file__).parent / "golden"
SECRET = "test-secret-0123456789abcdefghijklmnop"  # DIGEST_UNSUBSCRIBE_SECRET in tests
NOW = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)  # a Thursday in 2026-W48


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden", action="store_true", help="rewrite tests/golden/ from the current output"
    )


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Callable[[str, str], None]:
    """Compare text with tests/golden/NAME; `pytest --update-golden` rewrites it."""
    update = request.config.getoption("--update-golden")

    def compare(name: str, actual: str) -> None:
        path = GOLDEN / name
        if update or not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(actual, encoding="utf-8", newline="\n")
            if not update:
                pytest.fail(f"golden file {name} was missing and has been written; check it and run again")
        assert actual == path.read_text(encoding="utf-8"), (
            f"differs from tests/golden/{name} (pytest --update-golden)"
        )

    return compare


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture
def make_post() -> Callable[..., Post]:
    counter = iter(range(1, 10_000))

    def factory(**overrides: Any) -> Post:
        number = next(counter)
        post = Post(
            id=f"post-{number:04d}",
            feed="feeds/example.xml",
            source="Example Blog",
            title=f"Post number {number}",
            url=f"https://blog.example.org/posts/{number}",
            published=datetime(2026, 11, 18, 9, 0, tzinfo=UTC),
            author=f"Author {number}",
            categories=("Web",),
            summary_html=f"<p>Summary of post {number}.</p>",
            summary_text=f"Summary of post {number}.",
            image=Image(url=f"https://img.example.org/{number}.jpg", alt=f"Picture {number}", width=600),
            language="en",
        )
        return replace(post, **overrides)

    return factory


@pytest.fixture
def make_subscriber() -> Callable[..., Subscriber]:
    def factory(**overrides: Any) -> Subscriber:
        return replace(
            Subscriber(email="reader@example.org", name="Reader", locale="en", line=2), **overrides
        )

    return factory


@pytest.fixture
def newsletter(tmp_path: Path) -> Path:
    """A fresh newsletter folder scaffolded from the bundled samples; returns its digest.toml."""
    return scaffold(tmp_path / "news")


@pytest.fixture
def settings(newsletter: Path) -> Settings:
    return load_settings(newsletter)


@pytest.fixture
def prepared(settings: Settings, make_post: Callable[..., Post]) -> Prepared:
    """A two-post French issue rendered once and ready for per-subscriber messages."""
    issue = issue_of([make_post(title="Première"), make_post(title="Seconde")])
    return prepare(render_issue(issue), issue, sender(settings), SECRET)


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[str], Path]:
    def write(text: str) -> Path:
        path = tmp_path / "digest.toml"
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def samples() -> Path:
    return Path(__file__).resolve().parents[1] / "digest" / "samples"


@pytest.fixture
def copy_sample(tmp_path: Path, samples: Path) -> Callable[[str], Path]:
    def copy(name: str) -> Path:
        target = tmp_path / Path(name).name
        shutil.copyfile(samples / name, target)
        return target

    return copy


@pytest.fixture(scope="session")
def postgres_server(request: pytest.FixtureRequest) -> Iterator[str]:
    """A PostgreSQL for the session (tests/pgserver.py), or a skip naming why there is none."""
    yield from server_or_skip(request)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Run a test on both backends: "" (SQLite in the state folder) or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return ""
    return fresh_schema(request.getfixturevalue("postgres_server"))
