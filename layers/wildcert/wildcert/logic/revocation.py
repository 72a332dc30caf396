"""A revoke-and-rekey request, and which stored certificates it selects: pure.

    {"revoke": {"names": ["web"], "reason": "keyCompromise"}}
    {"revoke": {"domains": ["www.example.com"], "reason": "keyCompromise"}}
    {"revoke": {"serials": ["3abcd"], "reason": "superseded"}}

Exactly one of names, domains or serials. The reasons are RFC 5280's that ACME CAs accept from
a subscriber (Let's Encrypt takes these five).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from wildcert.errors import WildcertError
from wildcert.logic.request.fields import normalise_serial

REASONS: Mapping[str, int] = {
    "unspecified": 0,
    "keyCompromise": 1,
    "affiliationChanged": 3,
    "superseded": 4,
    "cessationOfOperation": 5,
}
SELECTORS = ("names", "domains", "serials")
MAX_ITEMS = 100


class RevokeRejected(WildcertError):
    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class RevokeRequest:
    selector: str  # names | domains | serials
    values: tuple[str, ...]
    reason: str

    @property
    def reason_code(self) -> int:
        return REASONS[self.reason]

    def selects(self, name: str, domains: Iterable[str], serial: str) -> bool:
        if self.selector == "names":
            return name in self.values
        if self.selector == "serials":
            return serial in self.values
        return bool(set(domains) & set(self.values))


def is_revoke(raw: object) -> bool:
    return isinstance(raw, dict) and set(raw) == {"revoke"}


def parse_revoke(raw: object) -> RevokeRequest:
    """The request in `{"revoke": {...}}`, or RevokeRejected naming every problem."""
    body = raw.get("revoke") if isinstance(raw, dict) else None
    if not isinstance(body, dict):
        raise RevokeRejected(['"revoke" must be an object: {"names" | "domains" | "serials": '
                              '[...], "reason": ...}'])
    problems: list[str] = []
    unknown = sorted(set(body) - {*SELECTORS, "reason"})
    if unknown:
        problems.append(f"unknown fields {unknown}; the fields are names, domains, serials and "
                        "reason")
    given = [s for s in SELECTORS if s in body]
    if len(given) != 1:
        problems.append("give exactly one of names, domains or serials")
    reason = body.get("reason", "unspecified")
    if reason not in REASONS:
        problems.append(f"reason must be one of {', '.join(REASONS)}; got {reason!r}")
    values: tuple[str, ...] = ()
    if len(given) == 1:
        values = _values(given[0], body[given[0]], problems)
    if problems:
        raise RevokeRejected(problems)
    return RevokeRequest(given[0], values, str(reason))


def _values(selector: str, raw: object, problems: list[str]) -> tuple[str, ...]:
    if (not isinstance(raw, list) or not raw or len(raw) > MAX_ITEMS
            or not all(isinstance(v, str) and v.strip() for v in raw)):
        problems.append(f"{selector} must list 1 to {MAX_ITEMS} strings")
        return ()
    if selector == "serials":
        serials = [normalise_serial(v) for v in raw]
        bad = [v for v, s in zip(raw, serials, strict=True) if s is None]
        if bad:
            problems.append(f"serials {bad} are not hex serials")
        return tuple(s for s in serials if s)
    if selector == "domains":
        return tuple(v.strip().lower().rstrip(".") for v in raw)
    return tuple(v.strip() for v in raw)
