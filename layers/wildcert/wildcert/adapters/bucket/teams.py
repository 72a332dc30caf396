"""What a team's caps count, on the bucket: the certificates it owns and its early reissues.

Owned certificates are read from the inventory (the cert.json of each name in the team's
namespace that names the team), together with the new names reserved by requests still on
their way (`_wildcert/teams/<team>/new-names.json`): a new name is reserved before it is
ordered and released when its request ends, so concurrent requests never pass the cap
together; a reservation a dead attempt never released lapses at its `until`. Early reissues
are counted per team and UTC day in `_wildcert/teams/<team>/forced-<day>.json`. Both objects
change by conditional writes only, so two concurrent requests can never both take the last
place; a request delivered again (same event id, same name) is counted once.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import TypeVar

from wildcert.adapters.bucket.certificates import STATE_PREFIX
from wildcert.adapters.bucket.inventory import ManagedCertificates
from wildcert.adapters.bucket.objects import Bucket, NotFound, PreconditionFailed, StorageError
from wildcert.logic.teams import MAX_CAP
from wildcert.logic.times import parse_time

T = TypeVar("T")
Change = Callable[[bytes | None], tuple[bytes | None, T]]

JSON = "application/json"
COUNTER_ATTEMPTS = 5
MAX_IDS = 200  # request ids kept per counter: far more than any team's daily cap


class TeamLedger:
    def __init__(self, bucket: Bucket):
        self.bucket = bucket

    def owned(self, team_id: str, *, cap: int | None = None,
              also: frozenset[str] = frozenset()) -> int:
        """How many certificates the team owns, counting the names in `also` (reserved) as
        owned: one listing of its namespace, and a read of each name's cert.json only when
        there are at least `cap` names (below that, the number of names is the answer: every
        certificate it owns there is one of them)."""
        names = self.bucket.folders(prefix=f"{team_id}.")
        if cap is not None and len(set(names) | also) < cap:
            return len(set(names) | also)
        inventory = ManagedCertificates(self.bucket).load(names)
        return len({entry.name for entry in inventory.entries
                    if entry.meta.extra.get("team") == team_id} | also)

    @staticmethod
    def reservations_key(team_id: str) -> str:
        return f"{STATE_PREFIX}/teams/{team_id}/new-names.json"

    def reserve(self, team_id: str, name: str, *, cap: int, until: str) -> tuple[int, bool]:
        """How many certificates the team owns or has reserved besides `name`, and whether
        this call reserved `name` (until `until`, ISO): only when that count is below `cap`,
        and not when a request still on its way holds it already (that one releases it)."""

        def change(raw: bytes | None) -> tuple[bytes | None, tuple[int, bool]]:
            reserved = _live(raw)
            # Listed after the reservations were read: a request that stored its certificate
            # and then released its name is seen in one or the other.
            count = self.owned(team_id, cap=cap, also=frozenset(reserved) - {name})
            if count >= cap or name in reserved:
                return None, (count, False)
            reserved[name] = until
            return _reservations(team_id, reserved), (count, True)

        return self._update(self.reservations_key(team_id), change)

    def release(self, team_id: str, name: str) -> None:
        """The request for the new name `name` has ended (stored, refused or failed)."""

        def change(raw: bytes | None) -> tuple[bytes | None, None]:
            reserved = _live(raw)
            if reserved.pop(name, None) is None:
                return None, None
            return _reservations(team_id, reserved), None

        self._update(self.reservations_key(team_id), change)

    @staticmethod
    def forced_key(team_id: str, day: str) -> str:
        return f"{STATE_PREFIX}/teams/{team_id}/forced-{day}.json"

    def take_forced(self, team_id: str, day: str, limit: int,
                    request_id: str | None = None) -> int | None:
        """Count one more forced reissue for `day` unless `limit` are counted already.

        Returns the count with this one, or None (and writes nothing) at the limit. A request
        id counted before is not counted again (EventBridge and Lambda deliver again).
        """

        def change(raw: bytes | None) -> tuple[bytes | None, int | None]:
            count, seen = _read(raw) if raw is not None else (0, [])
            if request_id is not None and request_id in seen:
                return None, count
            if count >= limit:
                return None, None
            seen = [*seen, request_id][-MAX_IDS:] if request_id is not None else seen
            return json.dumps({"team": team_id, "day": day, "forced": count + 1,
                               "requests": seen}).encode(), count + 1

        return self._update(self.forced_key(team_id, day), change)

    def _update(self, key: str, change: Change[T]) -> T:
        """Read `key`, let `change` say its new body (None: leave it) and the answer, and write
        it only if nobody wrote in between; read again if somebody did."""
        for _ in range(COUNTER_ATTEMPTS):
            found = self.bucket.get(key)
            body, answer = change(found.body if found is not None else None)
            if body is None:
                return answer
            try:
                if found is None:
                    self.bucket.put(key, body, content_type=JSON, if_none_match=True)
                else:
                    self.bucket.put(key, body, content_type=JSON, if_match=found.etag)
            except (PreconditionFailed, NotFound):
                continue  # another request wrote first: decide again
            return answer
        raise StorageError(f"{self.bucket.url(key)} kept changing under concurrent requests; "
                           "retry the request")


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


def _live(raw: bytes | None) -> dict[str, str]:
    """The reservations not yet lapsed; an unreadable object holds none."""
    try:
        found = json.loads(raw)["reserved"] if raw is not None else {}
    except (ValueError, TypeError, KeyError):
        return {}
    now = dt.datetime.now(dt.UTC)
    live: dict[str, str] = {}
    for name, until in (found.items() if isinstance(found, dict) else []):
        try:
            if isinstance(name, str) and isinstance(until, str) and parse_time(until) > now:
                live[name] = until
        except ValueError:
            continue
    return live


def _reservations(team_id: str, reserved: dict[str, str]) -> bytes:
    return json.dumps({"team": team_id, "reserved": reserved}).encode()
