"""What a team's caps count, on the bucket: the certificates it owns and its forced reissues.

Owned certificates are read from the inventory (the cert.json of each name in the team's
namespace that names the team). Forced reissues are counted per team and UTC day in
`_wildcert/teams/<team>/forced-<day>.json`, raised by conditional writes only, so two
concurrent requests can never both take the last one; a request delivered again (same event
id) is counted once.
"""

from __future__ import annotations

import json

from wildcert.adapters.bucket.certificates import STATE_PREFIX
from wildcert.adapters.bucket.inventory import ManagedCertificates
from wildcert.adapters.bucket.objects import Bucket, NotFound, PreconditionFailed, StorageError
from wildcert.logic.teams import MAX_CAP

JSON = "application/json"
COUNTER_ATTEMPTS = 5
MAX_IDS = 200  # request ids kept per counter: far more than any team's daily cap


class TeamLedger:
    def __init__(self, bucket: Bucket):
        self.bucket = bucket

    def owned(self, team_id: str, *, cap: int | None = None) -> int:
        """How many certificates the team owns: one listing of its namespace, and a read of
        each name's cert.json only when there are at least `cap` names (below that, the
        number of names is the answer: every certificate it owns there is one of them)."""
        names = self.bucket.folders(prefix=f"{team_id}.")
        if cap is not None and len(names) < cap:
            return len(names)
        inventory = ManagedCertificates(self.bucket).load(names)
        return sum(1 for entry in inventory.entries if entry.meta.extra.get("team") == team_id)

    @staticmethod
    def forced_key(team_id: str, day: str) -> str:
        return f"{STATE_PREFIX}/teams/{team_id}/forced-{day}.json"

    def take_forced(self, team_id: str, day: str, limit: int,
                    request_id: str | None = None) -> int | None:
        """Count one more forced reissue for `day` unless `limit` are counted already.

        Returns the count with this one, or None (and writes nothing) at the limit. A request
        id counted before is not counted again (EventBridge and Lambda deliver again).
        """
        key = self.forced_key(team_id, day)
        for _ in range(COUNTER_ATTEMPTS):
            found = self.bucket.get(key)
            count, seen = _read(found.body) if found is not None else (0, [])
            if request_id is not None and request_id in seen:
                return count
            if count >= limit:
                return None
            seen = [*seen, request_id][-MAX_IDS:] if request_id is not None else seen
            body = json.dumps({"team": team_id, "day": day, "forced": count + 1,
                               "requests": seen}).encode()
            try:
                if found is None:
                    self.bucket.put(key, body, content_type=JSON, if_none_match=True)
                else:
                    self.bucket.put(key, body, content_type=JSON, if_match=found.etag)
            except (PreconditionFailed, NotFound):
                continue  # another request counted first: count again
            return count + 1
        raise StorageError(f"{self.bucket.url(key)} kept changing while counting a forced "
                           f"reissue of team {team_id}; retry the request")


def _read(raw: bytes) -> tuple[int, list[str]]:
    """The count and the request ids counted; an unreadable counter counts as full."""
    try:
        body = json.loads(raw)
        count, seen = body["forced"], body.get("requests", [])
    except (ValueError, TypeError, KeyError):
        return MAX_CAP, []
    if not isinstance(count, int) or count < 0 or not isinstance(seen, list):
        return MAX_CAP, []
    return count, [s for s in seen if isinstance(s, str)]
