"""feedparser's own test corpus, every file of it, through `parse_feed`.

Nothing crashes: a file is either posts or one `FeedError` naming it. The hostile files of
wellformed/sanitize leave nothing active behind in any field a template receives.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest

from digest.errors import FeedError
from digest.models import Post
from digest.parse import parse_feed

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "feedparser"
NOW = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
EMAIL_SAFE_TAGS = {"a", "abbr", "b", "blockquote", "br", "cite", "code", "em", "i", "li", "ol", "p", "pre"}
EMAIL_SAFE_TAGS |= {"q", "s", "small", "strong", "sub", "sup", "u", "ul"}
SAFE_ATTRIBUTES = {"href", "title", "hreflang", "rel", "cite"}
TAG_LIKE = re.compile(
    r"<\s*/?\s*(script|iframe|frame|object|embed|applet|form|input|meta|style|link|svg|img)\b", re.I
)

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"feedparser corpus not found at {CORPUS}")


def _files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file())


def _sanitize_folder() -> Path:
    found = [path for path in CORPUS.rglob("sanitize") if path.parent.name == "wellformed"]
    return found[0] if found else CORPUS / "wellformed" / "sanitize"


def test_every_corpus_file_is_posts_or_one_error_naming_it() -> None:
    files = _files(CORPUS)
    assert len(files) > 1000
    failures: dict[str, str] = {}
    crashes: dict[str, str] = {}
    posts = 0
    started = time.perf_counter()
    for path in files:
        name = str(path.relative_to(CORPUS))
        try:
            posts += len(parse_feed(path.read_bytes(), name, now=NOW).posts)
        except FeedError as exc:
            assert exc.url == name and exc.reason and "\n" not in exc.reason
            failures[name] = exc.reason
        except Exception as exc:
            crashes[name] = f"{type(exc).__name__}: {exc}"
    elapsed = time.perf_counter() - started
    print(f"\n{len(files)} corpus files in {elapsed:.1f} s: {posts} posts, {len(failures)} refused")
    for name, reason in sorted(failures.items()):
        print(f"  refused {name}: {reason}")
    assert crashes == {}
    assert posts > 50 and len(failures) < len(files) // 5  # most refusals: entity tests without entries
    assert elapsed < 60


_ENTRY = re.compile(rb"<(item|entry)\b[^>]*>")


def _with_links(data: bytes) -> bytes:
    """Give each entry a link: most of these files have none, and an entry without one is skipped."""

    def add(match: re.Match[bytes]) -> bytes:
        if match.group(1) == b"item":
            return match.group(0) + b"<link>https://example.org/post</link>"
        return match.group(0) + b'<link rel="alternate" href="https://example.org/post"/>'

    return _ENTRY.sub(add, data)


class _Markup(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in EMAIL_SAFE_TAGS:
            self.problems.append(f"<{tag}>")
        for name, value in attrs:
            if name not in SAFE_ATTRIBUTES:
                self.problems.append(f"{tag} {name}=")
            elif name in ("href", "cite") and not re.match(r"^(https?|mailto):", value or "", re.I):
                self.problems.append(f"{tag} {name}={value!r}")

    def handle_comment(self, data: str) -> None:
        self.problems.append("<!-- comment -->")

    def handle_decl(self, decl: str) -> None:
        self.problems.append(f"<!{decl}>")


def _hostile_leftovers(post: Post) -> list[str]:
    markup = _Markup()
    markup.feed(post.summary_html)
    markup.close()
    problems = markup.problems
    for field in ("title", "author", "source", "summary_text"):
        text = getattr(post, field)
        if TAG_LIKE.search(text) or "javascript:" in text.lower():
            problems.append(f"{field} holds markup: {text[:80]!r}")
    for field in ("title", "author", "source", *[f"category {c}" for c in post.categories]):
        text = getattr(post, field) if not field.startswith("category ") else field
        if re.search(r"[\x00-\x1f\x7f\u2028\u2029]", text):
            problems.append(f"{field} holds a line break or control character: {text[:80]!r}")
    for url in (post.url, post.image.url if post.image else "https://ok"):
        if not url.startswith(("http://", "https://")) or re.search(r"[\s\"'<>]", url):
            problems.append(f"unsafe URL {url!r}")
    return problems


def test_hostile_content_never_survives_normalising() -> None:
    folder = _sanitize_folder()
    files = _files(folder)
    assert len(files) > 500, f"expected the sanitize corpus in {folder}"
    leftovers: dict[str, list[str]] = {}
    with_posts = 0
    for path in files:
        try:
            parsed = parse_feed(_with_links(path.read_bytes()), "https://example.org/feed", now=NOW)
        except FeedError:
            continue  # refused outright: nothing of it survives either
        with_posts += bool(parsed.posts)
        problems = [problem for post in parsed.posts for problem in _hostile_leftovers(post)]
        if "\n" in parsed.title or TAG_LIKE.search(parsed.title):
            problems.append(f"feed title {parsed.title[:80]!r}")
        if problems:
            leftovers[path.name] = problems
    assert leftovers == {}
    assert with_posts > len(files) * 3 // 4  # the links were added: the check is not vacuous
