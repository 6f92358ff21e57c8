"""One-click unsubscribe: the app served on 127.0.0.1, driven by a real HTTP client.

A forged token, a tampered one, one for another list, one for an address not in the list: no
change, ever. A genuine one-click POST: 200 and recorded, and sending skips that person at once.
"""

from __future__ import annotations

import base64
import email
import email.policy
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from digest import deliver
from digest.cli import app
from digest.config import NewsletterSettings, Settings, load_settings
from digest.errors import ConfigError
from digest.migrations import MIGRATIONS
from digest.store import open_store
from digest.subscribers import read_subscribers, recipients
from digest.tokens import LEGACY_UNTIL, legacy_token, signing_secret, unsubscribe_token, verify_token
from digest.unsubscribe import UnsubscribeApp, create_app, list_id_of, one_click, page, server

SECRET = b"s3cret-for-tests-0123456789abcdefghijkl"
NOW = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
ONE_CLICK = {"List-Unsubscribe": "One-Click"}
AMELIE = "amelie.durand@example.org"  # French, active in the sample list
PRIYA = "priya.raman@example.com"  # English, active
HELENE = "helene.marchand@example.com"  # unsubscribed in the CSV already


@contextmanager
def serving(unsubscribe_app: UnsubscribeApp) -> Iterator[httpx.Client]:
    httpd = server(unsubscribe_app, "127.0.0.1", 0, quiet=True)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{httpd.server_port}", trust_env=False, timeout=5
        ) as client:
            yield client
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def client(settings: Settings) -> Iterator[httpx.Client]:
    with serving(UnsubscribeApp(settings, SECRET, clock=lambda: NOW, log=lambda _: None)) as http:
        yield http


def token(settings: Settings, address: str, *, secret: bytes = SECRET, list_id: str | None = None) -> str:
    return unsubscribe_token(secret, list_id or list_id_of(settings), address)


def recorded(settings: Settings) -> frozenset[str]:
    with open_store(settings.state) as store:
        return store.unsubscribed(list_id_of(settings))


# --- Tokens ---------------------------------------------------------------------------------------


def test_a_genuine_token_names_its_address(settings: Settings) -> None:
    assert (
        verify_token(SECRET, list_id_of(settings), token(settings, "Anne@Example.org")) == "anne@example.org"
    )


def test_a_token_is_opaque_stable_and_bound_to_its_list() -> None:
    made = unsubscribe_token(SECRET, "digest.example.org", "Amelie.Durand@example.org")
    assert made == unsubscribe_token(SECRET, "digest.example.org", "amelie.durand@example.org")  # same bytes
    assert re.fullmatch(r"[A-Za-z0-9_-]+", made) and "amelie" not in base64.urlsafe_b64decode(
        made + "=="
    ).decode("latin-1")
    assert verify_token(SECRET, "digest.example.org", made) == "amelie.durand@example.org"
    assert verify_token(SECRET, "other.example.org", made) is None


def test_links_already_sent_keep_working_until_the_documented_date() -> None:
    old = "em_DqUBleGVtcGxlLmZy.m1N33D1c-ggetl9cihJZ5s6R"  # made with b"s3cret-for-tests" before
    assert legacy_token(b"s3cret-for-tests", "digest.example.org", "zoé@exemple.fr") == old
    assert verify_token(b"s3cret-for-tests", "digest.example.org", old) == "zoé@exemple.fr"
    before = LEGACY_UNTIL - timedelta(days=1)
    assert verify_token(b"s3cret-for-tests", "digest.example.org", old, now=before) == "zoé@exemple.fr"
    after = LEGACY_UNTIL + timedelta(seconds=1)
    assert verify_token(b"s3cret-for-tests", "digest.example.org", old, now=after) is None


def test_messages_and_the_app_share_one_token_maker() -> None:
    assert deliver.unsubscribe_token is unsubscribe_token


def test_an_empty_or_short_secret_names_the_variable_and_how_to_make_one() -> None:
    assert signing_secret("s" * 32) == b"s" * 32
    with pytest.raises(ConfigError, match="DIGEST_UNSUBSCRIBE_SECRET is not set"):
        signing_secret("")
    for short in (" ", "a", "x" * 31):
        with pytest.raises(ConfigError, match="at least 32 bytes") as caught:
            signing_secret(short)
        assert "secrets.token_urlsafe(32)" in str(caught.value)


