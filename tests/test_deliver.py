from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from digest.config import Settings
from digest.deliver import Prepared, build_message, prepare, unsubscribe_token
from digest.models import Issue, Post, Section, Subscriber
from digest.render import render_issue

SECRET = "test-secret"


def _issue(posts: list[Post]) -> Issue:
    return Issue(
        newsletter="Le Digest des Médias",
        week="2026-W47",
        locale="fr",
        subject="Le Digest des Médias — semaine 47",
        preheader="Trois articles",
        sections=(Section("", tuple(posts)),),
        base_url="https://digest.example.org",
    )


@pytest.fixture
def prepared(settings: Settings, make_post: Callable[..., Post]) -> Prepared:
    issue = _issue([make_post(title="Première"), make_post(title="Seconde")])
    return prepare(render_issue(issue), issue, settings, SECRET)


def _parse(raw: bytes) -> email.message.EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    return message


def test_message_structure_follows_the_rules(
    prepared: Prepared, make_subscriber: Callable[..., Subscriber]
) -> None:
    raw = build_message(
        prepared, make_subscriber(name="Amélie Durand", email="amelie@example.org")
    ).as_bytes()
    message = _parse(raw)
    # M1: multipart/alternative, text first, HTML last
    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [part.get_content_type() for part in parts] == ["text/plain", "text/html"]
    # M2: utf-8, quoted-printable, never 8bit
    for part in parts:
        assert part.get_content_charset() == "utf-8"
        assert part["Content-Transfer-Encoding"] == "quoted-printable"
    # M3: lines ≤ 998 octets; headers folded to ≤ 78 (except the unbreakable unsubscribe URL)
    lines = raw.split(b"\r\n")
    assert max(len(line) for line in lines) <= 998
    header_block = raw.split(b"\r\n\r\n", 1)[0]
    assert all(
        len(line) <= 78 for line in header_block.split(b"\r\n") if not line.startswith(b"List-Unsubscribe:")
    )
    # M4: headers are pure ASCII
    assert all(byte < 128 for byte in header_block)
    # M5
    for name in ("Message-ID", "Date", "From", "To", "Subject", "MIME-Version"):
        assert message[name], name
    assert message["From"].addresses[0].display_name == "Rédaction du Digest"
    assert message["Subject"] == "Le Digest des Médias — semaine 47"
    assert re.fullmatch(r"<2026-w47\.[0-9a-f]{20}@digest\.example\.org>", message["Message-ID"])
    # M6
    unsubscribe = message["List-Unsubscribe"]
    assert re.fullmatch(r"<https://digest\.example\.org/unsubscribe/[A-Za-z0-9_.=-]+>", unsubscribe)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = unsubscribe[1:-1]
    text = parts[0].get_content()
    html = parts[1].get_content()
    assert url in text and url in html
    # M7
    assert message["List-Id"] == "Le Digest des Médias <digest.example.org>"
    # M8: every title and URL of the HTML is in the text part
    for title in ("Première", "Seconde"):
        assert title in text and title in html
    assert "Bonjour Amélie Durand," in text and "Bonjour Amélie Durand," in html


def test_same_inputs_give_the_same_bytes(
    prepared: Prepared, make_subscriber: Callable[..., Subscriber]
) -> None:
    subscriber = make_subscriber()
    assert build_message(prepared, subscriber).as_bytes() == build_message(prepared, subscriber).as_bytes()


def test_message_ids_and_unsubscribe_urls_differ_per_recipient(
    prepared: Prepared, make_subscriber: Callable[..., Subscriber]
) -> None:
    messages = [build_message(prepared, make_subscriber(email=f"r{n}@example.org")) for n in range(20)]
    assert len({m["Message-ID"] for m in messages}) == 20
    assert len({m["List-Unsubscribe"] for m in messages}) == 20


def test_a_name_cannot_add_a_header_or_markup(
    prepared: Prepared, make_subscriber: Callable[..., Subscriber]
) -> None:
    raw = build_message(prepared, make_subscriber(name="Eve\r\nBcc: victim@example.org <b>x</b>")).as_bytes()
    message = _parse(raw)
    assert message["Bcc"] is None
    assert b"\r\nBcc:" not in raw
    html = list(message.iter_parts())[1].get_content()
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html


def test_custom_csv_columns_are_merge_fields(
    settings: Settings,
    tmp_path: Path,
    make_post: Callable[..., Post],
    make_subscriber: Callable[..., Subscriber],
) -> None:
    (tmp_path / "post.html").write_text(
        '<tr><td><h2><a href="{{ post.url }}">{{ post.title }}</a></h2><p>{{ subscriber.fields.city }}</p></td></tr>',
        encoding="utf-8",
    )
    issue = _issue([make_post()])
    ready = prepare(render_issue(issue, tmp_path), issue, settings, SECRET)
    html = list(build_message(ready, make_subscriber(fields={"city": "Montréal & co"})).iter_parts())[
        1
    ].get_content()
    assert ">Montréal &amp; co</p>" in html


def test_a_feed_cannot_smuggle_a_merge_token(
    settings: Settings, make_post: Callable[..., Post], make_subscriber: Callable[..., Subscriber]
) -> None:
    issue = _issue([make_post(title="%%abc:subscriber.email%% leak")])
    ready = prepare(render_issue(issue), issue, settings, SECRET)
    text = next(
        iter(build_message(ready, make_subscriber(email="secret@example.org")).iter_parts())
    ).get_content()
    assert "%%abc:subscriber.email%% leak" in text


def test_unsubscribe_token_is_bound_to_the_secret_the_list_and_the_address() -> None:
    token = unsubscribe_token(b"s", "list.example.org", "a@example.org")
    assert token == unsubscribe_token(b"s", "list.example.org", "A@example.org")
    assert token != unsubscribe_token(b"other", "list.example.org", "a@example.org")
    assert token != unsubscribe_token(b"s", "other.example.org", "a@example.org")
    assert token != unsubscribe_token(b"s", "list.example.org", "b@example.org")
