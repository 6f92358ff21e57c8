"""`issue.json`: the frozen issue on disk. Same issue, same bytes; a bad edit names the field.

Schema 3. The main edition's `issue.json` holds the issue's content; another edition's
(`ISSUE/<locale>/issue.json`) holds only what is its own (language, intro, subject, preheader,
section titles) and takes everything else from the main one, so an edit is made once and every
edition follows. Nothing derived is stored: `subject` and `preheader` are patterns filled at
render (`edits.resolve`), a post's plain text is made from its `summary_html`. An unknown key is
refused, naming the nearest known one: a misspelt key must not be silently dropped.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import asdict, fields
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from digest.edits import EditionPart, compose, literal, part_of, resolve
from digest.errors import ConfigError, InputError, IssueFileError
from digest.identity import is_slug
from digest.models import Image, Issue, Post, Section
from digest.sanitize import plain_text
from digest.serial import post_to_dict

# 3: subject/preheader are patterns, no summary_text, editions hold only their own part, `only`
# 2: `slug` and `edition` name the issue (1 had `path`); 1 and 2 are still read
SCHEMA = 3
ISSUE_FILE = "issue.json"
_ISSUE_KEYS = {"schema", "config", "sections", "postal_address", "utm"} | {
    f.name for f in fields(Issue) if f.name not in ("sections", "only", "postal_address", "utm")
}
_EDITION_KEYS = {
    "schema",
    "config",
    "slug",
    "edition",
    "locale",
    "intro",
    "subject",
    "preheader",
    "section_titles",
}
_POST_KEYS = {f.name for f in fields(Post)} - {"summary_text"} | {"editions"}
_IMAGE_KEYS = {f.name for f in fields(Image)}


def issue_to_json(issue: Issue, *, config: str = "", main: Issue | None = None) -> str:
    """`config`: the newsletter's digest.toml, relative to the issue folder, so that `render` and
    `preview` use that newsletter's templates wherever they are run from. Another edition
    (`issue.edition`) built beside `main` is written as its own part only."""
    if issue.edition and main is not None:
        return _dump(_edition_data(part_of(issue, main), issue.ref.slug), config)
    data = asdict(issue)
    for derived in ("only", "utm", "postal_address"):
        data.pop(derived)
    if issue.postal_address:
        data["postal_address"] = issue.postal_address
    if issue.utm:
        data["utm"] = dict(issue.utm)
    data["slug"] = issue.ref.slug  # an issue made in code may leave it to the week
    only = dict(issue.only)
    data["sections"] = [
        {"title": section.title, "posts": [_post_data(post, only.get(post.id)) for post in section.posts]}
        for section in issue.sections
    ]
    return _dump(data, config)


def _post_data(post: Post, editions: tuple[str, ...] | None) -> dict[str, Any]:
    data = post_to_dict(post)
    del data["summary_text"]  # made from summary_html when rendered
    if editions is not None:
        data["editions"] = list(editions)
    return data


def _edition_data(part: EditionPart, slug: str) -> dict[str, Any]:
    return {
        "slug": slug,
        "edition": part.edition,
        "locale": part.locale,
        "intro": part.intro,
        "subject": part.subject,
        "preheader": part.preheader,
        "section_titles": dict(part.titles),
    }


def _dump(data: dict[str, Any], config: str) -> str:
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


def refuse_to_lose_edits(directory: Path, content: str, force: bool) -> None:
    """A rebuild must not silently replace an issue.json the editor has changed: `content`, what
    the build would write, must be what is there (the `config` line aside)."""
    existing = directory / ISSUE_FILE
    if force or not existing.is_file():
        return
    try:
        before = json.loads(existing.read_text(encoding="utf-8"))
        after = json.loads(content)
        same = isinstance(before, dict) and {**before, "config": ""} == {**after, "config": ""}
    except (OSError, ValueError):
        same = False
    if not same:
        raise ConfigError(
            f"{existing} exists and differs from this build (edited by hand, or new posts gathered)",
            hint="run `digest render` to keep your edits, or `digest build --force` to replace them",
        )


def read_issue(issue_dir: Path) -> Issue:
    """The issue as its edition shows it, everything derived computed from its content now."""
    issue = read_stored(issue_dir)
    try:
        return resolve(issue)
    except IssueFileError as exc:
        raise IssueFileError(f"{issue_dir / ISSUE_FILE}: {exc}", hint=exc.hint) from None


def read_stored(issue_dir: Path) -> Issue:
    """The issue as stored: patterns unfilled, every post (some maybe for other editions only);
    another edition's folder gives the main issue's content with that edition's own part."""
    data = _load(issue_dir / ISSUE_FILE)
    path = issue_dir / ISSUE_FILE
    if isinstance(data, dict) and data.get("schema") == SCHEMA and data.get("edition"):
        part = _edition_part(data, path)
        main = read_stored(issue_dir.parent)
        if main.edition or main.ref.slug != data.get("slug"):
            _Fields(path).fail("slug", f"{data.get('slug')!r} is not the issue of {issue_dir.parent}")
        return compose(main, part)
    issue = issue_from_dict(data, path)
    _matches_folder(issue, issue_dir, _Fields(path))
    return issue


def _matches_folder(issue: Issue, issue_dir: Path, field: _Fields) -> None:
    """The folder is named after the issue: a slug edited by hand would make them disagree."""
    name = issue_dir.resolve().name
    own = issue.edition or issue.ref.slug
    if (is_slug(name) or issue.edition) and name != own:
        key = "edition" if issue.edition else "slug"
        field.fail(key, f"{own!r}, but the folder is {name!r}", "the folder names the issue: keep them equal")


