"""Benchmark: how fast `digest --version` and `digest --help` start, against a minimal Typer app.

    .venv/bin/python -m benchmarks.startup [--runs 15]

Each command runs in a fresh interpreter `--runs` times, alternating with the others so that a
busy machine slows them alike, and the median wall time is kept: a bare `python -c pass`, a
minimal Typer app that imports Rich and prints its version with a Rich console, `digest --version`
and `digest --help`. Goal: `digest --version` within 1.5x of the minimal app (every CI step pays
it). Exit status 1 when it is not. Nothing is written in the repository.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL = 1.5
MINIMAL = """
import typer
from rich.console import Console

app = typer.Typer(add_completion=False)


@app.callback(invoke_without_command=True)
def main(version: bool = typer.Option(False, "--version")) -> None:
    if version:
        Console().print("minimal 0.1")


app()
"""


def median_seconds(commands: dict[str, list[str]], runs: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, command in commands.items():
            started = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="digest-startup-") as folder:
        minimal = Path(folder) / "minimal.py"
        minimal.write_text(MINIMAL, encoding="utf-8")
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "minimal Typer + Rich app --version": [sys.executable, str(minimal), "--version"],
            "digest --version": [sys.executable, "-m", "digest", "--version"],
            "digest --help": [sys.executable, "-m", "digest", "--help"],
        }
        medians = median_seconds(commands, args.runs)
    for name, seconds in medians.items():
        print(f"{name:38} {seconds * 1000:6.0f} ms")
    ratio = medians["digest --version"] / medians["minimal Typer + Rich app --version"]
    print(f"digest --version / minimal app: {ratio:.2f}x (goal <= {GOAL}x)")
    passed = ratio <= GOAL
    print("PASS" if passed else "FAIL")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
