"""Pick the Route 53 hosted zone that holds a host name's DNS-01 challenge record.

Pure: no AWS calls. The caller passes the names of the zones it may use.
"""

from __future__ import annotations

from collections.abc import Iterable


def _canonical(name: str) -> str:
    # Route 53 reports zone names with a trailing dot; requests never have one.
    return name[:-1].lower() if name.endswith(".") else name.lower()


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
        canonical = _canonical(zone)
        if canonical:
            by_canonical.setdefault(canonical, zone)
    labels = _canonical(name).split(".")
    if labels[0] == "*":
        labels = labels[1:]
    for start in range(len(labels)):
        found = by_canonical.get(".".join(labels[start:]))
        if found is not None:
            return found
    return None
