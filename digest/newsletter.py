"""Finding and creating newsletter folders: which digest.toml a command works for.

A command about an issue works for the newsletter that issue belongs to: `--config` when given,
else the digest.toml recorded in the issue folder at build time, else the first digest.toml in
the issue folder's parents (issues/ sits beside digest.toml by default), else the one in the
current folder or above. It never falls back to the shipped templates without saying so.
"""

from __future__ import annotations

import os
from pathlib import Path

from digest.config import CONFIG_NAME, Settings, load_settings
from digest.errors import ConfigError, IssueFileError
from digest.files import ensure_folder, write_atomically
from digest.issuefile import ISSUE_FILE, recorded_config

SAMPLES = Path(__file__).parent / "samples"
SHIPPED_TEMPLATES = Path(__file__).parent / "templates"


def find_config(explicit: Path | None, *, state: Path | None = None, start: Path | None = None) -> Settings:
    """`--config`, else `digest.toml` in `start` (default: the current folder) or one above it."""
    if explicit:
        return load_settings(explicit, state=state)
    here = (start or Path.cwd()).resolve()
    found = _upward(here)
    if found is None:
        raise ConfigError(
            f"no {CONFIG_NAME} in {here} or above", hint="run `digest init`, or pass --config PATH"
        )
    return load_settings(found, state=state)


def config_for_issue(issue_dir: Path, explicit: Path | None, *, state: Path | None = None) -> Settings:
    """The settings of the newsletter `issue_dir` belongs to (see the module's docstring)."""
    if not (issue_dir / ISSUE_FILE).is_file():
        raise IssueFileError(
            f"{issue_dir} is not an issue folder ({issue_dir / ISSUE_FILE}: not found)",
            hint="give an issue folder built by `digest build`",
        )
    if explicit:
        return load_settings(explicit, state=state)
    recorded = recorded_config(issue_dir)
    if recorded is not None:
        if not recorded.is_file():
            raise ConfigError(
                f"{issue_dir} was built for {recorded}, which is not there any more",
                hint="pass --config PATH to the newsletter's digest.toml",
            )
        return load_settings(recorded, state=state)
    found = _upward(issue_dir.resolve()) or _upward(Path.cwd().resolve())
    if found is None:
        raise ConfigError(
            f"cannot tell which newsletter {issue_dir} belongs to (no {CONFIG_NAME} above it or here)",
            hint="pass --config PATH, so that its templates are used",
        )
    return load_settings(found, state=state)


def relative_config(settings: Settings, issue_dir: Path) -> str:
    """The digest.toml as a path relative to the issue folder, recorded in issue.json."""
    return Path(os.path.relpath(settings.path, issue_dir.resolve())).as_posix()


def _upward(folder: Path) -> Path | None:
    for candidate in (folder, *folder.parents):
        if (candidate / CONFIG_NAME).is_file():
            return candidate / CONFIG_NAME
    return None


def scaffold(directory: Path, *, force: bool = False) -> Path:
    """A newsletter folder: digest.toml, templates/, subscribers.csv, sample feeds, a CI workflow,
    and a .gitignore that keeps the state, exported messages and secrets out of the repository.

    Nothing that exists is overwritten unless `force`: the whole list is checked first.
    """
    files = {
        directory / CONFIG_NAME: SAMPLES / CONFIG_NAME,
        directory / "subscribers.csv": SAMPLES / "subscribers.csv",
        directory / ".gitignore": SAMPLES / "gitignore",
        directory / ".github" / "workflows" / "digest.yml": SAMPLES / "workflow.yml",
        **{directory / "feeds" / feed.name: feed for feed in sorted((SAMPLES / "feeds").glob("*.xml"))},
        **{directory / "templates" / t.name: t for t in sorted(SHIPPED_TEMPLATES.iterdir()) if t.is_file()},
    }
    existing = [str(target.relative_to(directory)) for target in files if target.exists()]
    if existing and not force:
        raise ConfigError(
            f"{directory} already holds {', '.join(existing[:4])}{' …' if len(existing) > 4 else ''}",
            hint="choose an empty folder, or pass --force to overwrite those files",
        )
    for target, source in files.items():
        write_atomically(ensure_folder(target.parent) / target.name, source.read_bytes())
    return directory / CONFIG_NAME