def _flip(text: str, index: int) -> str:
    return text[:index] + ("A" if text[index] != "A" else "B") + text[index + 1 :]


def test_forged_tampered_and_foreign_tokens_name_no_one(settings: Settings) -> None:
    genuine = token(settings, AMELIE)
    legacy = legacy_token(SECRET, list_id_of(settings), AMELIE)
    who, signature = legacy.split(".")
    other_who = base64.urlsafe_b64encode(PRIYA.encode()).rstrip(b"=").decode()
    list_id = list_id_of(settings)
    for bad in (
        f"{who}.{'A' * 24}",  # forged signature (old form)
        f"{other_who}.{signature}",  # Amélie's signature on Priya's address
        _flip(legacy, len(who) + 3),  # one character of the signature changed
        _flip(genuine, 3),  # one character of an opaque token changed
        _flip(genuine, len(genuine) - 1),
        token(settings, AMELIE, list_id="other.example.org"),  # replayed from another list
        token(settings, AMELIE, secret=b"another-secret-0123456789abcdefghijkl"),  # another secret
        genuine + "A",
        genuine[:-4],
        who,
        "",
        "a.b.c",
        "é" * 10 + "." + signature,
        "A" * 600,
    ):
        assert verify_token(SECRET, list_id, bad) is None, bad


def test_the_list_id_is_derived_like_deliver_does(settings: Settings) -> None:
    assert list_id_of(settings) == "digest.example.org"  # the host of base_url
    named = replace(settings, newsletter=replace(settings.newsletter, list_id="weekly.digest.example.org"))
    assert list_id_of(named) == "weekly.digest.example.org"
    bare = replace(
        settings, newsletter=NewsletterSettings(base_url="http://", sender="R <r@Mail.example.net>")
    )
    assert list_id_of(bare) == "mail.example.net"


# --- The app over HTTP ----------------------------------------------------------------------------


def test_one_click_post_unsubscribes_and_answers_200(client: httpx.Client, settings: Settings) -> None:
    response = client.post(f"/unsubscribe/{token(settings, AMELIE)}", data=ONE_CLICK)
    assert response.status_code == 200
    assert "set-cookie" not in response.headers and response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert 'lang="fr"' in response.text and "Vous êtes désabonné·e" in response.text
    assert recorded(settings) == {AMELIE}
    with open_store(settings.state) as store:
        events = store.events(settings.list_id)
        row = store.db.execute("SELECT status, applied_at FROM subscribers").fetchone()
    assert [(e.email, e.kind, e.at.isoformat(), e.source) for e in events] == [
        (AMELIE, "unsubscribed", "2026-11-26T06:00:00+00:00", "one-click")
    ]
    assert row == ("unsubscribed", None)
    again = client.post(f"/unsubscribe/{token(settings, AMELIE)}", data=ONE_CLICK)
    assert again.status_code == 200 and "déjà désabonné" in again.text


def test_one_click_post_as_multipart_form_data(client: httpx.Client, settings: Settings) -> None:
    response = client.post(
        f"/unsubscribe/{token(settings, PRIYA)}", files={"List-Unsubscribe": (None, "One-Click")}
    )
    assert response.status_code == 200 and "You are unsubscribed" in response.text
    assert recorded(settings) == {PRIYA}


def test_get_shows_a_localised_accessible_page_with_a_button_and_changes_nothing(
    client: httpx.Client, settings: Settings
) -> None:
    french = client.get(f"/unsubscribe/{token(settings, AMELIE)}")
    english = client.get(f"/unsubscribe/{token(settings, PRIYA)}")
    assert french.status_code == english.status_code == 200
    assert '<html lang="fr">' in french.text and "Se désabonner de Le Digest des Médias ?" in french.text
    assert (
        '<html lang="en">' in english.text
        and "<h1>Unsubscribe from Le Digest des Médias?</h1>" in english.text
    )
    form = re.search(r'<form method="post">(.*?)</form>', english.text)
    assert (
        form
        and 'name="List-Unsubscribe" value="One-Click"' in form[1]
        and '<button type="submit">' in form[1]
    )
    assert 'name="viewport"' in english.text and PRIYA in english.text
    assert recorded(settings) == frozenset()
    assert client.head(f"/unsubscribe/{token(settings, PRIYA)}").content == b""


