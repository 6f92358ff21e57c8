"""Mailing-service exports: the documented shapes and limits, and merge syntax that reproduces the
message digest would have built itself (docs/delivery.md)."""

from __future__ import annotations

import csv
import html
import json
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from typer.testing import CliRunner

from digest import pipeline
from digest.cli import app
from digest.config import Settings
from digest.deliver import merge_values, prepare
from digest.models import Issue, Post, Subscriber
from digest.render import render_issue
from digest.services import SERVICES, variables
from tests.factories import env_of, issue_of

SECRET = "test-secret-0123456789abcdefghijklmnop"
SMUGGLED = "{{ .Subscriber.Email }} {{email}} {{{email}}} %recipient.email%"


def _issue(posts: list[Post]) -> Issue:
    return issue_of(posts)


@pytest.fixture
def issue_dir(tmp_path: Path, make_post: Callable[..., Post]) -> Path:
    directory = tmp_path / "issues" / "2026-W47"
    pipeline.write_issue(_issue([make_post(title="Première"), make_post(title=SMUGGLED)]), directory, None)
    return directory


def subscribers_csv(tmp_path: Path, count: int, extra: str = "") -> Path:
    path = tmp_path / f"list-{count}.csv"
    lines = [f"r{n:04d}@example.org,Lecteur & {n},fr,active,,Lyon <{n}>" for n in range(count)]
    path.write_text(
        "email,name,locale,status,tags,city\n" + "\n".join(lines) + "\n" + extra, encoding="utf-8"
    )
    return path


def export(tmp_path: Path, settings: Settings, issue_dir: Path, fmt: str, count: int) -> pipeline.Exported:
    return pipeline.export(
        issue_dir,
        settings,
        env_of(unsubscribe_secret=SECRET),
        out=tmp_path / fmt,
        fmt=fmt,
        subscribers=subscribers_csv(tmp_path, count),
    )


def requests(exported: pipeline.Exported, fmt: str) -> list[dict[str, Any]]:
    paths = sorted(p for p in exported.files if re.fullmatch(rf"{fmt}-2026-W47-\d{{4}}\.json", p.name))
    return [json.loads(path.read_text(encoding="utf-8")) for path in paths]


@pytest.mark.parametrize(
    ("fmt", "count", "sizes"),
    [
        ("sendgrid", 2001, [1000, 1000, 1]),
        ("mailgun", 2001, [1000, 1000, 1]),
        ("ses", 120, [50, 50, 20]),
        ("postmark", 1001, [500, 500, 1]),
    ],
)
def test_requests_are_chunked_to_each_services_limit(
    tmp_path: Path, settings: Settings, issue_dir: Path, fmt: str, count: int, sizes: list[int]
) -> None:
    exported = export(tmp_path, settings, issue_dir, fmt, count)
    size = {
        "sendgrid": lambda r: sum(len(p["to"]) for p in r["personalizations"]),
        "mailgun": lambda r: len(r["to"]),
        "ses": lambda r: len(r["BulkEmailEntries"]),
        "postmark": lambda r: len(r["Messages"]),
    }[fmt]
    assert [size(request) for request in requests(exported, fmt)] == sizes
    assert SERVICES[fmt].limit == max(sizes)
    assert exported.written == count
    assert not list((tmp_path / fmt).glob("*.tmp"))


