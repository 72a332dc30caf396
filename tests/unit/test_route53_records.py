"""ChallengeRecords against a real moto server with Route 53's strict change semantics."""

from __future__ import annotations

import math
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from tests.unit.conftest import route53_client
from tests.unit.fakes import FakeTime
from wildcert.adapters.route53 import (
    THROTTLED_COMEBACK_SECONDS,
    ChallengeRecord,
    ChallengeRecords,
    HostedZone,
    Route53Error,
)
from wildcert.deadline import Deadline
from wildcert.jobs.issue.outcome import StageFailure, stage
from wildcert.retry import Backoff

FAST_THROTTLE = Backoff(attempts=4, base=0.01, cap=0.05)
RACE_CONFLICT = Backoff(attempts=12, base=0.02, cap=0.5)
EVENTS = "route-53"


@dataclass
class Calls:
    """Route 53 operations a client made, and the error codes it got back."""

    made: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def watch(self, client: Any) -> Any:
        client.meta.events.register(f"before-parameter-build.{EVENTS}", self._before)
        client.meta.events.register(f"after-call.{EVENTS}", self._after)
        return client

    def _before(self, model: Any, **_: Any) -> None:
        with self.lock:
            self.made[model.name] += 1

    def _after(self, parsed: dict[str, Any], **_: Any) -> None:
        code = parsed.get("Error", {}).get("Code")
        if code:
            with self.lock:
                self.errors[code] += 1


@pytest.fixture
def raw(endpoint: str) -> Any:
    return route53_client(endpoint)


@pytest.fixture
def make_zone(raw: Any) -> Callable[..., HostedZone]:
    def make(name: str = "example.com", private: bool = False) -> HostedZone:
        extra: dict[str, Any] = {}
        if private:
            extra = {
                "HostedZoneConfig": {"PrivateZone": True},
                "VPC": {"VPCRegion": "us-east-1", "VPCId": "vpc-12345"},
            }
        answer = raw.create_hosted_zone(Name=name, CallerReference=uuid.uuid4().hex, **extra)
        return HostedZone(answer["HostedZone"]["Id"].rsplit("/", 1)[-1], name)

    return make


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
def records(endpoint: str, calls: Calls) -> ChallengeRecords:
    return ChallengeRecords(
        calls.watch(route53_client(endpoint)), deadline=Deadline.after(30), throttle=FAST_THROTTLE
    )


def txt_sets(raw: Any, zone: HostedZone) -> dict[str, tuple[int, list[str]]]:
    answer = raw.list_resource_record_sets(HostedZoneId=zone.id)
    return {
        s["Name"]: (s["TTL"], sorted(r["Value"] for r in s["ResourceRecords"]))
        for s in answer["ResourceRecordSets"]
        if s["Type"] == "TXT"
    }


def challenge(zone: HostedZone, *values: str, name: str = "") -> list[ChallengeRecord]:
    name = name or f"_acme-challenge.{zone.name}"
    return [ChallengeRecord(zone, name, v) for v in values]


def put_human_txt(raw: Any, zone: HostedZone, *chunks: str, ttl: int = 300) -> None:
    raw.change_resource_record_sets(
        HostedZoneId=zone.id,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "CREATE",
                    "ResourceRecordSet": {
                        "Name": f"_acme-challenge.{zone.name}.",
                        "Type": "TXT",
                        "TTL": ttl,
                        "ResourceRecords": [{"Value": c} for c in chunks],
                    },
                }
            ]
        },
    )


# ---------------------------------------------------------------- add / remove


def test_wildcard_and_apex_share_one_record_set(
    records: ChallengeRecords, make_zone: Callable[..., HostedZone], raw: Any
) -> None:
    zone = make_zone()
    records.add(challenge(zone, "wild-token", "apex-token"))
    assert txt_sets(raw, zone) == {
        "_acme-challenge.example.com.": (60, ['"apex-token"', '"wild-token"'])
    }
    assert records.values(zone, "_ACME-challenge.example.com.") == {"wild-token", "apex-token"}
    records.remove(challenge(zone, "wild-token", "apex-token"))
    assert txt_sets(raw, zone) == {}
    assert records.values(zone, "_acme-challenge.example.com") == set()


