"""The rules real feeds need, one at a time: dates, pictures, bylines, summaries, identity."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from digest.dates import FEED, FIRST_SEEN, FUTURE, TOO_OLD, UNREADABLE, entry_date, place, read_date
from digest.entries import byline
from digest.images import Candidate, choose, not_a_picture
from digest.parse import parse_feed
from digest.render import wrap_text
from digest.sanitize import one_line, safe_html, text_html, truncate_html
from digest.summary import clean

NOW = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("03 Apr 02 1500 GMT", datetime(2002, 4, 3, 15, 0, tzinfo=UTC)),
        ("Qua, 15 Abr 2020 08:00:00 -0300", datetime(2020, 4, 15, 11, 0, tzinfo=UTC)),
        ("Sun, 5 Dez 2021 10:00 +0000", datetime(2021, 12, 5, 10, 0, tzinfo=UTC)),
        ("2020/1/10 14:33", datetime(2020, 1, 10, 14, 33, tzinfo=UTC)),
        ("Fri, 10 Jan 2020 10:00:00 GMT", datetime(2020, 1, 10, 10, 0, tzinfo=UTC)),
    ],
)
def test_dates_are_read_without_guessing(written: str, expected: datetime) -> None:
    assert read_date(written) == expected


def test_a_date_that_cannot_be_read_is_flagged_not_placed_this_week() -> None:
    assert entry_date(("someday",), (None,)) == (None, UNREADABLE)
    assert entry_date(("",), (None,)) == (None, FIRST_SEEN)
    assert place(datetime(2030, 1, 1, tzinfo=UTC), FEED, NOW)[1] == FUTURE
    assert place(datetime(1990, 1, 1, tzinfo=UTC), FEED, NOW)[1] == TOO_OLD
    rss = (
        '<rss version="2.0"><channel><title>T</title><link>https://t.example/</link>'
        "<item><title>A</title><link>https://t.example/a</link><pubDate>someday</pubDate></item></channel></rss>"
    )
    parsed = parse_feed(rss.encode(), "https://t.example/feed", now=NOW)
    assert parsed.posts[0].published_from == UNREADABLE and "could not be read" in parsed.warnings[0]


def test_rfc_822_dates_and_the_http_version_of_json_feed_are_read() -> None:
    document = {
        "version": "http://jsonfeed.org/version/1",
        "title": "J",
        "items": [
            {"id": "1", "url": "https://j.example/1", "date_published": "Fri, 10 Jan 2020 10:00:00 GMT"}
        ],
    }
    [post] = parse_feed(json.dumps(document).encode(), "https://j.example/feed.json", now=NOW).posts
    assert post.published == datetime(2020, 1, 10, 10, 0, tzinfo=UTC) and post.published_from == FEED


def test_only_real_pictures_are_chosen() -> None:
    mp3 = Candidate("https://p.example/ep.mp3", must_prove=True)
    audio = Candidate("https://p.example/ep", type="audio/mpeg", must_prove=True)
    pixel = Candidate("https://p.example/1.gif", width="1", height="1")
    tracker = Candidate("http://feeds.feedburner.com/~r/x/~4/abc")
    share = Candidate("https://p.example/wp-content/share-facebook.png")
    photo = Candidate("https://p.example/photo.jpg", alt="A photo")
    image = choose([mp3, audio, pixel, tracker, share, photo], "https://p.example/", "T")
    assert image is not None and image.url == photo.src and image.alt == "A photo"
    assert not_a_picture("https://p.example/a.mp4") and not_a_picture("https://p.example/a.jpg", 1, 1)


def test_itunes_image_of_an_episode_is_its_picture() -> None:
    rss = (
        '<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"><channel><title>P</title>'
        "<link>https://p.example/</link><item><title>E1</title><link>https://p.example/</link>"
        '<enclosure url="https://p.example/e1.mp3" type="audio/mpeg" length="1"/>'
        '<itunes:image href="https://p.example/e1.jpg"/></item>'
        "<item><title>E2</title><link>https://p.example/</link></item></channel></rss>"
    )
    first, second = parse_feed(rss.encode(), "https://p.example/feed", now=NOW).posts
    assert first.image is not None and first.image.url == "https://p.example/e1.jpg"
    assert first.id != second.id  # episodes sharing their show's link stay two posts


def test_bylines_are_names() -> None:
    assert byline("Google Testing Bloggers (noreply@blogger.com)") == "Google Testing Bloggers"
    assert byline("noreply@blogger.com (Jane Doe)") == "Jane Doe"
    assert byline("Jane <jane@example.org>") == "Jane"
    assert byline("editor@example.org") == ""


def test_what_a_feed_controls_never_fails_the_gates() -> None:
    assert safe_html('<p>Share <a href="javascript:void(0)">this</a></p>') == "<p>Share this</p>"
    assert one_line("Title\uffff\U0010ffff end") == "Title end"
    assert all(len(line) <= 998 for line in wrap_text("x" * 5000, indent="   ").splitlines())


def test_summaries_read_well() -> None:
    assert text_html("One\nline.\n\nTwo.") == "<p>One line.</p><p>Two.</p>"
    assert "KitchenHow" not in safe_html("<h3>Kitchen</h3><div>How to</div>").replace("<br>", "")
    cut = truncate_html("<p>" + "Word and more words here. " * 30 + "</p>", 100)
    assert cut.endswith("</p>") and "Wor…" not in cut
    teaser = (
        "<p>The real text of the post, long enough to stay.</p><p>The post <a href='https://a.example/'>X</a>"
        " appeared first on <a href='https://a.example/'>A</a>.</p><p><a href='https://a.example/x'>Continue reading</a></p>"
    )
    assert clean(safe_html(teaser), title="X") == "<p>The real text of the post, long enough to stay.</p>"


def test_a_non_ascii_validator_is_dropped_not_fatal() -> None:
    from digest.fetch import _conditional
    from digest.storage import FeedCache

    assert _conditional(FeedCache('"café"', "Mon, 01 Jan 2026 00:00:00 GMT")) == {
        "If-Modified-Since": "Mon, 01 Jan 2026 00:00:00 GMT"
    }
