from __future__ import annotations

import email
import email.policy
import mailbox
import re
from collections.abc import Callable
from dataclasses import replace
from email.header import decode_header, make_header
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from digest import mime, pipeline
from digest.config import Settings, load_settings
from digest.deliver import (
    Encoded,
    Prepared,
    Template,
    build_message,
    prepare,
    render_message,
    unsubscribe_token,
)
from digest.errors import ConfigError
from digest.models import Issue, Post, Subscriber
from digest.render import render_issue
from tests.factories import env_of, issue_of
from tests.mailrules import assert_email_rules, parse

SECRET = "test-secret-0123456789abcdefghijklmnop"
WITH_SECRET = env_of(unsubscribe_secret=SECRET)


def _issue(posts: list[Post], subject: str = "Le Digest des Médias — semaine 47") -> Issue:
    return issue_of(posts, subject=subject)


def test_message_structure_follows_the_rules(
    prepared: Prepared, make_subscriber: Callable[..., Subscriber]
) -> None:
    raw = render_message(prepared, make_subscriber(name="Amélie Durand", email="amelie@example.org"))
    message = assert_email_rules(raw)
    assert message["From"].addresses[0].display_name == "Rédaction du Digest"
    assert message["Subject"] == "Le Digest des Médias — semaine 47"
    assert re.fullmatch(r"<2026-w47\.[0-9a-f]{20}@digest\.example\.org>", message["Message-ID"])
    assert message["List-Id"] == "Le Digest des Médias <digest.example.org>"
    text, html = (part.get_content() for part in message.iter_parts())
    for title in ("Première", "Seconde"):
        assert title in text and title in html
    assert "Bonjour Amélie Durand," in text and "Bonjour Amélie Durand," in html


def test_the_fast_path_says_what_email_message_says(
    prepared: Prepared, make_subscriber: Callable[..., Subscriber]
) -> None:
    for name in ("Amélie Durand", "Lefèvre, Jérôme", 'O"Connor \\ Dan', "", "李小龍", "x" * 120):
        subscriber = make_subscriber(name=name, email="someone@example.org", fields={"city": "Lyon & co"})
        fast_bytes, slow_bytes = (
            render_message(prepared, subscriber),
            build_message(prepared, subscriber).as_bytes(),
        )
        fast, slow = parse(fast_bytes), parse(slow_bytes)
        assert list(fast.keys()) != [] and set(fast.keys()) == set(slow.keys())
        for header in slow:
            assert rfc2047(fast_bytes, header) == rfc2047(slow_bytes, header), header
        for mine, reference in zip(fast.iter_parts(), slow.iter_parts(), strict=True):
            assert mine.get_content() == reference.get_content()


def rfc2047(raw: bytes, name: str) -> str:
    """A header decoded as RFC 2047 §6.2 says (whitespace between encoded-words dropped), which
    Python's address parser does not do: a long word is encoded by digest, kept whole by it."""
    value = email.message_from_bytes(raw, policy=email.policy.compat32)[name]
    return " ".join(str(make_header(decode_header(value))).split())


@hypothesis_settings(max_examples=150, deadline=None)
@given(
    text=st.text(st.characters(blacklist_categories=("Cs",)), max_size=400),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=6),
)
def test_line_by_line_quoted_printable_equals_encoding_the_whole_text(text: str, cuts: list[int]) -> None:
    # Merge tokens anywhere, values with spaces, '=', non-ASCII: the encodings must be identical.
    pieces, last = [], 0
    for cut in sorted({min(c, len(text)) for c in cuts}):
        pieces.append(text[last:cut])
        last = cut
    pieces.append(text[last:])
    template = Template(
        tuple(
            x for i, piece in enumerate(pieces) for x in ((piece, "v") if i < len(pieces) - 1 else (piece,))
        )
    )
    values = {"v": "Zoé = été  "}
    assert Encoded.of(template).fill(values, escape=True) == mime.quoted_printable(
        template.fill(values, escape=True)
    )


