from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import fields, replace
from pathlib import Path

import pytest

from digest.check import Documents, check_issue
from digest.config import Settings
from digest.errors import TemplateError
from digest.issuefile import read_issue
from digest.models import Issue, Post, Section
from digest.pipeline import anonymous, build, gather, rerender
from digest.render import PostView, render_issue, template_context
from tests.conftest import NOW
from tests.factories import env_of, issue_of


@pytest.fixture
def sample_issue(settings: Settings) -> Issue:
    gather(settings, env_of(NOW))
    return build(settings, env_of(NOW), week="2026-W47").issue


def _issue(posts: list[Post], locale: str = "fr") -> Issue:
    return issue_of(posts, newsletter="Le Digest", locale=locale, subject="Le Digest — semaine 47")


def _declarations_of_media_block(html: str, query: str) -> list[str]:
    """The declarations inside `@media <query> { ... }` of the document's kept <style> element."""
    style = re.search(r"<style>(.*?)</style>", re.sub(r"<!--.*?-->", "", html, flags=re.S), re.S)
    assert style, "no <style> element outside conditional comments"
    css = style.group(1)
    start = css.index("{", css.index(f"@media {query}")) + 1
    depth, end = 1, start
    while depth:
        depth += {"{": 1, "}": -1}.get(css[end], 0)
        end += 1
    rules = re.findall(r"\{([^{}]*)\}", css[start : end - 1])
    return [d.strip() for rule in rules for d in rule.split(";") if d.strip()]


def test_sample_issue_renders_to_the_golden_email(
    sample_issue: Issue, golden: Callable[[str, str], None]
) -> None:
    html, text = anonymous(render_issue(sample_issue), sample_issue)
    golden("issue/email.html", html)
    golden("issue/email.txt", text)


def test_rendering_is_deterministic(sample_issue: Issue) -> None:
    assert render_issue(sample_issue) == render_issue(sample_issue)


def test_css_is_inlined_and_responsive_rules_stay_in_style(sample_issue: Issue) -> None:
    html = render_issue(sample_issue).html
    assert html.startswith("<!DOCTYPE html>")
    assert 'style="' in html and "font-size: 16px" in html.replace("font-size:16px", "font-size: 16px")
    assert "@media screen and (max-width: 600px)" in html
    assert "prefers-color-scheme: dark" in html
    mobile = _declarations_of_media_block(html, "screen and (max-width: 600px)")
    assert mobile and all(d.endswith("!important") for d in mobile)  # else inline styles win
    assert html.count("<!--[if") == html.count("<![endif]")


def test_every_shipped_template_passes_the_checks(sample_issue: Issue) -> None:
    html, text = anonymous(render_issue(sample_issue), sample_issue)
    failed = [finding for finding in check_issue(Documents(sample_issue, html, text)) if not finding.ok]
    assert failed == []


def test_a_post_in_another_language_carries_its_own_lang(make_post: Callable[..., Post]) -> None:
    """The post's own words (title, summary) carry its lang; the newsletter's words keep the edition's."""
    english = make_post(language="en", title="Owning your archive", author="Hannah")
    html = render_issue(_issue([make_post(language="fr"), english])).html
    card = html[html.index("Owning your archive") - 900 :]
    assert html.count('lang="en"') == 3
    assert re.search(r'<h2 lang="en"[^>]*><a [^>]*>Owning your archive</a></h2>', card)
    assert re.search(r'<div class="summary" lang="en"', card)
    assert re.search(r'>Lire «\xa0<span lang="en">Owning your archive</span>\xa0» sur Example Blog</a>', card)
    assert re.search(
        r'<p class="meta"[^>]*><bdi>Example Blog</bdi> · 18 novembre 2026 · par <bdi>Hannah</bdi></p>', card
    )
    assert '<td class="card" lang=' not in html
    assert '<html lang="fr" dir="ltr"' in html


def test_text_part_has_every_title_and_url_wrapped_at_78(make_post: Callable[..., Post]) -> None:
    posts = [make_post(summary_text="mot " * 100), make_post(title="Un titre très long " * 6)]
    text = render_issue(_issue(posts)).text
    for post in posts:
        assert post.url in text
    assert all(len(line) <= 78 or line.strip().startswith(("http", "%%")) for line in text.splitlines())


def test_edited_summary_html_is_sanitised_again(make_post: Callable[..., Post]) -> None:
    html = render_issue(
        _issue([make_post(summary_html='<p onclick="x()">ok<script>alert(1)</script></p>')])
    ).html
    assert "<script" not in html and "onclick" not in html


