"""CNAME-delegated challenges on the local stack, validated by Pebble through the stack's DNS
server: `_acme-challenge.<name>` in a production zone is a CNAME into a validation zone
(example.net here), so the values are written, checked and removed there, never in the
production zone; a CNAME into no zone the requester may use is refused before ordering."""

from __future__ import annotations

import concurrent.futures
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from local_stack import Stack
from tests.e2e.faults_support import orders_for
from tests.e2e.support import ISSUER, assert_valid_stored, challenge_values, invoke, unique

pytestmark = pytest.mark.usefixtures("fresh_faults")
VALIDATION = "acme-validation.example.net"  # one validation zone for many production zones


def _cname_change(action: str, name: str, target: str) -> dict[str, Any]:
    return {"Changes": [{"Action": action, "ResourceRecordSet": {
        "Name": name + ".", "Type": "CNAME", "TTL": 60,
        "ResourceRecords": [{"Value": target + "."}]}}]}


@pytest.fixture
def delegate(stack: Stack) -> Iterator[Callable[[str, str, str], None]]:
    """CNAME `_acme-challenge.<name>` in `zone` (a stack zone) to `target`."""
    made: list[tuple[str, str, str]] = []
    route53 = stack.client("route53")

    def make(zone: str, name: str, target: str) -> None:
        record = f"_acme-challenge.{name}"
        route53.change_resource_record_sets(HostedZoneId=stack.zone_id(zone),
                                            ChangeBatch=_cname_change("CREATE", record, target))
        made.append((zone, record, target))

    yield make
    for zone, record, target in made:
        route53.change_resource_record_sets(HostedZoneId=stack.zone_id(zone),
                                            ChangeBatch=_cname_change("DELETE", record, target))


def _changed_zones(stack: Stack) -> list[str]:
    ids = {stack.zone_id(z): z for z in ("example.com", "team.example.com", "example.net")}
    return [name for call in stack.aws_faults.calls(service="route53",
                                                    operation="ChangeResourceRecordSets")
            for zone_id, name in ids.items() if zone_id in call["path"]]


def _txt_at(stack: Stack, name: str) -> list[str]:
    answer = stack.dns_query(name, "TXT")
    return [r.to_text() for rrset in answer.answer if rrset.rdtype == 16 for r in rrset]


def test_values_go_where_the_cname_points_and_are_removed_there(
        stack: Stack, delegate: Callable[[str, str, str], None],
        caplog: pytest.LogCaptureFixture) -> None:
    label = unique("d")
    apex_target, team_target = f"{label}.{VALIDATION}", f"{label}-team.{VALIDATION}"
    delegate("example.com", f"{label}.example.com", apex_target)
    delegate("team.example.com", f"{label}.team.example.com", team_target)
    domains = [f"*.{label}.example.com", f"{label}.example.com", f"{label}.team.example.com"]
    with caplog.at_level(logging.INFO):
        result = invoke(ISSUER, {"domains": domains, "name": label})
    assert result["status"] == "issued", result
    assert_valid_stored(label, domains)  # Pebble validated all three through the CNAMEs
    # The wildcard and the apex share one target: one add and one remove, in example.net.
    assert _changed_zones(stack) == ["example.net", "example.net"]
    assert (f"delegation: _acme-challenge.{label}.example.com is a CNAME to {apex_target}; "
            "its values go to hosted zone example.net") in caplog.text
    assert challenge_values() == {} and _txt_at(stack, apex_target) == []
    # The production zone keeps its CNAME.
    answer = stack.dns_query(f"_acme-challenge.{label}.example.com", "CNAME")
    assert [r.target.to_text() for rrset in answer.answer for r in rrset] == [apex_target + "."]


def test_concurrent_orders_sharing_one_delegated_target(
        stack: Stack, delegate: Callable[[str, str, str], None]) -> None:
    label = unique("dc")
    delegate("example.com", f"{label}.example.com", f"{label}.{VALIDATION}")
    requests = [{"domains": [f"*.{label}.example.com"], "name": f"{label}-wild"},
                {"domains": [f"{label}.example.com"], "name": f"{label}-apex"}]
    with concurrent.futures.ThreadPoolExecutor(len(requests)) as pool:
        results = list(pool.map(lambda request: invoke(ISSUER, request), requests))
    assert [r["status"] for r in results] == ["issued", "issued"], results
    for request in requests:
        assert_valid_stored(request["name"], request["domains"])
    assert set(_changed_zones(stack)) == {"example.net"}
    assert challenge_values() == {}


def test_a_cname_into_no_usable_zone_is_refused_naming_both(
        stack: Stack, delegate: Callable[[str, str, str], None]) -> None:
    label = unique("dx")
    delegate("example.com", f"{label}.example.com", f"{label}.validation.elsewhere.test")
    domains = [f"{label}.example.com"]
    result = invoke(ISSUER, {"domains": domains, "name": label})
    assert result["status"] == "rejected", result
    assert (f"_acme-challenge.{label}.example.com is a CNAME to "
            f"{label}.validation.elsewhere.test, which is in no hosted zone the operators may "
            "use") in result["message"]
    assert orders_for(stack, domains) == []
    assert _changed_zones(stack) == []
