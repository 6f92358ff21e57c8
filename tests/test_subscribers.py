from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from digest.errors import SubscriberError
from digest.subscribers import read_subscribers


def _read(tmp_path: Path, text: str, encoding: str = "utf-8") -> list:  # type: ignore[type-arg]
    path = tmp_path / "subscribers.csv"
    path.write_bytes(text.encode(encoding))
    return list(read_subscribers(path, default_locale="fr"))


def test_sample_list_reads_with_one_warning(samples: Path) -> None:
    rows = list(read_subscribers(samples / "subscribers.csv", default_locale="fr"))
    subscribers = [row.subscriber for row in rows if row.subscriber]
    assert len(subscribers) == 7
    assert sum(1 for s in subscribers if s.active) == 6
    jerome = subscribers[1]
    assert (
        jerome.name == "Lefèvre, Jérôme"
        and jerome.tags == ("libre", "weekly")
        and jerome.fields["city"] == "Rennes"
    )
    warnings = [w for row in rows for w in row.warnings]
    assert [(w.line, w.reason) for w in warnings] == [(8, "unknown locale 'de'; using 'fr'")]


def test_bad_rows_are_rejected_with_their_physical_line(tmp_path: Path) -> None:
    rows = _read(
        tmp_path,
        "email,name,locale,status,tags\n"
        "ok@example.org,Ok,fr,active,\n"  # line 2
        'multi@example.org,"Deux\nlignes",fr,active,\n'  # lines 3-4: a quoted line break is a control character
        "not-an-address,X,fr,active,\n"  # line 5
        "OK@example.org,Doublon,fr,active,\n"  # line 6
        "short@example.org,Court\n"  # line 7
        "status@example.org,S,fr,gone,\n"  # line 8
        "\n"  # line 9: blank, ignored
        "last@example.org,Last,en,unsubscribed,\n",  # line 10
    )
    rejected = [(row.rejected.line, row.rejected.reason.split(" ")[0]) for row in rows if row.rejected]
    assert rejected == [(3, "control"), (5, "invalid"), (6, "duplicate"), (7, "2"), (8, "unknown")]
    kept = [
        (row.subscriber.line, row.subscriber.email, row.subscriber.status) for row in rows if row.subscriber
    ]
    assert kept == [(2, "ok@example.org", "active"), (10, "last@example.org", "unsubscribed")]


def test_bom_and_extra_columns(tmp_path: Path) -> None:
    rows = _read(tmp_path, "\ufeffemail,name,company\nbom@example.org,B,ACME\n")
    subscriber = rows[0].subscriber
    assert subscriber.email == "bom@example.org" and dict(subscriber.fields) == {"company": "ACME"}
    assert subscriber.locale == "fr" and subscriber.status == "active"


@pytest.mark.parametrize(("text", "reason"), [("", "empty"), ("name,locale\nA,fr\n", "no `email` column")])
def test_a_list_that_cannot_be_used_is_one_clear_error(tmp_path: Path, text: str, reason: str) -> None:
    with pytest.raises(SubscriberError, match=reason):
        _read(tmp_path, text)


_names = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp")), max_size=20
)


@given(
    st.lists(
        st.tuples(st.from_regex(r"[a-z]{1,8}", fullmatch=True), _names),
        min_size=1,
        max_size=20,
        unique_by=lambda t: t[0],
    )
)
@hyp_settings(max_examples=60, deadline=None)
def test_no_valid_row_is_ever_lost(
    tmp_path_factory: pytest.TempPathFactory, people: list[tuple[str, str]]
) -> None:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["email", "name"])
    for local, name in people:
        writer.writerow([f"{local}@example.org", name])
    path = tmp_path_factory.mktemp("csv") / "s.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8")
    rows = list(read_subscribers(path, default_locale="en"))
    assert [row.subscriber.email for row in rows if row.subscriber] == [
        f"{local}@example.org" for local, _ in people
    ]
    assert [row.subscriber.line for row in rows if row.subscriber] == list(range(2, len(people) + 2))
