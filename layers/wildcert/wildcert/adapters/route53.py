"""DNS-01 challenge TXT records in Route 53, changed concurrently without a lock.

Route 53 keeps one record set per name and type, and the wildcard and apex of a domain share
`_acme-challenge.<domain>`, so values are merged into one TXT set. Instead of a lock, every
write is a transactional change batch that DELETEs the exact set we believe is current and
CREATEs the new one: Route 53 rejects the batch (InvalidChangeBatch) if anyone changed the set
in between, and we re-read and try again. The first attempt guesses the current set from what
this instance last saw (or "nothing" / "only our values") instead of reading it, which saves
one API call per write when nobody else is writing; a wrong guess costs one rejected batch.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from wildcert.adapters.aws import error_code, error_text
from wildcert.deadline import Deadline
from wildcert.errors import WildcertError
from wildcert.logic.zones import HostedZone, ZoneAccess, canonical_name
from wildcert.retry import Backoff

log = logging.getLogger(__name__)

TXT = "TXT"
TXT_CHUNK = 255
THROTTLED = frozenset(
    {"Throttling", "ThrottlingException", "PriorRequestNotComplete", "RequestLimitExceeded"}
)
SERVER_FAULTS = frozenset({"InternalError", "InternalFailure", "ServiceUnavailable"})
DENIED = frozenset({"AccessDenied", "AccessDeniedException"})
# Route 53's words when a batch no longer matches the zone (someone else wrote in between).
CONFLICT_MARKERS = ("Tried to delete resource record set", "Tried to create resource record set")



@dataclass(frozen=True)
class ApiQuota:
    """Route 53's API limit for the whole account, shared with every other caller there.

    Since 2026-07-30 Route 53 admits 10 requests/s per account with a burst of 50 (5/s
    before); the stack's ROUTE53_REQUESTS_PER_SECOND and ROUTE53_REQUEST_BURST
    (template parameters Route53RequestsPerSecond, Route53RequestBurst) state it for
    accounts whose quota differs.
    """

    rate: float = 10.0
    burst: int = 50

    def throttle_backoff(self) -> Backoff:
        """Retries of a throttled call: the first step refills a renewal's few calls
        (5 requests' worth: 0.5 s at 10/s), doubling to 20 s, 10 attempts: about 90 s at
        most per call at 10/s (two minutes at 5/s). A renewal that gives up waits the
        renewal queue's visibility timeout, and the fleet bench's Route 53 stress (1
        request/s left to wildcert) lost renewals with 6 attempts capped at 8 s."""
        return Backoff(attempts=10, base=5.0 / self.rate, cap=20.0)

    def words(self) -> str:
        return (f"{self.rate:g} Route 53 requests per second (burst {self.burst}), shared "
                "with everything else the account runs")


ROUTE53_QUOTA = ApiQuota()
THROTTLE_BACKOFF = ROUTE53_QUOTA.throttle_backoff()
CONFLICT_BACKOFF = Backoff(attempts=10, base=0.05, cap=2.0)
INSYNC_FIRST_POLL = 1.0
INSYNC_MAX_POLL = 15.0


@dataclass(frozen=True)
class ChallengeRecord:
    """One DNS-01 value: name like "_acme-challenge.example.com", value the bare token."""

    zone: HostedZone
    name: str
    value: str


@dataclass(frozen=True)
class ChallengeSite:
    """Where one name's DNS-01 values go: `_acme-challenge.<name>`, or the name its CNAME
    delegates to, and the zone holding that record."""

    zone: HostedZone
    name: str


# A renewal that Route 53 kept throttling through every retry comes back this soon, not after
# the renewal queue's 90-minute visibility timeout: the account's other callers are the cause.
THROTTLED_COMEBACK_SECONDS = 120.0


class Route53Error(WildcertError):
    """A Route 53 step failed; the message names the zone and record and what to do."""

    @property
    def retry_after(self) -> float | None:
        """When to try again, if Route 53 only said "slow down" (the StageFailure carries it)."""
        cause = self.__cause__
        if cause is not None and error_code(cause) in THROTTLED:
            return THROTTLED_COMEBACK_SECONDS
        return None


@dataclass(frozen=True)
class RecordSet:
    """A TXT record set as Route 53 holds it: values still quoted, exactly as read."""

    name: str
    ttl: int
    raw: tuple[str, ...]

    def values(self) -> frozenset[str]:
        return frozenset(unquote(r) for r in self.raw)


Change = dict[str, Any]
Planner = Callable[[str, RecordSet | None, Sequence[str], int], list[Change]]


@dataclass(frozen=True)
class _Pending:
    zone: HostedZone
    change_id: str


# ---------------------------------------------------------------- pure helpers



def bare_zone_id(zone_id: str) -> str:
    return zone_id.strip().rsplit("/", 1)[-1]


def in_zone(name: str, zone: HostedZone) -> bool:
    name = canonical_name(name)
    return name == zone.name or name.endswith("." + zone.name)


def quote(value: str) -> str:
    """A TXT value as Route 53 wants it: quoted strings of at most 255 characters."""
    chunks = [value[i : i + TXT_CHUNK] for i in range(0, len(value), TXT_CHUNK)] or [""]
    return " ".join(f'"{_escape(chunk)}"' for chunk in chunks)


def _escape(text: str) -> str:
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif not " " <= char <= "~" and ord(char) < 256:
            out.append(f"\\{ord(char):03o}")
        else:
            out.append(char)
    return "".join(out)


def unquote(raw: str) -> str:
    """The text of a TXT value as Route 53 returns it: chunks joined, escapes resolved."""
    raw = raw.strip()
    if not raw.startswith('"'):
        return raw
    out: list[str] = []
    inside = False
    i = 0
    while i < len(raw):
        char = raw[i]
        if char == '"':
            inside = not inside
        elif inside and char == "\\" and i + 1 < len(raw):
            octal = raw[i + 1 : i + 4]
            if len(octal) == 3 and all(c in "01234567" for c in octal):
                out.append(chr(int(octal, 8)))
                i += 3
            else:
                out.append(raw[i + 1])
                i += 1
        elif inside:
            out.append(char)
        i += 1
    return "".join(out)


def _rrset_change(action: str, name: str, ttl: int, raw: Sequence[str]) -> Change:
    return {
        "Action": action,
        "ResourceRecordSet": {
            "Name": name + ".",
            "Type": TXT,
            "TTL": ttl,
            "ResourceRecords": [{"Value": v} for v in raw],
        },
    }


def _replace(name: str, current: RecordSet | None, ttl: int, raw: Sequence[str]) -> list[Change]:
    changes = []
    if current is not None:
        changes.append(_rrset_change("DELETE", name, current.ttl, current.raw))
    if raw:
        changes.append(_rrset_change("CREATE", name, ttl, raw))
    return changes


def plan_add(name: str, current: RecordSet | None, values: Sequence[str], ttl: int) -> list[Change]:
    """Changes that make `values` present at `name`, keeping every value already there."""
    have = current.values() if current else frozenset()
    new = [quote(v) for v in dict.fromkeys(values) if v not in have]
    if not new:
        return []
    # Someone else's record set keeps its TTL: wildcert only adds and removes its own values.
    keep_ttl = current.ttl if current else ttl
    return _replace(name, current, keep_ttl, [*(current.raw if current else ()), *new])


def plan_remove(
    name: str, current: RecordSet | None, values: Sequence[str], ttl: int
) -> list[Change]:
    """Changes that take exactly `values` away from `name`; absent values are a no-op."""
    if current is None or not current.values() & set(values):
        return []
    keep = [r for r in current.raw if unquote(r) not in set(values)]
    return _replace(name, current, current.ttl, keep)


def _guess_for_add(values: Sequence[str], ttl: int, name: str) -> RecordSet | None:
    return None


def _guess_for_remove(values: Sequence[str], ttl: int, name: str) -> RecordSet | None:
    return RecordSet(name, ttl, tuple(quote(v) for v in dict.fromkeys(values)))


def is_transient(error: BaseException) -> bool:
    """Throttling, a previous change still being applied, 5xx, or the network."""
    if isinstance(error, BotoConnectionError | HTTPClientError):
        return True
    if not isinstance(error, ClientError):
        return False
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    code = error_code(error)
    return code in THROTTLED or code in SERVER_FAULTS or status >= 500


def is_conflict(error: BaseException) -> bool:
    """Route 53 refused a batch because the record set is no longer what we based it on."""
    if error_code(error) != "InvalidChangeBatch":
        return False
    message = str(error.response.get("Error", {}).get("Message", ""))  # type: ignore[attr-defined]
    return any(marker in message for marker in CONFLICT_MARKERS)


def explain(
    error: BaseException, *, doing: str, zone: HostedZone | None = None, record: str = "",
    quota: ApiQuota = ROUTE53_QUOTA,
) -> str:
    """A message for the user: what failed, where, Route 53's words, and what to do."""
    where = zone.where() if zone else "Route 53"
    role = (f"the zone's role {zone.access.role_arn} (deploy/zone-access-role.yaml)"
            if zone and zone.access else "the function's role")
    what = f"{doing} {record} in {where}" if record else f"{doing} in {where}"
    words = error_text(error)
    code = error_code(error)
    operation = getattr(error, "operation_name", "")
    if code in DENIED:
        scope = (
            " for _acme-challenge TXT records" if operation == "ChangeResourceRecordSets" else ""
        )
        arn = f"arn:aws:route53:::hostedzone/{zone.id}" if zone else "Route 53"
        return (
            f"Could not {what}: {words}. Check that {role} may call "
            f"route53:{operation or '<operation>'} on {arn}{scope}."
        )
    if code == "NoSuchHostedZone":
        return (
            f"Could not {what}: {words}. The zone does not exist in "
            + ("the role's account: fix the zone's id in its settings (teams.toml or "
               "OTHER_ACCOUNT_ZONES)" if zone and zone.access else
               "this account: fix ALLOWED_ZONES")
            + " or recreate the zone."
        )
    if code in THROTTLED:
        return (
            f"Could not {what}: Route 53 kept refusing after retries ({words}). The account "
            f"allows {quota.words()}: retry later or run fewer issuances at once."
        )
    if is_conflict(error):
        return (
            f"Could not {what}: the record set kept changing while wildcert updated it "
            f"({words}). Another order or a person is editing it: retry the request."
        )
    if code in ("InvalidChangeBatch", "InvalidInput"):
        return (
            f"Could not {what}: Route 53 rejected the change ({words}). Inspect the TXT "
            "record set in the console and fix or remove it by hand."
        )
    if isinstance(error, BotoCoreError):
        return f"Could not {what}: Route 53 was unreachable ({words}). Retry later."
    return f"Could not {what}: {words}. Retry later; if it persists, check Route 53's status."


# ---------------------------------------------------------------- Route 53


class ChallengeRecords:
    """Adds and removes `_acme-challenge` TXT values; one instance per invocation."""

    def __init__(
        self,
        client: Any,
        *,
        deadline: Deadline,
        ttl: int = 60,
        throttle: Backoff | None = None,
        conflict: Backoff = CONFLICT_BACKOFF,
        rng: random.Random | None = None,
        quota: ApiQuota = ROUTE53_QUOTA,
        clients: Callable[[ZoneAccess], Any] | None = None,
    ) -> None:
        self.client = client
        # A zone in another account is reached through a client acting as its role there.
        self.clients = clients
        self._verified: set[HostedZone] = set()
        self.deadline = deadline
        self.ttl = ttl
        self.quota = quota
        self.throttle = throttle if throttle is not None else quota.throttle_backoff()
        self.conflict = conflict
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not secrecy
        # Record sets as this instance last read or wrote them: the first guess of each write.
        self._seen: dict[tuple[str, str], RecordSet | None] = {}

    # -- public API

    def _explain(self, error: BaseException, **where: Any) -> str:
        return explain(error, quota=self.quota, **where)

    def _client(self, zone: HostedZone) -> Any:
        """The client for `zone`: the function's own, or one acting as the zone's role."""
        if zone.access is None:
            return self.client
        if self.clients is None:
            raise Route53Error(f"{zone.where()} is in another account and no role can be "
                               "assumed here: this is a bug in the issuer's set-up.")
        try:
            return self.clients(zone.access)
        except RuntimeError as error:
            raise Route53Error(f"Could not reach {zone.where()}: {error}") from error

    def _verify(self, zone: HostedZone) -> None:
        """A zone in another account is written only once Route 53 there confirms it is the
        public zone its settings name (they are typed by hand)."""
        if zone.access is None or zone in self._verified:
            return
        try:
            answer = self._call(lambda: self._client(zone).get_hosted_zone(Id=zone.id),
                                "GetHostedZone")
        except (ClientError, BotoCoreError) as error:
            raise Route53Error(self._explain(error, doing="read", zone=zone)) from error
        found = answer.get("HostedZone", {})
        name = canonical_name(str(found.get("Name", "")))
        if name != zone.name or found.get("Config", {}).get("PrivateZone"):
            what = "a private zone" if found.get("Config", {}).get("PrivateZone") else (
                f"zone {name}")
            raise Route53Error(
                f"{zone.where()} is {what} in Route 53, not the public zone {zone.name} its "
                "settings name: fix the zone's id or name in teams.toml or OTHER_ACCOUNT_ZONES."
            )
        self._verified.add(zone)

    def allowed_zones(self, zone_ids: Sequence[str]) -> list[HostedZone]:
        """The public zones among `zone_ids`, from one paginated ListHostedZones."""
        return [z for z in self.listed_zones(zone_ids) if not z.private]

    def listed_zones(self, zone_ids: Sequence[str]) -> list[HostedZone]:
        """Every zone `zone_ids` names, private ones marked, from one paginated
        ListHostedZones; a private zone is logged with what happens to its names."""
        wanted = list(dict.fromkeys(bare_zone_id(z) for z in zone_ids if z.strip()))
        found: dict[str, HostedZone] = {}
        try:
            for page in self._zone_pages():
                for zone in page.get("HostedZones", []):
                    zone_id = bare_zone_id(zone["Id"])
                    if zone_id in wanted:
                        found[zone_id] = HostedZone(
                            zone_id, canonical_name(zone["Name"]),
                            private=bool(zone.get("Config", {}).get("PrivateZone")))
        except (ClientError, BotoCoreError) as error:
            raise Route53Error(self._explain(error, doing="list the hosted zones")) from error
        missing = [z for z in wanted if z not in found]
        if missing:
            raise Route53Error(
                f"ALLOWED_ZONES names hosted zone(s) {', '.join(missing)} that this account's "
                "Route 53 does not have: fix ALLOWED_ZONES (IDs look like Z0123456789ABC)."
            )
        zones = [found[z] for z in wanted]
        _log_private(zones)
        return zones

    def name_servers(self, zone: HostedZone) -> list[str]:
        try:
            answer = self._call(lambda: self._client(zone).get_hosted_zone(Id=zone.id),
                                "GetHostedZone")
        except (ClientError, BotoCoreError) as error:
            raise Route53Error(
                self._explain(error, doing="read the name servers", zone=zone)
            ) from error
        servers = answer.get("DelegationSet", {}).get("NameServers", [])
        if not servers:
            raise Route53Error(
                f"Hosted zone {zone.name} ({zone.id}) has no delegation set: it is private or "
                "not delegated; use a public zone."
            )
        return [canonical_name(s) for s in servers]

    def add(self, records: Sequence[ChallengeRecord]) -> None:
        """Make every record's value present, keeping other values; wait until INSYNC."""
        self._change(records, plan_add, _guess_for_add, "add challenge value(s) to")

    def remove(self, records: Sequence[ChallengeRecord]) -> None:
        """Take exactly these values away (absent ones are a no-op).

        Returns once Route 53 accepted the change, without waiting for INSYNC: an accepted
        change is applied, and nothing waits on a value's removal. Waiting took 60-120 s in
        AWS, longer than the cleanup's own budget, so every renewal reported a failed cleanup.
        """
        self._change(records, plan_remove, _guess_for_remove, "remove challenge value(s) from",
                     wait=False)

    def values(self, zone: HostedZone, name: str) -> set[str]:
        name = canonical_name(name)
        try:
            current = self._read(zone, name)
        except (ClientError, BotoCoreError) as error:
            raise Route53Error(
                self._explain(error, doing="read", zone=zone, record=f"TXT {name}")
            ) from error
        return set(current.values()) if current else set()

    # -- writing

    def _change(
        self,
        records: Sequence[ChallengeRecord],
        plan: Planner,
        guess: Callable[[Sequence[str], int, str], RecordSet | None],
        doing: str,
        *,
        wait: bool = True,
    ) -> None:
        pending = []
        for zone, names in _by_zone(records).items():
            label = "TXT " + ", ".join(names)
            try:
                submitted = self._submit(zone, names, plan, guess)
            except (ClientError, BotoCoreError) as error:
                raise Route53Error(
                    self._explain(error, doing=doing, zone=zone, record=label)
                ) from error
            if submitted:
                pending.append(submitted)
        if wait:
            self._wait(pending)

    def _submit(
        self,
        zone: HostedZone,
        names: Mapping[str, Sequence[str]],
        plan: Planner,
        guess: Callable[[Sequence[str], int, str], RecordSet | None],
    ) -> _Pending | None:
        self._verify(zone)
        state = {
            name: self._seen[(zone.id, name)]
            if (zone.id, name) in self._seen
            else guess(values, self.ttl, name)
            for name, values in names.items()
        }
        guessed = True

        def refresh() -> None:
            state.update({name: self._read(zone, name) for name in names})

        def planned() -> list[Change]:
            return [c for n, v in names.items() for c in plan(n, state[n], v, self.ttl)]

        def attempt() -> _Pending | None:
            nonlocal guessed
            if not guessed:
                refresh()
            changes = planned()
            if not changes and guessed:
                # "Nothing to do" from a guess is not trusted: someone may have changed it.
                refresh()
                changes = planned()
            guessed = False
            if not changes:
                return None
            try:
                answer = self._call(
                    lambda: self._client(zone).change_resource_record_sets(
                        HostedZoneId=zone.id,
                        ChangeBatch={"Comment": "wildcert dns-01", "Changes": changes},
                    ),
                    f"ChangeResourceRecordSets in {zone.name}",
                )
            except ClientError:
                for name in names:
                    self._seen.pop((zone.id, name), None)
                raise
            self._remember(zone, changes)
            info = answer["ChangeInfo"]
            return None if info.get("Status") == "INSYNC" else _Pending(zone, info["Id"])

        return self.conflict.call(
            attempt, is_transient=is_conflict, deadline=self.deadline, rng=self.rng,
            what=f"changing TXT {', '.join(names)} in {zone.name} after a concurrent change")

    def _remember(self, zone: HostedZone, changes: Sequence[Change]) -> None:
        for change in changes:
            rrset = change["ResourceRecordSet"]
            key = (zone.id, canonical_name(rrset["Name"]))
            if change["Action"] == "DELETE":
                self._seen[key] = None
            else:
                raw = tuple(r["Value"] for r in rrset["ResourceRecords"])
                self._seen[key] = RecordSet(key[1], int(rrset["TTL"]), raw)

    def _wait(self, pending: list[_Pending]) -> None:
        delay = INSYNC_FIRST_POLL
        while pending:
            if self.deadline.expired():
                late = ", ".join(f"{p.change_id} in {p.zone.name} ({p.zone.id})" for p in pending)
                raise Route53Error(
                    f"Route 53 accepted change(s) {late} but did not report them INSYNC "
                    "before the time budget ran out; Route 53 is slow right now: retry the "
                    "request later."
                )
            self.deadline.sleep(delay)
            pending = [p for p in pending if not self._insync(p)]
            delay = min(delay * 2, INSYNC_MAX_POLL)

    def _insync(self, pending: _Pending) -> bool:
        try:
            answer = self._call(
                lambda: self._client(pending.zone).get_change(Id=pending.change_id),
                "GetChange"
            )
        except (ClientError, BotoCoreError) as error:
            raise Route53Error(
                self._explain(error, doing=f"check change {pending.change_id}", zone=pending.zone)
            ) from error
        return bool(answer["ChangeInfo"]["Status"] == "INSYNC")

    # -- reading

    def _read(self, zone: HostedZone, name: str) -> RecordSet | None:
        answer = self._call(
            lambda: self._client(zone).list_resource_record_sets(
                HostedZoneId=zone.id, StartRecordName=name, StartRecordType=TXT, MaxItems="1"
            ),
            f"ListResourceRecordSets {name}",
        )
        current = None
        for rrset in answer.get("ResourceRecordSets", []):
            if canonical_name(rrset["Name"]) == name and rrset["Type"] == TXT:
                current = _record_set(zone, name, rrset)
        self._seen[(zone.id, name)] = current
        return current

    def _zone_pages(self) -> list[dict[str, Any]]:
        pages = []
        marker: str | None = None
        while True:
            kwargs = {"Marker": marker} if marker else {}
            page = self._call(partial(self.client.list_hosted_zones, **kwargs), "ListHostedZones")
            pages.append(page)
            marker = page.get("NextMarker")
            if not page.get("IsTruncated") or not marker:
                return pages

    def _call(self, fn: Callable[[], dict[str, Any]], what: str) -> dict[str, Any]:
        return self.throttle.call(fn, is_transient=is_transient, deadline=self.deadline,
                                  what=what, rng=self.rng)


def _record_set(zone: HostedZone, name: str, rrset: Mapping[str, Any]) -> RecordSet:
    if "SetIdentifier" in rrset or "ResourceRecords" not in rrset:
        raise Route53Error(
            f"TXT {name} in hosted zone {zone.name} ({zone.id}) uses a routing policy or an "
            "alias, which wildcert cannot merge into: make it a simple TXT record set."
        )
    raw = tuple(str(r["Value"]) for r in rrset["ResourceRecords"])
    return RecordSet(name, int(rrset["TTL"]), raw)


def _log_private(zones: Sequence[HostedZone]) -> None:
    public = {z.name: z for z in zones if not z.private}
    for zone in zones:
        twin = public.get(zone.name)
        if not zone.private:
            continue
        if twin is not None:
            log.info("hosted zone %s: the public zone %s is used, the private zone %s "
                     "(split-horizon) is never written", zone.name, twin.id, zone.id)
        else:
            log.warning("hosted zone %s (%s) is private: never written; names only in it "
                        "are refused (the CA cannot see a private zone)", zone.name, zone.id)


def _by_zone(records: Sequence[ChallengeRecord]) -> dict[HostedZone, dict[str, list[str]]]:
    grouped: dict[HostedZone, dict[str, list[str]]] = {}
    for record in records:
        name = canonical_name(record.name)
        if record.zone.private:
            raise Route53Error(
                f"{name} would be written to hosted zone {record.zone.name} "
                f"({record.zone.id}), which is private: wildcert never writes a private zone "
                "(the CA cannot see it). Use a public hosted zone of that name."
            )
        if not in_zone(name, record.zone):
            raise Route53Error(
                f"{name} is not inside hosted zone {record.zone.name} ({record.zone.id}): "
                "this is a bug in zone selection."
            )
        values = grouped.setdefault(record.zone, {}).setdefault(name, [])
        if record.value not in values:
            values.append(record.value)
    return grouped
