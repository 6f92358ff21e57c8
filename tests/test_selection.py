from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from digest.config import FeedSettings, ScoreWeights, Settings
from digest.edits import resolve
from digest.errors import ConfigError
from digest.models import Post
from digest.pipeline import build, editorial
from digest.selection import (
    build_issue,
    choose_posts,
    choose_window,
    last_complete_week,
    parse_week,
    score,
    week_of,
    week_window,
)
from digest.store import FeedCache, open_store
from tests.factories import env_of

PARIS = ZoneInfo("Europe/Paris")
END = datetime(2026, 11, 23, tzinfo=UTC)


def test_monday_half_past_midnight_in_paris_is_the_new_week() -> None:
    sunday_utc = datetime(2026, 11, 15, 23, 30, tzinfo=UTC)  # Monday 00:30 in Paris
    assert week_of(sunday_utc, PARIS) == "2026-W47"
    assert week_of(sunday_utc, ZoneInfo("UTC")) == "2026-W46"


def test_week_window_is_exact_across_a_dst_change() -> None:
    start, end = week_window("2026-W13", PARIS)  # summer time begins on Sunday 29 March 2026
    assert start == datetime(2026, 3, 22, 23, 0, tzinfo=UTC)
    assert end == datetime(2026, 3, 29, 22, 0, tzinfo=UTC)
    assert end - start == timedelta(days=7, hours=-1)


def test_iso_week_53_exists_only_in_long_years() -> None:
    assert parse_week("2026-W53") == (2026, 53)
    with pytest.raises(ConfigError, match="2025-W53"):
        parse_week("2025-W53")


@pytest.mark.parametrize("bad", ["2026-48", "2026-W1", "W48", "2026-W00", "2026-W54", "next week", ""])
def test_a_malformed_week_names_the_value_and_the_format(bad: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_week(bad)
    assert "YYYY-Www" in str(caught.value)


def test_last_complete_week_is_the_one_before_now() -> None:
    assert last_complete_week(datetime(2026, 11, 26, 6, tzinfo=UTC), PARIS) == "2026-W47"
    # Monday 00:30 in Paris is still Sunday in UTC: the week that just ended is complete.
    assert last_complete_week(datetime(2026, 11, 22, 23, 30, tzinfo=UTC), PARIS) == "2026-W47"
    assert last_complete_week(datetime(2027, 1, 4, 12, tzinfo=UTC), PARIS) == "2026-W53"


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)))
@hyp_settings(max_examples=300)
def test_every_moment_falls_in_exactly_the_window_of_its_week(moment: datetime) -> None:
    for zone in (PARIS, ZoneInfo("America/New_York"), ZoneInfo("Australia/Lord_Howe"), ZoneInfo("UTC")):
        week = week_of(moment, zone)
        start, end = week_window(week, zone)
        assert start <= moment < end
        year, number = parse_week(week)
        following = date.fromisocalendar(year, number, 1) + timedelta(days=7)
        next_start, _ = week_window(
            f"{following.isocalendar().year}-W{following.isocalendar().week:02d}", zone
        )
        assert next_start == end  # windows tile time: no gap, no overlap


def test_pins_come_first_in_pin_order_and_drops_are_left_out(
    settings: Settings, make_post: Callable[..., Post]
) -> None:
    posts = [make_post(feed=f"feeds/{n}.xml", shares=n * 10, author=f"A{n}") for n in range(6)]
    pins = [posts[0].url, posts[1].url]
    chosen = choose_posts(posts, editorial(settings), window_end=END, pins=pins, drops=[posts[5].url])
    assert [post.url for post in chosen.posts[:2]] == pins
    assert posts[5] not in chosen.posts
    assert chosen.warnings == ()


def test_a_pin_matching_no_post_is_a_warning_naming_it(
    settings: Settings, make_post: Callable[..., Post]
) -> None:
    chosen = choose_posts(
        [make_post()], editorial(settings), window_end=END, pins=["https://nowhere.example/post"]
    )
    assert chosen.warnings == ("pinned URL matches no post of the week: https://nowhere.example/post",)


def test_caps_per_source_and_in_total(settings: Settings, make_post: Callable[..., Post]) -> None:
    capped = replace(settings, selection=replace(settings.selection, max_posts=5, per_source_max=2))
    posts = [make_post(feed=f"feeds/{n % 3}.xml", author=f"Author {n}") for n in range(12)]
    chosen = choose_posts(posts, editorial(capped), window_end=END).posts
    assert len(chosen) == 5
    assert max(sum(1 for post in chosen if post.feed == feed) for feed in {p.feed for p in chosen}) <= 2


