"""Select: the week's featured posts, as a frozen `Issue`. Pure: `now` is passed in.

The window is the ISO week in the newsletter's time zone, so a post at 00:30 on Monday in
Paris belongs to the new week even though it is still Sunday in UTC. docs/selection.md
explains the score and every setting.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from digest.config import FeedSettings, ScoreWeights, SelectionSettings
from digest.dates import TRUSTED
from digest.dedupe import unique_posts
from digest.errors import ConfigError
from digest.i18n import translate
from digest.identity import IssueRef, parse_week, span_slug, week_slug
from digest.models import Issue, Post, Section

DEFAULT_WEIGHTS = ScoreWeights()


@dataclass(frozen=True)
class Editorial:
    """What selection knows of the newsletter: its name, language, zone and address, its feeds and
    the editor's rules. `pipeline.editorial` makes it from the settings."""

    name: str
    locale: str
    zone: ZoneInfo
    base_url: str
    feeds: tuple[FeedSettings, ...]
    rules: SelectionSettings

    def in_locale(self, locale: str) -> Editorial:
        return replace(self, locale=locale)


def parse_day(value: str, flag: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ConfigError(
            f"{flag} {value!r} is not a date", hint="write it as YYYY-MM-DD, e.g. 2026-11-16"
        ) from None


@dataclass(frozen=True)
class Window:
    """A span of whole days in the newsletter's zone, and the UTC instants that bound it."""

    first_day: date
    last_day: date  # inclusive
    start: datetime  # UTC, inclusive
    end: datetime  # UTC, exclusive
    week: str  # the ISO week of the last day
    slug: str = ""  # names the issue: the week, or the span of days when it is not one ISO week
    warnings: tuple[str, ...] = ()  # e.g. a span that is not over yet

    @property
    def ref(self) -> IssueRef:
        return IssueRef(self.slug or self.week)


def day_window(first_day: date, last_day: date, zone: ZoneInfo) -> Window:
    if last_day < first_day:
        raise ConfigError(f"--until {last_day} is before --since {first_day}")
    start = datetime.combine(first_day, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    year, number, weekday = last_day.isocalendar()
    week = week_slug(year, number)
    whole_week = weekday == 7 and (last_day - first_day).days == 6
    return Window(
        first_day, last_day, start, end, week, week if whole_week else span_slug(first_day, last_day)
    )


def iso_week_window(week: str, zone: ZoneInfo) -> Window:
    year, number = parse_week(week)
    monday = date.fromisocalendar(year, number, 1)
    return day_window(monday, monday + timedelta(days=6), zone)


def week_window(week: str, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of the ISO week in `zone`, as UTC datetimes; exact across DST changes."""
    window = iso_week_window(week, zone)
    return window.start, window.end


def choose_window(
    zone: ZoneInfo, *, now: datetime, week: str | None, since: str | None, until: str | None
) -> Window:
    """The span an issue covers: --since/--until days, else --week, else the last complete week.

    Days are days in the newsletter's zone. A span of days that is exactly one ISO week is that
    week's issue, not another one."""
    if week and (since or until):
        raise ConfigError(
            "--week cannot be combined with --since/--until", hint="give a week, or a span of days"
        )
    if since or until:
        today = now.astimezone(zone).date()
        first = parse_day(since, "--since") if since else today - timedelta(days=7)
        last = parse_day(until, "--until") if until else today - timedelta(days=1)
        return _when(day_window(first, last, zone), now, zone)
    return _when(iso_week_window(week or last_complete_week(now, zone), zone), now, zone)


def _when(window: Window, now: datetime, zone: ZoneInfo) -> Window:
    """A span that has not begun is refused; one that is not over is built with a warning."""
    latest = last_complete_week(now, zone)
    if window.start > now:
        raise ConfigError(
            f"{window.ref} has not begun: it starts on {window.first_day:%A %Y-%m-%d} ({zone.key})",
            hint=f"the last complete week is {latest}; it is the default",
        )
    if window.end > now:
        ends = window.last_day + timedelta(days=1)
        return replace(
            window,
            warnings=(
                f"{window.ref} is not over until {ends:%A %Y-%m-%d} 00:00 ({zone.key}): posts published "
                f"after now are not in it; the last complete week is {latest}",
            ),
        )
    return window


def week_of(moment: datetime, zone: ZoneInfo) -> str:
    year, number, _ = moment.astimezone(zone).isocalendar()
    return f"{year}-W{number:02d}"


def last_complete_week(now: datetime, zone: ZoneInfo) -> str:
    return week_of(now.astimezone(zone) - timedelta(days=7), zone)


@dataclass(frozen=True)
class Choice:
    posts: tuple[Post, ...]
    warnings: tuple[str, ...]
    pinned: int = 0  # the first `pinned` posts were pinned by the editor


def choose_posts(
    candidates: Iterable[Post],
    editorial: Editorial,
    *,
    window_end: datetime,
    pins: Sequence[str] = (),
    drops: Sequence[str] = (),
) -> Choice:
    """Pinned posts first (in pin order), then the best-scored ones under the caps.

    The order of `candidates` never matters: syndicated copies are reduced to one with a fixed
    rule (`dedupe`), and ties are broken by URL then id, so the same posts always give the same
    issue. Posts whose date is not to be trusted (`dates.TRUSTED`) are left out. Pins ignore the
    caps, the dates and the category filters: the editor has the last word.
    """
    feeds = {feed.url: feed for feed in editorial.feeds}
    everything = sorted(unique_posts(candidates, list(feeds)), key=lambda p: (p.url, p.id))
    by_url = {post.url: post for post in reversed(everything)}
    warnings: list[str] = []
    chosen: list[Post] = []
    for url in dict.fromkeys([*pins, *editorial.rules.pin]):
        post = by_url.get(url)
        if post is None:
            warnings.append(f"pinned URL matches no post of the week: {url}")
        else:
            chosen.append(post)
    pinned = len(chosen)
    dropped = set(drops) | set(editorial.rules.drop)
    for url in sorted(set(drops) - set(by_url)):
        warnings.append(f"dropped URL matches no post of the week: {url}")
    weights = editorial.rules.weights
    ranked = sorted(
        (
            post
            for post in everything
            if post.published_from in TRUSTED and _admitted(post, feeds.get(post.feed))
        ),
        key=lambda p: (-score(p, feeds.get(p.feed), window_end, weights), p.url, p.id),
    )
    per_source = Counter(post.feed for post in chosen)
    per_author = Counter(post.author.casefold() for post in chosen if post.author)
    limits = editorial.rules
    for post in ranked:
        if len(chosen) >= limits.max_posts:
            break
        author = post.author.casefold()
        if post in chosen or post.url in dropped or per_source[post.feed] >= limits.per_source_max:
            continue
        if author and per_author[author] >= limits.per_author_max:
            continue
        chosen.append(post)
        per_source[post.feed] += 1
        per_author[author] += 1
    return Choice(posts=tuple(chosen), warnings=tuple(warnings), pinned=pinned)


def _admitted(post: Post, feed: FeedSettings | None) -> bool:
    if feed is None:
        return True
    if feed.weight == 0:
        return False  # a muted feed: its posts appear only when pinned
    if not feed.categories:
        return True
    wanted = {category.casefold() for category in feed.categories}
    return any(category.casefold() in wanted for category in post.categories)


def score(
    post: Post, feed: FeedSettings | None, window_end: datetime, weights: ScoreWeights = DEFAULT_WEIGHTS
) -> float:
    """How strongly a post should be featured: feed weight × (1 + signals + recency + quality).

    Signals grow with the logarithm of shares and comments, so 5,000 shares do not bury every
    other post; recency falls from 1 to 0 over the week; quality rewards an image and a summary.
    """
    weight = feed.weight if feed else 1.0
    signals = weights.shares * math.log1p(post.shares or 0) + weights.comments * math.log1p(
        post.comments or 0
    )
    age_days = max(0.0, (window_end - post.published).total_seconds() / 86400)
    recency = weights.recency * max(0.0, 1 - age_days / 7)
    quality = (
        weights.image * (1.0 if post.image else 0.0)
        + weights.summary * min(len(post.summary_text), 300) / 300
    )
    return weight * (1 + signals + recency + quality)


def arrange(posts: Sequence[Post], editorial: Editorial, pinned: int = 0) -> tuple[Section, ...]:
    """Sections by category in the configured order; pinned posts open the issue.

    The pinned posts, or else the top-ranked one, open the issue in an unnamed section: its
    first post is the lead story. Every other post goes to the first configured section whose
    category it has; the rest follow in a last section. With no sections configured, the
    issue is one unnamed section.
    """
    names = editorial.rules.sections
    if not names:
        return (Section("", tuple(posts)),)
    opening = max(pinned, 1)
    lead, rest = list(posts[:opening]), posts[opening:]
    buckets: dict[str, list[Post]] = {name: [] for name in names}
    others: list[Post] = []
    for post in rest:
        own = {category.casefold() for category in post.categories}
        name = next((name for name in names if name.casefold() in own), None)
        (buckets[name] if name else others).append(post)
    other_title = editorial.rules.other_section or translate(editorial.locale, "more")
    sections = [Section("", tuple(lead))] if lead else []
    sections += [Section(name, tuple(items)) for name, items in buckets.items() if items]
    if others:
        sections.append(Section(other_title, tuple(others)))
    return tuple(sections)


def build_issue(
    posts: Sequence[Post],
    editorial: Editorial,
    window: Window | str,
    *,
    pinned: int = 0,
    intro: str = "",
    number: int | None = None,
    edition: str = "",
) -> Issue:
    """The issue as stored: subject and preheader are the config's patterns or the localised
    catalogue's, filled at render from the posts the issue then holds (`edits.resolve`).

    `edition` is "" for the main edition, else the locale of this other edition."""
    if isinstance(window, str):
        window = iso_week_window(window, editorial.zone)
    locale = editorial.locale
    subject = editorial.rules.subject or _pattern(locale, "subject")
    preheader = editorial.rules.preheader or _pattern(locale, "preheader")
    return Issue(
        newsletter=editorial.name,
        week=window.week,
        locale=locale,
        subject=subject,
        preheader=preheader,
        sections=arrange(posts, editorial, pinned),
        intro=intro,
        number=number,
        base_url=editorial.base_url,
        first_day=window.first_day.isoformat(),
        last_day=window.last_day.isoformat(),
        slug=window.ref.slug,
        edition=edition,
    )


def _pattern(locale: str, key: str) -> str:
    """The catalogue's text with its placeholders left in, to be filled at render."""
    names = ("name", "week", "week_number", "year", "count", "first")
    return translate(locale, key, **{name: f"{{{name}}}" for name in names})
