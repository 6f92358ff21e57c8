"""Refresh digest/data/caniemail.json from the npm package `caniemail` (MIT, caniemail.com).

    npm pack caniemail && tar xzf caniemail-*.tgz
    python tools/caniemail_extract.py package/data/caniemail.json

Keeps, for every feature, the most recent support result of each client digest targets
(the French webmails included), so `digest check` needs neither npm nor the network.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

TARGETS = (
    "gmail",
    "outlook",
    "apple-mail",
    "yahoo",
    "samsung-email",
    "thunderbird",
    "orange",
    "sfr",
    "laposte",
    "free-fr",
    "protonmail",
    "fastmail",
)
OUT = Path(__file__).resolve().parents[1] / "digest" / "data" / "caniemail.json"


def latest(results: dict[str, str]) -> str:
    """The last tested version's verdict: y (yes), a (partial), n (no) or u (unknown)."""
    value = list(results.values())[-1] if results else "u"
    return value.split()[0][:1] if value else "u"


def extract(source: dict) -> dict:  # type: ignore[type-arg]
    clients: dict[str, str] = {}
    features: dict[str, dict] = {}  # type: ignore[type-arg]
    families = source["nicenames"]["family"]
    platforms = source["nicenames"]["platform"]
    for feature in source["data"]:
        support: dict[str, str] = {}
        for family, by_platform in feature["stats"].items():
            if family not in TARGETS:
                continue
            for platform, results in by_platform.items():
                client = f"{family}/{platform}"
                clients[client] = f"{families.get(family, family)} ({platforms.get(platform, platform)})"
                support[client] = latest(results)
        features[feature["slug"]] = {"title": feature["title"], "support": support}
    order = sorted(clients)
    return {
        "source": "caniemail (npm), data from caniemail.com",
        "license": "MIT License. Copyright © Avi Goldman; Copyright © Andrew Powell",
        "last_update_date": source["last_update_date"],
        "clients": {client: clients[client] for client in order},
        # one letter per client, in the order of "clients": y yes, a partial, n no, u unknown
        "features": {
            slug: [feature["title"], "".join(feature["support"].get(client, "u") for client in order)]
            for slug, feature in sorted(features.items())
        },
    }


if __name__ == "__main__":
    data = extract(json.loads(Path(sys.argv[1]).read_text(encoding="utf-8")))
    OUT.write_text(json.dumps(data, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    print(f"wrote {OUT}: {len(data['features'])} features, {len(data['clients'])} clients")
