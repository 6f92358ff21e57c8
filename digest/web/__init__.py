"""The list's web app (`digest serve`): `app.ListApp`, and `create_app` for a WSGI server."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from digest.config import load_settings
from digest.environment import Environment
from digest.smtp import parse_smtp_url
from digest.tokens import signing_secret
from digest.unsubscribe import CONFIG_ENV
from digest.web.app import ListApp


def build_app(settings_path: Path, env: Environment, *, smtp_url: str = "") -> ListApp:
    """The app for these settings and this environment (the CLI and `create_app` share it)."""
    from digest.web.mailer import smtp_mailer

    settings = load_settings(settings_path, state=env.state)
    url = smtp_url or env.smtp_url
    mailer = (
        smtp_mailer(settings, parse_smtp_url(url, password=env.smtp_password), env.clock) if url else None
    )
    app = ListApp(
        settings,
        signing_secret(env.unsubscribe_secret),
        database_url=env.database_url,
        mailer=mailer,
        clock=env.clock,
        webhook_secrets=dict(env.webhook_secrets),
    )
    app.load()
    return app


def create_app(environ: Mapping[str, str] | None = None) -> ListApp:
    """For a production WSGI server: `waitress-serve --call digest.web:create_app`, or gunicorn
    `'digest.web:create_app()'`. Reads digest.toml from $DIGEST_CONFIG and everything else from
    the environment (DIGEST_UNSUBSCRIBE_SECRET, DIGEST_DATABASE_URL, DIGEST_SMTP_URL…)."""
    variables = os.environ if environ is None else environ
    env = Environment.read(variables)
    return build_app(Path(variables.get(CONFIG_ENV, "digest.toml")), env)
