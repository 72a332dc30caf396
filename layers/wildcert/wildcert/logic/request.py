"""Parse and validate a certificate issuance request.

Pure: no AWS, no network. A request arrives as a JSON object, either directly, as the
``detail`` of an EventBridge event, or as the JSON body of SQS records (possibly an EventBridge
event delivered to a queue)::

    {"domains": ["example.com", "*.example.com"],   # required, 1 to 100 names
     "name": "example.com",                        # optional, see default_name()
     "key_type": "ec256",                          # optional, one of KEY_TYPES
     "force": false}                               # optional, issue even if not due

``null`` for an optional field means "use the default". Every problem found is reported at once
in a ``RequestRejected``; no input makes ``parse_request`` or ``unwrap_event`` raise anything
else. Messages quote offending values escaped (no control characters) and cut short, so they can
go to logs and, after the usual escaping, to Slack.
"""

from __future__ import annotations

import difflib
import hashlib
import ipaddress
import json
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

import idna

from wildcert.logic.zones import zone_for

KEY_TYPES = ("ec256", "ec384", "rsa2048", "rsa3072", "rsa4096")
DEFAULT_KEY_TYPE = "ec256"
FIELDS = ("domains", "name", "key_type", "force", "endpoints", "renews")
MAX_ENDPOINTS = 20

MAX_DOMAINS = 100
# Beyond this many entries the list is rejected without looking at each one (cost bound).
MAX_DOMAIN_ENTRIES = 1000
MAX_NAME_LENGTH = 253
MAX_LABEL_LENGTH = 63
# A domain longer than this before normalisation cannot shrink to 253 octets in practice;
# refusing early keeps IDNA processing cheap on hostile input.
MAX_RAW_DOMAIN_CHARS = 1024
MAX_CERT_NAME_LENGTH = 128

ECHO_LIMIT = 80
LISTED_DOMAIN_PROBLEMS = 10
LISTED_FIELD_PROBLEMS = 10
LISTED_ZONES = 5

_CERT_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,127}")
_LDH_LABEL = re.compile(r"[a-z0-9-]+")
_NAME_HASH_CHARS = 8
_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}

# Names people reach for that the closest-spelling suggestion would not find.
_FIELD_ALIASES = {
    "domain": "domains",
    "names": "domains",
    "hostnames": "domains",
    "hosts": "domains",
    "san": "domains",
    "sans": "domains",
    "subject_alt_names": "domains",
    "dns_names": "domains",
    "cert_name": "name",
    "certificate_name": "name",
    "certificate": "name",
    "key": "key_type",
    "algorithm": "key_type",
    "key_algorithm": "key_type",
    "renew": "force",
    "force_renewal": "force",
    "force_renew": "force",
    "reissue": "force",
}
_KEY_TYPE_ALIASES = {
    "ec": "ec256",
    "ecdsa": "ec256",
    "p256": "ec256",
    "p-256": "ec256",
    "secp256r1": "ec256",
    "prime256v1": "ec256",
    "p384": "ec384",
    "p-384": "ec384",
    "secp384r1": "ec384",
    "rsa": "rsa2048",
}


@dataclass(frozen=True)
class CertificateRequest:
    """A validated request. ``domains`` are normalised A-label names, first one primary.

    ``zones`` (when set by ``parse_request``) holds, position for position, the allowed hosted
    zone that covers each domain.
    """

    domains: tuple[str, ...]
    name: str
    key_type: str = DEFAULT_KEY_TYPE
    force: bool = False
    zones: tuple[str, ...] = ()
    endpoints: tuple[str, ...] = ()  # host:port the expiry monitor checks serve this certificate
    # The serial this request means to replace (set by the sweep and the watch): if the stored
    # certificate has another serial, someone already renewed it and the request is stale.
    renews: str | None = None

    def zone_of(self, domain: str) -> str:
        """The hosted zone covering ``domain``, one of this request's domains."""
        if len(self.zones) != len(self.domains):
            raise KeyError(f"no zones recorded for this request (domain {domain!r})")
        try:
            return self.zones[self.domains.index(domain)]
        except ValueError:
            raise KeyError(f"{domain!r} is not one of this request's domains") from None


