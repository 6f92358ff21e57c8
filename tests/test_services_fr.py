"""Brevo and Mailjet (issue 19): within each service's limits, checked against Brevo's own SDK
and Mailjet's documented rules (tests/mailjet_rules.py), every reader once, every header value
printable ASCII, and what each service renders for a reader equals digest's own message."""

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

import httpx
import pytest
from brevo import Brevo
from brevo.email_campaigns.types.create_email_campaign_request_recipients import (
    CreateEmailCampaignRequestRecipients,
)
from brevo.email_campaigns.types.create_email_campaign_request_sender import CreateEmailCampaignRequestSender
from brevo.transactional_emails.types.send_transac_email_request_message_versions_item import (
    SendTransacEmailRequestMessageVersionsItem as Version,
)
from brevo.transactional_emails.types.send_transac_email_request_reply_to import (
    SendTransacEmailRequestReplyTo,
)
from brevo.transactional_emails.types.send_transac_email_request_sender import SendTransacEmailRequestSender

from digest import pipeline
from digest.config import Settings
from digest.deliver import merge_values, prepare
from digest.exports import batched
from digest.models import Post, Subscriber
from digest.render import render_issue
from digest.services import SERVICES
from tests import mailjet_rules
from tests.factories import env_of, issue_of
from tests.test_edges import READERS, assert_printable, readers_csv

SECRET = "test-secret-0123456789abcdefghijklmnop"
SMUGGLED = "{{ params.email }} {% if 1 %}x{% endif %} {# c #} {{var:email}} [[UNSUB_LINK_FR]] [[var:email]]"
BREVO_UNSUBSCRIBE = "https://r.brevo.example/unsub/TOKEN"


def with_lists(settings: Settings) -> Settings:
    return replace(settings, delivery=replace(settings.delivery, brevo_lists=MappingProxyType({"": (5,)})))


@pytest.fixture
def issue_dir(tmp_path: Path, make_post: Callable[..., Post]) -> Path:
    directory = tmp_path / "issues" / "2026-W47"
    issue = issue_of([make_post(title="Première"), make_post(title=SMUGGLED)])
    pipeline.write_issue(issue, directory, None)
    return directory


def many(tmp_path: Path, count: int, name: str = "Lecteur & {n}") -> Path:
    path = tmp_path / f"list-{count}.csv"
    rows = [f'r{n:05d}@exämple.fr,"{name.format(n=n)}",fr,active,,Lyon' for n in range(count)]
    path.write_text("email,name,locale,status,tags,city\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def export(
    tmp_path: Path, settings: Settings, issue_dir: Path, fmt: str, csv_path: Path
) -> pipeline.Exported:
    env = env_of(unsubscribe_secret=SECRET)
    return pipeline.export(issue_dir, settings, env, out=tmp_path / fmt, fmt=fmt, subscribers=csv_path)


def bodies(exported: pipeline.Exported, fmt: str) -> list[dict[str, Any]]:
    paths = sorted(p for p in exported.files if re.fullmatch(rf"{fmt}-2026-W47-\d{{4}}\.json", p.name))
    return [json.loads(path.read_text(encoding="utf-8")) for path in paths]


# --- Brevo, through its own SDK ----------------------------------------------------------------

VERSION_KEYS = {field.alias or name for name, field in Version.model_fields.items()}


def through_brevo_sdk(body: dict[str, Any]) -> dict[str, Any]:
    """Hand the body to brevo-python's `send_transac_email` (its models validate each part) and
    return what the SDK would POST: it must be our body, key for key."""
    sent: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(201, json={"messageIds": []})

    client = Brevo(api_key="k", httpx_client=httpx.Client(transport=httpx.MockTransport(handler)))
    models = {
        "sender": SendTransacEmailRequestSender.model_validate,
        "replyTo": SendTransacEmailRequestReplyTo.model_validate,
        "messageVersions": lambda versions: [Version.model_validate(v) for v in versions],
    }
    snake = {
        "htmlContent": "html_content",
        "textContent": "text_content",
        "messageVersions": "message_versions",
    }
    kwargs = {
        snake.get(k, "reply_to" if k == "replyTo" else k): models.get(k, lambda v: v)(v)
        for k, v in body.items()
    }
    client.transactional_emails.send_transac_email(**kwargs)
    return dict(sent[0])