def test_user_template_overrides_and_can_extend_the_default(
    tmp_path: Path, make_post: Callable[..., Post]
) -> None:
    (tmp_path / "post.html").write_text(
        '<tr><td><h2><a href="{{ post.url }}">★ {{ post.title }}</a></h2></td></tr>\n', encoding="utf-8"
    )
    (tmp_path / "web.html").write_text(
        '{% extends "default/web.html" %}{% block footer %}<tr><td><p>Archive maison</p></td></tr>{% endblock %}',
        encoding="utf-8",
    )
    rendered = render_issue(_issue([make_post(), make_post(title="Étoile")]), tmp_path)
    assert "★ Étoile" in rendered.html
    assert "Archive maison" in rendered.web


def test_a_typo_in_a_template_names_the_template_and_line(
    tmp_path: Path, make_post: Callable[..., Post]
) -> None:
    (tmp_path / "post.html").write_text("<tr><td>\n{{ post.titel }}\n</td></tr>\n", encoding="utf-8")
    with pytest.raises(TemplateError) as caught:
        render_issue(_issue([make_post(), make_post()]), tmp_path)
    assert "post.html" in str(caught.value) and "line 2" in str(caught.value) and "titel" in str(caught.value)
    assert caught.value.exit_code == 2


def test_a_template_syntax_error_names_the_line(tmp_path: Path, make_post: Callable[..., Post]) -> None:
    (tmp_path / "email.txt").write_text("ok\n{% for x in %}\n", encoding="utf-8")
    with pytest.raises(TemplateError, match=r"email.txt, line 2"):
        render_issue(_issue([make_post()]), tmp_path)


def test_documented_template_variables_match_the_context() -> None:
    documented = (Path(__file__).parents[1] / "docs" / "templates.md").read_text(encoding="utf-8")
    context = template_context(_issue([]), "prefix")
    variables = documented.split("## Variables", 1)[1]
    names = {line.split("`")[1] for line in variables.splitlines() if line.startswith("| `")}
    top_level = {name for name in names if "." not in name}
    assert top_level == set(context)
    post_fields = {name.removeprefix("post.") for name in names if name.startswith("post.")}
    assert post_fields == {field.name for field in fields(PostView)}


def test_rerender_of_an_edited_issue_json(settings: Settings, sample_issue: Issue) -> None:
    directory = settings.issues / "2026-W47"
    original = (directory / "email.html").read_bytes()
    rerender(directory, settings)
    assert (directory / "email.html").read_bytes() == original  # same input, same bytes
    issue_json = directory / "issue.json"
    issue_json.write_text(
        issue_json.read_text(encoding="utf-8").replace('"intro": ""', '"intro": "Bonne lecture !"'),
        encoding="utf-8",
    )
    rerender(directory, settings)
    assert read_issue(directory).intro == "Bonne lecture !"
    assert "Bonne lecture\u00a0!" in (directory / "email.html").read_text(encoding="utf-8")
    assert "Bonne lecture\u00a0!" in (directory / "email.txt").read_text(encoding="utf-8")


def test_empty_sections_are_not_rendered(make_post: Callable[..., Post]) -> None:
    sections = (Section("Vide", ()), Section("Plein", (make_post(), make_post())))
    issue = replace(_issue([make_post()]), sections=sections)
    html = render_issue(issue).html
    assert "Vide" not in html and "Plein" in html


def test_mobile_overrides_keep_their_important_after_inlining(make_post: Callable[..., Post]) -> None:
    # Inlined styles sit on the elements and beat any <style> rule unless the rule is !important.
    html = render_issue(_issue([make_post()])).html
    mobile = _declarations_of_media_block(html, "screen and (max-width: 600px)")
    dark = _declarations_of_media_block(html, "(prefers-color-scheme: dark)")
    assert "padding-left: 16px !important" in mobile and "color: #f0ede6 !important" in dark
    assert [d for d in mobile + dark if not d.endswith("!important")] == []


def test_merge_token_prefix_is_stable_for_an_issue_and_differs_between_issues(
    make_post: Callable[..., Post],
) -> None:
    post = make_post()
    this_week = render_issue(_issue([post]))
    assert render_issue(_issue([post])).token_prefix == this_week.token_prefix
    other_prefixes = {
        render_issue(replace(_issue([post]), week="2026-W48")).token_prefix,
        render_issue(_issue([post, make_post()])).token_prefix,
        render_issue(_issue([replace(post, title="Autre titre")])).token_prefix,
    }
    assert this_week.token_prefix not in other_prefixes and len(other_prefixes) == 3
    assert f"%%{this_week.token_prefix}:unsubscribe_url%%" in this_week.html
