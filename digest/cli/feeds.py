"""`digest gather`: fetch every feed into the store."""

from __future__ import annotations

from typing import Annotated

import typer

from digest import pipeline
from digest.cli.common import ConfigOption, JsonOption, StateOption, environment, out, settings
from digest.cli.reports import feed_json, feed_progress, print_feeds


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
