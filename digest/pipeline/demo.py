"""The whole pipeline on the bundled samples, offline."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from digest.config import load_settings
from digest.environment import Environment
from digest.errors import NothingToPublish
from digest.models import FeedReport
from digest.newsletter import scaffold
from digest.pipeline.delivery import Exported, export
from digest.pipeline.issues import Built, build, gather
from digest.selection import week_of
from digest.store import open_store

DEMO_SECRET = "demo-only-secret-do-not-use-for-real-lists"


@dataclass(frozen=True)
class Demo:
    root: Path
    reports: tuple[FeedReport, ...]
    built: Built
    exported: Exported


def demo(out: Path, env: Environment) -> Demo:
    """The whole pipeline, offline, on the bundled samples, in the most recent week they cover."""
    settings = load_settings(scaffold(out, force=True))
    reports = gather(settings, env)
    with open_store(settings.state, env.database_url) as store:
        latest = store.latest_published()
    if latest is None:
        raise NothingToPublish("the bundled sample feeds gave no posts")
    built = build(settings, env, week=week_of(latest, settings.zone))
    demo_env = replace(env, unsubscribe_secret=env.unsubscribe_secret or DEMO_SECRET)
    exported = export(built.directory, settings, demo_env, out=out / "messages")
    return Demo(out, tuple(reports), built, exported)
