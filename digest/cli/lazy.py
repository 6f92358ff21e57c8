"""Modules imported on first use, so that `digest --version` and `--help` start fast.

Every command module is imported to register its command, but most of what the commands use
(premailer, httpx, DKIM and cryptography, Babel, lxml, feedparser, psycopg) is needed by one
command only. `module("digest.pipeline")` gives the module object at once and runs it on the
first attribute read. Command modules bind it under `if not TYPE_CHECKING`, so the type
checker still sees the real module.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def module(name: str) -> ModuleType:
    """`name`, imported when one of its attributes is first read."""
    found = sys.modules.get(name)
    if found is not None:
        return found
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ImportError(f"no module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    lazy = importlib.util.module_from_spec(spec)
    sys.modules[name] = lazy
    loader.exec_module(lazy)
    return lazy
