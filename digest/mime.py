"""MIME at the byte level, for the per-subscriber fast path: header encoding, folding and bodies.

`email.message` is correct but costs milliseconds a message (its quoted-printable encoder and
header folding are pure Python). These helpers produce the same structure directly:
RFC 2047 encoded-words for non-ASCII phrases, headers folded at whitespace to 78 columns,
and bodies quoted-printable encoded by `binascii` (C) on the *whole* filled text — soft line
breaks depend on the position in the line, so encoded fragments cannot be concatenated.
"""

from __future__ import annotations

import binascii
import functools
import re

CRLF = b"\r\n"
MAX_HEADER = 78  # RFC 5322 §2.1.1: SHOULD be no more than 78 characters
MAX_WORD = 75  # RFC 2047 §2: an encoded-word is at most 75 characters
_PREFIX = "=?utf-8?q?"
_SUFFIX = "?="
_LONGEST = 66  # a word longer than this may not fit a folded line beside its header's name
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")
# RFC 5322 atext plus space: such a phrase needs neither quoting nor encoding.
_ATOMS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]*")
# RFC 2047 §5(3): the characters an encoded-word in a phrase may carry literally.
_Q_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")


def clean(text: str) -> str:
    """One line: control characters and line breaks become spaces, so no value can add a header."""
    return " ".join(_CONTROL.sub(" ", text).split())


@functools.lru_cache(maxsize=4096)
def _q_char(char: str) -> str:
    if char == " ":
        return "_"
    return "".join(chr(b) if b in _Q_SAFE else f"={b:02X}" for b in char.encode("utf-8"))


def encoded_words(text: str, first: int = MAX_WORD) -> list[str]:
    """`text` as Q-encoded words; the first at most `first` characters, the others at most 75.

    A character is never split between two words (RFC 2047 §5: each word must decode alone).
    """
    words: list[str] = []
    limit = max(first, len(_PREFIX) + len(_SUFFIX) + 12)
    current = ""
    for char in text:
        encoded = _q_char(char)
        if current and len(_PREFIX) + len(current) + len(encoded) + len(_SUFFIX) > limit:
            words.append(_PREFIX + current + _SUFFIX)
            current, limit = "", MAX_WORD
        current += encoded
    words.append(_PREFIX + current + _SUFFIX)
    return words


def phrase(text: str, first: int = MAX_WORD) -> list[str]:
    """A display name or subject as header tokens: atoms, a quoted-string, or encoded-words.

    A word too long for a line, which folding could not break, is written as encoded-words
    instead: RFC 2047 splits them anywhere, and readers join them back.
    """
    text = clean(text)
    if "=?" not in text and _ATOMS.fullmatch(text):
        words = text.split(" ") if text else []
        if all(len(word) <= _LONGEST for word in words):
            return words
    elif text.isascii() and "=?" not in text:
        quoted = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if len(quoted) <= _LONGEST:
            return [quoted]
    return encoded_words(text, first)


def address(name: str, addr: str, header: str) -> list[str]:
    """`Name <addr>` as tokens for `header`; the name encoded when it needs it.

    An address whose local part is not ASCII cannot be written in an ASCII header: it becomes
    an empty group named after it (the downgrade of RFC 6857 §3.1.10), `=?utf-8?q?…?= :;`, and
    travels only in the envelope (SMTPUTF8).
    """
    if not addr.rpartition("@")[0].isascii():
        label = f"{clean(name)} <{addr}>" if clean(name) else addr
        return [*encoded_words(label, MAX_HEADER - len(header) - 2), ":;"]
    if not clean(name):
        return [addr]
    return [*phrase(name, MAX_HEADER - len(header) - 2), f"<{addr}>"]


def value(tokens: list[str]) -> str:
    """Tokens as one unfolded ASCII header value, for a service that writes the header itself."""
    return " ".join(tokens)


def fold(name: str, tokens: list[str], separator: str = " ") -> bytes:
    """`Name: token token …` folded at whitespace so that lines stay within 78 characters.

    A token longer than a line (a long URL) stays whole on its own line: it cannot be broken.
    """
    lines: list[str] = []
    line = f"{name}:"
    for index, token in enumerate(tokens):
        piece = token + (separator.rstrip() if index < len(tokens) - 1 else "")
        if len(line) + 1 + len(piece) > MAX_HEADER and line != f"{name}:":
            lines.append(line)
            line = ""
        line += " " + piece
    lines.append(line)
    return "\r\n".join(lines).encode("ascii") + CRLF


def header(name: str, value: str) -> bytes:
    """An ASCII header whose value may be folded at its spaces."""
    return fold(name, value.split(" "))


def unstructured(name: str, value: str) -> bytes:
    """A free-text header such as Subject: encoded-words when not ASCII (RFC 2047 §5(1))."""
    return fold(name, unstructured_tokens(value, MAX_HEADER - len(name) - 2))


def unstructured_tokens(value: str, first: int = MAX_WORD) -> list[str]:
    """Free text as ASCII tokens: its words, or encoded-words when not ASCII or a word is too
    long to fold."""
    value = clean(value)
    words = value.split(" ")
    if value.isascii() and "=?" not in value and all(len(word) <= _LONGEST for word in words):
        return words
    return encoded_words(value, first)


def quoted_printable(text: str) -> bytes:
    """UTF-8 quoted-printable with CRLF line ends; lines ≤ 76 octets (RFC 2045 §6.7)."""
    data = text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
    # Encode with LF, then switch to CRLF: binascii picks its soft-break style from the first
    # line end it sees, which a long single-line HTML document may not have.
    return binascii.b2a_qp(data, istext=True).replace(b"\n", CRLF)


def mbox_escape(message: bytes) -> bytes:
    """mboxrd quoting: a body line starting with `From ` (or `>From `) gets one more `>`."""
    return re.sub(rb"(?m)^(>*From )", rb">\1", message)