def test_brevo_requests_pass_its_sdk_and_its_limits(
    tmp_path: Path, settings: Settings, issue_dir: Path
) -> None:
    exported = export(tmp_path, settings, issue_dir, "brevo", many(tmp_path, 2001))
    requests = bodies(exported, "brevo")
    assert [len(r["messageVersions"]) for r in requests] == [1000, 1000, 1] and exported.written == 2001
    seen = []
    for body in requests:
        assert through_brevo_sdk(body) == body
        total = 0
        for version in body["messageVersions"]:
            assert set(version) <= VERSION_KEYS | {
                "headers"
            }  # headers per version: django-anymail's merge_headers
            assert len(version["to"]) == 1 <= 99
            size = len(json.dumps(version["params"], ensure_ascii=False).encode())
            assert size <= 100_000
            total += size
            seen.append(version["to"][0]["email"])
            assert len(version["to"][0].get("name", "")) <= 70
            assert_printable(version["headers"]["List-Unsubscribe"])
        assert total <= 1_000_000 and sum(len(v["to"]) for v in body["messageVersions"]) <= 2000
        for value in body["headers"].values():
            assert_printable(value)
    assert len(seen) == len(set(seen)) == 2001 and seen[0] == "r00000@xn--exmple-cua.fr"


def test_brevo_splits_a_call_before_1000_kb_of_params(
    tmp_path: Path, settings: Settings, issue_dir: Path
) -> None:
    exported = export(tmp_path, settings, issue_dir, "brevo", many(tmp_path, 900, "N" * 2000 + " {n}"))
    requests = bodies(exported, "brevo")
    assert len(requests) > 1 and sum(len(r["messageVersions"]) for r in requests) == 900
    for body in requests:
        assert sum(len(json.dumps(v["params"]).encode()) for v in body["messageVersions"]) <= 1_000_000


