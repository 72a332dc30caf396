"""Each field of a request: its check, its default, and what to say when it is wrong.

Every ``check_*`` appends its problems (full sentences) to ``findings`` and returns the value to
use, so ``parse_request`` can report every problem at once.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Collection, Sequence

from wildcert.logic.request.domains import normalise_domain
from wildcert.logic.request.echo import capped, described, show
from wildcert.logic.request.endpoints import DEFAULT_PORTS as DEFAULT_ENDPOINT_PORTS
from wildcert.logic.request.endpoints import parse_endpoint
from wildcert.logic.zones import zone_for

KEY_TYPES = ("ec256", "ec384", "rsa2048", "rsa3072", "rsa4096")
DEFAULT_KEY_TYPE = "ec256"
FIELDS = ("domains", "name", "key_type", "force", "endpoints", "renews", "ca", "acm")
# Which of the CA's directories: the deployment's CA, or its staging twin (test certificates
# that browsers do not trust, under the CA's far higher staging rate limits).
CAS = ("production", "staging")
DEFAULT_CA = "production"
MAX_ENDPOINTS = 20
MAX_DOMAINS = 100
# Beyond this many entries the list is rejected without looking at each one (cost bound).
MAX_DOMAIN_ENTRIES = 1000
MAX_CERT_NAME_LENGTH = 128

LISTED_DOMAIN_PROBLEMS = 10
LISTED_FIELD_PROBLEMS = 10
LISTED_ZONES = 5

_CERT_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,127}")
_NAME_HASH_CHARS = 8
_HEX = re.compile(r"[0-9a-f]+")

# Names people reach for that the closest-spelling suggestion would not find.
_FIELD_ALIASES = {
    **dict.fromkeys(("domain", "names", "hostnames", "hosts", "san", "sans"), "domains"),
    **dict.fromkeys(("subject_alt_names", "dns_names"), "domains"),
    **dict.fromkeys(("cert_name", "certificate_name", "certificate"), "name"),
    **dict.fromkeys(("key", "algorithm", "key_algorithm"), "key_type"),
    **dict.fromkeys(("renew", "force_renewal", "force_renew", "reissue"), "force"),
}
_KEY_TYPE_ALIASES = {
    **dict.fromkeys(("ec", "ecdsa", "p256", "p-256", "secp256r1", "prime256v1"), "ec256"),
    **dict.fromkeys(("p384", "p-384", "secp384r1"), "ec384"),
    "rsa": "rsa2048",
}


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


def check_field_names(raw: dict[object, object], findings: list[str]) -> None:
    unknown: list[str] = []
    for key in raw:
        if not isinstance(key, str):
            unknown.append(
                f"The request has a field whose name is {described(key)}; field names must be "
                f"strings, and the fields are {', '.join(FIELDS)}."
            )
            continue
        if key in FIELDS:
            continue
        guess = _suggest(key, FIELDS, _FIELD_ALIASES)
        hint = f"did you mean {show(guess)}?" if guess else f"the fields are {', '.join(FIELDS)}."
        unknown.append(f"The field {show(key)} is not recognised; {hint}")
    findings.extend(capped(unknown, LISTED_FIELD_PROBLEMS, "unrecognised fields are"))


# --- domains ----------------------------------------------------------------------------------


def check_domains(value: object, zone_names: Collection[str], findings: list[str],
                  private: Collection[str] = ()) -> list[str]:
    """The unique normalised names, each covered by one of ``zone_names``, first one first.
    A name only a ``private`` zone covers is refused with that reason."""
    shape = _domains_shape_problem(value)
    if shape or not isinstance(value, list | tuple):
        findings.append(shape or "domains must be a list of host names.")
        return []
    names: list[str] = []
    first_index: dict[str, int] = {}
    distinct = 0
    problems: list[str] = []
    for index, entry in enumerate(value):
        where = f"domains[{index}]"
        if not isinstance(entry, str):
            problems.append(f"{where} must be a string host name; got {described(entry)}.")
            distinct += 1
            continue
        result = normalise_domain(entry)
        if result.name is None:
            problems.append(f"{where} {show(entry)} {result.problem}.")
            distinct += 1
            continue
        if result.name in first_index:
            continue
        first_index[result.name] = index
        distinct += 1
        if zone_for(result.name, zone_names) is None:
            hidden = zone_for(result.name, private)
            problems.append(_private_problem(where, entry, result.name, hidden) if hidden
                            else _uncovered_problem(where, entry, result.name, zone_names))
            continue
        names.append(result.name)

    problems.extend(_redundancy_problems(names, first_index))
    if distinct > MAX_DOMAINS:
        findings.append(
            f"domains lists {distinct} distinct names; a certificate can have at most "
            f"{MAX_DOMAINS}, so split them across several requests with different names."
        )
    findings.extend(capped(problems, LISTED_DOMAIN_PROBLEMS, "domain problems are"))
    return names


def _domains_shape_problem(value: object) -> str | None:
    if value is None:
        return (
            "domains is missing; give a list of 1 to 100 host names, "
            'e.g. "domains": ["example.com", "*.example.com"].'
        )
    if isinstance(value, str):
        return (
            f"domains must be a list of host names, not a single string ({show(value)}); "
            'wrap it in brackets, e.g. ["example.com"].'
        )
    if not isinstance(value, list | tuple):
        return f"domains must be a list of host names; got {described(value)}."
    if not value:
        return "domains is empty; list 1 to 100 host names."
    if len(value) > MAX_DOMAIN_ENTRIES:
        return (
            f"domains lists {len(value)} entries; a certificate can have at most {MAX_DOMAINS} "
            "names, so split them across several requests with different names."
        )
    return None


def _uncovered_problem(where: str, entry: str, name: str, zone_names: Collection[str]) -> str:
    shown = show(entry) if entry == name else f"{show(entry)} ({name})"
    return (
        f"{where} {shown} is not in any hosted zone this deployment may use; "
        f"request names under one of: {_zone_list(zone_names)}."
    )


def _private_problem(where: str, entry: str, name: str, zone: str) -> str:
    shown = show(entry) if entry == name else f"{show(entry)} ({name})"
    return (
        f"{where} {shown} is only in the private hosted zone {show(zone, 64)}, which wildcert "
        "never writes: the CA validates through public DNS and cannot see a private zone. "
        "Ask the operator to add a public hosted zone for it (it may share the private "
        "zone's name)."
    )


def _zone_list(zone_names: Collection[str]) -> str:
    ordered = sorted({z.removesuffix(".").lower() for z in zone_names})
    if not ordered:
        return "none are configured (ask the operator to set ALLOWED_ZONES)"
    shown = ", ".join(show(z, 64) for z in ordered[:LISTED_ZONES])
    more = len(ordered) - LISTED_ZONES
    return shown + (f" and {more} more" if more > 0 else "")


def _redundancy_problems(names: list[str], first_index: dict[str, int]) -> list[str]:
    # Let's Encrypt refuses an order holding both '*.example.com' and 'www.example.com'.
    wildcards = {n[2:] for n in names if n.startswith("*.")}
    problems = []
    for name in names:
        parent = name.partition(".")[2]
        if not name.startswith("*.") and parent in wildcards:
            problems.append(
                f"domains[{first_index[name]}] {show(name)} is already covered by "
                f"domains[{first_index['*.' + parent]}] {show('*.' + parent)}; remove one of "
                "them (Let's Encrypt refuses redundant names)."
            )
    return problems


# --- name -------------------------------------------------------------------------------------


def check_name(value: object, findings: list[str]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        findings.append(f"name must be a string; got {described(value)}.")
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
        hint = f", e.g. {show(lowered)}"
    if not value:
        findings.append(f"name is empty; {rule}, or leave it out to derive it from the domains.")
    else:
        findings.append(f"name {show(value)} is not allowed; {rule}{hint}.")
    return None


def is_valid_cert_name(name: str) -> bool:
    """The certificate name rule: ``[a-z0-9][a-z0-9._-]{0,127}`` and no ``..``."""
    return bool(_CERT_NAME.fullmatch(name)) and ".." not in name


def default_name(domains: Sequence[str], prefix: str = "") -> str:
    """The certificate name used when a request gives none, derived from the first domain.

    The first (normalised) domain is used as is, except that a leading ``*.`` becomes
    ``wildcard.``: ``example.com`` → ``example.com``, ``*.example.com`` →
    ``wildcard.example.com``, ``*.xn--bcher-kva.example`` → ``wildcard.xn--bcher-kva.example``.
    When that is longer than 128 characters it is cut to 119, stripped of trailing dots and
    hyphens, and ends with ``-`` plus the first 8 hex digits of its SHA-256, so long names stay
    distinct and the same domains always get the same name. (A literal host named
    ``wildcard.example.com`` gets the same default as ``*.example.com``; give one of them a
    ``name`` if both are wanted.) ``prefix`` goes first: a team's names are ``<team>.<derived>``.
    """
    if not domains:
        raise ValueError("default_name needs at least one domain")
    first = domains[0]
    derived = prefix + ("wildcard." + first[2:] if first.startswith("*.") else first)
    if len(derived) <= MAX_CERT_NAME_LENGTH:
        return derived
    digest = hashlib.sha256(derived.encode()).hexdigest()[:_NAME_HASH_CHARS]
    keep = MAX_CERT_NAME_LENGTH - 1 - _NAME_HASH_CHARS
    return derived[:keep].rstrip(".-") + "-" + digest


# --- key_type, force --------------------------------------------------------------------------


def check_key_type(value: object, findings: list[str]) -> str:
    if value is None:
        return DEFAULT_KEY_TYPE
    allowed = ", ".join(KEY_TYPES)
    if not isinstance(value, str):
        findings.append(f"key_type must be a string, one of {allowed}; got {described(value)}.")
        return DEFAULT_KEY_TYPE
    if value in KEY_TYPES:
        return value
    guess = _suggest(value, KEY_TYPES, _KEY_TYPE_ALIASES)
    hint = f" Did you mean {show(guess)}?" if guess else ""
    findings.append(f"key_type {show(value)} is not supported; use one of {allowed}.{hint}")
    return DEFAULT_KEY_TYPE


def check_force(value: object, findings: list[str]) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    findings.append(
        f"force must be a JSON boolean (true or false, without quotes); got {described(value)}."
    )
    return False


def check_ca(value: object, findings: list[str]) -> str:
    if value is None:
        return DEFAULT_CA
    if isinstance(value, str) and value in CAS:
        return value
    findings.append(f"ca must be one of {', '.join(CAS)}; got {described(value)}.")
    return DEFAULT_CA


# --- endpoints --------------------------------------------------------------------------------


def check_endpoints(value: object, zone_names: Collection[str], findings: list[str],
                    ports: Collection[int] = DEFAULT_ENDPOINT_PORTS) -> tuple[str, ...]:
    """Host names inside ``zone_names`` on one of ``ports``, read as the watch reads them."""
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_ENDPOINTS:
        findings.append(
            f"endpoints must be a list of at most {MAX_ENDPOINTS} \"host:port\" strings; "
            f"got {described(value)}."
        )
        return ()
    good: list[str] = []
    for index, item in enumerate(value):
        where = f"endpoints[{index}]"
        if not isinstance(item, str):
            findings.append(f"{where} must be a string; got {described(item)}.")
            continue
        checked = parse_endpoint(item, ports)
        if checked.endpoint is None:
            findings.append(f"{where} {show(item)} {checked.problem}.")
        elif zone_for(checked.endpoint.host, zone_names) is None:
            findings.append(
                f"{where} {show(item)} is not in any hosted zone this deployment may use; "
                f"endpoints must be host names under one of: {_zone_list(zone_names)}."
            )
        else:
            good.append(str(checked.endpoint))
    return tuple(dict.fromkeys(good))


# --- renews -----------------------------------------------------------------------------------


def normalise_serial(text: str) -> str | None:
    """A certificate serial as wildcert stores it, or None if ``text`` is not a hex serial.

    Lower case, without colons, white space, a ``0x`` prefix or leading zeros: ``03:AB:cd``,
    ``0x03abcd`` and `` 3A BC D `` all become ``3abcd``.
    """
    digits = re.sub(r"[\s:]", "", text.strip().lower()).removeprefix("0x")
    if not _HEX.fullmatch(digits):
        return None
    return digits.lstrip("0") or "0"


def check_renews(value: object, findings: list[str]) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and len(value) <= 128:
        serial = normalise_serial(value)
        if serial is not None:
            return serial
    findings.append(
        f"renews must be the hex serial of the certificate being replaced; got {described(value)}."
    )
    return None
