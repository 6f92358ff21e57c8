"""Select: the week's featured posts, as a frozen `Issue`. Pure: `now` is passed in.

The window is the ISO week in the newsletter's time zone, so a post at 00:30 on Monday in
Paris belongs to the new week even though it is still Sunday in UTC.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from digest.config import FeedSettings, Settings
from digest.errors import ConfigError
from digest.i18n import translate
from digest.models import Issue, Post, Section

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


def parse_week(week: str) -> tuple[int, int]:
    """'2026-W48' → (2026, 48); anything else is a usage error naming the value."""
    match = _WEEK.match(week.strip())
    if match:
        year, number = int(match.group(1)), int(match.group(2))
        if 1 <= number <= date(year, 12, 28).isocalendar().week:
            return year, number
    raise ConfigError(f"--week {week!r} is not an ISO week", hint="write it as YYYY-Www, e.g. 2026-W48")


def week_window(week: str, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of the ISO week in `zone`, as UTC datetimes; exact across DST changes."""
    year, number = parse_week(week)
    monday = date.fromisocalendar(year, number, 1)
    start = datetime.combine(monday, time(0), tzinfo=zone)
    end = datetime.combine(monday + timedelta(days=7), time(0), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def week_of(moment: datetime, zone: ZoneInfo) -> str:
    year, number, _ = moment.astimezone(zone).isocalendar()
    return f"{year}-W{number:02d}"


def last_complete_week(now: datetime, zone: ZoneInfo) -> str:
    return week_of(now.astimezone(zone) - timedelta(days=7), zone)


@dataclass(frozen=True)
class Choice:
    posts: tuple[Post, ...]
    warnings: tuple[str, ...]


def choose_posts(
    candidates: Iterable[Post],
    settings: Settings,
    *,
    window_end: datetime,
    pins: Sequence[str] = (),
    drops: Sequence[str] = (),
) -> Choice:
    """Pinned posts first (in pin order), then the best-scored ones under the caps.

    The order of `candidates` never matters: ties are broken by URL, so the same posts
    always give the same issue.
    """
    feeds = {feed.url: feed for feed in settings.feeds}
    posts = sorted({post.id: post for post in candidates}.values(), key=lambda p: p.url)
    posts = [post for post in posts if _admitted(post, feeds.get(post.feed))]
    warnings: list[str] = []
    dropped = set(drops) | set(settings.selection.drop)
    by_url = {post.url: post for post in posts}
    pinned: list[Post] = []
    for url in [*pins, *settings.selection.pin]:
        post = by_url.get(url)
        if post is None:
            warnings.append(f"pinned URL matches no post of the week: {url}")
        elif post not in pinned:
            pinned.append(post)
    chosen = list(pinned)
    per_source = Counter(post.feed for post in chosen)
    ranked = sorted(posts, key=lambda p: (-score(p, feeds.get(p.feed), window_end), p.url))
    for post in ranked:
        if len(chosen) >= settings.selection.max_posts:
            break
        if post in chosen or post.url in dropped:
            continue
        if per_source[post.feed] >= settings.selection.per_source_max:
            continue
        chosen.append(post)
        per_source[post.feed] += 1
    return Choice(posts=tuple(chosen), warnings=tuple(warnings))


def _admitted(post: Post, feed: FeedSettings | None) -> bool:
    if feed is None or not feed.categories:
        return True
    wanted = {category.casefold() for category in feed.categories}
    return any(category.casefold() in wanted for category in post.categories)


def score(post: Post, feed: FeedSettings | None, window_end: datetime) -> float:
    """How strongly a post should be featured; see docs/selection.md for each term."""
    weight = feed.weight if feed else 1.0
    signals = math.log1p(post.shares or 0) / 2 + math.log1p(post.comments or 0) / 2
    age_days = max(0.0, (window_end - post.published).total_seconds() / 86400)
    recency = max(0.0, 1 - age_days / 7) * 0.5
    quality = (0.5 if post.image else 0.0) + min(len(post.summary_text), 300) / 600
    return weight * (1 + signals + recency + quality)


def build_issue(
    posts: Sequence[Post],
    settings: Settings,
    week: str,
    *,
    intro: str = "",
    number: int | None = None,
) -> Issue:
    """The frozen issue: subject and preheader from the localised catalogue (or config)."""
    year, week_number = parse_week(week)
    locale = settings.newsletter.locale
    name = settings.newsletter.name
    template = settings.selection.subject or translate(
        locale, "subject", name="{name}", week_number="{week_number}", year="{year}"
    )
    subject = template.format(name=name, week_number=week_number, year=year, week=week)
    first = posts[0].title if posts else ""
    return Issue(
        newsletter=name,
        week=week,
        locale=locale,
        subject=subject,
        preheader=translate(locale, "preheader", count=len(posts), first=first),
        sections=(Section(title="", posts=tuple(posts)),),
        intro=intro,
        number=number,
        base_url=settings.newsletter.base_url,
    )