def test_signals_and_feed_weight_rank_posts(settings: Settings, make_post: Callable[..., Post]) -> None:
    weighted = replace(
        settings,
        feeds=(FeedSettings(url="feeds/heavy.xml", weight=10.0),),
        selection=replace(settings.selection, max_posts=3, per_source_max=3),
    )
    quiet = make_post(shares=0, comments=0)
    loud = make_post(shares=5000, comments=300)
    heavy = make_post(feed="feeds/heavy.xml")
    chosen = choose_posts([quiet, loud, heavy], editorial(weighted), window_end=END).posts
    assert chosen == (heavy, loud, quiet)


def test_category_filter_per_feed(settings: Settings, make_post: Callable[..., Post]) -> None:
    only_une = replace(settings, feeds=(FeedSettings(url="feeds/a.xml", categories=("La Une",)),))
    featured = make_post(feed="feeds/a.xml", categories=("la une", "Médias"))
    other = make_post(feed="feeds/a.xml", categories=("Médias",))
    assert choose_posts([featured, other], editorial(only_une), window_end=END).posts == (featured,)


def test_shuffled_input_gives_the_same_issue(settings: Settings, make_post: Callable[..., Post]) -> None:
    posts = [
        make_post(
            feed=f"feeds/{n % 4}.xml",
            author=f"A{n % 7}",
            shares=n % 3,
            published=END - timedelta(hours=n % 5),
        )
        for n in range(30)
    ]
    expected = build_issue(
        choose_posts(posts, editorial(settings), window_end=END).posts, editorial(settings), "2026-W47"
    )
    for seed in range(10):
        shuffled = posts[:]
        random.Random(seed).shuffle(shuffled)
        assert (
            build_issue(
                choose_posts(shuffled, editorial(settings), window_end=END).posts,
                editorial(settings),
                "2026-W47",
            )
            == expected
        )


def test_subject_and_preheader_are_localised(settings: Settings, make_post: Callable[..., Post]) -> None:
    post = make_post(title="Un titre")
    french = resolve(build_issue([post], editorial(settings), "2026-W47"))
    assert french.subject == "Le Digest des Médias — semaine 47 de 2026"
    assert "«\u00a0Un titre\u00a0»" in french.preheader  # French typography: no-break spaces
    english = resolve(
        build_issue(
            [post],
            editorial(replace(settings, newsletter=replace(settings.newsletter, locale="en"))),
            "2026-W47",
        )
    )
    assert english.subject == "Le Digest des Médias — week 47, 2026"


def test_per_author_cap(settings: Settings, make_post: Callable[..., Post]) -> None:
    posts = [
        make_post(feed=f"feeds/{n}.xml", author="Webentertainer" if n < 4 else f"Other {n}") for n in range(8)
    ]
    chosen = choose_posts(posts, editorial(settings), window_end=END).posts
    assert sum(1 for post in chosen if post.author == "Webentertainer") == settings.selection.per_author_max


def test_score_weights_come_from_config(settings: Settings, make_post: Callable[..., Post]) -> None:
    no_signals = replace(
        settings, selection=replace(settings.selection, weights=ScoreWeights(shares=0, comments=0))
    )
    shared = make_post(shares=10_000, image=None, author="A")
    pictured = make_post(shares=0, author="B")
    assert choose_posts([shared, pictured], editorial(settings), window_end=END).posts[0] == shared
    assert choose_posts([shared, pictured], editorial(no_signals), window_end=END).posts[0] == pictured


def test_sections_follow_the_configured_order(settings: Settings, make_post: Callable[..., Post]) -> None:
    sectioned = replace(settings, selection=replace(settings.selection, sections=("Web", "Médias")))
    pinned = make_post(categories=("Médias",), author="P")
    web = make_post(categories=("web",), author="W")
    medias = make_post(categories=("Médias", "Web"), author="M")
    other = make_post(categories=("Cuisine",), author="O")
    issue = build_issue([pinned, medias, other, web], editorial(sectioned), "2026-W47", pinned=1)
    assert [(section.title, section.posts) for section in issue.sections] == [
        ("", (pinned,)),
        ("Web", (medias, web)),
        ("À lire aussi", (other,)),
    ]


def test_the_top_ranked_post_leads_the_issue_when_nothing_is_pinned(
    settings: Settings, make_post: Callable[..., Post]
) -> None:
    sectioned = replace(settings, selection=replace(settings.selection, sections=("Web",)))
    top, web = make_post(categories=("Cuisine",)), make_post(categories=("Web",))
    issue = build_issue([top, web], editorial(sectioned), "2026-W47")
    assert [(section.title, section.posts) for section in issue.sections] == [
        ("", (top,)),
        ("Web", (web,)),
    ]


