"""One article, one post in an issue: syndicated copies told apart with a deterministic winner. Pure.

The store keeps every entry of every feed (`entries` never merges distinct entries). An article
syndicated by several feeds, or by one site's RSS and Atom feeds, or repeated under
tracking-parameter variants of its link, is then several posts: selection keeps one. Posts are
copies when their canonical links agree and, where a feed uses that link for several of its
posts (a podcast whose episodes all link to the show), their titles agree too.

The winner does not depend on which fetch finished first: the copy from the feed whose site hosts
the link, else the earliest published, else the feed first in digest.toml, else the smallest id.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

from digest.models import Post
from digest.urls import canonical_url


def unique_posts(posts: Iterable[Post], feed_order: Sequence[str] = ()) -> list[Post]:
    """One post per article, ordered by canonical link then id (the input's order never matters)."""
    order = {url: index for index, url in enumerate(feed_order)}
    everything = sorted({post.id: post for post in posts}.values(), key=lambda p: p.id)
    links = {post.id: _comparable(post.url) for post in everything}
    shared = Counter((post.feed, links[post.id]) for post in everything)
    reused = {link for (_, link), count in shared.items() if count > 1}
    groups: defaultdict[tuple[str, str], list[Post]] = defaultdict(list)
    for post in everything:
        link = links[post.id]
        groups[(link, _title(post.title) if link in reused else "")].append(post)
    winners = [min(group, key=lambda p: _rank(p, order)) for group in groups.values()]
    return sorted(winners, key=lambda p: (links[p.id], p.id))


def _rank(post: Post, order: dict[str, int]) -> tuple[int, str, int, str]:
    hosted = 0 if post.site and _host(post.site) == _host(post.url) else 1
    return (hosted, post.published.isoformat(), order.get(post.feed, len(order)), post.id)


def _comparable(url: str) -> str:
    """The canonical link, with http and https, and a trailing slash, taken as the same."""
    try:
        canonical = canonical_url(url)
    except ValueError:
        return url
    return canonical.removeprefix("https://").removeprefix("http://").removeprefix("www.").rstrip("/")


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").removeprefix("www.")
    except ValueError:
        return ""


def _title(title: str) -> str:
    return " ".join(title.casefold().split())
