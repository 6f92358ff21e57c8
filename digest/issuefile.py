"""`issue.json`: the frozen issue on disk. Same issue, same bytes; a bad edit names the field."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from digest.errors import ConfigError, InputError, IssueFileError
from digest.identity import is_slug
from digest.models import Image, Issue, Post, Section
from digest.serial import post_to_dict

SCHEMA = 2  # 2: `slug` and `edition` name the issue (1 had `path`); 1 is still read
ISSUE_FILE = "issue.json"


def issue_to_json(issue: Issue, *, config: str = "") -> str:
    """`config`: the newsletter's digest.toml, relative to the issue folder, so that `render` and
    `preview` use that newsletter's templates wherever they are run from."""
    data = asdict(issue)
    data["slug"] = issue.ref.slug  # an issue made in code may leave it to the week
    data["sections"] = [
        {"title": section.title, "posts": [post_to_dict(post) for post in section.posts]}
        for section in issue.sections
    ]
    if config:
        data["config"] = config
    return json.dumps({"schema": SCHEMA, **data}, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def recorded_config(issue_dir: Path) -> Path | None:
    """The digest.toml recorded in the issue folder at build time, when there is one."""
    try:
        data = json.loads((issue_dir / ISSUE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    config = data.get("config") if isinstance(data, dict) else None
    return (issue_dir / config).resolve() if isinstance(config, str) and config else None


def numbers_in(issues: Path) -> dict[str, int]:
    """The number of every issue built in the folder `issues` (main editions), by slug."""
    numbers: dict[str, int] = {}
    for path in sorted(issues.glob(f"*/{ISSUE_FILE}")) if issues.is_dir() else []:
        try:
            number = json.loads(path.read_text(encoding="utf-8")).get("number")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(number, int) and not isinstance(number, bool):
            numbers[path.parent.name] = number
    return numbers


def refuse_to_lose_edits(directory: Path, issue: Issue, force: bool) -> None:
    """A rebuild must not silently replace an issue.json the editor has changed."""
    existing = directory / ISSUE_FILE
    if force or not existing.is_file():
        return
    try:
        same = issue_to_json(read_issue(directory)) == issue_to_json(issue)
    except IssueFileError:
        same = False
    if not same:
        raise ConfigError(
            f"{existing} exists and differs from this build (edited by hand, or new posts gathered)",
            hint="run `digest render` to keep your edits, or `digest build --force` to replace them",
        )


def read_issue(issue_dir: Path) -> Issue:
    path = issue_dir / ISSUE_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise IssueFileError(f"{path}: not found", hint="build the issue first with `digest build`") from exc
    except OSError as exc:
        raise InputError.from_os(str(path), exc) from exc
    except UnicodeDecodeError as exc:
        raise IssueFileError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise IssueFileError(
            f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from exc
    return issue_from_dict(data, path)


def issue_from_dict(data: Any, path: Path) -> Issue:
    field = _Fields(path)
    if not isinstance(data, dict):
        field.fail("(top level)", "must be an object")
    if data.get("schema") not in (1, SCHEMA):
        field.fail(
            "schema",
            f"unknown schema version {data.get('schema')!r}",
            f"this digest reads schemas 1 and {SCHEMA}",
        )
    sections = field.get(data, "sections", list)
    week = field.get(data, "week", str)
    slug, edition = _identity(data, week, field)
    return Issue(
        newsletter=field.get(data, "newsletter", str),
        week=week,
        locale=field.get(data, "locale", str),
        subject=field.get(data, "subject", str),
        preheader=field.get(data, "preheader", str),
        intro=field.get(data, "intro", str, ""),
        number=field.get(data, "number", (int, type(None)), None),
        base_url=field.get(data, "base_url", str, ""),
        first_day=_day(field.get(data, "first_day", str, ""), "first_day", field),
        last_day=_day(field.get(data, "last_day", str, ""), "last_day", field),
        slug=slug,
        edition=edition,
        sections=tuple(_section(section, f"sections[{i}]", field) for i, section in enumerate(sections)),
    )


def _identity(data: dict[str, Any], week: str, field: _Fields) -> tuple[str, str]:
    """The slug and edition; schema 1 wrote them as one `path` ("2026-W47" or "2026-W47/en")."""
    if data.get("schema") == 1:
        slug, _, edition = field.get(data, "path", str, "").partition("/")
        return slug or week, edition
    slug = field.get(data, "slug", str)
    edition = field.get(data, "edition", str, "")
    if not is_slug(slug):
        field.fail("slug", f"{slug!r} does not name an issue", "e.g. 2026-W48 or 2026-11-23--2026-11-29")
    return slug, edition


class _Fields:
    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, name: str, problem: str, hint: str | None = None) -> Any:
        raise IssueFileError(
            f"{self.path}: {name}: {problem}",
            hint=hint or "fix the field, then run `digest render`",
        )

    def get(self, data: Any, key: str, kind: Any, default: Any = ..., where: str = "") -> Any:
        name = f"{where}.{key}" if where else key
        if not isinstance(data, dict):
            return self.fail(where or "(top level)", "must be an object")
        if key not in data:
            return default if default is not ... else self.fail(name, "missing")
        value = data[key]
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            return self.fail(name, f"has the wrong type ({type(value).__name__})")
        return value


def _day(value: str, name: str, field: _Fields) -> str:
    if value:
        try:
            date.fromisoformat(value)
        except ValueError:
            field.fail(name, f"{value!r} is not a date (YYYY-MM-DD)")
    return value


def _section(data: Any, where: str, field: _Fields) -> Section:
    posts = field.get(data, "posts", list, where=where)
    return Section(
        title=field.get(data, "title", str, "", where=where),
        posts=tuple(_post(post, f"{where}.posts[{i}]", field) for i, post in enumerate(posts)),
    )


def _post(data: Any, where: str, field: _Fields) -> Post:
    published = field.get(data, "published", str, where=where)
    try:
        moment = datetime.fromisoformat(published)
    except ValueError:
        field.fail(f"{where}.published", f"{published!r} is not an ISO date-time")
    if moment.tzinfo is None:
        field.fail(f"{where}.published", "needs a UTC offset, e.g. 2026-11-20T08:00:00+00:00")
    image = field.get(data, "image", (dict, type(None)), None, where=where)
    return Post(
        id=field.get(data, "id", str, where=where),
        feed=field.get(data, "feed", str, "", where=where),
        source=field.get(data, "source", str, "", where=where),
        title=field.get(data, "title", str, where=where),
        url=field.get(data, "url", str, where=where),
        published=moment.astimezone(UTC),
        author=field.get(data, "author", str, "", where=where),
        categories=tuple(field.get(data, "categories", list, [], where=where)),
        summary_html=field.get(data, "summary_html", str, "", where=where),
        summary_text=field.get(data, "summary_text", str, "", where=where),
        image=Image(
            url=field.get(image, "url", str, where=f"{where}.image"),
            alt=field.get(image, "alt", str, "", where=f"{where}.image"),
            width=field.get(image, "width", (int, type(None)), None, where=f"{where}.image"),
            height=field.get(image, "height", (int, type(None)), None, where=f"{where}.image"),
        )
        if image
        else None,
        language=field.get(data, "language", (str, type(None)), None, where=where),
        comments=field.get(data, "comments", (int, type(None)), None, where=where),
        shares=field.get(data, "shares", (int, type(None)), None, where=where),
        published_from=field.get(data, "published_from", str, "feed", where=where),
        site=field.get(data, "site", str, "", where=where),
    )
