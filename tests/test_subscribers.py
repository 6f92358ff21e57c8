"""The subscriber list in and out: every layout read, every bad row named with its line, nothing lost."""

from __future__ import annotations

import csv
import io
import json
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from digest.addresses import AddressChecker
from digest.cli import app
from digest.config import load_settings
from digest.csvrecords import sniff_delimiter
from digest.errors import SubscriberError
from digest.models import Subscriber
from digest.store import open_store
from digest.subscriber_edits import apply_unsubscribes, import_lists
from digest.subscribers import Row, is_recipient, read_subscribers, recipients, summarise
from digest.unsubscribe import list_id_of

HEADER = "email,name,locale,status,tags\n"
NOW = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
runner = CliRunner()


def _write(tmp_path: Path, data: str | bytes, name: str = "subscribers.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def _read(tmp_path: Path, data: str | bytes, *, fmt: str | None = None) -> list[Row]:
    return list(read_subscribers(_write(tmp_path, data), default_locale="fr", fmt=fmt))


def _kept(rows: list[Row]) -> list[Subscriber]:
    return [row.subscriber for row in rows if row.subscriber]


def _rejected(rows: list[Row]) -> list[tuple[int, str]]:
    return [(row.rejected.line, row.rejected.reason) for row in rows if row.rejected]


def _warnings(rows: list[Row]) -> list[tuple[int, str]]:
    return [(w.line, w.reason) for row in rows for w in row.warnings]


@pytest.fixture(autouse=True)
def _elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from an empty folder, so no digest.toml is found unless a test names one."""
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")


def _row_text(values: list[str], delimiter: str = ",", ending: str = "\n") -> str:
    """One CSV row; written with CRLF first, because then a bare CR in a field is quoted too."""
    text = io.StringIO()
    csv.writer(text, delimiter=delimiter, lineterminator="\r\n").writerow(values)
    return text.getvalue()[:-2] + ending


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env={"NO_COLOR": "1", **(env or {})})
    return result.exit_code, result.stdout, result.stderr


# --- Our layout -----------------------------------------------------------------------------------


def test_sample_list_reads_with_one_warning(samples: Path) -> None:
    rows = list(read_subscribers(samples / "subscribers.csv", default_locale="fr"))
    subscribers = _kept(rows)
    assert len(subscribers) == 7
    assert sum(1 for s in subscribers if s.active) == 6
    jerome = subscribers[1]
    assert jerome.name == "Lefèvre, Jérôme" and jerome.tags == ("libre", "weekly")
    assert jerome.fields["city"] == "Rennes"
    assert _warnings(rows) == [(8, "unknown locale 'de'; using 'fr'")]


def test_bad_rows_are_rejected_with_their_physical_line(tmp_path: Path) -> None:
    rows = _read(
        tmp_path,
        HEADER + "ok@example.org,Ok,fr,active,\n"  # line 2
        'multi@example.org,"Deux\nlignes",fr,active,\n'  # lines 3-4: a line break in a field
        "not-an-address,X,fr,active,\n"  # line 5
        "OK@example.org,Doublon,fr,active,\n"  # line 6
        "short@example.org,Court\n"  # line 7
        "status@example.org,S,fr,gone,\n"  # line 8
        "\n"  # line 9: blank, ignored
        "last@example.org,Last,en,unsubscribed,\n",  # line 10
    )
    rejected = [(line, reason.split(" ")[0]) for line, reason in _rejected(rows)]
    assert rejected == [(3, "control"), (5, "invalid"), (6, "duplicate"), (7, "2"), (8, "unknown")]
    assert "lines 3–4" in _rejected(rows)[0][1]
    assert "duplicate of line 2" in _rejected(rows)[2][1]
    kept = [(s.line, s.email, s.status) for s in _kept(rows)]
    assert kept == [(2, "ok@example.org", "active"), (10, "last@example.org", "unsubscribed")]


def test_bom_and_extra_columns_become_merge_fields(tmp_path: Path) -> None:
    rows = _read(tmp_path, "\ufeffemail,name,company,Code Postal\nbom@example.org,B,ACME,69001\n")
    subscriber = rows[0].subscriber
    assert subscriber is not None and subscriber.email == "bom@example.org"
    assert dict(subscriber.fields) == {"company": "ACME", "code_postal": "69001"}
    assert subscriber.locale == "fr" and subscriber.status == "active"


@pytest.mark.parametrize(
    ("header", "delimiter"),
    [("email,name", ","), ("email;name;locale", ";"), ("email\tname", "\t"), ('"a;b",email', ",")],
)
def test_the_delimiter_is_sniffed_from_the_header(header: str, delimiter: str) -> None:
    assert sniff_delimiter(header) == delimiter


def test_a_semicolon_list_from_french_excel_with_crlf(tmp_path: Path) -> None:
    rows = _read(tmp_path, "email;name;tags\r\na@example.org;Dupont, Anne;x|y\r\nb@example.org;B;\r\n")
    assert [(s.line, s.name, s.tags) for s in _kept(rows)] == [(2, "Dupont, Anne", ("x", "y")), (3, "B", ())]


def test_tab_separated_and_old_mac_line_endings(tmp_path: Path) -> None:
    rows = _read(tmp_path, b"email\tname\ra@example.org\tA\rb@example.org\tB\r")
    assert [(s.line, s.email) for s in _kept(rows)] == [(2, "a@example.org"), (3, "b@example.org")]


def test_windows_1252_falls_back_with_a_warning_per_row(tmp_path: Path) -> None:
    data = "email,name\nutf8@example.org,Zoé\n".encode() + "cp@example.org,Hélène\n".encode("cp1252")
    rows = _read(tmp_path, data)
    assert [s.name for s in _kept(rows)] == ["Zoé", "Hélène"]
    assert _warnings(rows) == [(3, "not UTF-8: read as Windows-1252; save the file as CSV UTF-8")]


def test_bytes_neither_utf8_nor_cp1252_reject_the_row(tmp_path: Path) -> None:
    rows = _read(tmp_path, b"email,name\nx@example.org,\x81\x8d\nok@example.org,Ok\n")
    assert [line for line, _ in _rejected(rows)] == [2]
    assert "neither UTF-8 nor Windows-1252" in _rejected(rows)[0][1]
    assert [s.email for s in _kept(rows)] == ["ok@example.org"]


def test_an_unbalanced_quote_swallows_at_most_a_few_lines_and_says_which(tmp_path: Path) -> None:
    body = 'open@example.org,"Never closed\n' + "".join(f"r{i}@example.org,R{i}\n" for i in range(40))
    rows = _read(tmp_path, "email,name\n" + body)
    (line, reason), *_ = _rejected(rows)
    assert line == 2 and "still open on line 21" in reason
    kept = _kept(rows)
    assert kept[0].line == 22 and kept[-1].email == "r39@example.org" and len(kept) == 21


def test_international_addresses_are_accepted_and_flagged_for_smtputf8(tmp_path: Path) -> None:
    rows = _read(tmp_path, "email\njosé@example.org\nuser@bücher.example\nadmin@pаypal.example\n")
    assert [s.email for s in _kept(rows)] == [
        "josé@example.org",
        "user@bücher.example",
        "admin@pаypal.example",
    ]
    assert _warnings(rows) == [
        (
            2,
            "internationalised address josé@example.org: needs a server with SMTPUTF8 "
            "(SendGrid, Mailgun, SES, Postmark and listmonk exports leave it out)",
        ),
        (3, "internationalised domain in user@bücher.example: sent as xn--bcher-kva.example"),
        (4, "internationalised domain in admin@pаypal.example: sent as xn--pypal-4ve.example"),
        (4, "admin@pаypal.example mixes scripts (CYRILLIC, LATIN): a look-alike address?"),
    ]


def test_duplicates_ignore_case_and_the_first_wins(tmp_path: Path) -> None:
    rows = _read(
        tmp_path, "email,status\nAnne@Example.org,unsubscribed\nanne@example.ORG,active\nANNE@EXAMPLE.ORG,\n"
    )
    assert [(s.email, s.status) for s in _kept(rows)] == [("Anne@example.org", "unsubscribed")]
    assert [line for line, _ in _rejected(rows)] == [3, 4]
    assert all("duplicate of line 2" in reason for _, reason in _rejected(rows))


def test_only_active_rows_are_recipients(tmp_path: Path) -> None:
    rows = _read(
        tmp_path,
        "email,status\na@example.org,active\nb@example.org,Unsubscribed\nc@example.org,bounced\n"
        "d@example.org,cleaned\ne@example.org,\n",
    )
    assert [s.status for s in _kept(rows)] == ["active", "unsubscribed", "bounced", "cleaned", "active"]
    assert [s.email for s in recipients(rows, frozenset())] == ["a@example.org", "e@example.org"]


def test_locales_unknown_ones_fall_back_with_a_warning(tmp_path: Path) -> None:
    rows = _read(
        tmp_path, "email,locale\na@example.org,EN\nb@example.org,fr_CA\nc@example.org,de\nd@example.org,\n"
    )
    assert [s.locale for s in _kept(rows)] == ["en", "fr", "fr", "fr"]
    assert _warnings(rows) == [(4, "unknown locale 'de'; using 'fr'")]


@pytest.mark.parametrize("character", ["\n", "\r", "\t", "\x1b", "\x7f", "\x85", "\u2028", "\x00"])
@pytest.mark.parametrize("column", ["email", "name", "locale", "tags", "city"])
def test_a_control_character_in_any_field_rejects_the_row(
    tmp_path: Path, character: str, column: str
) -> None:
    values = {"email": "x@example.org", "name": "X", "locale": "fr", "tags": "t", "city": "Lyon"}
    values[column] = values[column][:1] + character + values[column][1:]
    padding = "".join(f"p{i}@example.org,P,fr,t,Lyon\n" for i in range(400))  # NUL only early means binary
    rows = _read(tmp_path, _row_text(list(values)) + padding + _row_text(list(values.values())))
    assert [line for line, _ in _rejected(rows)] == [402]
    assert f"control character or line break in column {column!r}" in _rejected(rows)[0][1]
    assert len(_kept(rows)) == 400


def test_trailing_empty_fields_are_tolerated_extra_values_are_not(tmp_path: Path) -> None:
    rows = _read(tmp_path, "email,name\na@example.org,A,,\nb@example.org,Smith, Bob\n")
    assert [s.email for s in _kept(rows)] == ["a@example.org"]
    assert _rejected(rows)[0][0] == 3 and "3 fields where the header has 2" in _rejected(rows)[0][1]


# --- Mailchimp and listmonk -----------------------------------------------------------------------

MAILCHIMP = (
    '"Email Address","First Name","Last Name","Code postal",MEMBER_RATING,OPTIN_TIME,OPTIN_IP,'
    "CONFIRM_TIME,CONFIRM_IP,LATITUDE,LONGITUDE,GMTOFF,DSTOFF,TIMEZONE,CC,REGION,LAST_CHANGED,LEID,EUID,NOTES,TAGS\r\n"
    'ada@example.org,Ada,Lovelace,69001,2,"2024-01-02 03:04:05",,,,,,,,,,,"2024-01-02 03:04:05",1,abc,"a note\r\n'
    'on two lines","""VIP"",""Blog"""\r\n'
    "grace@example.org,Grace,Hopper,,5,,,,,,,,,,,,,2,def,,\r\n"
)


def test_a_mailchimp_export_in_english(tmp_path: Path) -> None:
    rows = _read(tmp_path, MAILCHIMP)
    assert _rejected(rows) == []
    ada, grace = _kept(rows)
    assert (ada.email, ada.name, ada.tags, dict(ada.fields)) == (
        "ada@example.org",
        "Ada Lovelace",
        ("VIP", "Blog"),
        {"code_postal": "69001"},
    )
    assert (grace.line, grace.name, grace.status) == (4, "Grace Hopper", "active")


def test_a_mailchimp_export_in_french_with_its_unsubscribed_columns(tmp_path: Path) -> None:
    data = (
        "\ufeffAdresse e-mail;Prénom;Nom;MEMBER_RATING;UNSUB_TIME;UNSUB_CAMPAIGN_TITLE;UNSUB_REASON\n"
        "luc@example.fr;Luc;Martin;2;2024-03-01 10:00:00;Numéro 12;\n"
    )
    (row,) = _read(tmp_path, data)
    assert row.subscriber is not None
    assert (row.subscriber.name, row.subscriber.status) == ("Luc Martin", "unsubscribed")
    cleaned = _read(tmp_path, "Email Address,CLEAN_TIME\nz@example.org,2024-01-01\n")
    assert _kept(cleaned)[0].status == "cleaned"


def test_a_listmonk_export(tmp_path: Path) -> None:
    data = (
        "uuid,email,name,attributes,status,created_at,updated_at\n"
        '1,a@example.org,A,"{""city"": ""Lyon"", ""age"": 41, ""language"": ""en""}",enabled,x,y\n'
        '2,b@example.org,B,"{""city"": ",enabled,x,y\n'
        "3,c@example.org,C,[1],enabled,x,y\n"
        "4,d@example.org,D,{},blocklisted,x,y\n"
        "5,e@example.org,E,,disabled,x,y\n"
    )
    rows = _read(tmp_path, data)
    a, d, e = _kept(rows)
    assert (a.locale, dict(a.fields), a.status) == ("en", {"city": "Lyon", "age": "41"}, "active")
    assert [(d.status, e.status)] == [("unsubscribed", "unsubscribed")]
    assert [(line, reason.split(":")[0]) for line, reason in _rejected(rows)] == [
        (3, "attributes are not valid JSON"),
        (4, 'attributes must be a JSON object such as {"city"'),
    ]
    assert _warnings(rows) == [(6, "listmonk status 'disabled' read as unsubscribed")]


def test_a_line_break_in_a_listmonk_attribute_rejects_the_row(tmp_path: Path) -> None:
    rows = _read(tmp_path, 'email,name,attributes\na@example.org,A,"{""bio"": ""two\\nlines""}"\n')
    assert "control character or line break in attribute 'bio'" in _rejected(rows)[0][1]


# --- Files that cannot be used at all -------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the file is empty"),
        (b"  \n\n", "the file is empty"),
        (b"\n\nemail\na@example.org\n", "line 1 is blank"),
        (b"name,locale\nA,fr\n", "no email column in the header ('name', 'locale')"),
        (b"a@example.org,Ann\n", "no email column"),
        (b"email,name,email\na@example.org,A,b@example.org\n", "columns 1 and 3 are both 'email'"),
        (HEADER.encode(), "a header and no subscriber rows"),
        (b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00", "line 1 holds a NUL byte: a binary file"),
        ("email\n".encode("utf-16"), "UTF-16"),
    ],
)
def test_a_list_that_cannot_be_used_is_one_clear_error(tmp_path: Path, data: bytes, message: str) -> None:
    with pytest.raises(SubscriberError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _read(tmp_path, data)


def test_a_missing_list_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(SubscriberError, match="subscriber list not found"):
        list(read_subscribers(tmp_path / "nope.csv", default_locale="en"))


def _sparse_2gb(tmp_path: Path) -> Path:
    """2 GB: 300 rows (past the 8 KB sniffed for binary), then a hole: one 2 GB line of NULs."""
    path = _write(tmp_path, HEADER + "".join(f"p{i:03}@example.org,P,fr,active,\n" for i in range(300)))
    with path.open("r+b") as handle:
        handle.truncate(2 * 1024**3)
    if path.stat().st_blocks * 512 > 64 * 1024**2:
        path.unlink()
        pytest.skip("this file system has no sparse files")
    return path


def test_a_2gb_file_is_streamed_and_stopped_with_one_message(tmp_path: Path) -> None:
    path = _sparse_2gb(tmp_path)
    before = path.stat()
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(SubscriberError, match="line 302 is longer than 1024 KiB"):
        summarise(path, default_locale="fr")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 16 * 1024**2 and time.perf_counter() - started < 5
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


# --- Who gets the issue ---------------------------------------------------------------------------


def test_recipients_skip_anyone_unsubscribed_in_the_state_and_keep_to_a_segment(
    make_subscriber: Callable[..., Subscriber],
) -> None:
    anne = make_subscriber(email="Anne@example.org", tags=("Weekly", "libre"))
    bob = make_subscriber(email="bob@example.org", tags=("libre",))
    gone = frozenset({"anne@example.org"})
    assert not is_recipient(anne, gone) and is_recipient(bob, gone)
    assert is_recipient(anne, frozenset(), segment="weekly") and not is_recipient(
        bob, frozenset(), segment="weekly"
    )
    assert not is_recipient(make_subscriber(status="bounced"), frozenset())


# --- Property tests -------------------------------------------------------------------------------


@given(
    st.emails()
    | st.text(max_size=30)
    | st.from_regex(r"[a-zA-Z0-9.+_-]{0,70}@[a-zA-Z0-9.-]{0,70}", fullmatch=True)
)
@example("a@example.org")
@example("a" * 64 + "@example.org")
@example("a" * 65 + "@example.org")
@example("a@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 63 + "." + "e" * 58 + ".org")
@example("a@localhost")
@example("a@example.invalid")
@example("a..b@example.org")
@example("a@123.example.1")
@hyp_settings(max_examples=300, deadline=None)
def test_the_address_fast_path_agrees_with_email_validator(address: str) -> None:
    try:
        expected = validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        with pytest.raises(EmailNotValidError) as raised:
            AddressChecker().check(address)
        assert str(raised.value) == str(exc)
        return
    checked = AddressChecker().check(address)
    assert (checked.normalized, checked.smtputf8) == (expected.normalized, bool(expected.smtputf8))


@dataclass(frozen=True)
class _Line:
    values: list[str]
    valid: bool
    email: str


_names = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp")), max_size=20
)
_controls = st.sampled_from(["\n", "\r\n", "\r", "\t", "\x1b", "\x7f", "\u2028", "\x85"])


@st.composite
def _lists(draw: st.DrawFn) -> tuple[list[_Line], str, str, bool]:
    """Rows of every kind, valid and not, in a file of any delimiter, line ending and BOM."""
    lines: list[_Line] = []
    valid_emails: list[str] = []
    for index in range(draw(st.integers(1, 25))):
        kind = draw(
            st.sampled_from(
                ["valid", "valid", "valid", "bad_email", "control", "status", "width", "duplicate"]
            )
        )
        local = draw(st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True)) + f".{index}"
        email = draw(st.sampled_from([f"{local}@example.org", f"josé{index}@example.org"]))
        name = draw(_names)
        locale = draw(st.sampled_from(["fr", "en", "", "EN", "fr-CA", "de"]))
        status = draw(st.sampled_from(["active", "unsubscribed", "bounced", "cleaned", "", "Active"]))
        values = [email, name, locale, status, draw(st.sampled_from(["", "a;b", "weekly"]))]
        if kind == "bad_email":
            values[0] = draw(st.sampled_from([local, f"{local}@", f"@{local}", f"{local}@@example.org", ""]))
            values[1] = values[1] or "named"  # an empty row is not a row
        elif kind == "control":
            column = draw(st.integers(0, 4))
            values[column] = values[column][:1] + draw(_controls) + values[column][1:]
        elif kind == "status":
            values[3] = draw(st.sampled_from(["gone", "pending", "subscribed"]))
        elif kind == "width":
            values = values[: draw(st.integers(1, 4))]
            values[0] = values[0] + "@example.org" if "@" not in values[0] else values[0]
        elif kind == "duplicate" and valid_emails:
            values[0] = draw(st.sampled_from(valid_emails)).upper()
        else:
            kind = "valid"
        lines.append(_Line(values, kind == "valid", values[0]))
        if kind == "valid":
            valid_emails.append(email)
    return (
        lines,
        draw(st.sampled_from([",", ";", "\t"])),
        draw(st.sampled_from(["\n", "\r\n"])),
        draw(st.booleans()),
    )


@given(_lists())
@hyp_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_no_valid_row_is_ever_lost_and_every_invalid_one_is_named_by_its_line(
    tmp_path: Path, generated: tuple[list[_Line], str, str, bool]
) -> None:
    lines, delimiter, ending, bom = generated
    data = ("\ufeff" if bom else "") + _row_text(
        ["email", "name", "locale", "status", "tags"], delimiter, ending
    )
    starts, line = [], 2
    for row in lines:
        text = _row_text(row.values, delimiter, ending)
        data += text
        starts.append(line)
        line += len(text.encode().splitlines())
    rows = list(read_subscribers(_write(tmp_path, data), default_locale="en"))

    valid = [(start, row.email) for start, row in zip(starts, lines, strict=True) if row.valid]
    assert [(s.line, s.email.lower()) for s in _kept(rows)] == [(start, e.lower()) for start, e in valid]
    invalid = [start for start, row in zip(starts, lines, strict=True) if not row.valid]
    assert [line for line, _ in _rejected(rows)] == invalid
    assert len(rows) == len(lines)  # every row is accounted for: accepted or rejected, none skipped


# --- `digest subscribers check` -------------------------------------------------------------------


def test_check_json_has_the_documented_shape_and_exits_1_on_a_rejected_row(tmp_path: Path) -> None:
    path = _write(tmp_path, HEADER + "a@example.org,A,fr,active,x\nbad,B,fr,active,\nc@example.org,C,de,,\n")
    code, out, err = run("subscribers", "check", str(path), "--json")
    assert code == 1
    report = json.loads(out)
    assert report["recipients"] == 2
    assert report["rejected"] == [{"line": 3, "reason": report["rejected"][0]["reason"]}]
    assert report["rejected"][0]["reason"].startswith("invalid email 'bad'")
    assert report["warnings"] == [{"line": 4, "reason": "unknown locale 'de'; using 'en'"}]
    assert "3 rows" in err and "2 recipients" in err


def test_check_prints_a_summary_and_every_problem_on_stderr(newsletter: Path) -> None:
    code, out, err = run("subscribers", "check", "--config", str(newsletter))
    assert code == 0 and out == ""
    assert "7 rows (digest layout), 6 recipients" in err
    assert "recipients by locale: fr 4 · en 2" in err and "recipients by tag: weekly 5 · medias 2" in err
    assert "warning  line 8: unknown locale 'de'; using 'fr'" in err


def test_check_finds_digest_toml_in_the_current_folder(
    newsletter: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(newsletter.parent)
    code, _, err = run("subscribers", "check")
    assert code == 0 and str(newsletter.parent / "subscribers.csv") in err


def test_check_counts_unsubscribes_recorded_but_not_yet_applied(newsletter: Path) -> None:
    settings = load_settings(newsletter)
    with open_store(settings.state) as store:
        store.record_unsubscribe(list_id_of(settings), "Amelie.Durand@example.org", NOW, via="one-click")
    code, out, err = run("subscribers", "check", "--config", str(newsletter), "--json")
    assert code == 0
    assert json.loads(out)["recipients"] == 5 and json.loads(out)["pending_unsubscribes"] == 1
    assert "apply-unsubscribes" in err


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the file is empty"),
        (b"name\nA\n", "no email column"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "holds a NUL byte"),
        (HEADER.encode(), "a header and no subscriber rows"),
    ],
)
def test_check_of_a_file_that_cannot_be_used_exits_2_and_touches_nothing(
    tmp_path: Path, data: bytes, message: str
) -> None:
    path = _write(tmp_path, data)
    before = path.stat().st_mtime_ns
    code, out, err = run("subscribers", "check", str(path), "--json")
    assert code == 2 and message in err and "Traceback" not in err and out == ""
    assert path.read_bytes() == data and path.stat().st_mtime_ns == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cwd", "subscribers.csv"]


def test_check_of_a_2gb_file_exits_2_quickly(tmp_path: Path) -> None:
    path = _sparse_2gb(tmp_path)
    code, _, err = run("subscribers", "check", str(path))
    assert code == 2 and "line 302 is longer than 1024 KiB" in err


@pytest.mark.parametrize(
    "command",
    [
        ("subscribers", "check"),
        ("subscribers", "import"),
        ("subscribers", "apply-unsubscribes"),
        ("unsubscribe", "serve"),
    ],
)
def test_every_subscriber_command_has_help_with_an_example(command: tuple[str, str]) -> None:
    code, out, _ = run(*command, "--help")
    assert code == 0 and "Example: digest" in out


# --- `digest subscribers import` ------------------------------------------------------------------


def test_import_merges_mailchimp_files_atomically_keeping_a_backup(tmp_path: Path) -> None:
    subscribed = _write(tmp_path, MAILCHIMP, "subscribed_members.csv")
    unsubscribed = _write(
        tmp_path,
        '"Email Address","First Name","Last Name",UNSUB_TIME\r\nleft@example.org,Left,,2024-01-01\r\n'
        "ADA@example.org,Ada,Again,2024-01-01\r\n",
        "unsubscribed_members.csv",
    )
    out = _write(tmp_path, "email\nold@example.org\n", "ours.csv")
    code, _, err = run(
        "subscribers", "import", str(subscribed), str(unsubscribed), "--from", "mailchimp", "--out", str(out)
    )
    assert code == 1, err  # Ada's second row is a duplicate
    assert (tmp_path / "ours.csv.bak").read_text() == "email\nold@example.org\n"
    assert out.read_text(encoding="utf-8").splitlines() == [
        "email,name,locale,status,tags,code_postal",
        "ada@example.org,Ada Lovelace,en,active,VIP;Blog,69001",
        "grace@example.org,Grace Hopper,en,active,,",
        "left@example.org,Left,en,unsubscribed,,",
    ]
    assert "duplicate of line 2 of subscribed_members.csv" in err and "unsubscribed_members.csv line 3" in err
    with (tmp_path / "ours.rejected.csv").open(encoding="utf-8", newline="") as handle:
        rejected = list(csv.reader(handle))
    assert rejected[1][:2] == ["unsubscribed_members.csv", "3"]
    assert rejected[1][3] == "ADA@example.org,Ada,Again,2024-01-01"
    assert not list(tmp_path.glob(".*.tmp"))
    code, _, _ = run("subscribers", "check", str(out))
    assert code == 0


def test_import_of_a_listmonk_export_collects_every_attribute(tmp_path: Path) -> None:
    source = _write(
        tmp_path,
        "uuid,email,name,attributes,status,created_at,updated_at\n"
        '1,a@example.org,A,"{""city"": ""Lyon""}",enabled,x,y\n'
        '2,b@example.org,B,"{""plan"": ""pro"", ""lang"": ""fr""}",blocklisted,x,y\n',
        "listmonk.csv",
    )
    out = tmp_path / "subscribers.csv"
    imported = import_lists([source], fmt="listmonk", out=out, default_locale="en")
    assert imported.written == 2 and imported.backup is None and imported.rejected_file is None
    assert out.read_text(encoding="utf-8").splitlines() == [
        "email,name,locale,status,tags,city,plan",
        "a@example.org,A,en,active,,Lyon,",
        "b@example.org,B,fr,unsubscribed,,,pro",
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the file is empty"),
        (b"\x00\x01binary", "NUL byte"),
        (b"Email Address,First Name\n", "a header and no subscriber rows"),
        (b"Email Address\nnot-an-address\n", "no row of"),
    ],
)
def test_import_that_fails_leaves_the_list_untouched(tmp_path: Path, data: bytes, message: str) -> None:
    source = _write(tmp_path, data, "export.csv")
    out = _write(tmp_path, "email\nkeep@example.org\n", "subscribers.csv")
    code, _, err = run("subscribers", "import", str(source), "--from", "mailchimp", "--out", str(out))
    assert code == 2 and message in err
    assert out.read_text() == "email\nkeep@example.org\n"
    assert not (tmp_path / "subscribers.csv.bak").exists() and not list(tmp_path.glob(".*.tmp"))


def test_import_into_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    source = _write(tmp_path, "Email Address\na@example.org\n", "export.csv")
    code, _, err = run(
        "subscribers", "import", str(source), "--from", "mailchimp", "--out", str(tmp_path / "no" / "s.csv")
    )
    assert code == 2 and "no such folder" in err and "Traceback" not in err


def test_import_where_no_row_can_be_used_keeps_only_the_reasons(tmp_path: Path) -> None:
    source = _write(tmp_path, "Email Address\nnot-an-address\n", "export.csv")
    out = _write(tmp_path, "email\nkeep@example.org\n")
    with pytest.raises(SubscriberError, match="no row of"):
        import_lists([source], fmt="mailchimp", out=out, default_locale="en")
    assert out.read_text() == "email\nkeep@example.org\n"
    assert "invalid email 'not-an-address'" in (tmp_path / "subscribers.rejected.csv").read_text(
        encoding="utf-8"
    )


def test_import_without_out_replaces_the_configured_list(newsletter: Path) -> None:
    source = _write(newsletter.parent, "Email Address,First Name\nnew@example.org,New\n", "export.csv")
    code, _, err = run(
        "subscribers", "import", str(source), "--from", "mailchimp", "--config", str(newsletter)
    )
    assert code == 0, err
    assert "Imported 1 subscribers" in err
    assert (newsletter.parent / "subscribers.csv.bak").read_text(encoding="utf-8").startswith("email,name")
    assert "new@example.org,New,fr,active" in (newsletter.parent / "subscribers.csv").read_text(
        encoding="utf-8"
    )


# --- Applying unsubscribes ------------------------------------------------------------------------


def test_apply_unsubscribes_changes_only_their_status_and_keeps_every_other_byte(tmp_path: Path) -> None:
    original = (
        b"\xef\xbb\xbfemail;name;status;city\r\n"
        b'Anne@Example.org;"Anne; A.";active;Lyon\r\n'
        b"not-an-address;Broken;active;\r\n"
        b"\r\n"
        b'"bob@example.org";B\xe9atrice;active;"Paris"\r\n'
        b"carl@example.org;Carl;unsubscribed;\r\n"
        b"short@example.org\r\n"
        b"dan@example.org;Dan;active;Nice"
    )
    path = _write(tmp_path, original)
    applied = apply_unsubscribes(
        path, {"anne@example.org", "bob@example.org", "carl@example.org", "zed@example.org"}
    )
    assert applied.changed == ("anne@example.org", "bob@example.org") and applied.already == (
        "carl@example.org",
    )
    assert applied.missing == ("zed@example.org",) and applied.backup == tmp_path / "subscribers.csv.bak"
    assert applied.backup.read_bytes() == original
    assert path.read_bytes() == original.replace(b'"Anne; A.";active', b'"Anne; A.";unsubscribed').replace(
        b'"bob@example.org";B\xe9atrice;active;"Paris"', b"bob@example.org;B\xe9atrice;unsubscribed;Paris"
    )
    again = apply_unsubscribes(path, {"anne@example.org"})
    assert again.changed == () and again.backup is None  # nothing to change: the file is not rewritten


def test_apply_unsubscribes_adds_a_status_column_when_there_is_none(tmp_path: Path) -> None:
    path = _write(tmp_path, "email,name\na@example.org,A\nb@example.org,B\n")
    apply_unsubscribes(path, {"b@example.org"})
    assert path.read_text() == "email,name,status\na@example.org,A,\nb@example.org,B,unsubscribed\n"
    assert [s.status for s in _kept(list(read_subscribers(path, default_locale="en")))] == [
        "active",
        "unsubscribed",
    ]


def test_apply_unsubscribes_cli_reports_and_marks_them_applied(newsletter: Path) -> None:
    settings = load_settings(newsletter)
    list_id = list_id_of(settings)
    with open_store(settings.state) as store:
        store.record_unsubscribe(list_id, "priya.raman@example.com", NOW, via="one-click")
        store.record_unsubscribe(list_id, "helene.marchand@example.com", NOW, via="one-click")
        store.record_unsubscribe(list_id, "gone@example.com", NOW, via="one-click")
    code, _, err = run("subscribers", "apply-unsubscribes", "--config", str(newsletter))
    assert code == 0, err
    assert (
        "1 unsubscribes applied" in err and "1 already unsubscribed" in err and "1 recorded addresses" in err
    )
    csv_text = (newsletter.parent / "subscribers.csv").read_text(encoding="utf-8")
    assert "priya.raman@example.com,Priya Raman,en,unsubscribed" in csv_text
    assert len(csv_text.splitlines()) == 8
    with open_store(settings.state) as store:
        assert store.unsubscribed(list_id, pending_only=True) == {"gone@example.com"}
        assert store.is_unsubscribed(list_id, "Priya.Raman@example.com")


def test_apply_unsubscribes_with_nothing_recorded_changes_nothing(newsletter: Path) -> None:
    before = (newsletter.parent / "subscribers.csv").read_bytes()
    code, _, err = run("subscribers", "apply-unsubscribes", "--config", str(newsletter))
    assert code == 0 and "No unsubscribes recorded" in err
    assert (newsletter.parent / "subscribers.csv").read_bytes() == before
    assert not (newsletter.parent / ".digest").exists()  # looking never creates the state


def test_apply_unsubscribes_on_an_unreadable_list_exits_2_untouched(newsletter: Path) -> None:
    settings = load_settings(newsletter)
    with open_store(settings.state) as store:
        store.record_unsubscribe(list_id_of(settings), "a@example.org", NOW, via="one-click")
    path = newsletter.parent / "subscribers.csv"
    path.write_bytes(b"name\nA\n")
    code, _, err = run("subscribers", "apply-unsubscribes", "--config", str(newsletter))
    assert code == 2 and "no email column" in err
    assert path.read_bytes() == b"name\nA\n" and not (newsletter.parent / "subscribers.csv.bak").exists()