def test_the_page_button_posts_the_one_click_body(client: httpx.Client, settings: Settings) -> None:
    url = f"/unsubscribe/{token(settings, PRIYA)}"
    form = re.search(r'<input type="hidden" name="([^"]+)" value="([^"]+)">', client.get(url).text)
    assert form
    assert client.post(url, data={form[1]: form[2]}).status_code == 200
    assert recorded(settings) == {PRIYA}
    after = client.get(url)
    assert "You were already unsubscribed" in after.text and "<form" not in after.text


@pytest.mark.parametrize(
    "bad",
    [
        "forged",
        "tampered",
        "other list",
        "other secret",
        "garbage",
    ],
)
def test_a_bad_token_changes_nothing_and_answers_400(
    client: httpx.Client, settings: Settings, bad: str
) -> None:
    genuine = token(settings, AMELIE)
    who, _ = legacy_token(SECRET, list_id_of(settings), AMELIE).split(".")
    value = {
        "forged": f"{who}.{'x' * 24}",
        "tampered": _flip(genuine, 2),
        "other list": token(settings, AMELIE, list_id="another-list.example.org"),
        "other secret": token(settings, AMELIE, secret=b"not-our-secret-0123456789abcdefghijkl"),
        "garbage": "not-a-token",
    }[bad]
    for response in (
        client.post(f"/unsubscribe/{value}", data=ONE_CLICK),
        client.get(f"/unsubscribe/{value}"),
    ):
        assert response.status_code == 400 and "<form" not in response.text
    assert recorded(settings) == frozenset()


def test_a_genuine_token_for_an_address_not_in_the_list_changes_nothing(
    client: httpx.Client, settings: Settings
) -> None:
    stranger = token(settings, "stranger@example.org")
    response = client.post(f"/unsubscribe/{stranger}", data=ONE_CLICK, headers={"Accept-Language": "en"})
    assert response.status_code == 404 and "This address is not on the list" in response.text
    assert client.get(f"/unsubscribe/{stranger}").status_code == 404
    assert recorded(settings) == frozenset()


def test_a_post_without_the_one_click_body_changes_nothing(client: httpx.Client, settings: Settings) -> None:
    url = f"/unsubscribe/{token(settings, AMELIE)}"
    for kwargs in ({}, {"data": {"List-Unsubscribe": "yes"}}, {"content": b"hello"}):
        assert client.post(url, **kwargs).status_code == 400  # type: ignore[arg-type]
    assert client.post(url, content=b"x" * 9000).status_code == 413
    assert recorded(settings) == frozenset()


def test_other_paths_and_methods(client: httpx.Client, settings: Settings) -> None:
    assert client.get("/").status_code == 404
    assert client.get(f"/elsewhere/{token(settings, AMELIE)}").status_code == 404
    put = client.put(f"/unsubscribe/{token(settings, AMELIE)}", content=b"List-Unsubscribe=One-Click")
    assert put.status_code == 405 and put.headers["allow"] == "GET, HEAD, POST"
    assert client.get("/healthz").text == "ok\n"
    assert recorded(settings) == frozenset()


def test_someone_already_unsubscribed_in_the_csv_is_known(client: httpx.Client, settings: Settings) -> None:
    assert client.post(f"/unsubscribe/{token(settings, HELENE)}", data=ONE_CLICK).status_code == 200


def test_a_row_rejected_for_another_fault_can_still_unsubscribe(
    client: httpx.Client, settings: Settings
) -> None:
    path = settings.delivery.subscribers
    path.write_text(
        path.read_text(encoding="utf-8") + 'odd@example.org,"Two\nlines",fr,active,,\n', encoding="utf-8"
    )
    response = client.post(f"/unsubscribe/{token(settings, 'odd@example.org')}", data=ONE_CLICK)
    assert response.status_code == 200 and "Vous êtes désabonné·e" in response.text


def test_the_list_is_read_again_when_it_changes(client: httpx.Client, settings: Settings) -> None:
    newcomer = token(settings, "new@example.org")
    assert client.get(f"/unsubscribe/{newcomer}").status_code == 404
    path = settings.delivery.subscribers
    path.write_text(path.read_text(encoding="utf-8") + "new@example.org,New,en,active,,\n", encoding="utf-8")
    assert client.post(f"/unsubscribe/{newcomer}", data=ONE_CLICK).status_code == 200


