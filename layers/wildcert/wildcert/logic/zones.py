"""Pick the Route 53 hosted zone that holds a host name's DNS-01 challenge record.

Pure: no AWS calls. The caller passes the names of the zones it may use.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


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


# -- zones in other accounts ------------------------------------------------------------------
# A zone in another AWS account is written through a role there that the zone's owner makes
# with deploy/zone-access-role.yaml; the issuer's own role may assume only roles so named.
ZONE_ROLE_PREFIX = "wildcert-zone-access"
# A team's ACM imports into its own account go through a role there that the team makes with
# deploy/acm-import-role.yaml; the issuer's own role may assume only roles so named.
ACM_ROLE_PREFIX = "wildcert-acm-import"
ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::([0-9]{12}):role/(?:[\w+=,.@-]+/)*([\w+=,.@-]{1,64})")
EXTERNAL_ID = re.compile(r"[\w+=,.@:/-]{2,1224}")  # STS's own rule for ExternalId
ZONE_ID = re.compile(r"[A-Z0-9]{1,32}")
SESSION_NAME_LIMIT = 64
_SESSION_UNSAFE = re.compile(r"[^\w+=,.@-]", re.ASCII)  # STS's own rule for RoleSessionName


@dataclass(frozen=True)
class ZoneAccess:
    """The role in a zone's own account the issuer assumes to read and change it."""

    role_arn: str
    external_id: str = field(repr=False)  # not a secret, but no log needs it

    @property
    def account(self) -> str:
        found = ROLE_ARN.fullmatch(self.role_arn)
        return found.group(1) if found else ""


def role_problems(access: ZoneAccess, prefix: str, template: str) -> list[str]:
    """Why the issuer may not assume `access` (its role must be named `prefix`*, as `template`
    makes it, and its external id one STS takes); empty when it may."""
    problems = []
    role_match = ROLE_ARN.fullmatch(access.role_arn)
    if role_match is None or not role_match.group(2).startswith(prefix):
        problems.append(f"role {access.role_arn!r} must be the ARN of a role named {prefix}* "
                        f"({template} makes it): the issuer may assume no other")
    if not EXTERNAL_ID.fullmatch(access.external_id):
        problems.append("external_id must be 2 to 1224 of the characters STS allows "
                        "(letters, digits, +=,.@:/-_)")
    return problems


@dataclass(frozen=True)
class OtherAccountZone:
    """A hosted zone in another account: its id and name, the role to reach it, and the team
    whose names it serves (None: the operators')."""

    id: str
    name: str
    access: ZoneAccess
    team: str | None = None


def other_account_zone(entry: Mapping[str, Any], where: str, found: list[str],
                       team: str | None = None) -> OtherAccountZone | None:
    """A zone from its settings (`id`, `name`, `role`, `external_id`); problems go to `found`."""
    known = ("id", "name", "role", "external_id")
    found.extend(f"{where}: unknown key {key!r}; the keys are {', '.join(known)}"
                 for key in entry if key not in known)
    values = {key: entry.get(key) for key in known}
    missing = [key for key, value in values.items() if not isinstance(value, str) or not value]
    if missing:
        found.append(f"{where}: {', '.join(missing)} must be given as text")
        return None
    zone_id, name, role, external_id = (str(values[k]).strip() for k in known)
    zone_id = zone_id.rsplit("/", 1)[-1]
    problems = []
    if not ZONE_ID.fullmatch(zone_id):
        problems.append(f"{where}: id {zone_id!r} is not a hosted zone id (Z0123456789ABC)")
    problems.extend(f"{where}: {problem}" for problem in role_problems(
        ZoneAccess(role, external_id), ZONE_ROLE_PREFIX, "deploy/zone-access-role.yaml"))
    if not canonical_name(name) or " " in name:
        problems.append(f"{where}: name {name!r} is not a zone name")
    found.extend(problems)
    if problems:
        return None
    return OtherAccountZone(zone_id, canonical_name(name), ZoneAccess(role, external_id), team)


def parse_other_account_zones(text: str, where: str = "OTHER_ACCOUNT_ZONES"
                              ) -> tuple[tuple[OtherAccountZone, ...], list[str]]:
    """The operators' zones in other accounts: comma-separated entries, each
    `<zone id> <zone name> <role ARN> <external id>` separated by blanks."""
    zones: list[OtherAccountZone] = []
    found: list[str] = []
    for index, entry in enumerate(e for e in text.split(",") if e.strip()):
        parts = entry.split()
        if len(parts) != 4:
            found.append(f"{where} entry {index + 1} must be '<zone id> <zone name> <role ARN> "
                         f"<external id>'; it has {len(parts)} part(s)")
            continue
        zone = other_account_zone(dict(zip(("id", "name", "role", "external_id"), parts,
                                           strict=True)), f"{where} entry {index + 1}", found)
        if zone is not None:
            zones.append(zone)
    return tuple(zones), found


def session_name(team: str | None, request_id: str | None) -> str:
    """The STS session name a role's owner sees in CloudTrail: the certificate's team and the
    request, `wildcert-<team>.<request>`. A team id has no dot and at most 31 characters, so
    the name always starts with the whole team and a dot: a trust policy may require
    `wildcert-<team>.*` (deploy/zone-access-role.yaml's TeamId)."""
    text = f"wildcert-{team or 'operators'}.{request_id or 'direct'}"
    return _SESSION_UNSAFE.sub("-", text)[:SESSION_NAME_LIMIT]


def foreign_zone_problem(domain: str, zone: str, zone_team: str | None,
                         owner: str | None) -> str | None:
    """Why `domain` may not be proved in `zone` (a team's zone serves only that team's
    certificates), or None."""
    if zone_team is None or zone_team == owner:
        return None
    whose = f"team {owner}'s" if owner else "the operators'"
    return (f"{domain} is in {zone}, which belongs to team {zone_team}: it never "
            f"serves {whose} certificates. Ask for a name in a zone of your own, or have "
            f"team {zone_team} ask for it.")


@dataclass(frozen=True)
class HostedZone:
    """A hosted zone: bare id ("Z0123..."), name lowercase without the trailing dot.

    A private zone (split-horizon DNS: answered only inside its VPCs) is kept to explain
    refusals and is never written: the CA's validation servers cannot see it."""

    id: str
    name: str
    private: bool = False
    # A zone in another account: the role there the issuer assumes, and the team whose
    # certificates it serves (None: the operators').
    access: ZoneAccess | None = None
    team: str | None = None

    def where(self) -> str:
        account = f", account {self.access.account}" if self.access else ""
        return f"hosted zone {self.name} ({self.id}{account})"
