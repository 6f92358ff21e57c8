"""Posts that break naive email layouts: what real feeds send, not what the demo holds.

Long bare URLs and URLs as link text, a line of code, a wide table, images far larger (and far
smaller) than the column, an unbreakable word in a title, a post in another language.
"""

from __future__ import annotations

from datetime import UTC, datetime

from digest.models import Image, Issue, Post, Section
from tests.factories import issue_of

LONG_URL = "https://docs.example.net/reference/" + "configuration-options-" * 4 + "?section=" + "q" * 30
CODE = (
    "const handler = async (request, response) => { " + "await next(request.headers['x-forwarded-for']); " * 6
)
TABLE = (
    "<table width='1400'><tr>" + "".join(f"<td>column_{n}_value</td>" for n in range(24)) + "</tr></table>"
)


def _post(number: int, title: str, summary: str, image: Image | None, language: str = "fr") -> Post:
    return Post(
        id=f"hostile-{number}",
        feed="feeds/hostile.xml",
        source="Hostile Feed",
        title=title,
        url=f"https://hostile.example.org/{number}",
        published=datetime(2026, 11, 18, 9, 0, tzinfo=UTC),
        author="Ré Dacteur",
        summary_html=summary,
        image=image,
        language=language,
    )


def hostile_posts() -> list[Post]:
    return [
        _post(1, "Un guide " + "anticonstitutionnellement" * 4, f"<p>Lire {LONG_URL} ici.</p>",
              Image("https://img.example.org/huge.jpg", "", 4000, 3000)),
        _post(2, "Links as text", f'<p>See <a href="{LONG_URL}">{LONG_URL}</a> and '
              f'<a href="https://e.example/a">this page</a>.</p>', Image("https://img.example.org/t.jpg", "", 300, 200),
              language="en"),
        _post(3, "Du code", f"<p>Exemple :</p><pre><code>{CODE}</code></pre><p>Et <code>{'x' * 90}</code>.</p>",
              Image("https://img.example.org/unknown.jpg", "")),
        _post(4, "Un tableau large", f"<p>Résultats :</p>{TABLE}<img src='https://img.example.org/in.jpg' width='2400'>",
              Image("https://img.example.org/550.jpg", "", 550, 400)),
        _post(5, "Une image moyenne", "<p>Texte ordinaire, court.</p>", Image("https://img.example.org/m.jpg", "", 800, 600)),
    ]  # fmt: skip


def hostile_issue(locale: str = "fr") -> Issue:
    posts = hostile_posts()
    return issue_of(posts, locale=locale, sections=(Section("", tuple(posts)),))
