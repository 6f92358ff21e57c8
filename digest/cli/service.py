"""`digest serve` (the list's web app) and `digest bounces import`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from digest.cli.common import WEB_PORT, ConfigOption, environment, err, out
from digest.cli.common import settings as load
from digest.errors import ConfigError

if TYPE_CHECKING:
    from digest.bounces.findings import Finding

bounces_app = typer.Typer(
    name="bounces", help="Apply bounces, complaints and mailto unsubscribes.", no_args_is_help=True
)


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = WEB_PORT,
    smtp_url: Annotated[
        str, typer.Option("--smtp-url", help="Where confirmation mails go (else DIGEST_SMTP_URL).")
    ] = "",
    config: ConfigOption = None,
) -> None:
    """Serve the list's web app: subscribe (double opt-in), confirm, one-click unsubscribe,
    preferences, service webhooks, /healthz.

    The standard library's threaded server, for development and small lists; in production run
    `digest.web:create_app` under waitress or gunicorn behind HTTPS (docs/web.md).

    Example: digest serve --host 127.0.0.1 --port 8080 --smtp-url smtp://localhost:2525
    """
    from digest.unsubscribe import server  # here: the web app's imports are this command's alone
    from digest.web import build_app

    env = environment()
    settings = load(config, env.state)
    app = build_app(settings.path, env, smtp_url=smtp_url)
    try:
        httpd = server(app, host, port)
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror}", hint="choose another --port"
        ) from exc
    err.print(
        f"Serving the list {app.list_id} on http://{host}:{httpd.server_port} (Ctrl-C to stop)", markup=False
    )
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        err.print("Stopped.")
    finally:
        httpd.server_close()


@bounces_app.command("import")
def import_(
    paths: Annotated[
        list[str], typer.Argument(help="mbox files, Maildir folders, service JSON files, imaps:// URLs.")
    ],
    config: ConfigOption = None,
    soft_limit: Annotated[
        int | None, typer.Option("--soft-limit", help="Soft bounces in a row that suppress.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")] = False,
) -> None:
    """Apply bounces (RFC 3464 DSNs), complaints (ARF) and mailto unsubscribes from mailboxes,
    and services' event files (SES/SNS, SendGrid, Mailgun, Postmark). Hard bounces and
    complaints suppress at once; soft ones after --soft-limit in a row ([delivery] soft_bounce_limit).

    Example: digest bounces import bounces.mbox ~/Maildir/.Bounces ses-events.json --json
    """
    from digest.bounces import apply, sources  # here: only this command reads bounces
    from digest.store import open_store
    from digest.subscribers import csv_members
    from digest.tokens import signing_secret

    env = environment()
    settings = load(config, env.state)
    mailto = settings.delivery.mailto_unsubscribe
    findings: list[Finding] = []
    for given in paths:
        if given.startswith("imaps://"):
            findings.extend(sources.read_imap(given, env.imap_password, mailto=mailto))
        else:
            findings.extend(sources.read_path(Path(given), mailto=mailto))
    limit = soft_limit or settings.delivery.soft_bounce_limit
    with open_store(settings.state, env.database_url) as store:
        applied = apply.apply_findings(
            store,
            settings.list_id,
            signing_secret(env.unsubscribe_secret),
            findings,
            at=env.now,
            soft_limit=limit,
            members=csv_members(settings),
        )
    for outcome in applied.outcomes:
        err.print(
            f"{outcome.action:<13} {outcome.email or '-':<40} {outcome.kind:<11} {outcome.reason} [{outcome.where}]",
            markup=False,
        )
    err.print(
        f"{applied.count('suppressed')} suppressed, {applied.count('soft-counted')} soft-counted, "
        f"{applied.count('ignored')} ignored.",
        markup=False,
    )
    if as_json:
        out.print_json(
            data={
                "suppressed": [o.as_json() for o in applied.outcomes if o.action == "suppressed"],
                "soft_counted": [o.as_json() for o in applied.outcomes if o.action == "soft-counted"],
                "ignored": [o.as_json() for o in applied.outcomes if o.action == "ignored"],
            }
        )