@hypothesis_settings(max_examples=200, deadline=None)
@given(name=st.text(st.characters(blacklist_categories=("Cs",)), max_size=90))
def test_any_name_round_trips_within_folded_ascii_headers(name: str) -> None:
    encoded = mime.fold("To", mime.address(name, "reader@example.org", "To"))
    assert encoded.isascii() and all(len(line) <= 78 for line in encoded.split(b"\r\n"))
    parsed = parse(encoded + b"\r\n")
    [address] = parsed["To"].addresses
    assert address.addr_spec == "reader@example.org"
    # RFC 2047 §6.2: the whitespace between two encoded-words is not part of the text. Python's
    # address parser keeps it (its own output does the same), so compare without it there...
    assert address.display_name.replace(" ", "") == mime.clean(name).replace(" ", "")
    # ...and exactly with the RFC's decoding.
    if not mime.clean(name):
        return
    phrase = encoded.decode("ascii").removeprefix("To:").rsplit("<", 1)[0]
    decoded = str(make_header(decode_header(phrase))).strip()
    if len(decoded) > 1 and decoded[0] == decoded[-1] == '"':
        decoded = re.sub(r"\\(.)", r"\1", decoded[1:-1])
    assert decoded == mime.clean(name)


@hypothesis_settings(max_examples=100, deadline=None)
@given(subject=st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=200))
def test_any_subject_round_trips(subject: str) -> None:
    encoded = mime.unstructured("Subject", subject)
    assert encoded.isascii() and all(len(line) <= 78 for line in encoded.split(b"\r\n"))
    assert parse(encoded + b"\r\n")["Subject"] == mime.clean(subject)


def test_same_inputs_give_the_same_bytes(
    prepared: Prepared, make_subscriber: Callable[..., Subscriber]
) -> None:
    subscriber = make_subscriber()
    assert render_message(prepared, subscriber) == render_message(prepared, subscriber)


def test_message_ids_and_unsubscribe_urls_differ_per_recipient(
    prepared: Prepared, make_subscriber: Callable[..., Subscriber]
) -> None:
    messages = [
        parse(render_message(prepared, make_subscriber(email=f"r{n}@example.org"))) for n in range(50)
    ]
    assert len({m["Message-ID"] for m in messages}) == 50
    assert len({m["List-Unsubscribe"] for m in messages}) == 50


def test_a_name_cannot_add_a_header_or_markup(
    prepared: Prepared, make_subscriber: Callable[..., Subscriber]
) -> None:
    raw = render_message(prepared, make_subscriber(name="Eve\r\nBcc: victim@example.org <b>x</b>"))
    message = assert_email_rules(raw)
    assert message["Bcc"] is None and b"\r\nBcc:" not in raw
    html = list(message.iter_parts())[1].get_content()
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html


def test_mailto_unsubscribe_and_feedback_id_when_configured(
    settings: Settings, make_post: Callable[..., Post], make_subscriber: Callable[..., Subscriber]
) -> None:
    delivery = replace(
        settings.delivery,
        mailto_unsubscribe="unsubscribe@digest.example.org",
        feedback_id="{week}:digest:acme:digestfr",
    )
    configured = replace(settings, delivery=delivery)
    issue = _issue([make_post()])
    ready = prepare(render_issue(issue), issue, pipeline.sender(configured), SECRET)
    message = assert_email_rules(render_message(ready, make_subscriber()), mailto=True)
    assert message["Feedback-ID"] == "2026-W47:digest:acme:digestfr"
    assert "<mailto:unsubscribe@digest.example.org?subject=unsubscribe%20" in str(message["List-Unsubscribe"])


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("mailto_unsubscribe", "not an address", "is not an email address"),
        ("feedback_id", "digest:acme:x", "campaign:stream:account:SenderId"),
        ("listmonk_lists", "[1, 'x']", "list of whole numbers"),
    ],
)
def test_delivery_keys_are_validated_naming_key_and_file(
    write_config: Callable[[str], Path], key: str, value: str, problem: str
) -> None:
    literal = value if value.startswith("[") else f"'{value}'"
    path = write_config(f"[delivery]\n{key} = {literal}\n\n[[feeds]]\nurl = 'feed.xml'\n")
    with pytest.raises(ConfigError, match=rf"digest.toml: delivery\.{key}: .*{re.escape(problem)}"):
        load_settings(path)