def test_a_list_that_cannot_be_read_answers_503_so_the_sender_retries(
    client: httpx.Client, settings: Settings
) -> None:
    settings.delivery.subscribers.write_bytes(b"")
    response = client.post(f"/unsubscribe/{token(settings, AMELIE)}", data=ONE_CLICK)
    assert response.status_code == 503 and response.headers["retry-after"] == "120"


def test_unsubscribe_url_with_a_prefix_path_is_answered_there(settings: Settings) -> None:
    custom = replace(
        settings, delivery=replace(settings.delivery, unsubscribe_url="https://x.example/news/u/{token}/")
    )
    with serving(UnsubscribeApp(custom, SECRET, log=lambda _: None)) as http:
        assert http.post(f"/news/u/{token(settings, AMELIE)}/", data=ONE_CLICK).status_code == 200
        assert http.post(f"/unsubscribe/{token(settings, AMELIE)}", data=ONE_CLICK).status_code == 404


def test_one_click_bodies() -> None:
    assert one_click(b"List-Unsubscribe=One-Click", "application/x-www-form-urlencoded")
    assert one_click(b"List-Unsubscribe=One-Click", "")
    assert not one_click(b"List-Unsubscribe=Two-Clicks", "application/x-www-form-urlencoded")
    body = b'--b\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click\r\n--b--\r\n'
    assert one_click(body, "multipart/form-data; boundary=b")
    assert not one_click(body.replace(b"One-Click", b"Nope"), "multipart/form-data; boundary=b")


def test_pages_escape_what_they_show() -> None:
    html = page("en", "done", newsletter="<b>News</b>", address="a&b@example.org").decode()
    assert "&lt;b&gt;News&lt;/b&gt;" in html and "a&amp;b@example.org" in html and "<b>" not in html


# --- End to end, and the state ----------------------------------------------------------------------


def test_a_link_from_an_exported_message_unsubscribes_and_sending_skips_at_once(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["demo", "--out", str(tmp_path / "demo")],
        env={
            "DIGEST_NOW": "2026-11-26T06:00:00+00:00",
            "NO_COLOR": "1",
            "DIGEST_UNSUBSCRIBE_SECRET": SECRET.decode(),
        },
    )
    assert result.exit_code == 0, result.stderr
    settings = load_settings(tmp_path / "demo" / "digest.toml")
    message = email.message_from_bytes(
        (tmp_path / "demo" / "messages" / f"{PRIYA}.eml").read_bytes(), policy=email.policy.default
    )
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = re.search(r"<(https://[^>]+)>", str(message["List-Unsubscribe"]))
    assert url
    path = httpx.URL(url[1]).path
    with serving(UnsubscribeApp(settings, SECRET, log=lambda _: None)) as http:
        assert http.post(path, data=ONE_CLICK).status_code == 200
    assert recorded(settings) == {PRIYA}
    rows = list(read_subscribers(settings.delivery.subscribers, default_locale="fr"))
    assert PRIYA not in [s.email for s in recipients(rows, recorded(settings))]  # before apply-unsubscribes
    code = (
        CliRunner()
        .invoke(app, ["subscribers", "apply-unsubscribes", "--config", str(settings.path)])
        .exit_code
    )
    assert code == 0
    assert f"{PRIYA},Priya Raman,en,unsubscribed" in settings.delivery.subscribers.read_text(encoding="utf-8")


def test_the_unsubscribes_migration_comes_after_the_others_and_is_recorded(tmp_path: Path) -> None:
    names = [name for name, _ in MIGRATIONS]
    assert names == sorted(names) and "0004_unsubscribes" in names
    with open_store(tmp_path) as store:
        applied = {name for (name,) in store.db.execute("SELECT name FROM migrations")}
        assert set(names) <= applied
        assert store.record_unsubscribe("l", "A@x.org", NOW, via="page") is True
        assert store.record_unsubscribe("l", "a@x.org", NOW, via="one-click") is False
        assert store.is_unsubscribed("l", "A@X.ORG") and not store.is_unsubscribed("other", "a@x.org")
        store.mark_unsubscribes_applied("l", ["a@x.org"], NOW)
        assert (
            store.unsubscribed("l") == {"a@x.org"}
            and store.unsubscribed("l", pending_only=True) == frozenset()
        )


# --- `digest unsubscribe serve` -------------------------------------------------------------------


