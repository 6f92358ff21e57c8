"""The words templates and subjects use, in every supported locale, and dates through Babel."""

from __future__ import annotations

import re
from datetime import date, datetime

from babel.dates import format_date

CATALOGUE: dict[str, dict[str, str]] = {
    "en": {
        "subject": "{name} — week {week_number}, {year}",
        "preheader": "{count} posts this week, starting with “{first}”",
        "week_label": "Week {week_number}, {year}",
        "week_range": "{start} to {end}",
        "view_in_browser": "View this issue in your browser",
        "unsubscribe": "Unsubscribe from {name}",
        "colon": ":",
        "why_receiving": "You receive this email because you subscribed to {name}.",
        "hello": "Hello {name},",
        "hello_anonymous": "Hello,",
        "by": "by {author}",
        "published_on": "{date}",
        "read_post": "Read “{title}” on {source}",
        "in_this_issue": "In this issue",
        "featured": "Featured",
        "more": "More reading",
        "comments": "{count} comments",
        "archive": "All issues",
        "subscribe": "Subscribe",
    },
    "fr": {
        "subject": "{name} — semaine {week_number} de {year}",
        "preheader": "{count} articles cette semaine, à commencer par « {first} »",
        "week_label": "Semaine {week_number} de {year}",
        "week_range": "du {start} au {end}",
        "view_in_browser": "Voir ce numéro dans votre navigateur",
        "unsubscribe": "Se désabonner de « {name} »",
        "colon": " :",
        "why_receiving": "Vous recevez ce courriel car vous êtes abonné·e à la lettre « {name} ».",
        "hello": "Bonjour {name},",
        "hello_anonymous": "Bonjour,",
        "by": "par {author}",
        "published_on": "{date}",
        "read_post": "Lire « {title} » sur {source}",
        "in_this_issue": "Dans ce numéro",
        "featured": "À la une",
        "more": "À lire aussi",
        "comments": "{count} commentaires",
        "archive": "Tous les numéros",
        "subscribe": "S’abonner",
    },
}


def translate(locale: str, key: str, **values: object) -> str:
    """The catalogue's text for `key`, formatted with `values`; English when a key is missing."""
    text = CATALOGUE.get(locale, CATALOGUE["en"]).get(key) or CATALOGUE["en"][key]
    return typography(text.format(**values), locale)


_BEFORE = re.compile(r"[ \t]+([:;!?»])")
_AFTER = re.compile(r"«[ \t]+")
_TEXT_NODE = re.compile(r">([^<]+)<")


def typography(text: str, locale: str) -> str:
    """French spacing: a no-break space before : ; ! ? » and after «, so they never start a line.

    Only spaces already there are changed; the author's text is otherwise left alone.
    """
    if locale != "fr":
        return text
    return _AFTER.sub("«\u00a0", _BEFORE.sub("\u00a0\\1", text))


def typography_html(fragment: str, locale: str) -> str:
    """`typography` on the text between tags only: attributes and URLs are untouched."""
    if locale != "fr":
        return fragment
    return _TEXT_NODE.sub(lambda match: ">" + typography(match.group(1), locale) + "<", fragment)


def long_date(moment: date | datetime, locale: str) -> str:
    """ "24 octobre 2009" / "October 24, 2009"."""
    day = moment.date() if isinstance(moment, datetime) else moment
    return format_date(day, format="long", locale=locale)
