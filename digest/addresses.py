"""Email addresses: their syntax checked fast, and the ones already seen in an import.

`AddressChecker` is email-validator's syntax check (no DNS) with each domain checked once;
`SeenAddresses` remembers which addresses a list (or the files of one import) already had.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

from digest.envelope import a_label_domain

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_SIMPLE_ADDRESS = re.compile(rf"({_ATEXT}(?:\.{_ATEXT})*)@([A-Za-z0-9.-]+)")
_DOMAIN_CACHE_SIZE = 50_000


@dataclass(frozen=True)
class Address:
    normalized: str
    smtputf8: bool  # the local part is not ASCII: the sending server must support SMTPUTF8


class AddressChecker:
    """email-validator's syntax check (no DNS), each domain checked once.

    A list has many people and few domains, and checking the domain is most of email-validator's
    time. An ASCII dot-atom local part is valid whatever the domain (email-validator's own rule),
    so such an address only needs its lengths checked and its domain looked up; anything else
    goes through email-validator whole. A test holds the two paths to the same answers.
    """

    def __init__(self) -> None:
        self.domains: dict[str, str | None] = {}  # as written → normalised, None when invalid

    def check(self, raw: str) -> Address:
        """Raises `EmailNotValidError` with email-validator's own message."""
        simple = _SIMPLE_ADDRESS.fullmatch(raw)
        if simple and len(simple[1]) <= 64 and len(raw) <= 254:
            domain = self._domain(simple[2])
            if domain is not None:
                return Address(f"{simple[1]}@{domain}", smtputf8=False)
        checked = validate_email(raw, check_deliverability=False)
        return Address(checked.normalized, smtputf8=bool(checked.smtputf8))

    def _domain(self, domain: str) -> str | None:
        if domain not in self.domains:
            if len(self.domains) >= _DOMAIN_CACHE_SIZE:  # keep memory flat on a list of odd domains
                self.domains.clear()
            try:
                normalized = validate_email(f"a@{domain}", check_deliverability=False).normalized
                self.domains[domain] = normalized.rsplit("@", 1)[1]
            except EmailNotValidError:
                self.domains[domain] = None
        return self.domains[domain]


def address_warnings(address: Address) -> list[str]:
    """What `subscribers check` says of an address that is valid but needs care: a non-ASCII local
    part (SMTPUTF8 only; services that take ASCII refuse it), an internationalised domain (sent
    in Punycode), and letters of several scripts (a look-alike, such as a Cyrillic `а` in `pаypal`)."""
    text = address.normalized
    found = []
    if address.smtputf8:
        found.append(
            f"internationalised address {text}: needs a server with SMTPUTF8 "
            "(SendGrid, Mailgun, SES, Postmark and listmonk exports leave it out)"
        )
    domain = text.rpartition("@")[2]
    if not domain.isascii():
        found.append(f"internationalised domain in {text}: sent as {a_label_domain(domain) or '(none)'}")
    scripts = {_script(char) for char in text if char.isalpha()} - {""}
    if len(scripts) > 1:
        found.append(f"{text} mixes scripts ({', '.join(sorted(scripts))}): a look-alike address?")
    return found


def _script(char: str) -> str:
    name = unicodedata.name(char, "")
    return next((script for script in _SCRIPTS if name.startswith(script)), "OTHER")


_SCRIPTS = (
    "LATIN",
    "CYRILLIC",
    "GREEK",
    "ARMENIAN",
    "HEBREW",
    "ARABIC",
    "CJK",
    "HIRAGANA",
    "KATAKANA",
    "HANGUL",
)


class SeenAddresses:
    """Addresses accepted so far (the first one wins), across the files of one import.

    Where each was seen is packed in one int (line << 8 | file), so a million addresses fit.
    """

    def __init__(self) -> None:
        self._where: dict[str, int] = {}
        self.files: list[str] = []

    def open(self, name: str) -> None:
        self.files.append(name)

    def claim(self, address: str, line: int) -> str | None:
        """Where `address` was seen before, or None after claiming it for this line."""
        key = address.lower()
        where = self._where.get(key)
        current = (len(self.files) - 1) % 256
        if where is None:
            self._where[key] = line << 8 | current
            return None
        earlier, number = where >> 8, where & 0xFF
        return f"line {earlier}" if number == current else f"line {earlier} of {self.files[number]}"
