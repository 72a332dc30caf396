"""One requested host name: its normalised A-label form, or what is wrong with it.

The mapping is UTS #46 (``idna.uts46_remap``, non-transitional, so 'ß' stays distinct) and each
non-ASCII label is checked against IDNA 2008 by ``idna.alabel``. The label rules are also
checked here, before ``idna`` would, so that each problem is phrased for what the user typed.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

import idna

from wildcert.logic.request.echo import plain, show

MAX_NAME_LENGTH = 253
MAX_LABEL_LENGTH = 63
# A domain longer than this before normalisation cannot shrink to 253 octets in practice;
# refusing early keeps IDNA processing cheap on hostile input.
MAX_RAW_DOMAIN_CHARS = 1024

_LDH_LABEL = re.compile(r"[a-z0-9-]+")
_IDNA_ERRORS = (idna.IDNAError, UnicodeError, ValueError, IndexError)


@dataclass(frozen=True)
class DomainCheck:
    """The outcome of normalising one entry of ``domains``: a name or a problem."""

    name: str | None = None
    problem: str | None = None


def _bad(problem: str) -> DomainCheck:
    return DomainCheck(problem=problem)


def normalise_domain(raw: str) -> DomainCheck:
    """Normalise one requested name to its A-label form, or say what is wrong with it.

    Surrounding whitespace and one trailing dot are dropped; case is folded and Unicode is
    mapped with UTS #46, then each non-ASCII label is converted to its A-label.
    """
    text = raw.strip()
    if not text:
        return _bad("is empty; give a host name such as 'example.com'")
    if len(text) > MAX_RAW_DOMAIN_CHARS:
        return _bad(f"is {len(text)} characters long; a domain name is at most 253")
    surface = _surface_problem(text)
    if surface:
        return _bad(surface)
    try:
        text = idna.uts46_remap(text, std3_rules=False)
    except _IDNA_ERRORS as error:
        return _bad(f"is not a valid internationalised name: {plain(str(error))}")
    text = text.removesuffix(".")
    if not text:
        return _bad("is only a dot (the DNS root); give a host name such as 'example.com'")
    if is_ip_address(text):
        return _bad("is an IP address; wildcert only issues certificates for DNS names")
    wildcard = text.startswith("*.")
    labels = text.split(".")[1:] if wildcard else text.split(".")
    ascii_labels: list[str] = []
    for label in labels:
        ascii_label, problem = _to_ascii_label(label)
        problem = problem or _label_problem(ascii_label)
        if problem:
            return _bad(problem)
        ascii_labels.append(ascii_label)
    return _whole_name(ascii_labels, wildcard)


def is_ip_address(text: str) -> bool:
    """Is ``text`` an IPv4 or IPv6 address (the latter possibly in brackets)?"""
    candidate = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        ipaddress.ip_address(candidate)
    except ValueError:
        return False
    return True


def _surface_problem(text: str) -> str | None:
    """Problems visible before IDNA mapping, phrased for what the user typed."""
    if "://" in text or "/" in text:
        return "looks like a URL or path; give only the host name, such as 'example.com'"
    if "@" in text:
        return "contains '@'; give only the host name, not an e-mail address"
    for ch in text:
        if ch.isspace():
            return f"contains whitespace ({show(ch)}); remove it"
        # ZWNJ/ZWJ are legitimate in some scripts; IDNA's CONTEXTJ rules judge them.
        if not ch.isprintable() and ch not in "\u200c\u200d":
            return (
                f"contains the invisible or control character U+{ord(ch):04X}; "
                "remove it (copy-pasted names often carry one)"
            )
    return None


def _to_ascii_label(label: str) -> tuple[str, str | None]:
    """A label as ASCII: non-ASCII (U-labels) go through IDNA 2008. Returns (label, problem)."""
    if label.isascii():
        return label, None
    try:
        return idna.alabel(label).decode("ascii"), None
    except _IDNA_ERRORS as error:
        return "", (
            f"has the label {show(label, 40)} that is not a valid internationalised "
            f"label (IDNA 2008): {plain(str(error))}"
        )


def _label_problem(label: str) -> str | None:
    """Why an ASCII label (already lowercased) is not a valid host name label, if it is not."""
    if not label:
        return "has an empty label (two dots in a row or a leading dot); remove the extra dot"
    if len(label) > MAX_LABEL_LENGTH:
        return (
            f"has the label {show(label, 40)}, longer than {MAX_LABEL_LENGTH} characters; "
            "shorten it"
        )
    if "_" in label:
        return (
            f"has an underscore in the label {show(label, 40)}; host names in certificates "
            "may only use letters, digits and hyphens"
        )
    if "*" in label:
        return "may use '*' only as the whole leftmost label, as in '*.example.com'"
    if not _LDH_LABEL.fullmatch(label):
        odd = next(ch for ch in label if not _LDH_LABEL.fullmatch(ch))
        hint = "; remove the port" if odd == ":" else ""
        return (
            f"contains {show(odd)} in the label {show(label, 40)}; only letters, digits and "
            f"hyphens are allowed{hint}"
        )
    if label.startswith("-") or label.endswith("-"):
        return f"has the label {show(label, 40)} that starts or ends with a hyphen; remove it"
    if label.startswith("xn--"):
        return _a_label_problem(label)
    if label[2:4] == "--":
        return (
            f"has the label {show(label, 40)} with '--' in the third and fourth positions, "
            "which is reserved for internationalised labels ('xn--')"
        )
    return None


def _a_label_problem(label: str) -> str | None:
    try:
        round_trip = idna.alabel(idna.ulabel(label)).decode("ascii")
    except _IDNA_ERRORS as error:
        return (
            f"has the label {show(label, 40)} that is not a valid internationalised "
            f"(xn--) label: {plain(str(error))}"
        )
    if round_trip != label:
        return (
            f"has the label {show(label, 40)} that is not in canonical IDNA form; "
            f"use {show(round_trip, 40)}"
        )
    return None


def _whole_name(labels: list[str], wildcard: bool) -> DomainCheck:
    name = ("*." if wildcard else "") + ".".join(labels)
    if len(name) > MAX_NAME_LENGTH:
        return _bad(f"is {len(name)} characters long as ASCII; a domain name is at most 253")
    if len(labels) < 2:
        if wildcard:
            return _bad(
                "is a wildcard for a whole top-level domain; a wildcard needs at least two "
                "labels after '*.', as in '*.example.com'"
            )
        return _bad("has a single label; give a fully qualified name such as 'example.com'")
    if labels[-1].isdigit():
        return _bad(
            f"ends in the numeric label {show(labels[-1], 20)}, so it is an IP address or not a "
            "host name; wildcert only issues certificates for DNS names"
        )
    return DomainCheck(name=name)