def test_one_instance_adds_and_removes_with_one_call_each(
    records: ChallengeRecords, make_zone: Callable[..., HostedZone], calls: Calls
) -> None:
    zone = make_zone()
    records.add(challenge(zone, "a", "b"))
    records.remove(challenge(zone, "a", "b"))
    assert calls.made == Counter({"ChangeResourceRecordSets": 2})


def test_a_fresh_instance_removes_with_one_call(
    endpoint: str, make_zone: Callable[..., HostedZone], calls: Calls, raw: Any
) -> None:
    zone = make_zone()
    ChallengeRecords(route53_client(endpoint), deadline=Deadline.after(30)).add(
        challenge(zone, "a", "b")
    )
    cleaner = ChallengeRecords(calls.watch(route53_client(endpoint)), deadline=Deadline.after(30))
    cleaner.remove(challenge(zone, "a", "b"))
    assert calls.made == Counter({"ChangeResourceRecordSets": 1})
    assert txt_sets(raw, zone) == {}


def test_values_in_two_zones_are_independent(
    records: ChallengeRecords, make_zone: Callable[..., HostedZone], calls: Calls
) -> None:
    com, org = make_zone("example.com"), make_zone("example.org")
    records.add([*challenge(com, "c1", "c2"), *challenge(org, "o1")])
    assert calls.made["ChangeResourceRecordSets"] == 2
    assert records.values(com, "_acme-challenge.example.com") == {"c1", "c2"}
    assert records.values(org, "_acme-challenge.example.org") == {"o1"}
    records.remove(challenge(com, "c1", "c2"))
    assert records.values(com, "_acme-challenge.example.com") == set()
    assert records.values(org, "_acme-challenge.example.org") == {"o1"}


def test_several_names_in_one_zone_go_in_one_batch(
    records: ChallengeRecords, make_zone: Callable[..., HostedZone], calls: Calls
) -> None:
    zone = make_zone()
    records.add(
        [
            *challenge(zone, "apex"),
            *challenge(zone, "shop", name="_acme-challenge.shop.example.com."),
        ]
    )
    assert calls.made["ChangeResourceRecordSets"] == 1
    assert records.values(zone, "_acme-challenge.shop.example.com") == {"shop"}
    assert records.values(zone, "_acme-challenge.example.com") == {"apex"}


def test_a_human_value_survives_add_and_remove(
    records: ChallengeRecords, make_zone: Callable[..., HostedZone], raw: Any
) -> None:
    zone = make_zone()
    put_human_txt(raw, zone, '"verified by a human"')
    records.add(challenge(zone, "a", "b"))
    assert records.values(zone, f"_acme-challenge.{zone.name}") == {"verified by a human", "a", "b"}
    records.remove(challenge(zone, "a", "b"))
    assert txt_sets(raw, zone)["_acme-challenge.example.com."][1] == ['"verified by a human"']


def test_split_values_are_joined_and_kept_verbatim(
    records: ChallengeRecords, make_zone: Callable[..., HostedZone], raw: Any
) -> None:
    zone = make_zone()
    put_human_txt(raw, zone, '"v=spf1 " "-all"')
    long_token = "x" * 300
    records.add(challenge(zone, long_token))
    assert records.values(zone, f"_acme-challenge.{zone.name}") == {"v=spf1 -all", long_token}
    records.remove(challenge(zone, long_token))
    # The merged set took our short TTL so resolvers do not cache old challenge values.
    assert txt_sets(raw, zone)["_acme-challenge.example.com."] == (300, ['"v=spf1 " "-all"'])