def test_a_long_subject_and_name_fold_within_78_columns(
    settings: Settings, make_post: Callable[..., Post], make_subscriber: Callable[..., Subscriber]
) -> None:
    issue = _issue([make_post()], subject="Une très longue ligne d’objet " * 6)
    ready = prepare(render_issue(issue), issue, pipeline.sender(settings), SECRET)
    message = assert_email_rules(render_message(ready, make_subscriber(name="Jérôme " * 20)))
    assert message["Subject"] == ("Une très longue ligne d’objet " * 6).strip()


def test_international_addresses(prepared: Prepared, make_subscriber: Callable[..., Subscriber]) -> None:
    message = parse(render_message(prepared, make_subscriber(email="zoe@exämple.org")))
    assert message["To"].addresses[0].domain == "xn--exmple-cua.org"


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
    issue = _issue([make_post(), make_post()])  # the first is the lead (lead.html), the second a card
    ready = prepare(render_issue(issue, tmp_path), issue, pipeline.sender(settings), SECRET)
    message = parse(render_message(ready, make_subscriber(fields={"city": "Montréal & co"})))
    assert ">Montréal &amp; co</p>" in list(message.iter_parts())[1].get_content()


def test_a_feed_cannot_smuggle_a_merge_token(
    settings: Settings, make_post: Callable[..., Post], make_subscriber: Callable[..., Subscriber]
) -> None:
    issue = _issue([make_post(title="%%abc:subscriber.email%% leak")])
    ready = prepare(render_issue(issue), issue, pipeline.sender(settings), SECRET)
    text = next(
        parse(render_message(ready, make_subscriber(email="secret@example.org"))).iter_parts()
    ).get_content()
    assert "%%abc:subscriber.email%% leak" in text


def test_a_token_copied_from_last_weeks_issue_is_not_filled_in_this_weeks(
    settings: Settings, make_post: Callable[..., Post], make_subscriber: Callable[..., Subscriber]
) -> None:
    # A feed author who received last week's issue knows its prefix, and puts a token in a title.
    last_week = render_issue(_issue([make_post()]))
    smuggled = f"%%{last_week.token_prefix}:subscriber.email%%"
    issue = replace(_issue([make_post(title=f"{smuggled} leak")]), week="2026-W48")
    ready = prepare(render_issue(issue), issue, pipeline.sender(settings), SECRET)
    message = parse(render_message(ready, make_subscriber(email="secret@example.org")))
    text, html = (part.get_content() for part in message.iter_parts())
    assert f"{smuggled} leak" in text and f"{smuggled} leak" in html
    assert "secret@example.org leak" not in text + html


def test_unsubscribe_token_is_bound_to_the_secret_the_list_and_the_address() -> None:
    token = unsubscribe_token(b"s", "list.example.org", "a@example.org")
    assert token == unsubscribe_token(b"s", "list.example.org", "A@example.org")
    assert token != unsubscribe_token(b"other", "list.example.org", "a@example.org")
    assert token != unsubscribe_token(b"s", "other.example.org", "a@example.org")
    assert token != unsubscribe_token(b"s", "list.example.org", "b@example.org")


@pytest.fixture
def built_issue(tmp_path: Path, settings: Settings, make_post: Callable[..., Post]) -> Path:
    directory = tmp_path / "issues" / "2026-W47"
    pipeline.write_issue(_issue([make_post(title="Première"), make_post(title="Seconde")]), directory, None)
    return directory


