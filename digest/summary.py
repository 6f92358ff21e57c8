"""A summary that reads well from any feed: boilerplate removed, in French and English. Pure.

Feeds (aggregators above all) wrap the text in what a reader already sees or does not need: at
the start the site's name, the title again, "Publié le 24 octobre 2009 par …", a date; at the
end "Retour à La Une", "50 partages", "The post … appeared first on …", "Continue reading",
FeedBurner's flare and share links. `clean` takes sanitised HTML (`sanitize.safe_html`) and
removes them, a block (paragraph, list, line) at a time, and inline at the edges of the text.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from functools import lru_cache

_BLOCK = re.compile(r"(<(p|ul|ol|blockquote|pre)\b[^>]*>.*?</\2>|<br>)", re.S)
_TAG = re.compile(r"<[^>]*>")
_SEPARATORS = " \t\n:|–—-·•,;/»>"

# A whole block that starts a summary and says nothing new: a byline, a date line.
_BYLINE = re.compile(
    r"^(?:(?:publié|publiée|posté|postée|mis en ligne|écrit|écrite|rédigé|posted|published|written|"
    r"updated|mis à jour)\s+(?:le|on|by|par|at|in)\b[^.!?]{0,80}"
    r"|(?:par|by|de|from)\s+\S+(?:\s+\S+){0,3}"
    r"|(?:le\s+|on\s+)?(?:lun|mar|mer|jeu|ven|sam|dim|mon|tue|wed|thu|fri|sat|sun)?[a-zé]*\.?,?\s*"
    r"\d{1,2}(?:er)?\s+[a-zéû]+\.?\s+\d{4}(?:\s*(?:à|at|,)?\s*\d{1,2}[:h]\d{2})?"
    r"|\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2})?)?"
    r"|\d{1,2}/\d{1,2}/\d{2,4})\.?$",
    re.I,
)
# Inline at the start of the text: the same, followed by the real text.
_LEADING_BYLINE = re.compile(
    r"^(?:publié|publiée|posté|postée|mis en ligne|posted|published|written)\s+(?:le|on)\s+"
    r"[^.<]{0,60}?\d{4}(?:\s+(?:par|by)\s+[^\s<.,]+(?:\s+[A-ZÀ-Ý][^\s<.,]*)?)?[\s.,:–—-]*",
    re.I,
)
# A block from which the rest is furniture: everything from it to the end goes.
_TAIL_MARKER = re.compile(
    r"^(?:retour\s+(?:à|a|au|aux)\b|back\s+to\b|à propos de l['’]auteur|about the author|"
    r"(?:share|partager|partagez)(?:\s+(?:this|on|sur|cet article|l['’]article))?\b|"
    r"(?:related|similar)\s+(?:posts|articles)|articles?\s+(?:similaires|liés|connexes)|"
    r"(?:sur le même sujet|à lire aussi|lire aussi|read also|see also|voir aussi)\b|"
    r"(?:tags?|étiquettes?|filed under|catégories?|categories|posted in|classé dans)\s*:|"
    r"\d[\d\s.,]*k?\s+(?:partages?|shares?|commentaires?|comments?|likes?|j['’]aime|réactions?)\b)",
    re.I,
)
# A block, or the end of the last one, that only says "there is more": dropped.
_MORE = (
    r"(?:continue reading|keep reading|read more|read the rest(?: of this entry)?|read the full (?:post|article|story)|"
    r"lire la suite|la suite|lire l['’]article|continuer la lecture|en savoir plus|voir la suite|"
    r"suite de l['’]article|more\.{3}|more…)"
)
_MORE_BLOCK = re.compile(rf"^[\s\[(«»“”\"'→›>]*{_MORE}\b.{{0,100}}$", re.I | re.S)
_APPEARED = re.compile(
    r"(?:the post|l['’]article|le billet|cet article|l['’]entrée|the entry)\b.{0,400}?"
    r"(?:appeared first on|was first published on|est apparu en premier sur|a été publié(?:e)? (?:en premier|d['’]abord) sur|"
    r"est paru en premier sur)\b",
    re.I | re.S,
)
_INLINE_MORE = re.compile(
    rf"(?:\s|&nbsp;|<br>)*(?:\[|\(|«)?\s*(?:<a\b[^>]*>\s*)?(?:<(?:em|strong|b|i|span)>\s*)*{_MORE}\b[^<]{{0,80}}"
    r"(?:</(?:em|strong|b|i|span)>\s*)*(?:</a>)?\s*(?:\]|\)|»)?[\s.…→›»>]*$",
    re.I,
)
_INLINE_COUNT = re.compile(r"(?:\s|&nbsp;)*\d[\d\s.,]*k?\s+(?:partages?|shares?|j['’]aime|likes?)\s*$", re.I)
_SHARE_LINK = re.compile(
    r"feeds\.feedburner\.com/~|facebook\.com/share|facebook\.com/sharer|twitter\.com/(?:intent|share|home\?status)|"
    r"x\.com/intent|linkedin\.com/share|pinterest\.[a-z.]+/pin/create|reddit\.com/submit|addtoany\.com|"
    r"addthis\.com|sharethis\.com|mailto:\?|api\.whatsapp\.com/send|t\.me/share|news\.ycombinator\.com/submitlink",
    re.I,
)
_ANCHOR = re.compile(r"<a\b[^>]*\bhref=\"([^\"]*)\"[^>]*>(.*?)</a>", re.S)
_EDGE_BREAKS = re.compile(r"^(?:<br>\s*)+|(?:\s*<br>)+$")
_FLARE = re.compile(r"<div\s+class=[\"']feedflare[\"'].*?</div>", re.I | re.S)


def without_flare(raw: str) -> str:
    """Raw feed HTML without FeedBurner's flare block (its links and tracking images)."""
    return _FLARE.sub("", raw) if "feedflare" in raw else raw


