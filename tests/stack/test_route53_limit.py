"""The AWS fault proxy's account-wide Route 53 limit: 10 requests/s with a burst of 50, shared
by every client (Route 53's quota since 2026-07-30; 5/s before).

Plain boto3 clients make one attempt each (`total_max_attempts=1`), so every refusal reaches
the caller; wildcert's own ChallengeRecords then shows its retries get through the limit.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from local_stack import Stack
from local_stack.aws_faults import AwsFaults
from local_stack.route53_source import LOCAL_CREDENTIALS
from local_stack.seed import BUCKET
from wildcert.adapters.route53 import ChallengeRecord, ChallengeRecords
from wildcert.deadline import Deadline
from wildcert.logic.zones import HostedZone

pytestmark = pytest.mark.stack

ONCE = Config(retries={"mode": "standard", "total_max_attempts": 1}, read_timeout=10)


@pytest.fixture
def faults(stack: Stack) -> Iterator[AwsFaults]:
    stack.aws_faults.clear(stats=True)
    try:
        yield stack.aws_faults
    finally:
        stack.aws_faults.clear()  # lifts the limit too: later tests run unthrottled


@pytest.fixture
def proxied(stack: Stack) -> Callable[[str], Any]:
    """A new boto3 session and client through the proxy: a separate caller each time."""
    def make(service: str) -> Any:
        return boto3.session.Session().client(
            service, endpoint_url=stack.env["AWS_ENDPOINT_URL"], config=ONCE, **LOCAL_CREDENTIALS
        )
    return make


def _outcome(call: Callable[[], Any]) -> str:
    try:
        call()
    except ClientError as error:
        return str(error.response["Error"]["Code"])
    return "ok"


def _hammer(calls: list[Callable[[], Any]], threads: int) -> tuple[list[str], float]:
    started = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        outcomes = list(pool.map(_outcome, calls))
    return outcomes, time.monotonic() - started


def _txt(name: str, value: str, action: str = "CREATE") -> dict[str, Any]:
    return {"Changes": [{"Action": action, "ResourceRecordSet": {
        "Name": name, "Type": "TXT", "TTL": 60, "ResourceRecords": [{"Value": f'"{value}"'}]}}]}


def test_off_by_default(faults: AwsFaults, proxied) -> None:
    assert faults.limits() == {}
    route53 = proxied("route53")
    outcomes, _ = _hammer([route53.list_hosted_zones] * 30, threads=6)
    assert outcomes == ["ok"] * 30
    assert faults.stats()["faults_fired"] == {}


def test_a_burst_beyond_fifty_is_throttled_as_route53_does(stack: Stack, faults: AwsFaults,
                                                           proxied) -> None:
    assert faults.limit("route53") == {"rate": 10.0, "burst": 50.0, "error": "Throttling",
                                       "allowed": 0, "throttled": 0}
    route53 = proxied("route53")
    outcomes, elapsed = _hammer([route53.list_hosted_zones] * 90, threads=4)
    allowed = outcomes.count("ok")
    assert set(outcomes) == {"ok", "Throttling"}
    # A full bucket of 50, plus what 10/s refilled while the 90 calls ran; never more.
    assert 50 <= allowed <= 50 + 10 * elapsed + 1, (allowed, elapsed)
    assert faults.limits()["route53"] == {"rate": 10.0, "burst": 50.0, "error": "Throttling",
                                          "allowed": allowed, "throttled": 90 - allowed}
    assert faults.stats()["faults_fired"] == {"route53 ListHostedZones throttled": 90 - allowed}
    throttled = [c for c in faults.calls(service="route53") if c["fault"]]
    assert {(c["status"], c["fault"]) for c in throttled} == {
        (400, "route53 ListHostedZones throttled")}

    # The answer is Route 53's own: HTTP 400, Sender, Throttling, "Rate exceeded".
    with pytest.raises(ClientError) as raised:
        for _ in range(60):
            route53.get_hosted_zone(Id=stack.zone_id("example.com"))
    error = raised.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["Error"] == {"Type": "Sender", "Code": "Throttling", "Message": "Rate exceeded"}
    assert raised.value.operation_name == "GetHostedZone"


def test_one_bucket_for_every_client_and_only_for_route53(stack: Stack, faults: AwsFaults,
                                                          proxied) -> None:
    # A slow refill (one token in 4 s): nothing comes back meanwhile, even on a loaded machine.
    faults.limit("route53", rate=0.25, burst=3)
    first, second = proxied("route53"), proxied("route53")
    assert [_outcome(first.list_hosted_zones) for _ in range(3)] == ["ok"] * 3
    assert _outcome(second.list_hosted_zones) == "Throttling"  # another caller, same account
    assert _outcome(lambda: second.get_change(Id="C0000000000")) == "Throttling"
    s3 = proxied("s3")
    assert [_outcome(lambda: s3.list_objects_v2(Bucket=BUCKET, MaxKeys=1))
            for _ in range(10)] == ["ok"] * 10
    time.sleep(4.1)  # one token back
    assert _outcome(second.list_hosted_zones) == "ok"
    assert _outcome(first.list_hosted_zones) == "Throttling"


def test_a_throttled_change_never_reaches_moto(stack: Stack, faults: AwsFaults,
                                               proxied) -> None:
    zone, route53 = stack.zone_id("example.net"), proxied("route53")
    name = f"_acme-challenge.{uuid.uuid4().hex[:8]}.example.net"
    faults.limit("route53", rate=0.2, burst=1)
    route53.list_hosted_zones()  # the one token
    assert _outcome(lambda: route53.change_resource_record_sets(
        HostedZoneId=zone, ChangeBatch=_txt(name, "refused"))) == "Throttling"
    found = stack.client("route53").list_resource_record_sets(
        HostedZoneId=zone, StartRecordName=name, StartRecordType="TXT", MaxItems="1")
    assert all(s["Name"].rstrip(".") != name for s in found["ResourceRecordSets"])


def test_sustained_rate_stays_at_ten_per_second(faults: AwsFaults, proxied) -> None:
    """Callers that never stop get the burst of 50, then 10/s, whatever their number."""
    faults.limit("route53")
    route53 = proxied("route53")
    stop = threading.Event()
    admitted: list[float] = []

    def caller() -> None:
        while not stop.is_set():
            if _outcome(route53.list_hosted_zones) == "ok":
                admitted.append(time.monotonic())

    threads = [threading.Thread(target=caller) for _ in range(4)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    time.sleep(4.0)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    assert 50 + 10 * 2.0 <= len(admitted) <= 50 + 10 * elapsed + 1, (len(admitted), elapsed)
    # Once the burst is spent, no second holds more than the refill: 10 (+1 at a boundary).
    for second in (2, 3):
        inside = [t for t in admitted if second <= t - started < second + 1]
        assert len(inside) <= 11, (second, len(inside))
    assert faults.limits()["route53"]["throttled"] > 0


def test_wildcert_challenge_records_get_through_the_limit(stack: Stack, faults: AwsFaults,
                                                          proxied) -> None:
    """Three writers at once on one token per second: Route 53's answer is one wildcert
    recognises, so its backoff carries each add and remove through."""
    zone = HostedZone(stack.zone_id("example.net"), "example.net")
    names = [f"_acme-challenge.{uuid.uuid4().hex[:8]}.example.net" for _ in range(3)]
    faults.limit("route53", rate=1, burst=1)

    def add_then_remove(name: str) -> None:
        records = ChallengeRecords(proxied("route53"), deadline=Deadline.after(60))
        record = ChallengeRecord(zone, name, f"token-{name[16:24]}")
        records.add([record])
        records.remove([record])

    with ThreadPoolExecutor(3) as pool:
        list(pool.map(add_then_remove, names))
    limits = faults.limits()["route53"]
    assert limits["throttled"] > 0 and limits["allowed"] >= 6
    for name in names:
        found = stack.client("route53").list_resource_record_sets(
            HostedZoneId=zone.id, StartRecordName=name, StartRecordType="TXT", MaxItems="1")
        assert all(s["Name"].rstrip(".") != name for s in found["ResourceRecordSets"])


def test_clear_lifts_the_limit_and_bad_limits_are_refused(faults: AwsFaults, proxied) -> None:
    faults.limit("route53", rate=0.1, burst=1)
    route53 = proxied("route53")
    assert [_outcome(route53.list_hosted_zones) for _ in range(2)] == ["ok", "Throttling"]
    faults.unlimit("route53")
    assert faults.limits() == {}
    assert _outcome(route53.list_hosted_zones) == "ok"
    faults.limit("route53", rate=0.1, burst=1)
    faults.clear()
    assert faults.limits() == {}
    for bad in ({"rate": 0}, {"rate": 5, "colour": "red"}, {"rate": 5, "burst": 0.5}):
        with pytest.raises(ValueError, match="limit"):
            faults._call("POST", "limits", {"route53": bad})
    with pytest.raises(ValueError, match="not an AWS service"):
        faults._call("POST", "limits", {"route54": {"rate": 5}})
    assert faults.limits() == {}


def test_a_change_pending_for_some_seconds_then_insync(stack: Stack, faults: AwsFaults,
                                                       proxied) -> None:
    """Real Route 53 reports a change PENDING for 60-120 s: `pending` with `seconds`."""
    zone, route53 = stack.zone_id("example.net"), proxied("route53")
    name = f"_acme-challenge.{uuid.uuid4().hex[:8]}.example.net"
    faults.add(service="route53", operation="ChangeResourceRecordSets", action="pending",
               seconds=1.5, count=1)
    change = route53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch=_txt(name, "v"))
    change_id = change["ChangeInfo"]["Id"]
    assert change["ChangeInfo"]["Status"] == "PENDING"
    assert route53.get_change(Id=change_id)["ChangeInfo"]["Status"] == "PENDING"
    time.sleep(1.6)
    assert route53.get_change(Id=change_id)["ChangeInfo"]["Status"] == "INSYNC"
    route53.change_resource_record_sets(HostedZoneId=zone,
                                        ChangeBatch=_txt(name, "v", action="DELETE"))


def test_getchange_polls_follow_the_schedule_the_fleet_model_counts(stack: Stack,
                                                                   faults: AwsFaults,
                                                                   proxied) -> None:
    """bench/fleet_model.py counts GetChange calls for a real INSYNC delay from wildcert's
    poll schedule; here wildcert itself polls a change held PENDING for 8 s."""
    from bench.fleet_model import insync_wait

    zone = HostedZone(stack.zone_id("example.net"), "example.net")
    record = ChallengeRecord(zone, f"_acme-challenge.{uuid.uuid4().hex[:8]}.example.net", "v")
    faults.add(service="route53", operation="ChangeResourceRecordSets", action="pending",
               seconds=8.0, count=1)
    records = ChallengeRecords(proxied("route53"), deadline=Deadline.after(60))
    started = time.monotonic()
    records.add([record])
    waited, polls = insync_wait(8.0)
    assert (waited, polls) == (15.0, 4)  # asked after 1, 3, 7 and 15 s
    assert waited <= time.monotonic() - started < waited + 3
    assert faults.count("route53", "GetChange") == polls
    records.remove([record])
