"""Pick the Route 53 hosted zone that holds a host name's DNS-01 challenge record.

Pure: no AWS calls. The caller passes the names of the zones it may use.
"""

from __future__ import annotations

from collections.abc import Iterable


def canonical_name(name: str) -> str:
    """A DNS name as wildcert compares names: lowercase, no surrounding blanks or final dot.

    Route 53 and DNS answers spell names with a trailing dot; requests never have one.
    """
    return name.strip().rstrip(".").lower()


def zone_for(name: str, zone_names: Iterable[str]) -> str | None:
    """Return the zone covering ``name`` by longest label suffix, or None.

    ``*.team.example.com`` goes to ``team.example.com`` when that zone exists, else to
    ``example.com``: the challenge record of a wildcard lives at its base name. Matching is on
    whole labels, so ``notexample.com`` is not under ``example.com``. The zone is returned
    exactly as the caller spelled it (e.g. with Route 53's trailing dot), so it can be used as a
    key into the caller's own data.
    """
    by_canonical: dict[str, str] = {}
    for zone in zone_names:
        canonical = canonical_name(zone)
        if canonical:
            by_canonical.setdefault(canonical, zone)
    labels = canonical_name(name).split(".")
    if labels[0] == "*":
        labels = labels[1:]
    for start in range(len(labels)):
        found = by_canonical.get(".".join(labels[start:]))
        if found is not None:
            return found
    return None