class RequestRejected(Exception):
    """The request cannot be served. ``problems`` lists each one as a full sentence."""

    def __init__(self, problems: Iterable[str]) -> None:
        listed = tuple(problems) or ("The request was rejected for an unknown reason.",)
        # Passing the tuple as the only arg keeps the exception picklable.
        super().__init__(listed)
        self.problems: tuple[str, ...] = listed

    def __str__(self) -> str:
        if len(self.problems) == 1:
            return f"The certificate request was rejected: {self.problems[0]}"
        lines = "\n".join(f"- {p}" for p in self.problems)
        return f"The certificate request was rejected ({len(self.problems)} problems):\n{lines}"


@dataclass(frozen=True)
class UnreadableEvent:
    """Stands in for a payload that could not be extracted from its envelope.

    ``parse_request`` turns it into a ``RequestRejected`` carrying ``problem``, so one bad SQS
    record does not hide the good ones next to it.
    """

    problem: str


@dataclass(frozen=True)
class EventRecord:
    """One request payload found in a Lambda event, with where it came from."""

    payload: object
    source: str  # "direct", "eventbridge" or "sqs"
    message_id: str | None = None  # the SQS messageId, for partial batch failure reports


# --- quoting values in messages ---------------------------------------------------------------


def _escape_char(ch: str, quoting: bool) -> str:
    if quoting and ch in "'\\":
        return "\\" + ch
    if ch.isprintable():
        return ch
    if ch in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[ch]
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _escaped(text: str, limit: int, quoting: bool = True) -> tuple[str, bool]:
    """``text`` with non-printable characters escaped and cut to ``limit``; was it cut?"""
    pieces: list[str] = []
    used = 0
    for ch in text:
        piece = _escape_char(ch, quoting)
        if used + len(piece) > limit:
            return "".join(pieces), True
        pieces.append(piece)
        used += len(piece)
    return "".join(pieces), False


def _plain(text: str, limit: int = 60) -> str:
    """Library error text for a message, escaped and cut short, unquoted."""
    escaped, cut = _escaped(text, limit, quoting=False)
    return escaped + ("…" if cut else "")


def _show(value: object, limit: int = ECHO_LIMIT) -> str:
    """Quote a value for a message: escaped like ``repr``, at most about ``limit`` characters.

    Containers are described, never rendered, so deep or huge input costs nothing.
    """
    if isinstance(value, str):
        escaped, cut = _escaped(value, limit)
        return f"'{escaped}…' ({len(value)} characters)" if cut else f"'{escaped}'"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        # str() of a huge int raises past Python's digit limit.
        return str(value) if -(10**40) < value < 10**40 else "a number with over 40 digits"
    if isinstance(value, float):
        return repr(value)
    return _type_name(value)


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return f"an array of {len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, dict):
        return f"an object with {len(value)} field{'s' if len(value) != 1 else ''}"
    if isinstance(value, bytes | bytearray):
        return "bytes (not JSON; decode them to a string first)"
    kind = type(value).__name__
    return f"a Python {_show(kind, 40)} (not a JSON value)"


def _described(value: object) -> str:
    """``value`` with its type, for wrong-type messages: ``the number 5``, ``an array of 2``."""
    if isinstance(value, str | int | float):
        return f"{_type_name(value)} ({_show(value)})"
    return _type_name(value)


def _suggest(word: str, choices: Sequence[str], aliases: dict[str, str]) -> str | None:
    if len(word) > 40:
        return None
    key = word.strip().lower().replace("-", "_").replace(" ", "_")
    if key in choices:
        return key
    if key in aliases:
        return aliases[key]
    if key.replace("_", "-") in aliases:
        return aliases[key.replace("_", "-")]
    close = difflib.get_close_matches(key, choices, n=1, cutoff=0.6)
    return close[0] if close else None


