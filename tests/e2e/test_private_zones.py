"""Split-horizon DNS: a private hosted zone is never written. A private zone sharing a public
zone's name is passed over for the public one (and the choice logged); a name only a private
zone covers is refused, saying so.

Each test makes its private zones in moto (with a VPC, as Route 53 requires) and lists them in
ALLOWED_ZONES beside the stack's public zones, the private twin first.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from local_stack import Stack
from tests.e2e.support import ISSUER, assert_valid_stored, challenge_values, invoke, unique
from wildcert import container


@pytest.fixture
def private_zone(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], str]]:
    route53 = stack.client("route53")
    vpc = stack.client("ec2").create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    made: list[str] = []

    def make(name: str) -> str:
        zone = route53.create_hosted_zone(
            Name=name, CallerReference=f"private-{uuid.uuid4()}",
            HostedZoneConfig={"Comment": "split horizon", "PrivateZone": True},
            VPC={"VPCRegion": "us-east-1", "VPCId": vpc})
        zone_id = str(zone["HostedZone"]["Id"]).rsplit("/", 1)[-1]
        made.append(zone_id)
        monkeypatch.setenv("ALLOWED_ZONES", ",".join([*made, stack.env["ALLOWED_ZONES"]]))
        return zone_id

    stack.aws_faults.clear(stats=True)
    yield make
    for zone_id in made:
        route53.delete_hosted_zone(Id=zone_id)


def _changes_to(stack: Stack, zone_id: str) -> list[dict[str, Any]]:
    return [c for c in stack.aws_faults.calls(service="route53",
                                              operation="ChangeResourceRecordSets")
            if zone_id in c["path"]]


def test_the_public_zone_of_a_split_horizon_name_is_written_never_the_private_one(
        stack: Stack, private_zone: Callable[[str], str], caplog: pytest.LogCaptureFixture
) -> None:
    twin = private_zone("example.com")
    public = stack.zone_id("example.com")
    container.start_afresh()  # a new container: the zones are listed again, twin and all
    label = unique("split")
    domains = [f"*.{label}.example.com", f"{label}.example.com"]
    with caplog.at_level(logging.INFO):
        result = invoke(ISSUER, {"domains": domains, "name": label})
    assert result["status"] == "issued", result
    assert_valid_stored(label, domains)
    assert _changes_to(stack, twin) == []
    assert len(_changes_to(stack, public)) == 2  # add and remove, in the public zone
    assert challenge_values() == {}
    assert (f"hosted zone example.com: the public zone {public} is used, the private zone "
            f"{twin} (split-horizon) is never written") in caplog.text
    assert (f"zone: *.{label}.example.com goes to the public zone example.com ({public}), "
            f"not the private zone example.com ({twin})") in caplog.text


def test_a_name_only_a_private_zone_holds_is_refused_saying_so(
        stack: Stack, private_zone: Callable[[str], str]) -> None:
    name = f"corp-{uuid.uuid4().hex[:8]}.internal"
    hidden = private_zone(name)
    container.start_afresh()
    result = invoke(ISSUER, {"domains": [f"*.{name}"], "name": unique("hidden")})
    assert result["status"] == "rejected", result
    assert (f"domains[0] '*.{name}' is only in the private hosted zone '{name}', which "
            "wildcert never writes: the CA validates through public DNS and cannot see a "
            "private zone.") in result["message"]
    assert _changes_to(stack, hidden) == []
    assert stack.aws_faults.count("route53", "ChangeResourceRecordSets") == 0