def test_batched_respects_count_and_weight() -> None:
    assert list(batched(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(batched([5, 5, 5, 2, 9], 10, 10, lambda n: n)) == [[5, 5], [5, 2], [9]]


def test_brevo_campaign_and_contacts(tmp_path: Path, settings: Settings, issue_dir: Path) -> None:
    exported = export(tmp_path, with_lists(settings), issue_dir, "brevo-campaign", many(tmp_path, 30))
    body = json.loads((tmp_path / "brevo-campaign" / "brevo-campaign.json").read_text(encoding="utf-8"))
    assert body["recipients"] == {"listIds": [5]} and "{{ unsubscribe }}" in body["htmlContent"]
    CreateEmailCampaignRequestSender.model_validate(body["sender"])
    CreateEmailCampaignRequestRecipients.model_validate(body["recipients"])
    sent: list[Any] = []
    transport = httpx.MockTransport(
        lambda r: sent.append(json.loads(r.content)) or httpx.Response(201, json={"id": 1})
    )
    client = Brevo(api_key="k", httpx_client=httpx.Client(transport=transport))
    snake = {
        "htmlContent": "html_content",
        "inlineImageActivation": "inline_image_activation",
        "replyTo": "reply_to",
    }
    kwargs = {snake.get(k, k): v for k, v in body.items()}
    kwargs["sender"] = CreateEmailCampaignRequestSender.model_validate(body["sender"])
    kwargs["recipients"] = CreateEmailCampaignRequestRecipients.model_validate(body["recipients"])
    client.email_campaigns.create_email_campaign(**kwargs)
    assert sent == [body]
    with (tmp_path / "brevo-campaign" / "brevo-campaign-subscribers.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert exported.written == len(rows) == len({r["EMAIL"] for r in rows}) == 30
    assert rows[0]["EMAIL"] == "r00000@xn--exmple-cua.fr" and rows[0]["NAME"] == "Lecteur & 0"


# --- Mailjet, against its documented rules ------------------------------------------------------


def test_mailjet_requests_follow_its_documented_rules(
    tmp_path: Path, settings: Settings, issue_dir: Path
) -> None:
    exported = export(tmp_path, settings, issue_dir, "mailjet", many(tmp_path, 120))
    requests = bodies(exported, "mailjet")
    assert [len(r["Messages"]) for r in requests] == [50, 50, 20]
    ids = [m["CustomID"] for r in requests for m in r["Messages"]]
    to = [m["To"][0]["Email"] for r in requests for m in r["Messages"]]
    assert len(set(ids)) == len(set(to)) == 120
    for body in requests:
        assert mailjet_rules.problems(body) == []
        for message in body["Messages"]:
            for value in message["Headers"].values():
                assert_printable(value)
    assert mailjet_rules.problems(
        {"Messages": [{"From": {"Email": "a@b.c"}, "To": [], "Headers": {"From": "x"}}]}
    )


# --- What the service renders is digest's own message -------------------------------------------


def brevo_renders(template: str, params: dict[str, str]) -> str:
    """Brevo Template Language as Brevo documents it: variables HTML-escaped unless inside
    `{% autoescape off %}`; `{{ unsubscribe }}` Brevo's link; `{% if %}…{% else %}…{% endif %}`."""

    def value(expression: str) -> str:
        if expression == "unsubscribe":
            return BREVO_UNSUBSCRIBE
        return params[expression.split(".", 1)[1]]

    raw = r"\{% autoescape off %\}\{\{ ([\w.]+) \}\}\{% endautoescape %\}"
    template = re.sub(raw, lambda m: value(m.group(1)), template)
    template = re.sub(
        r"\{% if contact\.(\w+) %\}(.*?)\{% else %\}(.*?)\{% endif %\}",
        lambda m: m.group(2) if params.get(m.group(1)) else m.group(3),
        template,
        flags=re.DOTALL,
    )
    out = re.sub(r"\{\{ ([\w.]+) \}\}", lambda m: html.escape(value(m.group(1))), template)
    assert not re.search(r"\{[{%#]", out), "a tag was left for Brevo to run"
    return out


def mailjet_renders(template: str, variables: dict[str, str]) -> str:
    out = re.sub(r"\{\{var:(\w+)\}\}", lambda m: variables[m.group(1)], template)
    assert not re.search(r"\{[{%]|\[\[", out), "a tag was left for Mailjet to run"
    return out


@pytest.mark.parametrize("fmt", ["brevo", "mailjet", "brevo-campaign"])
def test_the_service_renders_what_digest_would_have_sent(
    fmt: str, settings: Settings, make_post: Callable[..., Post]
) -> None:
    issue = issue_of([make_post(title="Première"), make_post(title=SMUGGLED)])
    prepared = prepare(render_issue(issue), issue, pipeline.sender(settings), SECRET)
    reader = Subscriber(
        email="zoe@exämple.org", name="Zoé <b>&</b> O'Connor", locale="fr", fields={"city": "Lyon"}
    )
    values = merge_values(prepared, reader)
    service = SERVICES[fmt]
    entry = service.entry(prepared, reader)
    if fmt == "brevo-campaign":
        values["unsubscribe_url"] = BREVO_UNSUBSCRIBE
        markup = brevo_renders(
            service.files(prepared, replace_lists())["brevo-campaign.json"]["htmlContent"], entry
        )
        text = prepared.text.fill(values, escape=False)  # Brevo campaigns take no text part
    elif fmt == "brevo":
        body = service.request(prepared, [entry])  # type: ignore[misc]
        markup, text = (brevo_renders(body[k], entry["params"]) for k in ("htmlContent", "textContent"))
    else:
        body = service.request(prepared, [entry])  # type: ignore[misc]
        globals_ = body["Globals"]
        markup, text = (mailjet_renders(globals_[k], entry["Variables"]) for k in ("HTMLPart", "TextPart"))
    assert text.replace("\u200b", "") == prepared.text.fill(values, escape=False)
    assert html.unescape(markup) == html.unescape(prepared.html.fill(values, escape=True))
    assert "zoe@" not in html.unescape(markup).split("Première")[1].split("</h2>")[0]


def replace_lists() -> Any:
    from digest.services import Options

    return Options(lists=(5,))


# --- The held-out kind of list: accents, international domains, long names ----------------------


@pytest.mark.parametrize("fmt", ["brevo", "mailjet"])
def test_every_reader_once_and_every_header_ascii(
    fmt: str, tmp_path: Path, settings: Settings, issue_dir: Path
) -> None:
    exported = export(tmp_path, settings, issue_dir, fmt, readers_csv(tmp_path))
    served = [
        recipient
        for body in bodies(exported, fmt)
        for message in body.get("messageVersions", body.get("Messages", []))
        for recipient in message.get("to", message.get("To", []))
    ]
    named = [problem.reason.split(":")[0] for problem in exported.rejected]
    assert named == [a for a, kind in READERS.items() if kind == "smtputf8"]
    assert len(served) + len(named) == len(READERS) and len(
        {r.get("email", r.get("Email")) for r in served}
    ) == len(served)
    for recipient in served:
        for value in recipient.values():
            assert_printable(value)
