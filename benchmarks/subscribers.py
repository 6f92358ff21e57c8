"""Benchmark: `digest subscribers check` on a million-row list, peak memory under 400 MB.

    .venv/bin/python -m benchmarks.subscribers [--rows 1000000] [--limit-mb 400]

Writes a list in a temporary folder (our layout; a realistic mix of locales, statuses, tags, a
merge field, accented names, one row in a thousand broken in a known way), then runs the real
command, `python -m digest subscribers check FILE --json`, in a child process and reads the child's
peak resident memory from `resource.getrusage(RUSAGE_CHILDREN)`. It checks that the command found
exactly the broken rows it was given, and reports time, rows a second and peak memory. The
baseline is the plain loop one would write instead: `csv.DictReader` and `email_validator`
(no deliverability check) on every row, in this process, on the first `--baseline-rows` rows
(all of them by default; a smaller number is extrapolated and labelled so).

Nothing is written in the repository. Exit status 1 when memory goes over the limit or the
report is not the expected one.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DOMAINS = ("gmail.com", "orange.fr", "free.fr", "laposte.net", "outlook.com", "example.org", "wanadoo.fr")
BROKEN_EVERY = 1000  # one row in a thousand: a bad address, a duplicate or a line break


def write_list(path: Path, rows: int) -> tuple[int, int]:
    """The list, and how many rows should be rejected and how many are recipients."""
    rejected = recipients = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write("email,name,locale,status,tags,city\n")
        for number in range(rows):
            domain = DOMAINS[number % len(DOMAINS)]
            status = ("active", "active", "active", "active", "unsubscribed", "bounced")[number % 6]
            locale = "fr" if number % 3 else "en"
            email = f"lecteur.{number}@{domain}"
            name = f"Hélène Dupré-{number}"
            if number % BROKEN_EVERY == 999:
                kind = number // BROKEN_EVERY % 3
                if kind == 0:
                    email = f"lecteur.{number}.{domain}"  # no @
                elif kind == 1:
                    email = f"LECTEUR.{number - 1}@{DOMAINS[(number - 1) % len(DOMAINS)]}"  # the row before, in capitals
                else:
                    name = f'"Deux\nlignes {number}"'  # a line break inside a field
                rejected += 1
            elif status == "active":
                recipients += 1
            handle.write(f"{email},{name},{locale},{status},weekly;t{number % 20},Ville {number % 500}\n")
    return rejected, recipients


def baseline(path: Path, rows: int) -> tuple[float, int]:
    """(seconds, rows rejected) of a plain csv + email-validator loop on the first `rows` rows."""
    from email_validator import EmailNotValidError, validate_email

    rejected = 0
    started = time.perf_counter()
    with path.open(encoding="utf-8", newline="") as handle:
        for number, row in enumerate(csv.DictReader(handle)):
            if number >= rows:
                break
            try:
                validate_email(row["email"] or "", check_deliverability=False)
            except EmailNotValidError:
                rejected += 1
    return time.perf_counter() - started, rejected


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--limit-mb", type=float, default=400.0)
    parser.add_argument(
        "--baseline-rows", type=int, default=None, help="rows the baseline reads (default: all)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="digest-bench-") as folder:
        path = Path(folder) / "subscribers.csv"
        started = time.perf_counter()
        rejected, recipients = write_list(path, args.rows)
        size = path.stat().st_size / 1024**2
        print(
            f"wrote {args.rows:,} rows ({size:.0f} MB) in {time.perf_counter() - started:.1f} s",
            file=sys.stderr,
        )
        started = time.perf_counter()
        child = subprocess.run(
            [sys.executable, "-m", "digest", "subscribers", "check", str(path), "--json"],
            capture_output=True,
            text=True,
            cwd=folder,  # no digest.toml is found: the default locale, no state
            env={"NO_COLOR": "1", "PATH": "/usr/bin:/bin", **_python_path()},
            check=False,
        )
        seconds = time.perf_counter() - started
        measured = min(args.baseline_rows or args.rows, args.rows)
        base_seconds, _ = baseline(path, measured)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # kilobytes on Linux
    if child.returncode not in (0, 1):
        print(child.stderr, file=sys.stderr)
        return 1
    report = json.loads(child.stdout)
    print(
        f"checked {args.rows:,} rows in {seconds:.1f} s ({args.rows / seconds:,.0f} rows/s); "
        f"peak memory {peak_mb:.0f} MB (limit {args.limit_mb:.0f} MB); "
        f"{report['recipients']:,} recipients, {len(report['rejected']):,} rejected"
    )
    base_all = base_seconds * args.rows / measured
    how = "measured on all rows" if measured == args.rows else f"measured on {measured:,} rows, extrapolated"
    print(
        f"baseline, csv.DictReader + email_validator loop: {base_all:.1f} s ({how}); "
        f"digest subscribers check is {base_all / seconds:.1f}x its speed, with duplicates, statuses and locales"
    )
    ok = (
        peak_mb < args.limit_mb and len(report["rejected"]) == rejected and report["recipients"] == recipients
    )
    if not ok:
        print(f"FAILED: expected {rejected:,} rejected and {recipients:,} recipients", file=sys.stderr)
    return 0 if ok else 1


def _python_path() -> dict[str, str]:
    """The child imports digest from where this process does (a work tree, say)."""
    return {"PYTHONPATH": os.environ["PYTHONPATH"]} if os.environ.get("PYTHONPATH") else {}


if __name__ == "__main__":
    sys.exit(main())