# --- domain names -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DomainCheck:
    """The outcome of normalising one entry of ``domains``: a name or a problem."""

    name: str | None = None
    problem: str | None = None


def _bad(problem: str) -> DomainCheck:
    return DomainCheck(problem=problem)


def _surface_checks(text: str) -> str | None:
    """Problems visible before IDNA mapping, phrased for what the user typed."""
    if "://" in text or "/" in text:
        return "looks like a URL or path; give only the host name, such as 'example.com'"
    if "@" in text:
        return "contains '@'; give only the host name, not an e-mail address"
    for ch in text:
        if ch.isspace():
            return f"contains whitespace ({_show(ch)}); remove it"
        # ZWNJ/ZWJ are legitimate in some scripts; IDNA's CONTEXTJ rules judge them.
        if not ch.isprintable() and ch not in "\u200c\u200d":
            return (
                f"contains the invisible or control character U+{ord(ch):04X}; "
                "remove it (copy-pasted names often carry one)"
            )
    return None


def _ip_problem(text: str) -> str | None:
    candidate = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        ipaddress.ip_address(candidate)
    except ValueError:
        return None
    return "is an IP address; wildcert only issues certificates for DNS names"


def _label_problem(label: str) -> str | None:
    """Why an ASCII label (already lowercased) is not a valid host name label, if it is not."""
    if not label:
        return "has an empty label (two dots in a row or a leading dot); remove the extra dot"
    if len(label) > MAX_LABEL_LENGTH:
        return (
            f"has the label {_show(label, 40)}, longer than {MAX_LABEL_LENGTH} characters; "
            "shorten it"
        )
    if "_" in label:
        return (
            f"has an underscore in the label {_show(label, 40)}; host names in certificates "
            "may only use letters, digits and hyphens"
        )
    if "*" in label:
        return "may use '*' only as the whole leftmost label, as in '*.example.com'"
    if not _LDH_LABEL.fullmatch(label):
        odd = next(ch for ch in label if not _LDH_LABEL.fullmatch(ch))
        hint = "; remove the port" if odd == ":" else ""
        return (
            f"contains {_show(odd)} in the label {_show(label, 40)}; only letters, digits and "
            f"hyphens are allowed{hint}"
        )
    if label.startswith("-") or label.endswith("-"):
        return f"has the label {_show(label, 40)} that starts or ends with a hyphen; remove it"
    if label.startswith("xn--"):
        return _a_label_problem(label)
    if label[2:4] == "--":
        return (
            f"has the label {_show(label, 40)} with '--' in the third and fourth positions, "
            "which is reserved for internationalised labels ('xn--')"
        )
    return None


def _a_label_problem(label: str) -> str | None:
    try:
        round_trip = idna.alabel(idna.ulabel(label)).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError) as error:
        return (
            f"has the label {_show(label, 40)} that is not a valid internationalised "
            f"(xn--) label: {_plain(str(error))}"
        )
    if round_trip != label:
        return (
            f"has the label {_show(label, 40)} that is not in canonical IDNA form; "
            f"use {_show(round_trip, 40)}"
        )
    return None


def _to_ascii_label(label: str) -> tuple[str | None, str | None]:
    """A label as ASCII: non-ASCII (U-labels) go through IDNA 2008. Returns (label, problem)."""
    if label.isascii():
        return label, None
    try:
        return idna.alabel(label).decode("ascii"), None
    except (idna.IDNAError, UnicodeError, ValueError) as error:
        return None, (
            f"has the label {_show(label, 40)} that is not a valid internationalised "
            f"label (IDNA 2008): {_plain(str(error))}"
        )


