"""The code stays small enough to hold in a head: enforced here and by ruff's size rules.

ruff (pyproject.toml) limits complexity, branches, statements and arguments; it has no rule for
the length of a module or of a function, which this test adds: no module of the package over
400 lines, no function over 60.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "digest"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_no_module_is_over_400_lines() -> None:
    long = {
        str(path.relative_to(PACKAGE)): n
        for path in modules()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_no_function_is_over_60_lines() -> None:
    long = {}
    for path in modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno:
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                if (size := node.end_lineno - first + 1) > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(PACKAGE)}:{node.name}"] = size
    assert long == {}


def test_no_stage_imports_another_stage() -> None:
    """Stages meet only in pipeline.py: gather, select, render and deliver never import each other."""
    stages = {
        "gather": {
            "gather",
            "gather_decide",
            "fetch",
            "parse",
            "fastfeed",
            "fastfeed_rules",
            "fastfeed_media",
            "jsonfeed",
            "sanitize",
            "entries",
            "urls",
            "summary",
            "article",
        },
        "select": {"selection"},
        "render": {
            "render",
            "postview",
            "check",
            "findings",
            "overflow",
            "readability",
            "layout",
            "caniemail",
            "preview",
        },
        "deliver": {
            "deliver",
            "exports",
            "services",
            "sender",
            "sendqueue",
            "sendreport",
            "sending",
            "smtp",
            "journal",
            "signing",
            "outbox",
            "mime",
            "envelope",
        },
        "archive": {"archive"},
    }
    owner = {module: stage for stage, names in stages.items() for module in names}
    crossings = []
    for path in modules():
        stage = owner.get(_module(path))
        if stage is None:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("digest."):
                imported = node.module.removeprefix("digest.")
                other = owner.get(imported)
                if other is not None and other != stage and (stage, imported) not in ALLOWED:
                    crossings.append(f"{path.name} imports digest.{imported}")
    assert crossings == []


def _module(path: Path) -> str:
    """A module's name for these rules: a module of the `services` package counts as `services`."""
    if path.parent == PACKAGE / "services":
        return "services"
    return path.stem if path.parent == PACKAGE else ""


# Render's sanitiser re-check of a summary edited in issue.json is the one shared helper.
ALLOWED = {("render", "sanitize")}


PURE = {
    "parse", "jsonfeed", "sanitize", "overflow", "readability", "postview", "greeting", "findings", "gather_decide", "selection", "render", "check", "caniemail",
    "mime", "deliver", "services", "audience", "identity", "models", "serial", "storage", "envelope",
    "entries", "dates", "images", "summary", "urls", "dedupe", "edits", "fastfeed", "fastfeed_rules", "fastfeed_media",
}  # fmt: skip
INPUT_OUTPUT = {"digest.store", "digest.journal", "digest.files", "digest.fetch", "digest.outbox", "sqlite3", "httpx", "smtplib", "subprocess", "socket"}  # fmt: skip


def test_the_pure_core_imports_no_input_or_output() -> None:
    """Parsing, choosing, rendering and building messages are functions of their inputs."""
    found = []
    for path in modules():
        if _module(path) not in PURE:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [alias.name for alias in node.names] if isinstance(node, ast.Import)
                else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            )  # fmt: skip
            found += [f"{path.name} imports {name}" for name in names if name in INPUT_OUTPUT]
            if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "now", "today"):
                found.append(f"{path.name} reads {ast.unparse(node)}")
    assert found == []
