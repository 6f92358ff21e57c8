"""The web app's pages, in French and English: the sign-up form, its answers, preferences.

Every value that came from a request is escaped, and none is echoed back but the reader's own
address on pages reached through a signed link. Forms post to their own path (no redirect
target is ever read from a request: no open redirect).
"""

from __future__ import annotations

import html
from collections.abc import Iterable

from digest.unsubscribe import STYLE

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "subscribe_title": "Subscribe to {name}",
        "subscribe_text": "One email a week. We will send you a link to confirm: nothing else arrives before you do.",
        "email_label": "Your email address",
        "locale_label": "Language",
        "subscribe_button": "Subscribe",
        "sent_title": "Check your inbox",
        "sent_text": "If the address can receive mail, a confirmation link is on its way. It expires in {days} days.",
        "bad_email_title": "This address does not look right",
        "bad_email_text": "Check it and try again.",
        "limited_title": "Too many attempts",
        "limited_text": "Please try again later.",
        "stale_title": "This form has expired",
        "stale_text": "Reload the page and send it again.",
        "confirm_title": "Confirm your subscription to {name}",
        "confirm_text": "Press the button to receive {name} at {email}.",
        "confirm_button": "Confirm",
        "confirmed_title": "Welcome!",
        "confirmed_text": "{email} will receive the next issue of {name}.",
        "expired_title": "This confirmation link does not work",
        "expired_text": "It may have expired or been cut. Subscribe again to get a new one.",
        "prefs_title": "Your preferences for {name}",
        "prefs_text": "Choose the language of your edition and the sections you want.",
        "segments_label": "Sections",
        "save_button": "Save",
        "saved_title": "Saved",
        "saved_text": "Your preferences for {email} are saved.",
        "unknown_title": "This address is not on the list",
        "unknown_text": "There is nothing to change.",
        "mail_subject": "Confirm your subscription to {name}",
        "mail_body": "Hello,\n\nSomeone (we hope you) asked to receive {name} at this address.\nTo confirm, open this link and press the button:\n\n{link}\n\nIt expires in {days} days. If it was not you, ignore this message: nothing will be sent.\n",
    },
    "fr": {
        "subscribe_title": "S’abonner à {name}",
        "subscribe_text": "Un courriel par semaine. Nous vous enverrons un lien de confirmation : rien d’autre n’arrive avant.",
        "email_label": "Votre adresse électronique",
        "locale_label": "Langue",
        "subscribe_button": "M’abonner",
        "sent_title": "Consultez votre boîte de réception",
        "sent_text": "Si l’adresse peut recevoir du courrier, un lien de confirmation est en route. Il expire dans {days} jours.",
        "bad_email_title": "Cette adresse semble incorrecte",
        "bad_email_text": "Vérifiez-la et réessayez.",
        "limited_title": "Trop de tentatives",
        "limited_text": "Réessayez plus tard.",
        "stale_title": "Ce formulaire a expiré",
        "stale_text": "Rechargez la page et envoyez-le à nouveau.",
        "confirm_title": "Confirmez votre abonnement à {name}",
        "confirm_text": "Appuyez sur le bouton pour recevoir {name} à l’adresse {email}.",
        "confirm_button": "Confirmer",
        "confirmed_title": "Bienvenue !",
        "confirmed_text": "{email} recevra le prochain numéro de {name}.",
        "expired_title": "Ce lien de confirmation ne fonctionne pas",
        "expired_text": "Il a peut-être expiré ou été coupé. Abonnez-vous à nouveau pour en recevoir un autre.",
        "prefs_title": "Vos préférences pour {name}",
        "prefs_text": "Choisissez la langue de votre édition et les rubriques souhaitées.",
        "segments_label": "Rubriques",
        "save_button": "Enregistrer",
        "saved_title": "Enregistré",
        "saved_text": "Vos préférences pour {email} sont enregistrées.",
        "unknown_title": "Cette adresse n’est pas dans la liste",
        "unknown_text": "Il n’y a rien à modifier.",
        "mail_subject": "Confirmez votre abonnement à {name}",
        "mail_body": "Bonjour,\n\nQuelqu’un (vous, espérons-le) a demandé à recevoir {name} à cette adresse.\nPour confirmer, ouvrez ce lien et appuyez sur le bouton :\n\n{link}\n\nIl expire dans {days} jours. Si ce n’était pas vous, ignorez ce message : rien ne sera envoyé.\n",
    },
}
LANGUAGE_NAMES = {"fr": "Français", "en": "English"}
_FORM_STYLE = "label{display:block;margin:1rem 0 .25rem}input[type=email],select{font:inherit;padding:.5rem;width:100%;box-sizing:border-box}.hp{position:absolute;left:-10000px}fieldset{border:0;padding:0;margin:1rem 0}"