def normalise_domain(raw: str) -> DomainCheck:
    """Normalise one requested name to its A-label form, or say what is wrong with it.

    Surrounding whitespace and one trailing dot are dropped; case is folded and Unicode is
    mapped with UTS #46 (non-transitional, so 'ß' stays distinct), then each non-ASCII label is
    converted to its A-label.
    """
    text = raw.strip()
    if not text:
        return _bad("is empty; give a host name such as 'example.com'")
    if len(text) > MAX_RAW_DOMAIN_CHARS:
        return _bad(f"is {len(text)} characters long; a domain name is at most 253")
    surface = _surface_checks(text)
    if surface:
        return _bad(surface)
    if text.isascii():
        text = text.lower()
    else:
        try:
            text = idna.uts46_remap(text, std3_rules=False, transitional=False)
        except (idna.IDNAError, UnicodeError, ValueError, IndexError) as error:
            return _bad(f"is not a valid internationalised name: {_plain(str(error))}")
    if text.endswith("."):
        text = text[:-1]
    if not text:
        return _bad("is only a dot (the DNS root); give a host name such as 'example.com'")
    ip = _ip_problem(text)
    if ip:
        return _bad(ip)
    wildcard = text.startswith("*.")
    labels = text.split(".")
    if wildcard:
        labels = labels[1:]
    ascii_labels: list[str] = []
    for label in labels:
        ascii_label, problem = _to_ascii_label(label)
        problem = problem or _label_problem(ascii_label or "")
        if problem:
            return _bad(problem)
        ascii_labels.append(ascii_label or "")
    return _whole_name(ascii_labels, wildcard)


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
            f"ends in the numeric label {_show(labels[-1], 20)}, so it is an IP address or not a "
            "host name; wildcert only issues certificates for DNS names"
        )
    return DomainCheck(name=name)


# --- default certificate name -----------------------------------------------------------------


def default_name(domains: Sequence[str]) -> str:
    """The certificate name used when a request gives none, derived from the first domain.

    The first (normalised) domain is used as is, except that a leading ``*.`` becomes
    ``wildcard.``: ``example.com`` → ``example.com``, ``*.example.com`` →
    ``wildcard.example.com``, ``*.xn--bcher-kva.example`` → ``wildcard.xn--bcher-kva.example``.
    When that is longer than 128 characters it is cut to 119, stripped of trailing dots and
    hyphens, and ends with ``-`` plus the first 8 hex digits of its SHA-256, so long names stay
    distinct and the same domains always get the same name. (A literal host named
    ``wildcard.example.com`` gets the same default as ``*.example.com``; give one of them a
    ``name`` if both are wanted.)
    """
    if not domains:
        raise ValueError("default_name needs at least one domain")
    first = domains[0]
    derived = "wildcard." + first[2:] if first.startswith("*.") else first
    if len(derived) <= MAX_CERT_NAME_LENGTH:
        return derived
    digest = hashlib.sha256(derived.encode()).hexdigest()[:_NAME_HASH_CHARS]
    keep = MAX_CERT_NAME_LENGTH - 1 - _NAME_HASH_CHARS
    return derived[:keep].rstrip(".-") + "-" + digest


def is_valid_cert_name(name: str) -> bool:
    """The certificate name rule: ``[a-z0-9][a-z0-9._-]{0,127}`` and no ``..``."""
    return bool(_CERT_NAME.fullmatch(name)) and ".." not in name


# --- the request ------------------------------------------------------------------------------


def _capped(problems: list[str], limit: int, what: str) -> list[str]:
    if len(problems) <= limit:
        return problems
    rest = len(problems) - limit
    return [*problems[:limit], f"{rest} more {what} not listed; fix the ones above first."]


def _zone_list(zone_names: Collection[str]) -> str:
    ordered = sorted({z[:-1].lower() if z.endswith(".") else z.lower() for z in zone_names})
    if not ordered:
        return "none are configured (ask the operator to set ALLOWED_ZONES)"
    shown = ", ".join(_show(z, 64) for z in ordered[:LISTED_ZONES])
    more = len(ordered) - LISTED_ZONES
    return shown + (f" and {more} more" if more > 0 else "")


