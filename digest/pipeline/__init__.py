"""The main flow, in one place: gather → select → render → deliver.

This package is the only place that wires stages together: `issues.py` (gather, build, check,
preview, archive), `editing.py` (render, and `digest edit`'s operations on issue.json),
`delivery.py` (export and send, for every edition and reader) and `demo.py`. Each function opens what it needs (the store, files), hands each stage only the
options it needs (`Editorial` to selection, `Sender` to message building, a folder of templates
to rendering), and writes what the stage produced. The CLI reads the clock and the environment
once (`Environment`) and passes them here.
"""

from __future__ import annotations

from digest.pipeline.delivery import Exported, export, send, send_test, sender
from digest.pipeline.demo import DEMO_SECRET, Demo, demo
from digest.pipeline.desk import DeskSession, preview_server
from digest.pipeline.editing import anonymous, documents, edit, listing, rerender, write_issue
from digest.pipeline.issues import (
    Built,
    archive,
    build,
    check,
    editorial,
    gather,
    screenshots,
    stored_posts,
)

__all__ = [
    "DEMO_SECRET",
    "Built",
    "Demo",
    "DeskSession",
    "Exported",
    "anonymous",
    "archive",
    "build",
    "check",
    "demo",
    "documents",
    "edit",
    "editorial",
    "export",
    "gather",
    "listing",
    "preview_server",
    "rerender",
    "screenshots",
    "send",
    "send_test",
    "sender",
    "stored_posts",
    "write_issue",
]
