"""The edges real lists have (issue 14): internationalised domains, non-ASCII local parts,
look-alike and 250-character addresses, names and titles that would break headers. Every format
serves each reader or names them; every payload validates against the service's own definition;
every header is printable ASCII, folded, never over 998."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import botocore.session
import jsonschema
import pytest
from botocore.model import Shape
from botocore.validate import ParamValidator
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from digest import pipeline
from digest.config import Settings
from digest.deliver import prepare, render_message
from digest.errors import ExportFailed, TemplateError
from digest.exports import FORMATS
from digest.models import Post, Subscriber
from digest.outbox import eml_name
from digest.render import render_issue
from digest.services import SERVICES
from tests.factories import env_of, issue_of

SECRET = "test-secret-0123456789abcdefghijklmnop"  # at least 32 bytes
SCHEMA = Path(__file__).with_name("data") / "sendgrid-mail-send.schema.json"  # from sendgrid-oai (MIT)
LONG = "l" * 64 + "@" + ".".join(["a" * 60, "b" * 60, "c" * 59]) + ".org"  # 250 characters
READERS = {  # address: what every format must do with it
    "plain@example.org": "all",
    "user@bücher.example": "all",  # IDN domain: A-labels everywhere
    "zoé@example.org": "smtputf8",  # non-ASCII local part: SMTP with SMTPUTF8, .eml, mbox only
    "zoe@example.org": "all",  # a look-alike of the one above
    "paypal@раураl.example": "all",  # a Cyrillic look-alike domain
    "Mixed.Case@Example.org": "all",
    LONG: "all",
}
assert len(LONG) == 250


def readers_csv(tmp_path: Path) -> Path:
    path = tmp_path / "edges.csv"
    rows = [
        f'"{address}","Zoé « {n} » {"x" * 90 if n == 2 else ""}",fr,active,,Lyon'
        for n, address in enumerate(READERS)
    ]
    path.write_text("email,name,locale,status,tags,city\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def configured(settings: Settings) -> Settings:
    delivery = replace(
        settings.delivery,
        listmonk_lists=MappingProxyType({"": (3,)}),
        listmonk_template_id=7,
        brevo_lists=MappingProxyType({"": (5,)}),
    )
    return replace(settings, delivery=delivery)


@pytest.fixture
def edge_issue(tmp_path: Path, make_post: Callable[..., Post]) -> Path:
    directory = tmp_path / "issues" / "2026-W47"
    issue = issue_of(
        [make_post(title="{{ .Subscriber.Email }} x<y O'Connor " + "m" * 300), make_post(title="Première")],
        newsletter="Le Digest\r\nBcc: evil@example.org des Médias",
        subject="Sujet " + "s" * 2000,
    )
    pipeline.write_issue(issue, directory, None)
    return directory


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_reader_is_served_or_named_in_every_format(
    fmt: str, tmp_path: Path, settings: Settings, edge_issue: Path
) -> None:
    exported = pipeline.export(
        edge_issue,
        configured(settings),
        env_of(unsubscribe_secret=SECRET),
        out=tmp_path / fmt,
        fmt=fmt,
        subscribers=readers_csv(tmp_path),
    )
    named = {problem.reason.split(":")[0] for problem in exported.rejected}
    ascii_only = fmt not in ("eml", "mbox")
    expected_named = {a for a, kind in READERS.items() if kind == "smtputf8" and ascii_only}
    assert named == {a.lower() if a.isascii() else a for a in expected_named} or named == expected_named
    assert all("needs SMTPUTF8" in problem.reason for problem in exported.rejected)
    assert exported.written == len(READERS) - len(expected_named)
    if fmt == "eml":
        assert len(list((tmp_path / fmt).glob("*.eml"))) == len(READERS)
    for path in (tmp_path / fmt).iterdir():
        assert not path.name.startswith(".digest-export"), "the staging folder is gone"
        if path.suffix in (".eml", ".mbox"):
            assert_headers_ascii(path.read_bytes())
        if path.suffix == ".json":
            assert_payload_headers_ascii(json.loads(path.read_text(encoding="utf-8")))


def assert_headers_ascii(raw: bytes) -> None:
    for message in re.split(rb"\n\nFrom |\r\n\r\n--", raw):
        head = message.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
        for line in head.split(b"\n"):
            if line.startswith(b"From ") or not line:
                continue
            assert len(line) <= 998 and all(32 <= b < 127 or b == 9 for b in line), line[:100]
            if not line.startswith((b"List-Unsubscribe:", b" <http", b" <mailto")):
                assert len(line) <= 78 or b"@" in line, line[:100]


HEADER_KEYS = {
    "Headers", "headers", "ReplacementHeaders", "From", "To", "ReplyTo", "FromEmailAddress", "sender", "replyTo",
}  # fmt: skip


def assert_payload_headers_ascii(value: Any, key: str = "") -> None:
    """Every header handed to a service, and every address string: printable ASCII, one line."""
    if isinstance(value, dict):
        for name, item in value.items():
            inside = key in HEADER_KEYS or name in HEADER_KEYS or name.startswith("h:")
            assert_payload_headers_ascii(item, name if inside or key not in HEADER_KEYS else key)
            if name.startswith("h:") or (name in ("from", "ToAddresses", "to") and isinstance(item, str)):
                assert_printable(item)
    elif isinstance(value, list):
        for item in value:
            assert_payload_headers_ascii(item, key)
    elif isinstance(value, str) and key in HEADER_KEYS:
        assert_printable(value)


def assert_printable(value: str) -> None:
    assert re.fullmatch(r"[ -~]{0,995}", value), value[:120]


# --- The services' own definitions --------------------------------------------------------------


def sendgrid_validator() -> jsonschema.Draft7Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())


def check_against_model(value: Any, shape: Shape, path: str = "") -> list[str]:
    """What botocore's ParamValidator leaves out: each string's `max` and `pattern` in the model."""
    problems: list[str] = []
    if shape.type_name == "structure":
        for name, member in shape.members.items():
            if isinstance(value, dict) and name in value:
                problems += check_against_model(value[name], member, f"{path}.{name}")
    elif shape.type_name == "list":
        problems += [
            p for i, v in enumerate(value) for p in check_against_model(v, shape.member, f"{path}[{i}]")
        ]
    elif shape.type_name == "string":
        limit, pattern = shape.metadata.get("max"), shape.metadata.get("pattern")
        if limit is not None and len(value) > limit:
            problems.append(f"{path}: {len(value)} characters, over {limit}")
        if pattern and not re.search(pattern, value):
            problems.append(f"{path}: does not match {pattern}")
        if pattern == "[ -~]*" and not re.fullmatch(pattern, value):
            problems.append(f"{path}: not printable ASCII")
    return problems


def test_ses_and_sendgrid_requests_validate_against_the_services_definitions(
    tmp_path: Path, settings: Settings, edge_issue: Path
) -> None:
    shape = (
        botocore.session.get_session().get_service_model("sesv2").operation_model("SendBulkEmail").input_shape
    )
    validator = sendgrid_validator()
    for fmt in ("ses", "sendgrid"):
        exported = pipeline.export(
            edge_issue,
            settings,
            env_of(unsubscribe_secret=SECRET),
            out=tmp_path / fmt,
            fmt=fmt,
            subscribers=readers_csv(tmp_path),
        )
        for path in exported.files:
            body = json.loads(path.read_text(encoding="utf-8"))
            if fmt == "ses":
                report = ParamValidator().validate(body, shape)
                assert not report.has_errors(), report.generate_report()
                assert check_against_model(body, shape) == []
            else:
                assert [error.message for error in validator.iter_errors(body)] == []


def test_sendgrid_refuses_substitutions_over_10000_bytes_by_name(
    settings: Settings, make_post: Callable[..., Post]
) -> None:
    issue = issue_of([make_post()])
    prepared = prepare(render_issue(issue), issue, pipeline.sender(settings), SECRET)
    reader = Subscriber(email="big@example.org", name="N" * 6000, locale="fr")
    with pytest.raises(ValueError, match=r"big@example.org are [\d,]+ bytes, over its 10,000-byte limit"):
        SERVICES["sendgrid"].entry(prepared, reader)


# --- Headers: a property over names, titles and addresses, for every format ---------------------

names = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)
local_parts = st.sampled_from(["a", "zoé", "x" * 64, "Mixed.Case", "o'connor", "jo+tag"])
domains = st.sampled_from(["example.org", "bücher.example", "раураl.example", "ex-ample.co.uk"])


@hypothesis_settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=names, title=names, newsletter=names, local=local_parts, domain=domains)
def test_every_header_is_printable_ascii_folded_and_never_over_998(
    settings: Settings,
    make_post: Callable[..., Post],
    name: str,
    title: str,
    newsletter: str,
    local: str,
    domain: str,
) -> None:
    issue = issue_of([make_post()], subject=title or "x", newsletter=newsletter or "n")
    prepared = prepare(render_issue(issue), issue, pipeline.sender(settings), SECRET)
    reader = Subscriber(email=f"{local}@{domain}", name=name, locale="fr", line=2)
    assert_headers_ascii(render_message(prepared, reader))
    for service in SERVICES.values():
        try:
            entry = service.entry(prepared, reader)
        except ValueError as exc:
            assert "needs SMTPUTF8" in str(exc) and not local.isascii()
            continue
        assert_payload_headers_ascii(entry)
        if service.request is not None:
            assert_payload_headers_ascii(service.request(prepared, [entry]))


# --- Merge fields, a closed set -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("use", "error"),
    [
        ("{{ subscriber.nmae }}", "subscriber.nmae is not a merge field"),
        (
            "{{ subscriber.fields.City }}",
            "subscriber.fields.City: a column's key is its header in lower case",
        ),
        ("{{ subscriber }}", "subscriber is not a value"),
    ],
)
def test_an_unknown_merge_field_stops_the_build_naming_template_and_line(
    tmp_path: Path, make_post: Callable[..., Post], use: str, error: str
) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "email.txt").write_text(f'{{% extends "default/email.txt" %}}\n{use}\n', encoding="utf-8")
    (templates / "email.txt").write_text(f"Hello\n\n{use}\n", encoding="utf-8")
    with pytest.raises(TemplateError, match=re.escape(error)) as caught:
        render_issue(issue_of([make_post()]), templates)
    assert "email.txt, line 3" in caught.value.message


def test_documented_merge_fields_render(
    tmp_path: Path, settings: Settings, make_post: Callable[..., Post]
) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    used = "{{ subscriber.name }}|{{ subscriber.first_name }}|{{ subscriber.email }}|{{ subscriber.locale }}|{{ subscriber.fields.code_postal }}"
    (templates / "email.txt").write_text(used + "\n{{ unsubscribe_url }}\n", encoding="utf-8")
    issue = issue_of([make_post()])
    prepared = prepare(render_issue(issue, templates), issue, pipeline.sender(settings), SECRET)
    reader = Subscriber("amelie@example.org", "Amélie Durand", "fr", fields={"code_postal": "69001"})
    text = render_message(prepared, reader).decode("ascii")
    assert "Am=C3=A9lie Durand|Am=C3=A9lie|amelie@example.org|fr|69001" in text


# --- .eml files ---------------------------------------------------------------------------------


def test_eml_names_are_unique_and_bounded() -> None:
    addresses = ["josé@example.org", "josè@example.org", "jos_@example.org", "Jose@example.org", LONG]
    names = [eml_name(address) for address in addresses]
    assert len(set(names)) == len(names) and all(len(name.encode()) <= 100 for name in names)
    assert eml_name("plain@example.org") == "plain@example.org.eml"


def test_a_reexport_removes_and_reports_the_messages_of_readers_who_left(
    tmp_path: Path, settings: Settings, edge_issue: Path
) -> None:
    csv = readers_csv(tmp_path)
    out = tmp_path / "out"
    (out).mkdir()
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    env = env_of(unsubscribe_secret=SECRET)
    pipeline.export(edge_issue, settings, env, out=out, fmt="eml", subscribers=csv)
    lines = csv.read_text(encoding="utf-8").splitlines()
    csv.write_text(
        "\n".join(line for line in lines if "zoe@example.org" not in line) + "\n", encoding="utf-8"
    )
    again = pipeline.export(edge_issue, settings, env, out=out, fmt="eml", subscribers=csv)
    assert [path.name for path in again.stale] == ["zoe@example.org.eml"]
    assert len(list(out.glob("*.eml"))) == len(READERS) - 1 and (out / "notes.txt").exists()


def test_a_failed_export_publishes_nothing_and_exits_4(
    tmp_path: Path, settings: Settings, edge_issue: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from digest import exports

    def broken(message: bytes, out_dir: object, email: str) -> str:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(exports.outbox, "write_eml", broken)
    with pytest.raises(ExportFailed) as caught:
        pipeline.export(
            edge_issue,
            settings,
            env_of(unsubscribe_secret=SECRET),
            out=tmp_path / "o",
            subscribers=readers_csv(tmp_path),
        )
    assert caught.value.exit_code == 4 and list((tmp_path / "o").iterdir()) == []


# --- SMTP: the envelope per recipient -----------------------------------------------------------


def test_a_server_without_smtputf8_gets_idn_domains_in_punycode_and_fails_only_non_ascii_locals(
    tmp_path: Path, settings: Settings, make_post: Callable[..., Post]
) -> None:
    from aiosmtpd.controller import Controller

    from digest.journal import Journal
    from digest.sender import SendOptions, send_issue
    from digest.smtp import SmtpTarget
    from digest.subscribers import Row
    from tests.smtpserver import Mailbox, free_port

    issue = issue_of([make_post()])
    prepared = prepare(render_issue(issue), issue, pipeline.sender(settings), SECRET)
    emails = ["zoé@example.org", "user@exämple.org", "plain@example.org", LONG]
    rows = [Row(Subscriber(email=e, locale="fr", line=n + 2)) for n, e in enumerate(emails)]
    options = SendOptions(concurrency=2, retry_delays=())
    mailbox = Mailbox()
    server = Controller(mailbox, hostname="127.0.0.1", port=free_port(), enable_SMTPUTF8=False)
    server.start()
    try:
        with Journal.open(tmp_path / "state") as journal:
            target = SmtpTarget("smtp", "127.0.0.1", server.port, timeout=5)
            dry = send_issue(prepared, rows, target, journal, replace(options, dry_run=True))
            report = send_issue(prepared, rows, target, journal, options)
    finally:
        server.stop()
    assert [o.recipient for o in dry.needs_smtputf8] == ["zoé@example.org"] and dry.would_send == 3
    assert report.sent == 3 and [o.recipient for o in report.failed] == ["zoé@example.org"]
    assert report.failed[0].reply.startswith("needs SMTPUTF8 (smtp://127.0.0.1:")
    assert sorted(to for to, _ in mailbox.messages) == sorted(
        ["user@xn--exmple-cua.org", "plain@example.org", LONG]
    )