def _domains_shape_problem(value: object) -> str | None:
    if value is None:
        return (
            "domains is missing; give a list of 1 to 100 host names, "
            'e.g. "domains": ["example.com", "*.example.com"].'
        )
    if isinstance(value, str):
        return (
            f"domains must be a list of host names, not a single string ({_show(value)}); "
            'wrap it in brackets, e.g. ["example.com"].'
        )
    if not isinstance(value, list | tuple):
        return f"domains must be a list of host names; got {_described(value)}."
    if not value:
        return "domains is empty; list 1 to 100 host names."
    if len(value) > MAX_DOMAIN_ENTRIES:
        return (
            f"domains lists {len(value)} entries; a certificate can have at most {MAX_DOMAINS} "
            "names, so split them across several requests with different names."
        )
    return None


def _check_domains(
    value: object, zone_names: tuple[str, ...], findings: list[str]
) -> tuple[list[str], list[str]]:
    """Validate ``domains``; returns the unique normalised names and their zones."""
    shape = _domains_shape_problem(value)
    if shape or not isinstance(value, list | tuple):
        findings.append(shape or "domains must be a list of host names.")
        return [], []
    names: list[str] = []
    covering: list[str] = []
    first_index: dict[str, int] = {}
    distinct = 0
    problems: list[str] = []
    for index, entry in enumerate(value):
        where = f"domains[{index}]"
        if not isinstance(entry, str):
            problems.append(f"{where} must be a string host name; got {_described(entry)}.")
            distinct += 1
            continue
        result = normalise_domain(entry)
        if result.name is None:
            problems.append(f"{where} {_show(entry)} {result.problem}.")
            distinct += 1
            continue
        if result.name in first_index:
            continue
        first_index[result.name] = index
        distinct += 1
        zone = zone_for(result.name, zone_names)
        if zone is None:
            problems.append(_uncovered_problem(where, entry, result.name, zone_names))
            continue
        names.append(result.name)
        covering.append(zone)

    problems.extend(_redundancy_problems(names, first_index))
    if distinct > MAX_DOMAINS:
        findings.append(
            f"domains lists {distinct} distinct names; a certificate can have at most "
            f"{MAX_DOMAINS}, so split them across several requests with different names."
        )
    findings.extend(_capped(problems, LISTED_DOMAIN_PROBLEMS, "domain problems are"))
    return names, covering


def _uncovered_problem(where: str, entry: str, name: str, zone_names: tuple[str, ...]) -> str:
    shown = _show(entry) if entry == name else f"{_show(entry)} ({name})"
    return (
        f"{where} {shown} is not in any hosted zone this deployment may use; "
        f"request names under one of: {_zone_list(zone_names)}."
    )


def _redundancy_problems(names: list[str], first_index: dict[str, int]) -> list[str]:
    # Let's Encrypt refuses an order holding both '*.example.com' and 'www.example.com'.
    wildcards = {n[2:] for n in names if n.startswith("*.")}
    problems = []
    for name in names:
        parent = name.partition(".")[2]
        if not name.startswith("*.") and parent in wildcards:
            problems.append(
                f"domains[{first_index[name]}] {_show(name)} is already covered by "
                f"domains[{first_index['*.' + parent]}] {_show('*.' + parent)}; remove one of "
                "them (Let's Encrypt refuses redundant names)."
            )
    return problems