def test_adding_a_present_value_or_removing_an_absent_one_changes_nothing(
    records: ChallengeRecords, make_zone: Callable[..., HostedZone], calls: Calls
) -> None:
    zone = make_zone()
    records.add(challenge(zone, "a"))
    records.add(challenge(zone, "a"))
    records.remove(challenge(zone, "missing"))
    assert calls.made["ChangeResourceRecordSets"] == 1
    assert records.values(zone, f"_acme-challenge.{zone.name}") == {"a"}


def test_removing_from_an_empty_zone_is_a_no_op(
    records: ChallengeRecords, make_zone: Callable[..., HostedZone], calls: Calls
) -> None:
    zone = make_zone()
    records.remove(challenge(zone, "a"))
    assert calls.errors == Counter({"InvalidChangeBatch": 1})  # the optimistic guess
    assert calls.made["ChangeResourceRecordSets"] == 1


def test_a_name_outside_its_zone_is_refused(
    records: ChallengeRecords, make_zone: Callable[..., HostedZone]
) -> None:
    zone = make_zone()
    with pytest.raises(Route53Error, match=r"not inside hosted zone example\.com"):
        records.add(challenge(zone, "a", name="_acme-challenge.notexample.com"))


# ---------------------------------------------------------------- concurrency


def race(
    endpoint: str,
    work: Callable[[ChallengeRecords, str], None],
    values: list[str],
    calls: Calls,
    conflict: Backoff = RACE_CONFLICT,
) -> list[BaseException]:
    """Run `work` for every value at once, each thread with its own client."""
    barrier = threading.Barrier(len(values))
    failures: list[BaseException] = []

    def run(value: str) -> None:
        mine = ChallengeRecords(
            calls.watch(route53_client(endpoint)), deadline=Deadline.after(15), conflict=conflict
        )
        barrier.wait()
        try:
            work(mine, value)
        except Route53Error as error:
            failures.append(error)

    threads = [threading.Thread(target=run, args=(v,)) for v in values]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return failures


def test_eight_concurrent_writers_all_get_their_value_in_and_out(
    endpoint: str, make_zone: Callable[..., HostedZone], raw: Any, calls: Calls
) -> None:
    zone = make_zone()
    values = [f"token-{i}" for i in range(8)]

    failures = race(endpoint, lambda r, v: r.add(challenge(zone, v)), values, calls)
    assert failures == []
    assert txt_sets(raw, zone)["_acme-challenge.example.com."][1] == sorted(
        f'"{v}"' for v in values
    )
    assert calls.errors["InvalidChangeBatch"] > 0  # they really did collide

    calls.errors.clear()
    failures = race(endpoint, lambda r, v: r.remove(challenge(zone, v)), values, calls)
    assert failures == []
    assert txt_sets(raw, zone) == {}
    assert calls.errors["InvalidChangeBatch"] > 0


def test_without_conflict_retries_concurrent_writers_fail(
    endpoint: str, make_zone: Callable[..., HostedZone], raw: Any, calls: Calls
) -> None:
    zone = make_zone()
    values = [f"token-{i}" for i in range(8)]
    failures = race(
        endpoint, lambda r, v: r.add(challenge(zone, v)), values, calls, Backoff(attempts=1)
    )
    assert failures
    assert all("kept changing" in str(f) for f in failures)
    present = txt_sets(raw, zone)["_acme-challenge.example.com."][1]
    assert len(present) == 8 - len(failures)


# ---------------------------------------------------------------- throttling and errors


