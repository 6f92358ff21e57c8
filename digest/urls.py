"""URLs from feeds: as published (what readers see) and canonical (what is compared). Pure.

A link is shown as the feed published it, made absolute and without known tracking parameters
(`published_url`). Its canonical form (`canonical_url`: lower-cased scheme and host, query
re-encoded, no fragment) only tells whether two links name the same article.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

_TRACKING = re.compile(
    r"^(utm_[a-z_]+|fbclid|gclid|dclid|msclkid|mc_cid|mc_eid|_hsenc|_hsmi|igshid|yclid|ref_src|mkt_tok)$",
    re.I,
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def canonical_url(url: str, base_url: str = "") -> str:
    """Absolute URL without tracking parameters or fragment; scheme and host lower-cased."""
    parts = urlsplit(url.strip())
    # urljoin is slow, and gives back a URL with a scheme and a host as it is (";" aside).
    if base_url and not (parts.scheme and parts.netloc and ";" not in parts.path):
        parts = urlsplit(urljoin(base_url, url.strip()))
    query = parts.query and urlencode(
        [
            (key, value)
            for key, value in parse_qsl(parts.query, keep_blank_values=True)
            if not _TRACKING.match(key)
        ]
    )
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", query, ""))


def published_url(url: str, base_url: str = "") -> str:
    """A link as the feed published it, made absolute, minus known tracking parameters.

    Nothing else changes: the rest of the query is kept byte for byte (`?print` stays `?print`,
    `%20` stays `%20`), and so is the fragment. `canonical_url` is for comparing, not for showing.
    """
    url = _CONTROL.sub("", url).strip().replace(" ", "%20")
    parts = urlsplit(url)
    if base_url and not (parts.scheme and parts.netloc):
        parts = urlsplit(urljoin(base_url, url))
    query = parts.query
    if query and _TRACKING_IN_QUERY.search(query):
        query = "&".join(p for p in query.split("&") if not _TRACKING.match(p.split("=", 1)[0]))
    return urlunsplit((parts.scheme.lower(), parts.netloc, parts.path or "/", query, parts.fragment))


_TRACKING_IN_QUERY = re.compile(
    r"(?:^|&)(?:utm_|fbclid|gclid|dclid|msclkid|mc_cid|mc_eid|_hs|igshid|yclid|ref_src|mkt_tok)", re.I
)
