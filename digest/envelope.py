"""Addresses as they leave: the domain in IDNA (A-labels), a non-ASCII local part flagged.

Pure. A domain such as `exämple.org` is written `xn--exmple-cua.org` in every envelope, header
and service payload, so it needs nothing of the server (RFC 5890). A non-ASCII local part
(`josé@…`) has no ASCII form: it can only travel over SMTP with SMTPUTF8 (RFC 6531), and a
service that takes ASCII addresses only cannot serve it. Nothing here raises: an address that
cannot be written is returned with the reason, and the caller names the recipient and goes on.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import idna

NEEDS_SMTPUTF8 = "needs SMTPUTF8"


@dataclass(frozen=True)
class Envelope:
    """One recipient's address as it is sent."""

    address: str  # the local part as given, the domain in A-labels (or as given when `problem`)
    smtputf8: bool = False  # the local part is not ASCII
    problem: str = ""  # why no message can be addressed to it at all

    @property
    def ascii(self) -> bool:
        return not self.smtputf8 and not self.problem


def envelope(address: str) -> Envelope:
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        return Envelope(address, problem=f"{address!r} is not an address")
    converted = a_label_domain(domain)
    if converted is None:
        return Envelope(address, problem=f"the domain {domain!r} has no IDNA (punycode) form")
    return Envelope(f"{local}@{converted}", smtputf8=not local.isascii())


@functools.lru_cache(maxsize=4096)
def a_label_domain(domain: str) -> str | None:
    """`exämple.org` → `xn--exmple-cua.org` (IDNA 2008 with UTS #46 mapping); None when impossible."""
    if domain.isascii():
        return domain.lower()
    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        return None


def ascii_address(address: str) -> str:
    """The address with its domain in A-labels when it has one; else unchanged."""
    return envelope(address).address


def smtputf8_reason(address: str, why: str) -> str:
    """`needs SMTPUTF8 (why): address`: the one wording of this failure, for every output."""
    return f"{NEEDS_SMTPUTF8} ({why}): {address}"