def inject(client: Any, operation: str, *codes: str, status: int = 400) -> list[str]:
    """Answer the next calls of `operation` with these error codes, without sending them."""
    pending = list(codes)

    def answer(**_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if not pending:
            return None
        code = pending.pop(0)
        http = AWSResponse("http://127.0.0.1/", status, {}, None)
        return http, {
            "Error": {"Code": code, "Message": f"injected {code}"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }

    client.meta.events.register(f"before-call.{EVENTS}.{operation}", answer)
    return pending


def test_throttling_and_prior_request_are_retried(
    records: ChallengeRecords, make_zone: Callable[..., HostedZone], calls: Calls
) -> None:
    zone = make_zone()
    inject(records.client, "ChangeResourceRecordSets", "Throttling", "PriorRequestNotComplete")
    records.add(challenge(zone, "a"))
    assert calls.made["ChangeResourceRecordSets"] == 3
    assert records.values(zone, f"_acme-challenge.{zone.name}") == {"a"}


def test_server_errors_are_retried(
    records: ChallengeRecords, make_zone: Callable[..., HostedZone], calls: Calls
) -> None:
    zone = make_zone()
    inject(records.client, "ListResourceRecordSets", "ServiceUnavailable", status=503)
    assert records.values(zone, f"_acme-challenge.{zone.name}") == set()
    assert calls.made["ListResourceRecordSets"] == 2


def test_endless_throttling_ends_in_a_useful_error(
    records: ChallengeRecords, make_zone: Callable[..., HostedZone], calls: Calls
) -> None:
    zone = make_zone()
    inject(records.client, "ChangeResourceRecordSets", *["Throttling"] * 10)
    with pytest.raises(Route53Error) as caught:
        records.add(challenge(zone, "a"))
    message = str(caught.value)
    assert f"example.com ({zone.id})" in message
    assert "_acme-challenge.example.com" in message
    assert "10 Route 53 requests per second (burst 50)" in message
    assert calls.made["ChangeResourceRecordSets"] == FAST_THROTTLE.attempts
    # The renewal comes back in minutes (the queue's 90-minute timeout otherwise).
    assert caught.value.retry_after == THROTTLED_COMEBACK_SECONDS
    with pytest.raises(StageFailure) as failed, stage("dns"):
        raise caught.value
    assert failed.value.retry_after == THROTTLED_COMEBACK_SECONDS and not failed.value.deferred


def test_access_denied_names_the_zone_and_the_role_fix(
    records: ChallengeRecords, make_zone: Callable[..., HostedZone], calls: Calls
) -> None:
    zone = make_zone()
    inject(records.client, "ChangeResourceRecordSets", "AccessDenied", status=403)
    with pytest.raises(Route53Error) as caught:
        records.add(challenge(zone, "a"))
    message = str(caught.value)
    assert caught.value.retry_after is None  # not a matter of waiting
    assert f"hosted zone example.com ({zone.id})" in message
    assert "function's role" in message
    assert f"hostedzone/{zone.id}" in message
    assert "_acme-challenge TXT" in message
    assert calls.made["ChangeResourceRecordSets"] == 1


def test_a_rejected_batch_that_is_no_conflict_is_not_retried(
    records: ChallengeRecords, make_zone: Callable[..., HostedZone], calls: Calls
) -> None:
    zone = make_zone()
    inject(records.client, "ChangeResourceRecordSets", "InvalidChangeBatch")
    with pytest.raises(Route53Error, match="rejected the change"):
        records.add(challenge(zone, "a"))
    assert calls.made["ChangeResourceRecordSets"] == 1


# ---------------------------------------------------------------- INSYNC




def pending_until(client: Any, polls: int) -> None:
    """Make changes look PENDING, as in real AWS, until GetChange was asked `polls` times."""
    asked = [0]

    def on_change(parsed: dict[str, Any], **_: Any) -> None:
        parsed["ChangeInfo"]["Status"] = "PENDING"

    def on_get(parsed: dict[str, Any], **_: Any) -> None:
        asked[0] += 1
        parsed["ChangeInfo"]["Status"] = "INSYNC" if asked[0] >= polls else "PENDING"

    client.meta.events.register(f"after-call.{EVENTS}.ChangeResourceRecordSets", on_change)
    client.meta.events.register(f"after-call.{EVENTS}.GetChange", on_get)


def test_waits_for_insync_with_growing_polls(
    endpoint: str, make_zone: Callable[..., HostedZone], calls: Calls
) -> None:
    zone, t = make_zone(), FakeTime()
    client = calls.watch(route53_client(endpoint))
    pending_until(client, polls=4)
    records = ChallengeRecords(client, deadline=Deadline.after(600, clock=t.clock, sleeper=t.sleep))
    records.add(challenge(zone, "a"))
    assert calls.made["GetChange"] == 4
    assert t.slept == [1.0, 2.0, 4.0, 8.0]


def test_insync_that_never_comes_ends_at_the_deadline(
    endpoint: str, make_zone: Callable[..., HostedZone]
) -> None:
    zone, t = make_zone(), FakeTime()
    client = route53_client(endpoint)
    pending_until(client, polls=10**6)
    records = ChallengeRecords(client, deadline=Deadline.after(60, clock=t.clock, sleeper=t.sleep))
    with pytest.raises(Route53Error, match=r"did not report them INSYNC"):
        records.add(challenge(zone, "a"))
    assert t.now == pytest.approx(60)


# ---------------------------------------------------------------- zones


def test_allowed_zones_lists_once_and_keeps_public_allowed_ones(
    records: ChallengeRecords, make_zone: Callable[..., HostedZone], calls: Calls, raw: Any
) -> None:
    com, org, other = make_zone("example.com"), make_zone("Example.ORG"), make_zone("x.net")
    hidden = make_zone("internal.example", private=True)
    zones = records.allowed_zones([f"/hostedzone/{org.id}", com.id, hidden.id, org.id])
    assert zones == [HostedZone(org.id, "example.org"), HostedZone(com.id, "example.com")]
    assert other.id not in {z.id for z in zones}
    total = sum(len(p["HostedZones"]) for p in raw.get_paginator("list_hosted_zones").paginate())
    assert calls.made == Counter({"ListHostedZones": math.ceil(total / 100)})


def test_allowed_zones_names_the_ids_that_do_not_exist(
    records: ChallengeRecords, make_zone: Callable[..., HostedZone]
) -> None:
    zone = make_zone()
    with pytest.raises(Route53Error, match=r"ZNOSUCHZONE1, ZNOSUCHZONE2.*fix ALLOWED_ZONES"):
        records.allowed_zones([zone.id, "ZNOSUCHZONE1", "/hostedzone/ZNOSUCHZONE2"])


def test_allowed_zones_follows_pages(
    records: ChallengeRecords, make_zone: Callable[..., HostedZone], calls: Calls
) -> None:
    first = make_zone("first.example")
    for i in range(101):
        make_zone(f"filler{i}.example")
    last = make_zone("last.example")
    zones = records.allowed_zones([first.id, last.id])
    assert [z.name for z in zones] == ["first.example", "last.example"]
    assert calls.made["ListHostedZones"] >= 2


def test_name_servers_come_from_the_delegation_set(
    records: ChallengeRecords, make_zone: Callable[..., HostedZone], calls: Calls
) -> None:
    servers = records.name_servers(make_zone())
    assert len(servers) == 4
    assert all(s.startswith("ns-") and not s.endswith(".") for s in servers)
    assert calls.made == Counter({"GetHostedZone": 1})


def test_name_servers_of_a_missing_zone_say_what_to_fix(records: ChallengeRecords) -> None:
    with pytest.raises(Route53Error, match=r"ZGONE.*fix ALLOWED_ZONES"):
        records.name_servers(HostedZone("ZGONE", "gone.example"))


def test_a_private_zone_is_listed_marked_and_never_written(
    records: ChallengeRecords, make_zone: Callable[..., HostedZone], calls: Calls, raw: Any
) -> None:
    public, twin = make_zone("example.com"), make_zone("example.com", private=True)
    listed = records.listed_zones([twin.id, public.id])
    assert listed == [HostedZone(twin.id, "example.com", private=True),
                      HostedZone(public.id, "example.com")]
    assert records.allowed_zones([twin.id, public.id]) == [listed[1]]
    with pytest.raises(Route53Error, match=r"which is private: wildcert never writes"):
        records.add(challenge(listed[0], "a"))
    assert calls.made["ChangeResourceRecordSets"] == 0
    assert txt_sets(raw, twin) == {}
