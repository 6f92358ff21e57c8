"""Request bodies for mailing services' batch APIs, one module per service.

Pure: each service module turns the prepared issue and subscribers into JSON-ready values;
`exports` writes them. `SERVICES` is the registry `digest export --format` reads: a new service
is one module with an `entry` (one recipient), a `request` (a batch of entries) and optional
`files` (a template or campaign created once), added here. docs/delivery.md lists each shape
and the definition it is checked against.
"""

from __future__ import annotations

from digest.services import listmonk, mailgun, postmark, sendgrid, ses
from digest.services.common import JSON, Options, Service, Unservable, variable, variables

SERVICES: dict[str, Service] = {
    module.SERVICE.name: module.SERVICE for module in (sendgrid, mailgun, ses, postmark, listmonk)
}

__all__ = ["JSON", "SERVICES", "Options", "Service", "Unservable", "variable", "variables"]
