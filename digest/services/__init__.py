"""Request bodies for mailing services' batch APIs, one module per service.

Pure: each service module turns the prepared issue and subscribers into JSON-ready values;
`exports` writes them. `SERVICES` holds the built-in ones; `digest.exporters` merges them with
the exporters other packages register under the entry point group `digest.exporters` (the
built-ins are declared there too). A service is one `Service`: an `entry` (one recipient), a
`request` (a batch of entries), optional `files` (a template or campaign created once), its
limits and its `placeholder`. docs/delivery.md lists each shape and the definition it is
checked against.
"""

from __future__ import annotations

from digest.services import brevo, brevo_campaign, listmonk, mailgun, mailjet, postmark, sendgrid, ses
from digest.services.common import (
    JSON,
    Options,
    Service,
    Unservable,
    address_of,
    ascii_name,
    bodies,
    common_headers,
    guard_braces,
    guard_statements,
    personal,
    recipient,
    sender,
    subject,
    variable,
    variables,
)

BUILT_IN = (sendgrid, mailgun, ses, postmark, listmonk, brevo, brevo_campaign, mailjet)
SERVICES: dict[str, Service] = {module.SERVICE.name: module.SERVICE for module in BUILT_IN}

# What an exporter of another package may use (docs/delivery.md, "Your own service").
__all__ = [
    "JSON",
    "SERVICES",
    "Options",
    "Service",
    "Unservable",
    "address_of",
    "ascii_name",
    "bodies",
    "common_headers",
    "guard_braces",
    "guard_statements",
    "personal",
    "recipient",
    "sender",
    "subject",
    "variable",
    "variables",
]