def test_sendgrid_mail_send_shape(tmp_path: Path, settings: Settings, issue_dir: Path) -> None:
    [body] = requests(export(tmp_path, settings, issue_dir, "sendgrid", 30), "sendgrid")
    assert {"personalizations", "from", "subject", "content", "headers", "reply_to"} <= set(body)
    assert [c["type"] for c in body["content"]] == ["text/plain", "text/html"]  # text first
    assert body["from"] == {"email": "redaction@digest.example.org", "name": "Rédaction du Digest"}
    assert body["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert body["tracking_settings"]["subscription_tracking"] == {"enable": False}
    emails = [to["email"] for p in body["personalizations"] for to in p["to"]]
    assert len(emails) == len(set(emails)) == 30
    for personalization in body["personalizations"]:
        assert re.fullmatch(
            r"<https://digest\.example\.org/unsubscribe/[\w.-]+>",
            personalization["headers"]["List-Unsubscribe"],
        )
        assert len(json.dumps(personalization["substitutions"])) < 10_000  # SendGrid's cap
        for key in re.findall(
            r"%%[0-9a-f]{12}:[a-z_.:]+%%", body["content"][0]["value"] + body["content"][1]["value"]
        ):
            assert key in personalization["substitutions"]


def test_mailgun_batch_shape(tmp_path: Path, settings: Settings, issue_dir: Path) -> None:
    [body] = requests(export(tmp_path, settings, issue_dir, "mailgun", 30), "mailgun")
    assert {"from", "to", "subject", "text", "html", "recipient-variables", "h:List-Unsubscribe"} <= set(body)
    variables = json.loads(body["recipient-variables"])
    addresses = [re.search(r"<(.+)>", to).group(1) for to in body["to"]]  # type: ignore[union-attr]
    assert sorted(addresses) == sorted(variables)
    used = set(re.findall(r"%recipient\.(\w+)%", body["text"] + body["html"] + body["h:List-Unsubscribe"]))
    assert used and all(used <= set(values) for values in variables.values())
    assert body["h:List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_ses_send_bulk_email_shape(tmp_path: Path, settings: Settings, issue_dir: Path) -> None:
    [body] = requests(export(tmp_path, settings, issue_dir, "ses", 30), "ses")
    template = body["DefaultContent"]["Template"]
    assert set(template["TemplateContent"]) == {"Subject", "Text", "Html"}
    assert len(template["Headers"]) <= 15 and {"List-Id", "List-Unsubscribe-Post"} <= {
        h["Name"] for h in template["Headers"]
    }
    used = set(
        re.findall(
            r"\{\{(\w+)\}\}", template["TemplateContent"]["Text"] + template["TemplateContent"]["Html"]
        )
    )
    assert used <= set(json.loads(template["TemplateData"]))
    for entry in body["BulkEmailEntries"]:
        assert len(entry["Destination"]["ToAddresses"]) == 1
        data = entry["ReplacementEmailContent"]["ReplacementTemplate"]["ReplacementTemplateData"]
        assert len(data) <= 262_144 and used <= set(json.loads(data))
        [header] = entry["ReplacementHeaders"]
        assert header["Name"] == "List-Unsubscribe" and header["Value"].startswith("<https://")
    assert body["FromEmailAddress"].isascii()  # SES wants RFC 2047 for a non-ASCII display name


def test_postmark_template_and_batch_shape(tmp_path: Path, settings: Settings, issue_dir: Path) -> None:
    exported = export(tmp_path, settings, issue_dir, "postmark", 30)
    template = json.loads((tmp_path / "postmark" / "postmark-template.json").read_text(encoding="utf-8"))
    assert {"Name", "Alias", "Subject", "HtmlBody", "TextBody", "TemplateType"} <= set(template)
    used = set(re.findall(r"\{\{\{(\w+)\}\}\}", template["TextBody"] + template["HtmlBody"]))
    assert not re.search(
        r"(?<!\{)\{\{(?!\{)", template["TextBody"] + template["HtmlBody"]
    )  # no escaping tags
    [body] = requests(exported, "postmark")
    for message in body["Messages"]:
        assert message["TemplateAlias"] == template["Alias"] and message["MessageStream"] == "broadcast"
        assert used <= set(message["TemplateModel"])
        names = {header["Name"] for header in message["Headers"]}
        assert {"List-Unsubscribe", "List-Unsubscribe-Post", "List-Id"} <= names


def with_listmonk(settings: Settings, lists: Any = None, template_id: int = 7) -> Settings:
    lists = MappingProxyType({"": (3,)}) if lists is None else MappingProxyType(lists)
    return replace(
        settings, delivery=replace(settings.delivery, listmonk_lists=lists, listmonk_template_id=template_id)
    )


def test_listmonk_campaign_and_import_file(tmp_path: Path, settings: Settings, issue_dir: Path) -> None:
    exported = export(tmp_path, with_listmonk(settings), issue_dir, "listmonk", 30)
    assert exported.written == 30
    campaign = json.loads((tmp_path / "listmonk" / "listmonk-campaign.json").read_text(encoding="utf-8"))
    assert {
        "name",
        "subject",
        "lists",
        "template_id",
        "from_email",
        "type",
        "content_type",
        "body",
        "altbody",
        "headers",
    } <= set(campaign)
    assert campaign["content_type"] == "html" and campaign["type"] == "regular"
    assert campaign["lists"] == [3] and campaign["template_id"] == 7
    body, text = campaign["body"], campaign["altbody"]
    assert "{{ UnsubscribeURL }}" in body and "{{ UnsubscribeURL }}" in text
    assert "{{ if .Subscriber.Name }}Bonjour {{ .Subscriber.Name }}," in body
    assert '{{ if .Subscriber.Name }}{{ Safe "Bonjour " }}{{ .Subscriber.Name | Safe }}' in text
    for part in (body, text):  # the smuggled one is neutralised: never outside a Go string literal
        assert "{{ .Subscriber.Email }}" not in re.sub(r'\{\{ Safe "(?:[^"\\]|\\.)*" \}\}', "", part)
    with (tmp_path / "listmonk" / "listmonk-subscribers.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 30 and set(rows[0]) == {"email", "name", "attributes"}
    assert json.loads(rows[0]["attributes"]) == {"locale": "fr", "city": "Lyon <0>"}


def _substitute(fmt: str, text: str, values: dict[str, str]) -> str:
    """What the service does with a recipient's values, as its documentation describes it."""
    pattern = {
        "ses": r"\{\{(\w+)\}\}",
        "postmark": r"\{\{\{(\w+)\}\}\}",
        "mailgun": r"%recipient\.(\w+)%",
    }[fmt]
    return re.sub(pattern, lambda match: values[match.group(1)], text)


@pytest.mark.parametrize("fmt", ["ses", "postmark", "mailgun", "sendgrid"])
def test_the_service_renders_what_digest_would_have_sent(
    fmt: str, settings: Settings, make_post: Callable[..., Post]
) -> None:
    """Substituting each recipient's values gives digest's own text and HTML, literals unexpanded."""
    issue = _issue([make_post(title="Première"), make_post(title=SMUGGLED)])
    prepared = prepare(render_issue(issue), issue, pipeline.sender(settings), SECRET)
    service = SERVICES[fmt]
    reader = Subscriber(email="zoe@example.org", name="Zoé <b>&</b>", locale="fr", fields={"city": "Lyon"})
    entry = service.entry(prepared, reader)
    assert service.request is not None
    body = service.request(prepared, [entry])
    expected_text = prepared.text.fill(merge_values(prepared, reader), escape=False)
    expected_html = prepared.html.fill(merge_values(prepared, reader), escape=True)
    if fmt == "sendgrid":
        text, markup = (part["value"] for part in body["content"])
        for key, value in entry["substitutions"].items():
            text, markup = text.replace(key, value), markup.replace(key, value)
    elif fmt == "ses":
        content = body["DefaultContent"]["Template"]["TemplateContent"]
        values = json.loads(
            entry["ReplacementEmailContent"]["ReplacementTemplate"]["ReplacementTemplateData"]
        )
        text, markup = (_substitute(fmt, content[k], values) for k in ("Text", "Html"))
    elif fmt == "postmark":
        template = service.files(prepared, ())["postmark-template.json"]
        text, markup = (
            _substitute(fmt, template[k], entry["TemplateModel"]) for k in ("TextBody", "HtmlBody")
        )
    else:
        values = json.loads(body["recipient-variables"])["zoe@example.org"]
        text, markup = (_substitute(fmt, body[k], values) for k in ("text", "html"))
    # Literal braces and %recipient. from a feed are shown, not expanded (a zero-width space or
    # an HTML character reference keeps the service from reading them as tags).
    assert text.replace("\u200b", "") == expected_text
    assert html.unescape(markup) == html.unescape(expected_html)
    assert "zoe@example.org" not in text.split("Première")[1].split("\n\n")[0]


def test_values_for_html_are_escaped_by_digest(settings: Settings, make_post: Callable[..., Post]) -> None:
    issue = _issue([make_post()])
    prepared = prepare(render_issue(issue), issue, pipeline.sender(settings), SECRET)
    values = variables(prepared, Subscriber(email="a@example.org", name="<script>", locale="fr"))
    assert values["greeting"] == "Bonjour <script>," and values["greeting_html"] == "Bonjour &lt;script&gt;,"


def test_unsubscribed_bounced_and_rejected_rows_get_nothing(
    tmp_path: Path, newsletter: Path, issue_dir: Path
) -> None:
    extra = "gone@example.org,G,fr,unsubscribed,,x\nbounce@example.org,B,fr,bounced,,x\nnot-an-email,N,fr,active,,x\n"
    csv_path = subscribers_csv(tmp_path, 3, extra)
    result = CliRunner().invoke(
        app,
        [
            "export",
            str(issue_dir),
            "--format",
            "ses",
            "--config",
            str(newsletter),
            "--subscribers",
            str(csv_path),
            "--out",
            str(tmp_path / "out"),
        ],
        env={"DIGEST_UNSUBSCRIBE_SECRET": SECRET, "NO_COLOR": "1"},
    )
    assert result.exit_code == 1
    assert "rejected line 7: invalid email 'not-an-email'" in result.stderr
    assert "Wrote 3 messages in 1 file(s)" in result.stderr and "2 not active, 1 rejected" in result.stderr
    text = (tmp_path / "out" / "ses-2026-W47-0001.json").read_text(encoding="utf-8")
    assert "r0002@example.org" in text and "gone@" not in text and "bounce@" not in text


def test_a_shorter_export_removes_the_requests_left_from_a_longer_one(
    tmp_path: Path, settings: Settings, issue_dir: Path
) -> None:
    assert len(requests(export(tmp_path, settings, issue_dir, "ses", 120), "ses")) == 3
    assert len(requests(export(tmp_path, settings, issue_dir, "ses", 40), "ses")) == 1
    assert sorted(p.name for p in (tmp_path / "ses").iterdir()) == ["ses-2026-W47-0001.json"]
