"""`digest gather`: fetch every feed into the store; `digest posts`: what the store holds."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from digest.cli.common import ConfigOption, JsonOption, StateOption, environment, out, settings
from digest.cli.lazy import module
from digest.cli.reports import feed_json, feed_progress, print_feeds, print_posts

if TYPE_CHECKING:
    from digest import pipeline, serial
else:
    pipeline, serial = module("digest.pipeline"), module("digest.serial")


def gather(
    config: ConfigOption = None,
    state: StateOption = None,
    as_json: JsonOption = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 when any feed fails (default: only when all do).")
    ] = False,
    retry_gone: Annotated[
        bool, typer.Option("--retry-gone", help="Fetch again the feeds marked gone after a 410 answer.")
    ] = False,
) -> None:
    """Fetch every feed concurrently and store new posts; one broken feed never stops the others.

    A progress bar shows on a terminal, then a table of feed, status, new posts, time and error.
    Exit 0 when every feed is fine or only some failed, 1 when every feed failed, or with
    --strict when any did. See docs/gather.md for limits, retries, redirects and gone feeds.

    Example: digest gather --config news/digest.toml --strict
    """
    chosen = settings(config, state)
    with feed_progress(len(chosen.feeds)) as advance:
        reports = pipeline.gather(chosen, environment(), on_done=advance, retry_gone=retry_gone)
    if as_json:
        out.print_json(data={"feeds": [feed_json(report) for report in reports]})
    else:
        print_feeds(reports, {feed.url: feed.name for feed in chosen.feeds})
    failed = sum(report.status == "error" for report in reports)
    if failed and (strict or failed == len(reports)):
        raise typer.Exit(1)


def posts(
    config: ConfigOption = None,
    state: StateOption = None,
    as_json: JsonOption = False,
    feed: Annotated[
        str | None, typer.Option("--feed", help="Only the posts of this feed (its URL in digest.toml).")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Published on or after this day (YYYY-MM-DD).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Published on or before this day (YYYY-MM-DD).")
    ] = None,
) -> None:
    """List the stored posts, oldest first: the public view of the store.

    Days are days in the newsletter's time zone. With --json, prints {"posts": [...]}, each with
    id, feed (its URL in digest.toml), url, title, author, published (ISO 8601 with offset),
    published_from (feed, first_seen, unreadable, future or before_1995), summary_html,
    summary_text and image (null or url, width, height, alt). See docs/gather.md.

    Example: digest posts --since 2026-11-16 --until 2026-11-22 --json
    """
    chosen = settings(config, state)
    found = pipeline.stored_posts(chosen, environment(), feed=feed, since=since, until=until)
    if as_json:
        out.print_json(data={"posts": [serial.post_to_dict(post) for post in found]})
    else:
        print_posts(found)
