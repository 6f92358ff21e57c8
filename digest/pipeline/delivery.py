"""Export and send: the delivering half of the pipeline, for every edition and reader."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from digest import exporters, exports, sending
from digest.audience import edition_rows, with_store
from digest.config import Settings
from digest.deliver import Prepared, Sender, prepare
from digest.environment import Environment
from digest.errors import ConfigError
from digest.issuefile import ISSUE_FILE, read_issue
from digest.models import Subscriber
from digest.render import render_issue
from digest.sender import ProgressCallback, SendOptions, SendReport
from digest.sendqueue import Interrupt
from digest.services import Options
from digest.signing import Signer, load_signer
from digest.smtp import SmtpTarget
from digest.store import open_store
from digest.subscribers import Row, RowProblem, read_subscribers
from digest.tokens import signing_secret


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
    stale: tuple[Path, ...] = ()  # left by an earlier export of this issue; removed


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
    exporter = _exporter(fmt)
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
            options=_service_options(settings, fmt, locale, len(editions)),
            unsubscribed=unsubscribed,
            exporter=exporter,
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
        tuple(path for tally in totals for path in tally.stale),
    )


def _exporter(fmt: str) -> exporters.Exporter | None:
    """The exporter of `--format` (None for eml and mbox); an unknown or broken one is named."""
    if fmt in exporters.FILE_FORMATS:
        return None
    registry = exporters.discover()
    if fmt in registry.found:
        exporter: exporters.Exporter = registry.found[fmt]
        return exporter
    if fmt in registry.broken:
        raise ConfigError(f"--format {fmt}: {registry.broken[fmt]}", hint="fix or uninstall that package")
    raise ConfigError(f"--format {fmt!r} is not one of {', '.join(registry.formats)}")


LIST_KEYS = {"listmonk": "listmonk_lists", "brevo-campaign": "brevo_lists"}


def _service_options(settings: Settings, fmt: str, locale: str, editions: int) -> Options:
    """A campaign's lists for one edition (listmonk, Brevo): its own entry, or the plain list
    when there is one edition."""
    key = LIST_KEYS.get(fmt, "listmonk_lists")
    lists = getattr(settings.delivery, key)
    chosen = lists.get(locale, ()) or (lists.get("", ()) if editions == 1 else ())
    if editions > 1 and "" in lists:
        raise ConfigError(
            f"{settings.path}: [delivery] {key} is one list for {editions} editions: "
            "each campaign would go to every reader, who would get both",
            hint=f"one entry per language: {key} = {{ fr = [3], en = [4] }}",
        )
    return Options(chosen, settings.delivery.listmonk_template_id, f"{settings.path} ({locale} edition)")


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
    interrupt: Interrupt | None = None,
) -> SendReport:
    """Send over SMTP, resumably: the journal in the state folder records every message.

    Each reader gets the edition in their language when one was built, as `export` does; the
    `[delivery] seed` addresses get the main edition first. The unsubscribes recorded in the
    store are read again every few seconds while the run goes on.
    """
    editions = _prepare_editions(issue_dir, settings, env.unsubscribe_secret)
    main = next(iter(editions))
    signer = _signer(settings, env, editions[main].domain)
    _, stored = _from_store(settings, env)
    plan = sending.Plan(
        issue_dir=issue_dir,
        state=settings.state,
        database_url=env.database_url,
        target=target,
        editions=editions,
        readers=lambda locale: _readers(
            subscribers or settings.delivery.subscribers, stored, locale, main, editions, segment
        ),
        sign=signer.sign if signer else None,
        unsubscribes=lambda: _suppressed(settings, env),
        clock=env.clock,
        seeds=settings.delivery.seed,
        interrupt=interrupt,
    )
    report = sending.send_editions(plan, options, on_progress)
    _record_bounces(settings, env, report)
    return report


def send_test(
    issue_dir: Path,
    settings: Settings,
    env: Environment,
    *,
    target: SmtpTarget,
    options: SendOptions,
    addresses: Sequence[str],
) -> SendReport:
    """The main edition to `addresses` only, its subject prefixed `[TEST]`, outside the journal."""
    signing_secret(env.unsubscribe_secret)
    issue = read_issue(issue_dir)
    issue = replace(issue, subject=f"[TEST] {issue.subject}")
    prepared = prepare(
        render_issue(issue, settings.templates), issue, sender(settings), env.unsubscribe_secret
    )
    signer = _signer(settings, env, prepared.domain)
    return sending.send_to_testers(
        prepared, addresses, target, options, sign=signer.sign if signer else None, clock=env.clock
    )


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
    signing_secret(secret)  # set, and long enough
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


def _suppressed(settings: Settings, env: Environment) -> frozenset[str]:
    """Who left, now: read again every few seconds during a send, so only the suppressions,
    not every reader the store knows."""
    with open_store(settings.state, env.database_url) as store:
        return store.unsubscribed(settings.list_id)


def _from_store(settings: Settings, env: Environment) -> tuple[frozenset[str], dict[str, Subscriber]]:
    """Who left (unsubscribed, bounced, complained), even if the CSV does not say so yet, and
    every reader the store knows, by lower-cased address."""
    with open_store(settings.state, env.database_url) as store:
        readers = {reader.email.lower(): reader for reader in store.subscribers(settings.list_id)}
        return store.unsubscribed(settings.list_id), readers
