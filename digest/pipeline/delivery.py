"""Delivering a built issue: every edition prepared once, then exported or sent over SMTP.

Part of the pipeline: opens the store and the journal, reads the subscribers, hands each stage
only what it needs (`Sender` to message building).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from digest import exports
from digest.audience import edition_rows, with_store
from digest.config import Settings
from digest.deliver import Prepared, Sender, prepare
from digest.environment import Environment
from digest.errors import ConfigError
from digest.issuefile import ISSUE_FILE, read_issue
from digest.journal import Journal
from digest.models import Subscriber
from digest.render import render_issue
from digest.sender import ProgressCallback, SendOptions, SendReport, combine, send_issue
from digest.signing import Signer, load_signer
from digest.smtp import SmtpTarget
from digest.store import open_store
from digest.subscribers import Row, RowProblem, read_subscribers

SECRET_ENV = "DIGEST_UNSUBSCRIBE_SECRET"


def sender(settings: Settings) -> Sender:
    """What message building needs of the settings."""
    newsletter, delivery = settings.newsletter, settings.delivery
    return Sender(
        name=newsletter.name,
        address=newsletter.sender,
        list_id=settings.list_id,
        zone=settings.zone,
        unsubscribe_url=settings.unsubscribe_url,
        reply_to=newsletter.reply_to,
        mailto_unsubscribe=delivery.mailto_unsubscribe,
        feedback_id=delivery.feedback_id,
        source=str(settings.path),
    )


@dataclass(frozen=True)
class Exported:
    directory: Path
    written: int
    skipped: int  # not active: unsubscribed, bounced, cleaned
    rejected: tuple[RowProblem, ...]
    warnings: tuple[RowProblem, ...]
    files: tuple[Path, ...] = ()
    removed: int = 0  # stale messages of an earlier export removed from the folder


def export(
    issue_dir: Path,
    settings: Settings,
    env: Environment,
    *,
    out: Path,
    fmt: str = "eml",
    subscribers: Path | None = None,
    segment: str | None = None,
) -> Exported:
    """Personalised messages (eml, mbox) or service request bodies, written as they are made.

    Each reader gets the edition in their language when one was built (in `out/<locale>/`),
    else the main one (in `out/`); `segment` keeps only the readers with that tag.
    """
    if fmt not in exports.FORMATS:
        raise ConfigError(f"--format {fmt!r} is not one of {', '.join(exports.FORMATS)}")
    editions = _prepare_editions(issue_dir, settings, env.unsubscribe_secret)
    main = next(iter(editions))
    signer = _signer(settings, env, editions[main].domain) if fmt in ("eml", "mbox") else None
    unsubscribed, stored = _from_store(settings, env)
    totals = [
        exports.export(
            fmt,
            prepared,
            _readers(subscribers or settings.delivery.subscribers, stored, locale, main, editions, segment),
            out if locale == main else out / locale,
            sign=signer.sign if signer else None,
            listmonk_lists=settings.delivery.listmonk_lists,
            unsubscribed=unsubscribed,
        )
        for locale, prepared in editions.items()
    ]
    return Exported(
        out,
        sum(tally.written for tally in totals),
        sum(tally.skipped for tally in totals),
        tuple(problem for tally in totals for problem in tally.rejected),
        tuple(problem for tally in totals for problem in tally.warnings),
        tuple(path for tally in totals for path in tally.files),
        sum(tally.removed for tally in totals),
    )


def send(
    issue_dir: Path,
    settings: Settings,
    env: Environment,
    *,
    target: SmtpTarget,
    options: SendOptions,
    subscribers: Path | None = None,
    on_progress: ProgressCallback | None = None,
    segment: str | None = None,
) -> SendReport:
    """Send over SMTP, resumably: the journal in the state folder records every message.

    Each reader gets the edition in their language when one was built, as `export` does.
    """
    editions = _prepare_editions(issue_dir, settings, env.unsubscribe_secret)
    main = next(iter(editions))
    signer = _signer(settings, env, editions[main].domain)
    unsubscribed, stored = _from_store(settings, env)
    with Journal.open(settings.state, clock=env.clock, database_url=env.database_url) as journal:
        reports = [
            send_issue(
                prepared,
                _readers(
                    subscribers or settings.delivery.subscribers, stored, locale, main, editions, segment
                ),
                target,
                journal,
                options,
                sign=signer.sign if signer else None,
                on_progress=on_progress,
                unsubscribed=unsubscribed,
            )
            for locale, prepared in editions.items()
        ]
    report = combine(reports)
    _record_bounces(settings, env, report)
    return report


def _record_bounces(settings: Settings, env: Environment, report: SendReport) -> None:
    """Permanent failures (the server's 5xx for a recipient) become `bounced` events: the same
    dead address is not mailed again next week. Failures of our own (no SMTPUTF8) are not bounces."""
    permanent = [o for o in report.failed if o.reply[:1] == "5"]
    if not permanent or report.dry_run:
        return
    with open_store(settings.state, env.database_url) as store:
        for outcome in permanent:
            store.record_event(
                settings.list_id,
                outcome.recipient,
                "bounced",
                env.clock(),
                "smtp",
                detail=outcome.reply[:300],
            )


def _prepare_editions(issue_dir: Path, settings: Settings, secret: str) -> dict[str, Prepared]:
    """The issue in each language built, the main one first (its own folder, then each <locale>/),
    rendered once and ready for every subscriber."""
    if not secret:
        raise ConfigError(
            f"{SECRET_ENV} is not set", hint="export a long random secret: it signs unsubscribe links"
        )
    folders = [issue_dir, *(folder.parent for folder in sorted(issue_dir.glob(f"*/{ISSUE_FILE}")))]
    editions: dict[str, Prepared] = {}
    for folder in folders:
        issue = read_issue(folder)
        prepared = prepare(render_issue(issue, settings.templates), issue, sender(settings), secret)
        editions.setdefault(prepared.issue.locale, prepared)
    return editions


def _readers(
    path: Path,
    stored: dict[str, Subscriber],
    locale: str,
    main: str,
    editions: dict[str, Prepared],
    segment: str | None,
) -> Iterator[Row]:
    """The CSV (when there is one: a list kept only in the store needs none) and the store's
    readers, the store's status winning for those it knows (`audience.with_store`)."""
    csv_rows = read_subscribers(path, default_locale=main) if path.exists() or not stored else iter(())
    return edition_rows(with_store(csv_rows, stored), locale, main, editions, segment)


def _signer(settings: Settings, env: Environment, domain: str) -> Signer | None:
    return load_signer(settings.delivery, domain, key_text=env.dkim_key, source=str(settings.path))


def _from_store(settings: Settings, env: Environment) -> tuple[frozenset[str], dict[str, Subscriber]]:
    """Who left (unsubscribed, bounced, complained), even if the CSV does not say so yet, and
    every reader the store knows, by lower-cased address."""
    with open_store(settings.state, env.database_url) as store:
        readers = {reader.email.lower(): reader for reader in store.subscribers(settings.list_id)}
        return store.unsubscribed(settings.list_id), readers
