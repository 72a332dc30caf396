"""Route 53 change-batch semantics that moto 5.2.5 does not enforce (local stack only).

Real Route 53 validates a whole ChangeResourceRecordSets batch against the zone before applying
any of it, and rejects it with InvalidChangeBatch when:
- a DELETE does not match the current record set exactly (TTL and every value),
- a CREATE targets a record set (name + type) that already exists,
- a record set lists the same value twice.
moto checks DELETE against its change journal (not the current state), lets CREATE overwrite,
and applies changes one by one, so a half-valid batch is half applied. wildcert's lock-free
read-merge-write of `_acme-challenge` records relies on these rules to detect lost updates, so
the local stack must enforce them. `install()` replaces the backend method process-wide.
"""

from __future__ import annotations

import copy
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from moto.route53.exceptions import (
    InvalidActionValue,
    InvalidInput,
    Route53ClientError,
)
from moto.route53.models import FakeZone, RecordSet, Route53Backend
from moto.route53.utils import validate_domain_name

ACTIONS = ("CREATE", "UPSERT", "DELETE")

# moto's server handles requests on threads; one lock makes validate-then-apply atomic.
_LOCK = threading.Lock()
_MARK = "_wildcert_strict"
_original: Callable[..., None] | None = None


class StrictInvalidChangeBatch(Route53ClientError):
    """Route 53's InvalidChangeBatch: HTTP 400, messages listed in brackets."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("InvalidChangeBatch", "[" + ", ".join(problems) + "]")


@dataclass(frozen=True)
class _Key:
    name: str
    type: str
    set_identifier: str | None


@dataclass(frozen=True)
class _Content:
    ttl: str | None
    values: tuple[str, ...]
    alias: str | None


def install() -> None:
    """Enforce Route 53's change-batch rules in this process's moto backends. Idempotent."""
    global _original  # noqa: PLW0603
    current = Route53Backend.change_resource_record_sets
    if getattr(current, _MARK, False):
        return
    _original = current
    Route53Backend.change_resource_record_sets = _strict_change_resource_record_sets  # type: ignore[method-assign]


def uninstall() -> None:
    """Restore moto's own behaviour (tests use it to show what the patch changes)."""
    global _original  # noqa: PLW0603
    if _original is not None:
        Route53Backend.change_resource_record_sets = _original  # type: ignore[method-assign]
        _original = None


def installed() -> bool:
    return bool(getattr(Route53Backend.change_resource_record_sets, _MARK, False))


def _strict_change_resource_record_sets(
    self: Route53Backend, zoneid: str, change_list: list[dict[str, Any]]
) -> None:
    with _LOCK:
        zone = self.get_hosted_zone(zoneid)
        new_rrsets = _simulate(zone, change_list)
        zone.rrsets = new_rrsets
        for change in change_list:
            zone.rr_changes.append(copy.deepcopy(change))


setattr(_strict_change_resource_record_sets, _MARK, True)


def _simulate(zone: FakeZone, change_list: list[dict[str, Any]]) -> list[RecordSet]:
    """Apply the batch to a copy of the zone's record sets; raise if any change is invalid."""
    state: dict[_Key, RecordSet] = {_key_of_record(r): r for r in zone.rrsets}
    problems: list[str] = []
    for change in change_list:
        action = change.get("Action")
        if action not in ACTIONS:
            raise InvalidActionValue(str(action))
        rrset = change["ResourceRecordSet"]
        validate_domain_name(rrset["Name"], code="InvalidChangeBatch")
        _check_shape(action, rrset)
        problem = _problem(zone, action, rrset, state)
        if problem:
            problems.append(problem)
            continue
        key = _key_of_change(rrset)
        if action in ("DELETE", "UPSERT"):
            state.pop(key, None)
        if action in ("CREATE", "UPSERT"):
            state[key] = _record_set(rrset)
    if problems:
        raise StrictInvalidChangeBatch(problems)
    return list(state.values())


def _check_shape(action: str, rrset: Mapping[str, Any]) -> None:
    has_records = "TTL" in rrset and bool(rrset.get("ResourceRecords"))
    if has_records == ("AliasTarget" in rrset):
        raise InvalidInput(
            "Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and "
            "ResourceRecords], or TrafficPolicyInstanceId], but found none in Change with "
            f"[Action={action}, Name={rrset['Name']}, Type={rrset.get('Type')}, "
            f"SetIdentifier={rrset.get('SetIdentifier', 'null')}]"
        )


def _problem(
    zone: FakeZone, action: str, rrset: Mapping[str, Any], state: Mapping[_Key, RecordSet]
) -> str | None:
    key = _key_of_change(rrset)
    label = f"[name='{key.name}.', type='{key.type}']"
    zone_name = _normal_name(zone.name)
    if key.name != zone_name and not key.name.endswith("." + zone_name):
        return f"RRSet with DNS name {key.name}. is not permitted in zone {zone_name}."
    values = _change_values(rrset)
    duplicates = sorted(v for v, n in Counter(values).items() if n > 1)
    if duplicates:
        return f"Duplicate Resource Record: '{duplicates[0]}'"
    current = state.get(key)
    if action == "CREATE" and current is not None:
        return f"Tried to create resource record set {label} but it already exists"
    if action == "DELETE" and current is None:
        return f"Tried to delete resource record set {label} but it was not found"
    if action == "DELETE" and current is not None and _content_of_record(current) != _content(
        rrset.get("TTL"), values, rrset.get("AliasTarget")
    ):
        return (
            f"Tried to delete resource record set {label} but the values provided do not "
            "match the current values"
        )
    return None


def _record_set(rrset: Mapping[str, Any]) -> RecordSet:
    stored = copy.deepcopy(dict(rrset))
    if not stored["Name"].endswith("."):
        stored["Name"] += "."
    if "ResourceRecords" in stored:
        stored["ResourceRecords"] = _change_values(rrset)
    return RecordSet(stored)


def _normal_name(name: str) -> str:
    return name.rstrip(".").lower()


def _key_of_change(rrset: Mapping[str, Any]) -> _Key:
    return _Key(_normal_name(rrset["Name"]), str(rrset.get("Type")), rrset.get("SetIdentifier"))


def _key_of_record(record: RecordSet) -> _Key:
    return _Key(_normal_name(record.name), str(record.type), record.set_identifier)


def _value(item: Any) -> str:
    # moto keeps change values as {"Value": v} but stored values as bare strings.
    return str(item["Value"]) if isinstance(item, Mapping) else str(item)


def _change_values(rrset: Mapping[str, Any]) -> list[str]:
    return [_value(item) for item in rrset.get("ResourceRecords") or []]


def _content(ttl: Any, values: list[str], alias: Any) -> _Content:
    return _Content(
        ttl=None if ttl is None else str(ttl),
        values=tuple(sorted(values)),
        alias=None if alias is None else repr(sorted(dict(alias).items())),
    )


def _content_of_record(record: RecordSet) -> _Content:
    return _content(record.ttl, [_value(v) for v in record.records or []], record.alias_target)
