"""`digest serve`: double opt-in sign-up, confirmation, one-click unsubscribe, preferences, and
the one truth that the weekly job reads, on SQLite (one shared file) and PostgreSQL."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from digest import pipeline
from digest.config import Settings, load_settings
from digest.environment import Environment
from digest.models import Post
from digest.smtp import parse_smtp_url
from digest.store import open_store
from digest.tokens import unsubscribe_token
from digest.unsubscribe import server
from digest.web.app import ListApp
from digest.web.mailer import smtp_mailer
from tests.conftest import NOW, SECRET
from tests.factories import issue_of
from tests.smtpserver import Mailbox, smtp_server

KEY = SECRET.encode()
AMELIE = "amelie.durand@example.org"
SITE = "https://digest.example.org"


@contextmanager
def serving(app: ListApp) -> Iterator[httpx.Client]:
    httpd = server(app, "127.0.0.1", 0, quiet=True)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{httpd.server_port}", trust_env=False, timeout=10
        ) as client:
            yield client
    finally:
        httpd.shutdown()
        httpd.server_close()


def form_token(page: str) -> str:
    match = re.search(r'name="form_token" value="([^"]+)"', page)
    assert match, page
    return match[1]


def subscribe(client: httpx.Client, address: str, **extra: str) -> httpx.Response:
    token = form_token(client.get("/subscribe").text)
    data = {"form_token": token, "email": address, "locale": "en", "website": "", **extra}
    return client.post("/subscribe", data=data, headers={"Origin": SITE})


def issue_folder(tmp_path: Path, make_post: Callable[..., Post]) -> Path:
    folder = tmp_path / "issues" / "2026-W47"
    pipeline.write_issue(issue_of([make_post(title="Première")]), folder, None)
    return folder


def send(newsletter: Path, folder: Path, port: int, database_url: str) -> subprocess.CompletedProcess[str]:
    """`digest send` in another process, as the weekly job on another machine would run it."""
    env = {
        **os.environ,
        "DIGEST_UNSUBSCRIBE_SECRET": SECRET,
        "NO_COLOR": "1",
        "DIGEST_DATABASE_URL": database_url,
    }
    command = [sys.executable, "-m", "digest", "send", str(folder), "--config", str(newsletter)]
    command += ["--smtp-url", f"smtp://127.0.0.1:{port}", "--json"]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def test_subscribe_confirm_then_the_next_send_reaches_only_the_confirmed(
    newsletter: Path, tmp_path: Path, make_post: Callable[..., Post], database_url: str
) -> None:
    settings = load_settings(newsletter)
    mailbox = Mailbox()
    with smtp_server(mailbox) as smtp:
        mailer = smtp_mailer(settings, parse_smtp_url(f"smtp://127.0.0.1:{smtp.port}"), lambda: NOW)
        app = ListApp(
            settings, KEY, database_url=database_url, mailer=mailer, clock=lambda: NOW, log=lambda _: None
        )
        with serving(app) as client:
            assert subscribe(client, "ada@example.org").status_code == 200
            assert subscribe(client, "bob@example.org").status_code == 200  # never confirms
            mail = mailbox.parsed("ada@example.org")
            link = re.search(rf"{SITE}(/confirm/\S+)", mail.get_content())
            assert link and mail["Subject"].startswith("Confirm your subscription")
            page = client.get(link[1])
            assert page.status_code == 200 and "ada@example.org" in page.text
            with open_store(settings.state, database_url) as store:
                assert store.subscriber(settings.list_id, "ada@example.org").status == "pending"  # type: ignore[union-attr]
            confirmed = client.post(
                link[1], data={"form_token": form_token(page.text)}, headers={"Origin": SITE}
            )
            assert confirmed.status_code == 200 and "Welcome" in confirmed.text
        sent = send(newsletter, issue_folder(tmp_path, make_post), smtp.port, database_url)
    assert sent.returncode == 0, sent.stderr
    assert mailbox.counts["ada@example.org"] == 2  # the confirmation, then the issue
    assert mailbox.counts["bob@example.org"] == 1  # the confirmation only: never confirmed, never mailed


def test_an_unsubscribe_in_the_web_app_is_skipped_by_a_send_in_another_process(
    newsletter: Path, tmp_path: Path, make_post: Callable[..., Post], database_url: str
) -> None:
    settings = load_settings(newsletter)
    app = ListApp(settings, KEY, database_url=database_url, clock=lambda: NOW, log=lambda _: None)
    token = unsubscribe_token(KEY, settings.list_id, AMELIE)
    with serving(app) as client:
        answer = client.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
        assert answer.status_code == 200
    mailbox = Mailbox()
    with smtp_server(mailbox) as smtp:
        sent = send(newsletter, issue_folder(tmp_path, make_post), smtp.port, database_url)
    assert sent.returncode == 0, sent.stderr
    delivered = {recipient for recipient, _ in mailbox.messages}
    assert AMELIE not in delivered and "jerome.lefevre@example.net" in delivered


@pytest.fixture
def app(settings: Settings) -> ListApp:
    return ListApp(settings, KEY, mailer=lambda *_: None, clock=lambda: NOW, log=lambda _: None)


def test_forms_refuse_cross_site_posts_missing_tokens_and_bots(app: ListApp, settings: Settings) -> None:
    with serving(app) as client:
        token = form_token(client.get("/subscribe").text)
        evil = client.post(
            "/subscribe",
            data={"form_token": token, "email": "x@example.org"},
            headers={"Origin": "https://evil.example"},
        )
        assert evil.status_code == 403
        assert client.post("/subscribe", data={"email": "x@example.org"}).status_code == 403
        bot = subscribe(client, "bot@example.org", website="http://spam.example")
        assert bot.status_code == 200
        bad = subscribe(client, "<script>alert(1)</script>")
        assert bad.status_code == 400 and "<script>" not in bad.text
        assert client.get("/healthz").text == "ok\n"
        assert client.get("/subscribe?next=https://evil.example").status_code == 200
        assert "location" not in client.get("/confirm/forged.token").headers
    with open_store(settings.state) as store:
        assert store.subscriber(settings.list_id, "bot@example.org") is None


def test_the_sign_up_form_is_rate_limited_per_ip(app: ListApp) -> None:
    with serving(app) as client:
        codes = [subscribe(client, f"r{n}@example.org").status_code for n in range(12)]
    assert codes[:10] == [200] * 10 and codes[10:] == [429, 429]


def test_preferences_change_the_edition_and_segments(app: ListApp, settings: Settings) -> None:
    with open_store(settings.state) as store:
        store.record_event(settings.list_id, "ada@example.org", "confirmed", NOW, "web")
        store.record_event(settings.list_id, "bob@example.org", "confirmed", NOW, "web")
        store.save_preferences(settings.list_id, "bob@example.org", locale="fr", tags=["medias", "libre"])
    path = f"/preferences/{unsubscribe_token(KEY, settings.list_id, 'ada@example.org')}"
    with serving(app) as client:
        page = client.get(path)
        assert page.status_code == 200 and 'value="medias"' in page.text
        saved = client.post(
            path,
            data={"form_token": form_token(page.text), "locale": "en", "segment": ["libre", "evil"]},
            headers={"Origin": SITE},
        )
        assert saved.status_code == 200
        assert client.get("/preferences/forged.token").status_code == 404
    with open_store(settings.state) as store:
        ada = store.subscriber(settings.list_id, "ada@example.org")
    assert ada is not None and ada.locale == "en" and ada.tags == ("libre",)


def test_create_app_reads_the_environment(newsletter: Path) -> None:
    from digest.web import create_app

    app = create_app({"DIGEST_CONFIG": str(newsletter), "DIGEST_UNSUBSCRIBE_SECRET": SECRET})
    assert isinstance(app, ListApp) and app.mailer is None
    assert Environment.read({"DIGEST_DATABASE_URL": "postgresql://x"}).database_url == "postgresql://x"