def clean(fragment: str, *, title: str = "", names: Iterable[str] = ()) -> str:
    """Sanitised HTML without the boilerplate at its start and end.

    `title` is the post's title, `names` the feed's name, the author and the like: repeated at
    the start, they go. Nothing is removed when that would leave no text at all.
    """
    if not fragment:
        return fragment
    fragment = _without_share_links(fragment)
    pieces = [piece for piece in _BLOCK.split(fragment) if piece and piece.strip()]
    pieces = [piece for piece in pieces if piece not in ("p", "ul", "ol", "blockquote", "pre")]
    if "".join(pieces).replace(" ", "") != fragment.replace(" ", "").strip():
        pieces = [fragment]  # not a flat sequence of blocks: only the edges are cleaned
    heads = [key for key in map(_key, (title, *names)) if key]
    kept = _drop_tail(_drop_head(pieces, heads, _key(title)))
    if kept:
        kept[0] = _strip_start(kept[0], heads)
        kept[-1] = _strip_end(kept[-1])
    result = "".join(kept).strip()
    if "<br>" in result:
        result = _EDGE_BREAKS.sub("", result)
    return result if _text(result) else fragment


def _drop_head(pieces: list[str], heads: list[str], title: str) -> list[str]:
    """Leading blocks that repeat the title or a name, or are a byline or a date. When the title
    comes within the first few short blocks, what comes before it (a site's name) goes too."""
    for index, piece in enumerate(pieces[:4]):
        text = _key(_text(piece))
        if title and text == title and all(len(_text(p)) < 80 for p in pieces[:index]):
            pieces = pieces[index + 1 :]
            break
    while pieces:
        text = _text(pieces[0])
        key = _key(text)
        if pieces[0] == "<br>" or not key or key in heads or (len(text) < 140 and _BYLINE.match(text)):
            pieces = pieces[1:]
            continue
        break
    return pieces


