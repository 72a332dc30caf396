"""One request on its way through the issuance: what was sent, by whom, and what the steps
found out about it (which team asks, which team the name belongs to)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wildcert.logic.certificates import StoredCertificate
from wildcert.logic.request import DIRECT, CertificateRequest, Requester, UnreadableEvent
from wildcert.logic.teams import Team


@dataclass
class Ask:
    """One request on its way through the pipeline: what was sent, by whom, and, as the steps
    find out, which team asks and which team the name belongs to."""

    raw: object
    requester: Requester = DIRECT
    request_id: str | None = None
    team: Team | None = None  # the asking team; None: the operators, or the renewal queue
    owner: str | None = None  # the team the certificate belongs to; None: the operators
    request: CertificateRequest | None = None

    @property
    def team_id(self) -> str | None:
        """The team to tell: the one asking, else the one owning the name."""
        return self.team.id if self.team else self.owner

    def identity(self) -> tuple[str | None, list[str]]:
        if self.request is not None:
            return self.request.name, list(self.request.domains)
        return _best_effort_identity(self.raw)

    def about(self) -> dict[str, Any]:
        return {"team": self.team_id, "requester": self.requester.as_json()}

    def recorded(self, current: StoredCertificate | None) -> dict[str, Any]:
        """What the new cert.json says of this request, and keeps from the one it replaces."""
        request = self.request
        assert request is not None  # validated before anything is stored
        # Endpoints given once stay with the certificate through renewals that omit them.
        endpoints = list(request.endpoints) or list(
            (current.extra if current else {}).get("endpoints", []))
        return {
            **({"request_id": self.request_id} if self.request_id else {}),
            **({"endpoints": endpoints} if endpoints else {}),
            **({"team": self.owner} if self.owner else {}),
            **({"ca": request.ca} if request.ca != "production" else {}),
            # Serials of this name revoked so far: pullers never install them.
            **({"revoked": current.extra["revoked"]}
               if current and current.extra.get("revoked") else {}),
            "requester": self.requester.as_json(),
        }


def owner_of(current: StoredCertificate | None) -> str | None:
    """The team a stored certificate belongs to; None: the operators (or no certificate)."""
    team = current.extra.get("team") if current is not None else None
    return team if isinstance(team, str) and team else None


def _best_effort_identity(raw: object) -> tuple[str | None, list[str]]:
    """What to call a rejected request in messages, without trusting any of it."""
    if isinstance(raw, UnreadableEvent):
        raw = raw.held
    if not isinstance(raw, dict):
        return None, []
    name = raw.get("name") if isinstance(raw.get("name"), str) else None
    domains = raw.get("domains")
    shown = [d for d in domains[:20] if isinstance(d, str)] if isinstance(domains, list) else []
    return (name[:128] if name else None), [d[:253] for d in shown]
