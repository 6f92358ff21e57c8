"""Article enrichment: a teaser from an aggregator's feed becomes the article's lead and picture,
from real pages served on loopback; off unless `enrich = true`; each page read once."""

from __future__ import annotations

import gzip
import html
from datetime import UTC, datetime
from pathlib import Path

import pytest

from digest.article import read_article
from digest.config import FeedSettings
from digest.gather import gather_feeds
from digest.store import open_store
from tests.feedserver import Route, feed_server

NOW = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
SEED = Path(__file__).resolve().parents[2] / "shared" / "seeds" / "paperblog-article-fr.txt"
EVER = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


def _seed_page() -> bytes:
    """The aggregator's article page the seed was copied from, rebuilt around its text."""
    if not SEED.is_file():
        pytest.skip(f"seed not found at {SEED}")
    blocks = [block.strip() for block in SEED.read_text(encoding="utf-8").split("\n\n") if block.strip()]
    body = "".join(f"<p>{html.escape(block)}</p>" for block in blocks[3:-6])
    tail = "".join(f"<p>{html.escape(block)}</p>" for block in blocks[-6:])
    return (
        '<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"><title>Je suis un mashup et vous ? - Paperblog'
        '</title><meta property="og:image" content="/i/mashup.jpg">'
        '<meta name="description" content="Un e-marketer raconte sa reconversion."></head><body>'
        '<div id="header"><a href="/">Magazine Médias</a><ul class="menu"><li><a href="/">La Une</a></li>'
        '<li><a href="/medias">Médias</a></li></ul></div><div id="article" class="article-content">'
        f"<h1>{html.escape(blocks[1])}</h1><p class='date'>{html.escape(blocks[2])}</p>{body}</div>"
        f'<div id="sidebar" class="sidebar">{tail}</div></body></html>'
    ).encode()


def _feed(link: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Paperblog</title>'
        "<link>https://www.paperblog.fr/</link><item><title>Je suis un mashup et vous ?</title>"
        f"<link>{link}</link><guid isPermaLink='false'>2468</guid>"
        "<pubDate>Wed, 18 Nov 2026 10:00:00 +0100</pubDate>"
        "<description>Magazine Médias - Je suis un mashup et vous ? - Publié le 24 octobre 2009 par "
        "Webentertainer [...]</description></item></channel></rss>"
    ).encode()


def test_the_seed_page_gives_its_lead_picture_and_description() -> None:
    found = read_article(
        _seed_page(), "https://www.paperblog.fr/2468/mashup/", title="Je suis un mashup et vous ?"
    )
    assert found.image == "https://www.paperblog.fr/i/mashup.jpg"
    assert found.description == "Un e-marketer raconte sa reconversion."
    assert found.lead.startswith("<p>Si je suis désormais un e-marketer")
    for boilerplate in ("Publié le", "partages", "Retour à", "Magazine Médias"):
        assert boilerplate not in found.lead


@pytest.mark.parametrize("enrich", [True, False])
def test_gather_enriches_a_teaser_only_when_asked(tmp_path: Path, enrich: bool) -> None:
    page = Route(_seed_page(), headers={"Content-Type": "text/html; charset=utf-8"})
    routes = {"/feed.xml": Route(b""), "/2468/mashup": page}
    with feed_server(routes) as server:
        routes["/feed.xml"].body = _feed(server.url("/2468/mashup"))
        feeds = (FeedSettings(url=server.url("/feed.xml"), location=server.url("/feed.xml"), enrich=enrich),)
        with open_store(tmp_path / "state") as store:
            [report] = gather_feeds(feeds, store, now=NOW)
            [post] = store.posts_between(*EVER)
            cached = store.articles([post.url])
    assert report.status == "ok"
    if enrich:
        assert post.summary_text.startswith("Si je suis désormais un e-marketer crédible")
        assert post.image is not None and post.image.url == server.url("/i/mashup.jpg")
        assert list(cached) == [post.url]
    else:
        assert "Si je suis" not in post.summary_text and post.image is None and cached == {}


def test_an_unreadable_or_huge_page_leaves_the_post_as_its_feed_gave_it(tmp_path: Path) -> None:
    bomb = gzip.compress(b"<p>" + b"a" * (40 * 1024 * 1024))
    routes = {"/feed.xml": Route(b""), "/2468/mashup": Route(bomb, headers={"Content-Encoding": "gzip"})}
    with feed_server(routes) as server:
        routes["/feed.xml"].body = _feed(server.url("/2468/mashup"))
        feeds = (FeedSettings(url=server.url("/feed.xml"), location=server.url("/feed.xml"), enrich=True),)
        with open_store(tmp_path / "state") as store:
            [report] = gather_feeds(feeds, store, now=NOW)
            [post] = store.posts_between(*EVER)
    assert report.status == "ok" and post.image is None