def _edition_part(data: dict[str, Any], path: Path) -> EditionPart:
    field = _Fields(path)
    field.known(data, _EDITION_KEYS, "", "the rest comes from the main edition's issue.json: edit it there")
    titles = field.get(data, "section_titles", dict, {})
    if not all(isinstance(value, str) for value in titles.values()):
        field.fail("section_titles", "every title must be a string")
    part = EditionPart(
        edition=field.get(data, "edition", str),
        locale=field.get(data, "locale", str),
        intro=field.get(data, "intro", str, ""),
        subject=field.get(data, "subject", str, ""),
        preheader=field.get(data, "preheader", str, ""),
        titles=tuple(sorted(titles.items())),
    )
    if part.locale != part.edition:
        field.fail("locale", f"{part.locale!r}: the edition {part.edition!r} is in its own language")
    return part


def _load(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise IssueFileError(f"{path}: not found", hint="build the issue first with `digest build`") from exc
    except OSError as exc:
        raise InputError.from_os(str(path), exc) from exc
    except UnicodeDecodeError as exc:
        raise IssueFileError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise IssueFileError(
            f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from exc


def issue_from_dict(data: Any, path: Path) -> Issue:
    field = _Fields(path)
    if not isinstance(data, dict):
        field.fail("(top level)", "must be an object")
    schema = data.get("schema")
    if schema not in (1, 2, SCHEMA):
        field.fail("schema", f"unknown schema version {schema!r}", f"this digest reads schemas 1 to {SCHEMA}")
    field.legacy = schema != SCHEMA
    field.known(data, _ISSUE_KEYS | ({"path"} if schema == 1 else set()), "")
    sections = field.get(data, "sections", list)
    week = field.get(data, "week", str)
    slug, edition = _identity(data, week, field)
    # before schema 3 the subject and preheader were finished texts, not patterns
    text = (lambda value: value) if schema == SCHEMA else literal
    return Issue(
        newsletter=field.get(data, "newsletter", str),
        week=week,
        locale=field.get(data, "locale", str),
        subject=text(field.get(data, "subject", str)),
        preheader=text(field.get(data, "preheader", str)),
        intro=field.get(data, "intro", str, ""),
        number=field.get(data, "number", (int, type(None)), None),
        base_url=field.get(data, "base_url", str, ""),
        first_day=_day(field.get(data, "first_day", str, ""), "first_day", field),
        last_day=_day(field.get(data, "last_day", str, ""), "last_day", field),
        slug=slug,
        edition=edition,
        sections=tuple(_section(section, f"sections[{i}]", field) for i, section in enumerate(sections)),
        only=_only(sections, field),
        postal_address=field.get(data, "postal_address", str, ""),
        utm=_utm(field.get(data, "utm", dict, {}), field),
    )


def _only(sections: list[Any], field: _Fields) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Posts marked `"editions": [...]`: shown in those editions only."""
    only: dict[str, tuple[str, ...]] = {}
    for i, section in enumerate(sections):
        for j, post in enumerate(section["posts"]):
            editions = field.get(post, "editions", list, None, where=f"sections[{i}].posts[{j}]")
            if editions is not None:
                if not editions or not all(isinstance(code, str) for code in editions):
                    field.fail(f"sections[{i}].posts[{j}].editions", 'must list language codes, e.g. ["fr"]')
                only[post["id"]] = tuple(editions)
    return tuple(sorted(only.items()))


def _utm(data: dict[str, Any], field: _Fields) -> tuple[tuple[str, str], ...]:
    for key, value in data.items():
        if not key.startswith("utm_") or not isinstance(value, str):
            field.fail(
                f"utm.{key}", "must be a utm_… parameter with a text value", 'e.g. "utm_source": "digest"'
            )
    return tuple(sorted(data.items()))  # as issue.json keeps them: a rebuild gives the same bytes


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
        self.legacy = False  # schema 1 or 2: derived keys (summary_text) are read and ignored

    def fail(self, name: str, problem: str, hint: str | None = None) -> Any:
        raise IssueFileError(
            f"{self.path}: {name}: {problem}",
            hint=hint or "fix the field, then run `digest render`",
        )

    def known(self, data: Any, keys: set[str], where: str, hint: str = "") -> None:
        """Refuse a key nobody reads, naming the nearest one that is read."""
        if not isinstance(data, dict):
            return
        for key in sorted(data):
            if key not in keys:
                nearest = difflib.get_close_matches(key, sorted(keys), n=1, cutoff=0.5)
                guess = f"did you mean {nearest[0]!r}? " if nearest else ""
                self.fail(
                    f"{where}.{key}" if where else key,
                    "unknown key",
                    guess + (hint or "known: " + ", ".join(sorted(keys))),
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
    field.known(data, {"title", "posts"}, where)
    posts = field.get(data, "posts", list, where=where)
    return Section(
        title=field.get(data, "title", str, "", where=where),
        posts=tuple(_post(post, f"{where}.posts[{i}]", field) for i, post in enumerate(posts)),
    )


def _post(data: Any, where: str, field: _Fields) -> Post:
    field.known(data, _POST_KEYS | ({"summary_text"} if field.legacy else set()), where)
    published = field.get(data, "published", str, where=where)
    try:
        moment = datetime.fromisoformat(published)
    except ValueError:
        field.fail(f"{where}.published", f"{published!r} is not an ISO date-time")
    if moment.tzinfo is None:
        field.fail(f"{where}.published", "needs a UTC offset, e.g. 2026-11-20T08:00:00+00:00")
    image = field.get(data, "image", (dict, type(None)), None, where=where)
    field.known(image, _IMAGE_KEYS, f"{where}.image")
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
        summary_text=plain_text(field.get(data, "summary_html", str, "", where=where)),
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