def _check_name(value: object, findings: list[str]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        findings.append(f"name must be a string; got {_described(value)}.")
        return None
    if is_valid_cert_name(value):
        return value
    rule = (
        "use 1 to 128 characters from a-z, 0-9, '.', '_' and '-', starting with a letter or "
        "digit and without '..'"
    )
    hint = ""
    lowered = value.strip().lower()
    if lowered != value and is_valid_cert_name(lowered):
        hint = f", e.g. {_show(lowered)}"
    if not value:
        findings.append(f"name is empty; {rule}, or leave it out to derive it from the domains.")
    else:
        findings.append(f"name {_show(value)} is not allowed; {rule}{hint}.")
    return None


def _check_key_type(value: object, findings: list[str]) -> str:
    if value is None:
        return DEFAULT_KEY_TYPE
    allowed = ", ".join(KEY_TYPES)
    if not isinstance(value, str):
        findings.append(f"key_type must be a string, one of {allowed}; got {_described(value)}.")
        return DEFAULT_KEY_TYPE
    if value in KEY_TYPES:
        return value
    guess = _suggest(value, KEY_TYPES, _KEY_TYPE_ALIASES)
    hint = f" Did you mean {_show(guess)}?" if guess else ""
    findings.append(f"key_type {_show(value)} is not supported; use one of {allowed}.{hint}")
    return DEFAULT_KEY_TYPE


def _check_force(value: object, findings: list[str]) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    findings.append(
        f"force must be a JSON boolean (true or false, without quotes); got {_described(value)}."
    )
    return False


def _endpoint_problem(text: str) -> str | None:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 1 <= int(port) <= 65535:
        return "is not host:port with a port from 1 to 65535"
    if host.startswith("[") and host.endswith("]"):
        return None if _ip_problem(host) else "has a bracketed host that is not an IPv6 address"
    if _ip_problem(host):
        return None
    checked = normalise_domain(host)
    return None if checked.problem is None and "*" not in host else "has no valid host name"


def _check_endpoints(value: object, findings: list[str]) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_ENDPOINTS:
        findings.append(
            f"endpoints must be a list of at most {MAX_ENDPOINTS} \"host:port\" strings; "
            f"got {_described(value)}."
        )
        return ()
    good: list[str] = []
    for index, item in enumerate(value):
        if not isinstance(item, str):
            findings.append(f"endpoints[{index}] must be a string; got {_described(item)}.")
            continue
        problem = _endpoint_problem(item.strip().lower())
        if problem:
            findings.append(
                f"endpoints[{index}] {_show(item)} {problem}, e.g. \"www.example.com:443\"."
            )
        else:
            good.append(item.strip().lower())
    return tuple(dict.fromkeys(good))


def normalise_serial(text: str) -> str:
    """Hex serial as wildcert writes it: lowercase, no separators, no leading zeros."""
    digits = text.strip().lower().removeprefix("0x").replace(":", "").replace(" ", "")
    return digits.lstrip("0") or "0"


def _check_renews(value: object, findings: list[str]) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and 0 < len(value) <= 128:
        serial = normalise_serial(value)
        if all(c in "0123456789abcdef" for c in serial):
            return serial
    findings.append(
        f"renews must be the hex serial of the certificate being replaced; got {_described(value)}."
    )
    return None


def _check_fields(raw: dict[object, object], findings: list[str]) -> None:
    unknown: list[str] = []
    for key in raw:
        if not isinstance(key, str):
            unknown.append(
                f"The request has a field whose name is {_described(key)}; field names must be "
                f"strings, and the fields are {', '.join(FIELDS)}."
            )
            continue
        if key in FIELDS:
            continue
        guess = _suggest(key, FIELDS, _FIELD_ALIASES)
        hint = f"did you mean {_show(guess)}?" if guess else f"the fields are {', '.join(FIELDS)}."
        unknown.append(f"The field {_show(key)} is not recognised; {hint}")
    findings.extend(_capped(unknown, LISTED_FIELD_PROBLEMS, "unrecognised fields are"))


def parse_request(raw: object, zone_names: Collection[str]) -> CertificateRequest:
    """Validate a decoded request against the hosted zones it may use.

    ``zone_names`` are the names of the allowed public hosted zones (case and a trailing dot
    do not matter; ``CertificateRequest.zones`` repeats them as given). Raises
    ``RequestRejected`` listing every problem found.
    """
    if isinstance(raw, UnreadableEvent):
        raise RequestRejected((raw.problem,))
    if not isinstance(raw, dict):
        raise RequestRejected(
            (
                'The request must be a JSON object such as {"domains": ["example.com"]}; '
                f"got {_described(raw)}.",
            )
        )
    findings: list[str] = []
    _check_fields(raw, findings)
    domains, covering = _check_domains(raw.get("domains"), tuple(zone_names), findings)
    name = _check_name(raw.get("name"), findings)
    key_type = _check_key_type(raw.get("key_type"), findings)
    force = _check_force(raw.get("force"), findings)
    endpoints = _check_endpoints(raw.get("endpoints"), findings)
    renews = _check_renews(raw.get("renews"), findings)
    if findings:
        raise RequestRejected(findings)
    return CertificateRequest(
        domains=tuple(domains),
        name=name if name is not None else default_name(domains),
        key_type=key_type,
        force=force,
        zones=tuple(covering),
        endpoints=endpoints,
        renews=renews,
    )


# --- Lambda event envelopes -------------------------------------------------------------------


def _is_eventbridge(event: dict[object, object]) -> bool:
    return "detail-type" in event or ("source" in event and "detail" in event)


def _from_eventbridge(event: dict[object, object], where: str) -> object:
    if "detail" not in event:
        return UnreadableEvent(
            f"The EventBridge event{where} has no 'detail'; put the request object in the "
            "event's Detail."
        )
    return event["detail"]


def _sqs_record(index: int, record: object) -> EventRecord:
    if not isinstance(record, dict):
        return EventRecord(
            UnreadableEvent(f"Records[{index}] must be an object; got {_described(record)}."),
            "sqs",
        )
    message_id = record.get("messageId")
    if not isinstance(message_id, str):
        message_id = None
    where = f"Records[{index}]" + (f" (message {_show(message_id, 64)})" if message_id else "")
    source = record.get("eventSource")
    if source != "aws:sqs":
        return EventRecord(
            UnreadableEvent(
                f"{where} comes from {_show(source)}, not SQS; only SQS records are accepted."
            ),
            "sqs",
            message_id,
        )
    body = record.get("body")
    if not isinstance(body, str):
        return EventRecord(
            UnreadableEvent(f"{where} has no string body; got {_described(body)}."),
            "sqs",
            message_id,
        )
    try:
        payload = json.loads(body)
    except json.JSONDecodeError as error:
        payload = UnreadableEvent(
            f"{where} body is not valid JSON ({error.msg} at line {error.lineno} column "
            f"{error.colno}); send the request as a JSON object."
        )
    except (ValueError, RecursionError):
        payload = UnreadableEvent(
            f"{where} body could not be decoded as JSON (it is nested too deeply or holds a "
            "number too large); send the request as a plain JSON object."
        )
    if isinstance(payload, dict) and _is_eventbridge(payload):
        # An EventBridge rule targeting the queue delivers the whole event as the body.
        payload = _from_eventbridge(payload, f" in {where}")
    return EventRecord(payload, "sqs", message_id)


def unwrap_records(event: object) -> list[EventRecord]:
    """The request payload(s) in a Lambda event, with their origin. Never raises.

    SQS events give one record per message; an EventBridge event gives its ``detail``; anything
    else is taken as the request itself. A payload that cannot be extracted is an
    ``UnreadableEvent``, which ``parse_request`` rejects with its problem.
    """
    if not isinstance(event, dict):
        return [EventRecord(event, "direct")]
    if "Records" in event:
        records = event["Records"]
        if not isinstance(records, list):
            problem = (
                f"The event's Records must be a list of SQS records; got {_described(records)}."
            )
            return [EventRecord(UnreadableEvent(problem), "sqs")]
        return [_sqs_record(index, record) for index, record in enumerate(records)]
    if _is_eventbridge(event):
        return [EventRecord(_from_eventbridge(event, ""), "eventbridge")]
    return [EventRecord(event, "direct")]


def unwrap_event(event: object) -> list[object]:
    """The request payload(s) in a Lambda event; see ``unwrap_records``."""
    return [record.payload for record in unwrap_records(event)]
