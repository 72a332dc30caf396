"""The ACME CAs a deployment may issue from, in order of preference, and when to move on.

`ACME_CAS` (a JSON list) names them; each entry:
    {"name": "letsencrypt",                      # what cert.json, Slack and events call it
     "directory": "https://…/directory",
     "eab_secret": "wildcert/acme-eab/zerossl",  # optional: Secrets Manager {"kid","hmac_key"}
     "caa_identities": ["letsencrypt.org"],      # the issuer domains its CAA records use
     "profile": "classic"}                       # optional ACME profile
Without it the one-CA settings (ACME_DIRECTORY_URL, CAA_IDENTITIES, ACME_PROFILE) describe
the only CA, called `primary`.

Failing over is for a CA that cannot answer, never for one that said no: a validation
failure, a CAA refusal or a rejected identifier would be the same at the next CA, and moving
there would hide a problem the operator must fix.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ONE_CA_NAME = "primary"
STAGING_NAME = "staging"
MAX_CAS = 5
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,30}")
_FIELDS = frozenset({"name", "directory", "eab_secret", "caa_identities", "profile"})


@dataclass(frozen=True)
class Ca:
    """One CA: where its ACME directory is and what using it takes."""

    name: str
    directory_url: str
    caa_identities: tuple[str, ...]
    eab_secret: str | None = None
    profile: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "directory": self.directory_url}


def parse_cas(raw: str) -> tuple[tuple[Ca, ...], list[str]]:
    """The CAs `ACME_CAS` lists, and what is wrong with it (each problem says what to fix)."""
    try:
        entries = json.loads(raw)
    except ValueError as exc:
        return (), [f"ACME_CAS is not JSON ({exc})"]
    if not isinstance(entries, list) or not entries:
        return (), ["ACME_CAS must be a non-empty JSON list of CAs"]
    if len(entries) > MAX_CAS:
        return (), [f"ACME_CAS lists {len(entries)} CAs; at most {MAX_CAS}"]
    problems: list[str] = []
    cas = [ca for i, entry in enumerate(entries) if (ca := _ca(i, entry, problems))]
    names = [ca.name for ca in cas]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"ACME_CAS names {name!r} more than once")
    directories = [ca.directory_url for ca in cas]
    for url in sorted({d for d in directories if directories.count(d) > 1}):
        problems.append(f"ACME_CAS lists the directory {url} more than once")
    return tuple(cas), problems


def _ca(index: int, entry: object, problems: list[str]) -> Ca | None:
    where = f"ACME_CAS[{index}]"
    if not isinstance(entry, dict):
        problems.append(f"{where} must be an object with name, directory and caa_identities")
        return None
    unknown = sorted(set(entry) - _FIELDS)
    if unknown:
        problems.append(f"{where} has unknown fields {unknown} (known: {sorted(_FIELDS)})")
    name, directory = entry.get("name"), entry.get("directory")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        problems.append(f"{where}.name must be lower-case letters, digits and '-', "
                        f"up to 31 characters; got {name!r}")
        return None
    if not isinstance(directory, str) or not directory.startswith("https://"):
        problems.append(f"{where} ({name}): directory must be an https:// URL")
        return None
    identities = entry.get("caa_identities")
    if (not isinstance(identities, list) or not identities
            or not all(isinstance(i, str) and i for i in identities)):
        problems.append(f"{where} ({name}): caa_identities must list the issuer domains the "
                        "CA's CAA records use (its documentation names them)")
        return None
    optional = {key: entry.get(key) for key in ("eab_secret", "profile")}
    for key, value in optional.items():
        if value is not None and (not isinstance(value, str) or not value):
            problems.append(f"{where} ({name}): {key} must be a non-empty string")
            return None
    return Ca(name, directory, tuple(identities), optional["eab_secret"], optional["profile"])


def usable(cas: Sequence[Ca], allowed: Sequence[str] | None) -> tuple[Ca, ...]:
    """The CAs a team may use (`allowed`: its teams.toml `acme_cas`; None: all), in the
    deployment's order of preference."""
    if allowed is None:
        return tuple(cas)
    return tuple(ca for ca in cas if ca.name in allowed)


def issuer_of(extra: Mapping[str, Any], cas: Sequence[Ca]) -> str:
    """The CA that issued a stored certificate. cert.json names it since several CAs can
    issue; one stored before then came from the deployment's one CA: the first."""
    name = extra.get("acme_ca")
    if isinstance(name, str) and name:
        return name
    if extra.get("ca") == STAGING_NAME:
        return STAGING_NAME
    return cas[0].name if cas else ONE_CA_NAME


def fails_over(*, unavailable: bool, wait: float | None, remaining: float) -> bool:
    """Whether a failure at one CA sends the request to the next.

    unavailable: the CA did not answer, or answered 5xx/serverInternal, past the retries.
    wait: how long the CA asked us to wait (a rate limit), None when it did not.
    remaining: the request's budget in seconds.
    """
    if unavailable:
        return True
    return wait is not None and wait > remaining