def test_subject_and_preheader_patterns_from_config(
    settings: Settings, make_post: Callable[..., Post]
) -> None:
    patterned = replace(
        settings,
        selection=replace(
            settings.selection, subject="{name} n°{week_number}", preheader="{count} billets dont {first}"
        ),
    )
    issue = resolve(build_issue([make_post(title="Un")], editorial(patterned), "2026-W47"))
    assert (issue.subject, issue.preheader) == ("Le Digest des Médias n°47", "1 billets dont Un")


def test_since_until_span_in_the_newsletter_zone(settings: Settings) -> None:
    window = choose_window(settings.zone, now=END, week=None, since="2026-11-01", until="2026-11-14")
    assert window.start == datetime(2026, 10, 31, 23, 0, tzinfo=UTC)
    assert window.end == datetime(2026, 11, 14, 23, 0, tzinfo=UTC)
    assert window.week == "2026-W46"
    with pytest.raises(ConfigError, match="before"):
        choose_window(settings.zone, now=END, week=None, since="2026-11-14", until="2026-11-01")
    with pytest.raises(ConfigError, match="cannot be combined"):
        choose_window(settings.zone, now=END, week="2026-W47", since="2026-11-01", until=None)
    with pytest.raises(ConfigError, match="YYYY-MM-DD"):
        choose_window(settings.zone, now=END, week=None, since="1er novembre", until=None)


def test_a_feed_of_weight_zero_appears_only_when_pinned(
    settings: Settings, make_post: Callable[..., Post]
) -> None:
    muted = replace(settings, feeds=(FeedSettings(url="feeds/muted.xml", weight=0.0),))
    post = make_post(feed="feeds/muted.xml")
    assert choose_posts([post], editorial(muted), window_end=END).posts == ()
    assert choose_posts([post], editorial(muted), window_end=END, pins=[post.url]).posts == (post,)


def test_build_since_until_takes_whole_days_in_the_newsletter_zone(
    settings: Settings, make_post: Callable[..., Post]
) -> None:
    def posted(paris_time: datetime) -> Post:
        return make_post(feed=f"feeds/{paris_time:%d%H%M}.xml", published=paris_time.astimezone(UTC))

    # Paris is UTC+1 in November: each post falls on the other side of midnight in UTC.
    first_minutes = posted(datetime(2026, 11, 1, 0, 30, tzinfo=PARIS))  # Oct 31, 23:30 UTC
    last_minutes = posted(datetime(2026, 11, 14, 23, 30, tzinfo=PARIS))  # Nov 14, 22:30 UTC
    day_before = posted(datetime(2026, 10, 31, 23, 30, tzinfo=PARIS))  # Oct 31, 22:30 UTC
    day_after = posted(datetime(2026, 11, 15, 0, 30, tzinfo=PARIS))  # Nov 14, 23:30 UTC
    with open_store(settings.state) as store:
        posts = [first_minutes, last_minutes, day_before, day_after]
        store.save_gathered([("feeds/all.xml", "All", FeedCache(), posts)], END)
    built = build(settings, env_of(END), since="2026-11-01", until="2026-11-14")
    assert {post.url for post in built.issue.posts} == {first_minutes.url, last_minutes.url}


def test_until_defaults_to_yesterday_in_the_newsletter_zone(settings: Settings) -> None:
    just_after_midnight = datetime(2026, 11, 22, 23, 30, tzinfo=UTC)  # Monday 23 Nov, 00:30 in Paris
    window = choose_window(settings.zone, now=just_after_midnight, week=None, since="2026-11-16", until=None)
    assert (window.first_day, window.last_day) == (date(2026, 11, 16), date(2026, 11, 22))
    assert window.end == datetime(2026, 11, 22, 23, 0, tzinfo=UTC)


def test_a_newer_post_outranks_an_older_one_all_else_equal(
    settings: Settings, make_post: Callable[..., Post]
) -> None:
    alike = {"summary_text": "Same summary.", "shares": 3, "comments": 1, "author": ""}
    # The older post has the smaller URL, so a tie would put it first: only recency can reorder them.
    older = make_post(url="https://a.example/older", published=END - timedelta(days=5), **alike)
    newer = make_post(url="https://b.example/newer", published=END - timedelta(days=1), **alike)
    feed = FeedSettings(url=older.feed)
    assert score(newer, feed, END) > score(older, feed, END)
    assert choose_posts([older, newer], editorial(settings), window_end=END).posts == (newer, older)
