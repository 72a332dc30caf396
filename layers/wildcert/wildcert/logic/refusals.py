"""How many of each team's refusals the operators' channel has not seen, hour by hour."""

from __future__ import annotations


class RefusalTally:
    """The operators see a team's first refusal of each hour, with how many were held back
    since the last one they saw; the team's own channel and the bus get every one. One per
    issuer instance (a Lambda container, wildcert/container.py), so each instance posts at most
    once an hour per team: a team sending junk cannot flood the operators' channel.
    """

    def __init__(self) -> None:
        self._seen: dict[str, str] = {}  # team -> the hour its last refusal was posted in
        self._held: dict[str, int] = {}  # team -> refusals held back since then

    def to_operators(self, team: str, hour: str) -> tuple[bool, int]:
        """Post this refusal to the operators? And how many were held back before it."""
        if self._seen.get(team) == hour:
            self._held[team] = self._held.get(team, 0) + 1
            return False, 0
        self._seen[team] = hour
        return True, self._held.pop(team, 0)
