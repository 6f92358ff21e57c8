"""The words templates and subjects use, in every supported locale, and dates through Babel."""

from __future__ import annotations

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
        "why_receiving": "You receive this email because you subscribed to {name}.",
        "hello": "Hello {name},",
        "hello_anonymous": "Hello,",
        "by": "by {author}",
        "published_on": "{date}",
        "read_post": "Read “{title}” on {source}",
        "in_this_issue": "In this issue",
        "featured": "Featured",
        "comments": "{count} comments",
        "archive": "All issues",
    },
    "fr": {
        "subject": "{name} — semaine {week_number} de {year}",
        "preheader": "{count} articles cette semaine, à commencer par « {first} »",
        "week_label": "Semaine {week_number} de {year}",
        "week_range": "du {start} au {end}",
        "view_in_browser": "Voir ce numéro dans votre navigateur",
        "unsubscribe": "Se désabonner de {name}",
        "why_receiving": "Vous recevez ce courriel car vous êtes abonné·e à {name}.",
        "hello": "Bonjour {name},",
        "hello_anonymous": "Bonjour,",
        "by": "par {author}",
        "published_on": "{date}",
        "read_post": "Lire « {title} » sur {source}",
        "in_this_issue": "Dans ce numéro",
        "featured": "À la une",
        "comments": "{count} commentaires",
        "archive": "Tous les numéros",
    },
}


def translate(locale: str, key: str, **values: object) -> str:
    """The catalogue's text for `key`, formatted with `values`; English when a key is missing."""
    text = CATALOGUE.get(locale, CATALOGUE["en"]).get(key) or CATALOGUE["en"][key]
    return text.format(**values)


def long_date(moment: date | datetime, locale: str) -> str:
    """ "24 octobre 2009" / "October 24, 2009"."""
    day = moment.date() if isinstance(moment, datetime) else moment
    return format_date(day, format="long", locale=locale)