def _subscribers(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "list.csv"
    path.write_text("email,name,locale,status,tags,city\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_every_exported_eml_parses_and_meets_the_rules(
    tmp_path: Path, settings: Settings, built_issue: Path
) -> None:
    rows = [f"reader{n}@example.org,Lecteur Numéro {n},fr,active,,Lyon" for n in range(40)]
    rows += ["gone@example.org,Gone,fr,unsubscribed,,", "bounce@example.org,B,fr,bounced,,"]
    exported = pipeline.export(
        built_issue, settings, WITH_SECRET, out=tmp_path / "out", subscribers=_subscribers(tmp_path, rows)
    )
    assert (exported.written, exported.skipped) == (40, 2)
    files = sorted((tmp_path / "out").iterdir())
    assert len(files) == 40 and not [f for f in files if f.suffix != ".eml"]
    messages = [assert_email_rules(path.read_bytes()) for path in files]
    assert len({m["Message-ID"] for m in messages}) == len({m["List-Unsubscribe"] for m in messages}) == 40
    assert not (tmp_path / "out" / "gone@example.org.eml").exists()


def test_mbox_export_is_one_file_of_every_message(
    tmp_path: Path, settings: Settings, built_issue: Path
) -> None:
    rows = [f"reader{n}@example.org,R {n},fr,active,,Lyon" for n in range(12)] + [
        "x@example.org,X,fr,bounced,,"
    ]
    exported = pipeline.export(
        built_issue,
        settings,
        WITH_SECRET,
        out=tmp_path / "out",
        fmt="mbox",
        subscribers=_subscribers(tmp_path, rows),
    )
    [path] = exported.files
    box = mailbox.mbox(str(path))
    recipients = sorted(message["To"] for message in box)
    assert len(recipients) == 12 and all("@example.org" in to for to in recipients)
    for message in box:
        assert_email_rules(message.as_bytes().replace(b"\n", b"\r\n"))
    assert [p.name for p in (tmp_path / "out").iterdir()] == [path.name]


class Interrupted(Exception):
    pass


def test_an_interrupted_export_leaves_no_partial_file(
    tmp_path: Path, settings: Settings, built_issue: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from digest import exports

    calls = 0

    def failing(prepared: Prepared, subscriber: Subscriber) -> bytes:
        nonlocal calls
        calls += 1
        if calls == 5:
            raise Interrupted
        return render_message(prepared, subscriber)

    monkeypatch.setattr(exports, "render_message", failing)
    csv = _subscribers(tmp_path, [f"r{n}@example.org,R,fr,active,,x" for n in range(10)])
    for fmt in ("mbox", "eml"):
        calls = 0
        with pytest.raises(Interrupted):
            pipeline.export(built_issue, settings, WITH_SECRET, out=tmp_path / fmt, fmt=fmt, subscribers=csv)
        # Nothing is published, not even the messages made before the failure: it never looks complete.
        assert list((tmp_path / fmt).iterdir()) == []


def test_export_without_the_secret_is_a_configuration_error(
    settings: Settings, built_issue: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DIGEST_UNSUBSCRIBE_SECRET", raising=False)
    with pytest.raises(ConfigError, match="DIGEST_UNSUBSCRIBE_SECRET is not set"):
        pipeline.export(built_issue, settings, env_of(), out=tmp_path / "out")


def test_a_write_error_names_the_file(tmp_path: Path) -> None:
    from digest import outbox
    from digest.errors import OutputError

    with pytest.raises(OutputError, match=r"cannot write .*digest\.mbox: no space left"):
        with outbox.atomic_file(tmp_path / "digest.mbox") as handle:
            handle.write(b"From x")
            raise OSError(28, "No space left on device")
    assert list(tmp_path.iterdir()) == []


def test_who_left_through_the_unsubscribe_link_gets_nothing_even_before_the_csv_says_so(
    tmp_path: Path, settings: Settings, built_issue: Path
) -> None:
    from datetime import UTC, datetime

    from digest.store import open_store

    with open_store(settings.state) as store:
        store.record_unsubscribe("digest.example.org", "Reader1@example.org", datetime.now(UTC), "test")
    rows = [f"reader{n}@example.org,R {n},fr,active,,x" for n in range(3)]
    exported = pipeline.export(
        built_issue, settings, WITH_SECRET, out=tmp_path / "out", subscribers=_subscribers(tmp_path, rows)
    )
    assert (exported.written, exported.skipped) == (2, 1)
    assert not (tmp_path / "out" / "reader1@example.org.eml").exists()
