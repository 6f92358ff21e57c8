"""`digest subscribers …` and `digest unsubscribe …`: two small Typer sub-apps the main app composes.

Like the rest of the CLI: parse arguments, call one library function, report. Human messages
go to stderr, `--json` to stdout; errors become messages in `common.Boundary`, like everywhere.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from digest.cli.common import WEB_PORT, ConfigOption, environment, err, out
from digest.cli.lazy import module
from digest.errors import ConfigError

if TYPE_CHECKING:
    from digest import newsletter, roster, subscriber_edits, subscribers, tokens, unsubscribe
    from digest import store as state_store
    from digest.config import Settings
    from digest.subscriber_edits import SourceProblem
    from digest.subscribers import RowProblem, Summary
else:
    newsletter, roster, state_store = (
        module("digest.newsletter"),
        module("digest.roster"),
        module("digest.store"),
    )
    subscriber_edits, subscribers = module("digest.subscriber_edits"), module("digest.subscribers")
    tokens, unsubscribe = module("digest.tokens"), module("digest.unsubscribe")

subscribers_app = typer.Typer(
    name="subscribers",
    help="Check the subscriber list, import one from Mailchimp or listmonk, apply unsubscribes.",
    no_args_is_help=True,
)
unsubscribe_app = typer.Typer(
    name="unsubscribe", help="The one-click unsubscribe web app (List-Unsubscribe).", no_args_is_help=True
)


class Source(StrEnum):
    mailchimp = "mailchimp"
    listmonk = "listmonk"
    digest = "digest"


def _settings(config: Path | None, *, required: bool) -> Settings | None:
    """`--config`, else digest.toml in . or above; None when there is none and none is needed.

    The state folder is $DIGEST_STATE when set, read here at the edge (config reads no variable).
    """
    state = environment().state
    try:
        return newsletter.find_config(config, state=state)
    except ConfigError:
        if config or required:
            raise
        return None


def _path(given: Path | None, settings: Settings | None) -> Path:
    """The file given on the command line, else [delivery] subscribers."""
    if given:
        return given
    if settings is None:  # _settings(required=True) has raised already
        raise ConfigError("no subscriber list given", hint="pass its path, or --config")
    return settings.delivery.subscribers


def _recorded_unsubscribes(settings: Settings | None) -> frozenset[str]:
    """Unsubscribes in the state; never creates a state folder just to look."""
    url = environment().database_url
    if settings is None or not (url or state_store.database(settings.state).exists()):
        return frozenset()
    with state_store.open_store(settings.state, url) as store:
        return store.unsubscribed(unsubscribe.list_id_of(settings))


@subscribers_app.command("check")
def check(
    csv_path: Annotated[
        Path | None, typer.Argument(metavar="[CSV]", help="The list (default: [delivery] subscribers).")
    ] = None,
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")] = False,
) -> None:
    """Validate the subscriber list: a summary, and every rejected or warned row with its line.

    Reads our CSV, Mailchimp and listmonk exports. Rejected rows stay in the file: fix them there.
    Exit 1 when a row is rejected, 2 when the file cannot be read at all.

    Example: digest subscribers check subscribers.csv --json
    """
    settings = _settings(config, required=csv_path is None)
    path = _path(csv_path, settings)
    locale = settings.newsletter.locale if settings else "en"
    with _progress(f"Checking {path.name}") as tick:
        summary = subscribers.summarise(
            path, default_locale=locale, unsubscribed=_recorded_unsubscribes(settings), on_row=tick
        )
    _print_summary(path, summary, rows=not as_json)
    if as_json:
        out.print_json(data=_summary_json(path, summary))
    if summary.rejected:
        raise typer.Exit(1)


@contextmanager
def _progress(label: str) -> Iterator[Any]:
    """A row counter on a terminal for long lists; nothing in a pipe or a test."""
    if not err.is_terminal:
        yield None
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description} {task.completed:,} rows"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)
        count = 0

        def tick() -> None:
            nonlocal count
            count += 1
            if count % 10_000 == 0:
                bar.update(task, completed=count)

        yield tick


def _summary_json(path: Path, summary: Summary) -> dict[str, Any]:
    return {
        "recipients": summary.recipients,
        "rejected": [{"line": p.line, "reason": p.reason} for p in summary.rejected],
        "warnings": [{"line": p.line, "reason": p.reason} for p in summary.warnings],
        "file": str(path),
        "format": summary.format,
        "rows": summary.rows,
        "by_status": dict(summary.by_status),
        "by_locale": dict(summary.by_locale),
        "by_tag": dict(summary.by_tag),
        "pending_unsubscribes": summary.pending_unsubscribes,
    }


def _print_summary(path: Path, summary: Summary, *, rows: bool) -> None:
    def counts(mapping: Any) -> str:
        return " · ".join(f"{key} {value}" for key, value in mapping.items()) or "none"

    err.print(
        f"{path}: {summary.rows} rows ({summary.format} layout), {summary.recipients} recipients, "
        f"{len(summary.rejected)} rejected, {len(summary.warnings)} warnings",
        markup=False,
    )
    err.print(f"  status: {counts(summary.by_status)}", markup=False)
    err.print(f"  recipients by locale: {counts(summary.by_locale)}", markup=False)
    err.print(f"  recipients by tag: {counts(summary.by_tag)}", markup=False)
    if summary.pending_unsubscribes:
        err.print(
            f"  {summary.pending_unsubscribes} active in the list but unsubscribed in the state (skipped when sending; "
            "write them to the list with `digest subscribers apply-unsubscribes`)",
            markup=False,
        )
    if rows:
        _print_problems(summary.rejected, summary.warnings)


def _print_problems(
    rejected: tuple[RowProblem | SourceProblem, ...], warnings: tuple[RowProblem | SourceProblem, ...]
) -> None:
    problems = [("rejected", p) for p in rejected] + [("warning", p) for p in warnings]
    for kind, problem in sorted(problems, key=lambda item: (_where(item[1]), item[0] == "warning")):
        err.print(f"{kind:<8} {_where(problem)}: {problem.reason}", markup=False)


def _where(problem: RowProblem | SourceProblem) -> str:
    line = f"line {problem.line}"
    return f"{problem.file.name} {line}" if isinstance(problem, subscriber_edits.SourceProblem) else line


@subscribers_app.command("import")
def import_(
    files: Annotated[
        list[Path], typer.Argument(help="Export files, merged in order (the first row of an address wins).")
    ],
    source: Annotated[
        Source | None,
        typer.Option("--from", help="The service the files come from (default: from the header)."),
    ] = None,
    out_path: Annotated[
        Path | None, typer.Option("--out", help="Our CSV to write (default: [delivery] subscribers).")
    ] = None,
    config: ConfigOption = None,
    into_store: Annotated[
        bool, typer.Option("--store", help="Record the rows in the store (DIGEST_DATABASE_URL or .digest/).")
    ] = False,
) -> None:
    """Convert Mailchimp or listmonk exports to our CSV, atomically; the previous file is kept as .bak.

    With --store, record each row in the store instead (an `imported` event, the row's status):
    the list the web app and every send share. Nobody who left is brought back by an import.
    Rows that cannot be imported are listed (for a CSV, kept with their reasons in
    <out>.rejected.csv). Exit 1 when a row is rejected.

    Example: digest subscribers import subscribed.csv unsubscribed.csv cleaned.csv --from mailchimp
    """
    if into_store:
        _import_into_store(files, source, config)
        return
    if source is None:
        raise ConfigError(
            "--from is required to convert to a CSV", hint="--from mailchimp or --from listmonk"
        )
    settings = _settings(config, required=out_path is None)
    target = _path(out_path, settings)
    locale = settings.newsletter.locale if settings else "en"
    imported = subscriber_edits.import_lists(files, fmt=source.value, out=target, default_locale=locale)
    _print_problems(imported.rejected, imported.warnings)
    kept = f" (previous list kept as {imported.backup})" if imported.backup else ""
    err.print(f"Imported {imported.written} subscribers into {imported.out}{kept}.", markup=False)
    if imported.rejected_file:
        err.print(
            f"{len(imported.rejected)} rejected rows are kept, with their reasons, in {imported.rejected_file}",
            markup=False,
        )
        raise typer.Exit(1)


def _import_into_store(files: list[Path], source: Source | None, config: Path | None) -> None:
    settings = _settings(config, required=True)
    assert settings is not None
    env = environment()
    fmt = source.value if source else None
    with state_store.open_store(settings.state, env.database_url) as store:
        done = roster.import_into_store(
            store, settings.list_id, files, fmt=fmt, at=env.now, default_locale=settings.newsletter.locale
        )
    for path, problem in done.rejected:
        err.print(f"rejected {path.name} line {problem.line}: {problem.reason}", markup=False)
    err.print(
        f"Imported {done.imported} subscribers into the store for {settings.list_id}; "
        f"{len(done.kept)} who had left stay off the list; {len(done.rejected)} rows rejected.",
        markup=False,
    )
    if done.rejected:
        raise typer.Exit(1)


@subscribers_app.command("export")
def export(
    out_path: Annotated[
        Path, typer.Option("--out", help="The CSV to write; events go to <stem>.events.csv.")
    ],
    config: ConfigOption = None,
) -> None:
    """Write the store's list (our CSV) and its history of events, atomically.

    Cells a spreadsheet would run as formulas (starting with =, +, -, @) get a leading quote.

    Example: digest subscribers export --out list.csv
    """
    settings = _settings(config, required=True)
    assert settings is not None
    with state_store.open_store(settings.state, environment().database_url) as store:
        written, events = roster.export_from_store(store, settings.list_id, out_path)
    err.print(f"Exported {written} subscribers to {out_path}, their events to {events}.", markup=False)


@subscribers_app.command("apply-unsubscribes")
def apply(config: ConfigOption = None) -> None:
    """Write the unsubscribes recorded by the unsubscribe app into the list (status: unsubscribed).

    Atomic, the previous file kept as .bak; no row is dropped, and rows not changed are kept byte
    for byte. Sending skips recorded unsubscribes even before this runs.

    Example: digest subscribers apply-unsubscribes --config news/digest.toml
    """
    settings = _settings(config, required=True)
    assert settings is not None
    list_id = unsubscribe.list_id_of(settings)
    recorded = _recorded_unsubscribes(settings)
    applied = (
        subscriber_edits.apply_unsubscribes(settings.delivery.subscribers, recorded) if recorded else None
    )
    if applied and (applied.changed or applied.already):
        with state_store.open_store(settings.state, environment().database_url) as store:
            store.mark_unsubscribes_applied(
                list_id, (*applied.changed, *applied.already), environment().clock()
            )
    if applied is None:
        err.print(
            f"No unsubscribes recorded for {list_id}; {settings.delivery.subscribers} unchanged.",
            markup=False,
        )
        return
    backup = f" (previous list kept as {applied.backup})" if applied.backup else ""
    err.print(
        f"{len(applied.changed)} unsubscribes applied to {applied.path}{backup}; "
        f"{len(applied.already)} already unsubscribed there; "
        f"{len(applied.missing)} recorded addresses are in no row of the list.",
        markup=False,
    )


@unsubscribe_app.command("serve")
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = WEB_PORT,
    config: ConfigOption = None,
) -> None:
    """Answer the List-Unsubscribe links: one-click POST (RFC 8058) and a confirmation page.

    The standard library's server, for development and small lists; in production run the same
    app under waitress or gunicorn behind your HTTPS reverse proxy (docs/subscribers.md).
    The secret comes from DIGEST_UNSUBSCRIBE_SECRET, as for export.

    Example: digest unsubscribe serve --port 8080 --config news/digest.toml
    """
    settings = _settings(config, required=True)
    assert settings is not None
    env = environment()
    app = unsubscribe.UnsubscribeApp(
        settings,
        tokens.signing_secret(env.unsubscribe_secret),
        clock=env.clock,
        database_url=env.database_url,
    )
    app.load()
    try:
        httpd = unsubscribe.server(app, host, port)
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror}", hint="choose another --port"
        ) from exc
    if not _is_loopback(host):
        err.print(
            "warning: this development server is not meant to face the internet; see docs/subscribers.md"
        )
    err.print(
        f"Answering {settings.unsubscribe_url} for list {app.list_id} on http://{host}:{httpd.server_port} "
        "(Ctrl-C to stop)",
        markup=False,
    )
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        err.print("Stopped.")
    finally:
        httpd.server_close()


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