def words(locale: str) -> dict[str, str]:
    return WORDS.get(locale, WORDS["en"])


def document(
    locale: str, kind: str, *, newsletter: str, email: str = "", form: str = "", days: int = 0
) -> bytes:
    """A page: `<kind>_title` and `<kind>_text` in `locale`, then an optional form (trusted HTML)."""
    w = words(locale)
    title = w[f"{kind}_title"].format(name=newsletter, email=email)
    text = w[f"{kind}_text"].format(
        name=html.escape(newsletter), email=f"<strong>{html.escape(email)}</strong>", days=days
    )
    return (
        f'<!doctype html>\n<html lang="{html.escape(locale)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<meta name="robots" content="noindex"><title>{html.escape(title)}</title>'
        f"<style>{STYLE}{_FORM_STYLE}</style></head>\n<body><main><h1>{html.escape(title)}</h1>"
        f"<p>{text}</p>{form}</main></body></html>\n"
    ).encode()


def subscribe_form(locale: str, form_token: str, locales: Iterable[str]) -> str:
    w = words(locale)
    options = "".join(
        f'<option value="{code}"{" selected" if code == locale else ""}>{LANGUAGE_NAMES.get(code, code)}</option>'
        for code in locales
    )
    return (
        '<form method="post" action="">'
        f'<input type="hidden" name="form_token" value="{html.escape(form_token)}">'
        f'<label for="email">{html.escape(w["email_label"])}</label>'
        '<input id="email" type="email" name="email" required maxlength="254" autocomplete="email">'
        f'<label for="locale">{html.escape(w["locale_label"])}</label><select id="locale" name="locale">{options}</select>'
        '<div class="hp" aria-hidden="true"><label for="website">Website</label>'
        '<input id="website" name="website" tabindex="-1" autocomplete="off"></div>'
        f'<p><button type="submit">{html.escape(w["subscribe_button"])}</button></p></form>'
    )


def button_form(locale: str, label_key: str, form_token: str) -> str:
    return (
        f'<form method="post"><input type="hidden" name="form_token" value="{html.escape(form_token)}">'
        f'<button type="submit">{html.escape(words(locale)[label_key])}</button></form>'
    )


def preferences_form(
    locale: str, form_token: str, locales: Iterable[str], segments: Iterable[str], chosen: Iterable[str]
) -> str:
    w, picked = words(locale), {tag.casefold() for tag in chosen}
    options = "".join(
        f'<option value="{code}"{" selected" if code == locale else ""}>{LANGUAGE_NAMES.get(code, code)}</option>'
        for code in locales
    )
    boxes = "".join(
        f'<label><input type="checkbox" name="segment" value="{html.escape(tag)}"'
        f"{' checked' if tag.casefold() in picked else ''}> {html.escape(tag)}</label>"
        for tag in segments
    )
    return (
        f'<form method="post"><input type="hidden" name="form_token" value="{html.escape(form_token)}">'
        f'<label for="locale">{html.escape(w["locale_label"])}</label><select id="locale" name="locale">{options}</select>'
        f"<fieldset><legend>{html.escape(w['segments_label'])}</legend>{boxes}</fieldset>"
        f'<p><button type="submit">{html.escape(w["save_button"])}</button></p></form>'
    )
