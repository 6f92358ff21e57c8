"""The exporter seam: every `--format` of `digest export`, built in or installed.

An exporter is an object with the attributes of `Exporter` (a `digest.services.Service` is one).
Packages register theirs under the entry point group `digest.exporters` (name → object), and so
does digest for its own (pyproject.toml). The built-ins are also merged in from
`digest.services.SERVICES`, so they are found even when the installed metadata is stale (an
editable install made before a format was added). An entry point that fails to load, or loads
something that is not an exporter, is listed with the reason (`Registry.broken`), never hidden.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

from digest.deliver import Prepared
from digest.models import Subscriber
from digest.services import JSON, SERVICES, Options

GROUP = "digest.exporters"
FILE_FORMATS = ("eml", "mbox")  # written by digest itself, not exporters


@runtime_checkable
class Exporter(Protocol):
    """One mailing service's request bodies (docs/delivery.md shows a whole one)."""

    name: str  # the `--format` value
    limit: int  # recipients per request (0 with `request = None`: the entries go to a CSV file)
    max_bytes: int  # at most this much of `weight(entry)` in one request (0: no such limit)
    entry: Callable[[Prepared, Subscriber], JSON]  # one reader; raises services.Unservable
    request: Callable[[Prepared, list[JSON]], JSON] | None  # one request body from entries
    files: Callable[[Prepared, Options], dict[str, JSON]]  # what is created once (templates)
    placeholder: Callable[[str, bool], str]  # (merge field, is_html) → the service's syntax
    weight: Callable[[JSON], int]


REQUIRED = ("name", "limit", "max_bytes", "entry", "request", "files", "placeholder", "weight")


@dataclass(frozen=True)
class Registry:
    found: dict[str, Any] = field(default_factory=dict)  # name → exporter
    broken: dict[str, str] = field(default_factory=dict)  # name → why it is not usable
    origin: dict[str, str] = field(default_factory=dict)  # name → "built-in" or its entry point

    @property
    def formats(self) -> tuple[str, ...]:
        return (*FILE_FORMATS, *self.found)


def _problem(name: str, exporter: Any) -> str:
    missing = [attribute for attribute in REQUIRED if not hasattr(exporter, attribute)]
    if missing:
        return f"not an exporter: it has no {', '.join(missing)} (see docs/delivery.md)"
    if exporter.name != name:
        return f"registered as {name!r} but names itself {exporter.name!r}"
    if exporter.request is None and exporter.limit:
        return "its request is None (a CSV of entries) but its limit is not 0"
    if exporter.request is not None and exporter.limit < 1:
        return f"its limit per request is {exporter.limit!r}: at least 1 is needed"
    return ""


def discover(group: str = GROUP) -> Registry:
    """The built-ins, then each entry point of `group` (read now: a package installed while
    the process runs is found on the next call)."""
    registry = Registry(dict(SERVICES), {}, dict.fromkeys(SERVICES, "built-in"))
    for point in sorted(entry_points(group=group), key=lambda p: p.name):
        if point.name in FILE_FORMATS:
            registry.broken[point.name] = f"{point.value}: {point.name} is written by digest itself"
            continue
        try:
            exporter = point.load()
        except Exception as exc:  # any import error of someone else's package: named, not raised
            registry.broken[point.name] = f"{point.value} failed to load: {type(exc).__name__}: {exc}"
            continue
        if registry.found.get(point.name) is exporter:
            continue  # a built-in, declared in digest's own metadata as well
        if point.name in SERVICES:
            registry.broken[point.name] = f"{point.value}: {point.name!r} is a built-in format; rename it"
        elif problem := _problem(point.name, exporter):
            registry.broken[point.name] = f"{point.value}: {problem}"
        else:
            registry.found[point.name] = exporter
            registry.origin[point.name] = point.value
    return registry


def describe(registry: Registry) -> str:
    """One line per format for `--help`, then the broken entry points and why."""
    found = ", ".join(registry.formats)
    broken = "; ".join(f"{name} (not loaded: {why})" for name, why in registry.broken.items())
    return f"One of: {found}." + (f" Not available: {broken}." if broken else "")
