"""Shortcuts taken for speed give what the plain implementations gave, on every corpus summary.

`sanitize` skips `_CONTROL.sub` where a cheaper superset finds nothing, and `safe_html_text`
collapses whitespace by split and join; `summary._text` is memoised. The reference versions
below are the implementations they replaced, kept verbatim.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from digest import sanitize, summary
from digest.parse import parse_feed
from tests.hostile import CODE, LONG_URL, TABLE

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpus"
NOW_FEED = "https://example.org/feed/"


def _old_safe_html_text(fragment: str) -> str:
    text = html.unescape(sanitize._ANY_TAG.sub("", sanitize._BLOCK_TAG.sub("\n\n", fragment)))
    cleaned = (sanitize._WS.sub(" ", sanitize._CONTROL.sub(" ", part)).strip() for part in text.split("\n\n"))
    return "\n\n".join(part for part in cleaned if part)


def _summaries() -> list[str]:

    found: list[str] = [CODE, LONG_URL, TABLE]
    for path in sorted(CORPORA.glob("**/*")):
        if not path.is_file() or path.suffix not in {".xml", ".rss", ".atom", ".rdf"}:
            continue
        try:
            parsed = parse_feed(path.read_bytes(), NOW_FEED, now=datetime(2026, 1, 1, tzinfo=UTC))
        except Exception:  # a corpus file that is not a feed has no summaries
            continue
        found.extend(post.summary_html for post in parsed.posts)
        found.extend(f'src="{post.image.url}"' for post in parsed.posts if post.image)
    return found


@pytest.fixture(scope="module")
def summaries() -> list[str]:
    found = _summaries()
    if len(found) < 100:
        pytest.skip(f"corpora not found under {CORPORA}")
    return found


def test_safe_html_text_is_the_plain_implementation(summaries: list[str]) -> None:
    for fragment in summaries:
        for text in (fragment, sanitize.safe_html(fragment), fragment + "\x85\u2028\U0002fffe\x0b x"):
            assert sanitize.safe_html_text(text) == _old_safe_html_text(text)


def test_controls_are_removed_exactly_as_the_full_expression_does(summaries: list[str]) -> None:
    extra = ["".join(chr(c) for c in range(0, 0x250)), "\ufdd0a\ufffe\U0010ffff\U0001f600\U00020000b"]
    for text in [*summaries, *extra]:
        for replacement in ("", " "):
            assert sanitize._without_controls(text, replacement) == sanitize._CONTROL.sub(replacement, text)


def test_memoised_text_is_the_text(summaries: list[str]) -> None:
    for fragment in summaries:
        assert summary._text(fragment) == summary._text.__wrapped__(fragment)
        assert summary._key(fragment) == summary._key.__wrapped__(fragment)


NOT_PICTURES = [
    "feeds.feedburner.com/~r/x/1.gif",
    "FeedBurner.Google.com/fb/a.png",
    "da.feedsportal.com/r/1.gif",
    "ads.pheedo.com/img.phdo",
    "stats.wordpress.com/b.gif",
    "pixel.wp.com/g.gif",
    "example.org/b.gif",
    "example.org/a/PIXEL.gif",
    "example.org/tracking/x.png",
    "example.org/tracker.png",
    "example.org/beacon_1.gif",
    "example.org/spacer.gif",
    "example.org/blank.gif",
    "ad.doubleclick.net/x.jpg",
    "www.googleadservices.com/p.gif",
    "www.google-analytics.com/c.gif",
    "example.org/counter/1.png",
    "adserver.example.org/a.jpg",
    "s.w.org/images/core/emoji/72x72/1f600.png",
    "example.org/emoji/smile.png",
    "www.gravatar.com/avatar/abc.jpg",
    "example.org/smilies/icon_smile.gif",
    "example.org/share/fb.png",
    "example.org/sharing.png",
    "example.org/sharethis.png",
    "example.org/addtoany/a.png",
    "example.org/addthis.png",
    "example.org/sociable/x.png",
    "example.org/buttons/a.jpg",
    "example.org/icons/a.jpg",
    "example.org/badges/a.jpg",
    "example.org/social/a.jpg",
    "example.org/img/btn-big.png",
    "example.org/img/badge.gif",
    "example.org/feed-icons.png",
    "example.org/facebook_logo.jpg",
    "example.org/twitterbtn.jpg",
    "example.org/rss-button.jpg",
    "example.org/mail-share.jpg",
    "example.org/\u017fhare/a.png",  # a long s: the expression matches it case-insensitively
    "example.org/\u212aicons/a.png",
]


def test_the_picture_filters_shortcut_never_misses_a_match(summaries: list[str]) -> None:
    from digest.images import _NOT_PICTURES, _may_not_be_a_picture

    urls = [*NOT_PICTURES, *(url.upper() for url in NOT_PICTURES)]
    for fragment in summaries:
        urls.extend(url.split("://", 1)[-1] for url in re.findall(r"(?:src|href)=\"([^\"]*)\"", fragment))
    assert sum(bool(_NOT_PICTURES.search(url)) for url in NOT_PICTURES) == len(NOT_PICTURES) - 1
    for url in urls:
        if _NOT_PICTURES.search(url):
            assert _may_not_be_a_picture(url), url