def _drop_tail(pieces: list[str]) -> list[str]:
    for index, piece in enumerate(pieces):
        if index == 0:
            continue
        text = _text(piece)
        if len(text) < 160 and _TAIL_MARKER.match(text):
            pieces = pieces[:index]
            break
    while pieces:
        text = _text(pieces[-1])
        if pieces[-1] == "<br>" or not text or _MORE_BLOCK.match(text) or _APPEARED.match(text):
            pieces = pieces[:-1]
            continue
        break
    return pieces


def _strip_start(piece: str, heads: list[str]) -> str:
    """The repeated title, names and byline at the start of the first block's text."""
    opening = re.match(r"^(?:<(?:p|blockquote)\b[^>]*>)?", piece)
    start = opening.end() if opening else 0
    head, body = piece[:start], piece[start:]
    changed = True
    while changed:
        changed = False
        lead = html.unescape(body[: body.find("<")] if "<" in body else body)
        for name in heads:
            if _key(lead[: len(name) + 4]).startswith(name) and len(lead) > len(name) + 20:
                cut = _prefix_length(body, name)
                if cut:
                    body, changed = body[cut:].lstrip(_SEPARATORS), True
        byline = _LEADING_BYLINE.match(body)
        if byline and len(body) > byline.end() + 20:
            body, changed = body[byline.end() :], True
    return head + body


def _prefix_length(body: str, name: str) -> int:
    """How many characters of `body` (HTML text, before any tag) spell `name`."""
    for end in range(len(name), min(len(body), len(name) * 2 + 10) + 1):
        if _key(html.unescape(body[:end])) == name:
            return end
    return 0


_END_WORDS = re.compile(
    r"read|lire|continu|suite|more|savoir|partage|share|like|aime|appeared|apparu|publié|paru", re.I
)
_END_SPAN = 600  # characters at the end of a summary where its furniture is looked for


def _strip_end(piece: str) -> str:
    end = len(piece) - 4 if piece.endswith("</p>") else len(piece)
    if not _end_words(piece, max(0, end - _END_SPAN), end):  # the common case, cheaply
        return piece
    body, tail = piece[:end], piece[end:]
    for pattern in (_INLINE_MORE, _INLINE_COUNT):
        match = pattern.search(body, max(0, len(body) - _END_SPAN))
        if match and _text(body[: match.start()]) and _balanced(body[: match.start()]):
            body = body[: match.start()].rstrip()
    appeared = next(reversed(list(_APPEARED.finditer(body, max(0, len(body) - _END_SPAN)))), None)
    if appeared and _text(body[: appeared.start()]) and _balanced(body[: appeared.start()]):
        body = body[: appeared.start()].rstrip()
    return body + tail


_END_WORD_LIST = tuple(_END_WORDS.pattern.split("|"))


def _end_words(piece: str, start: int, end: int) -> bool:
    """`_END_WORDS.search(piece, start, end)`, without the regular expression's cost where the
    text is ASCII (an alternation tried at every position: 70 µs on a 600-character tail)."""
    tail = piece[start:end]
    if tail.isascii():
        lowered = tail.lower()
        return any(word in lowered for word in _END_WORD_LIST)
    return _END_WORDS.search(tail) is not None


def _without_share_links(fragment: str) -> str:
    if "href" not in fragment:
        return fragment
    return _ANCHOR.sub(
        lambda m: "" if _SHARE_LINK.search(html.unescape(m.group(1))) else m.group(0), fragment
    )


def _balanced(fragment: str) -> bool:
    return fragment.count("<a ") + fragment.count("<a>") == fragment.count("</a>")


@lru_cache(maxsize=256)  # a piece's text is asked for several times in one `clean`
def _text(piece: str) -> str:
    # (split and join: `_WS.sub` then strip, at a fraction of the cost; `\s` is `str.isspace`)
    return " ".join(html.unescape(_TAG.sub(" ", piece)).split())


@lru_cache(maxsize=1024)  # the title and the feed's names are keyed several times a post
def _key(text: str) -> str:
    """Text compared loosely: case, spacing and edge punctuation aside."""
    return " ".join(text.split()).strip(_SEPARATORS + ".!?…'\"«»“”").casefold()