def test_serve_answers_on_loopback_until_stopped(newsletter: Path, database_url: str) -> None:
    """The `unsubscribe serve` alias records in the store DIGEST_DATABASE_URL names, as `serve` does."""
    settings = load_settings(newsletter)
    shared = {"DIGEST_DATABASE_URL": database_url} if database_url else {}
    process = subprocess.Popen(
        [sys.executable, "-m", "digest", "unsubscribe", "serve", "--port", "0", "--config", str(newsletter)],
        env={
            "DIGEST_UNSUBSCRIBE_SECRET": SECRET.decode(),
            "NO_COLOR": "1",
            "PATH": "/usr/bin:/bin",
            **shared,
        },
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        banner = process.stderr.readline()
        port = re.search(r"http://127\.0\.0\.1:(\d+)", banner)
        assert port, banner
        # A generous timeout: the first request may wait for a loaded CI machine; it is not a speed test.
        with httpx.Client(base_url=f"http://127.0.0.1:{port[1]}", trust_env=False, timeout=30) as http:
            response = http.post(f"/unsubscribe/{token(settings, AMELIE)}", data=ONE_CLICK)
        assert response.status_code == 200
    finally:
        process.terminate()
        _, log = process.communicate(timeout=10)
    assert (
        "POST /unsubscribe/<token>" in log and token(settings, AMELIE) not in log
    )  # tokens stay out of logs
    with open_store(settings.state, database_url) as store:
        assert store.unsubscribed(list_id_of(settings)) == {AMELIE}


@pytest.mark.parametrize(
    ("env", "extra", "message"),
    [
        ({"DIGEST_UNSUBSCRIBE_SECRET": ""}, "", "DIGEST_UNSUBSCRIBE_SECRET is not set"),
        ({}, 'unsubscribe_url = "https://x.example/u?t={token}"', "{token} must be in the path"),
        ({}, 'subscribers = "missing.csv"', "subscriber list not found"),
    ],
)
def test_serve_refuses_to_start_without_what_it_needs(
    newsletter: Path, env: dict[str, str], extra: str, message: str
) -> None:
    if extra:
        text = newsletter.read_text(encoding="utf-8")
        newsletter.write_text(re.sub(rf"{extra.split(' ')[0]} = .*", extra, text), encoding="utf-8")
    result = CliRunner().invoke(
        app,
        ["unsubscribe", "serve", "--config", str(newsletter)],
        env={"DIGEST_UNSUBSCRIBE_SECRET": SECRET.decode(), "NO_COLOR": "1", **env},
    )
    assert result.exit_code == 2 and message in result.stderr


def test_the_production_factory_reads_its_config_and_secret_from_the_environment(
    newsletter: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGEST_CONFIG", str(newsletter))
    monkeypatch.setenv("DIGEST_UNSUBSCRIBE_SECRET", SECRET.decode())
    settings = load_settings(newsletter)
    with serving(create_app()) as http:
        assert http.post(f"/unsubscribe/{token(settings, AMELIE)}", data=ONE_CLICK).status_code == 200
    assert recorded(settings) == {AMELIE}


def test_the_production_factory_takes_the_state_folder_from_digest_state(
    newsletter: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    environ = {
        "DIGEST_CONFIG": str(newsletter),
        "DIGEST_UNSUBSCRIBE_SECRET": SECRET.decode(),
        "DIGEST_STATE": str(elsewhere),
    }
    settings = load_settings(newsletter, state=elsewhere)
    with serving(create_app(environ)) as http:
        assert http.post(f"/unsubscribe/{token(settings, AMELIE)}", data=ONE_CLICK).status_code == 200
    assert recorded(settings) == {AMELIE}
    assert recorded(load_settings(newsletter)) == frozenset()


def test_no_token_reaches_a_log_line_even_percent_encoded(settings: Settings) -> None:
    from digest.unsubscribe import _LOGGED_TOKEN

    legacy = legacy_token(SECRET, list_id_of(settings), AMELIE)
    for url in (
        f"/unsubscribe/{token(settings, AMELIE)}",
        f"/unsubscribe/{legacy}",
        f"/unsubscribe/{legacy.replace('.', '%2E')}",
        f"/unsubscribe/{legacy.replace('.', '%2e')}/",
    ):
        line = _LOGGED_TOKEN.sub("<token>", f'"POST {url} HTTP/1.1" 400 -')
        assert line == f'"POST /unsubscribe/<token>{"/" if url.endswith("/") else ""} HTTP/1.1" 400 -', line
