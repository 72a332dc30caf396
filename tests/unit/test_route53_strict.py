"""local_stack.route53_strict makes moto reject the change batches real Route 53 rejects."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local_stack import route53_strict
from tests.unit.conftest import route53_client

NAME = "_acme-challenge.example.com"


@pytest.fixture
def client(endpoint: str) -> Any:
    return route53_client(endpoint)


@pytest.fixture
def zone_id(client: Any, request: pytest.FixtureRequest) -> str:
    zone = client.create_hosted_zone(Name="example.com", CallerReference=request.node.name)
    return str(zone["HostedZone"]["Id"])


@pytest.fixture
def unpatched() -> Iterator[None]:
    route53_strict.uninstall()
    yield
    route53_strict.install()


def txt(action: str, *values: str, ttl: int = 60, name: str = NAME) -> dict[str, Any]:
    return {
        "Action": action,
        "ResourceRecordSet": {
            "Name": name,
            "Type": "TXT",
            "TTL": ttl,
            "ResourceRecords": [{"Value": f'"{v}"'} for v in values],
        },
    }


def change(client: Any, zone_id: str, *changes: dict[str, Any]) -> None:
    client.change_resource_record_sets(
        HostedZoneId=zone_id, ChangeBatch={"Changes": list(changes)}
    )


def current(client: Any, zone_id: str, name: str = NAME) -> tuple[int, list[str]] | None:
    page = client.list_resource_record_sets(
        HostedZoneId=zone_id, StartRecordName=name, StartRecordType="TXT", MaxItems="1"
    )
    for rrset in page["ResourceRecordSets"]:
        if rrset["Name"].rstrip(".").lower() == name and rrset["Type"] == "TXT":
            return rrset["TTL"], sorted(r["Value"] for r in rrset["ResourceRecords"])
    return None


def rejected(client: Any, zone_id: str, *changes: dict[str, Any]) -> str:
    with pytest.raises(ClientError) as caught:
        change(client, zone_id, *changes)
    error = caught.value.response["Error"]
    assert error["Code"] == "InvalidChangeBatch"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return str(error["Message"])


def test_install_is_idempotent(endpoint: str) -> None:
    before = route53_strict.Route53Backend.change_resource_record_sets
    route53_strict.install()
    route53_strict.install()
    assert route53_strict.installed()
    assert route53_strict.Route53Backend.change_resource_record_sets is before


def test_create_over_existing_record_set_is_rejected(client: Any, zone_id: str) -> None:
    change(client, zone_id, txt("CREATE", "a"))
    message = rejected(client, zone_id, txt("CREATE", "b"))
    assert (
        f"Tried to create resource record set [name='{NAME}.', type='TXT'] "
        "but it already exists" in message
    )
    assert current(client, zone_id) == (60, ['"a"'])


@pytest.mark.parametrize(
    "wrong",
    [txt("DELETE", "a"), txt("DELETE", "a", "b", "c"), txt("DELETE", "a", "b", ttl=300)],
    ids=["missing-value", "extra-value", "other-ttl"],
)
def test_delete_must_match_exactly(client: Any, zone_id: str, wrong: dict[str, Any]) -> None:
    change(client, zone_id, txt("CREATE", "a", "b"))
    message = rejected(client, zone_id, wrong)
    assert (
        f"Tried to delete resource record set [name='{NAME}.', type='TXT'] "
        "but the values provided do not match the current values" in message
    )
    assert current(client, zone_id) == (60, ['"a"', '"b"'])


def test_delete_of_missing_record_set_is_rejected(client: Any, zone_id: str) -> None:
    message = rejected(client, zone_id, txt("DELETE", "a"))
    assert "but it was not found" in message


def test_exact_delete_ignores_value_order_and_name_case(client: Any, zone_id: str) -> None:
    change(client, zone_id, txt("CREATE", "a", "b"))
    change(client, zone_id, txt("DELETE", "b", "a", name=NAME.upper() + "."))
    assert current(client, zone_id) is None


def test_delete_then_create_replaces_in_one_batch(client: Any, zone_id: str) -> None:
    change(client, zone_id, txt("CREATE", "a"))
    change(client, zone_id, txt("DELETE", "a"), txt("CREATE", "a", "b"))
    assert current(client, zone_id) == (60, ['"a"', '"b"'])


def test_batch_is_all_or_nothing(client: Any, zone_id: str) -> None:
    other = "_acme-challenge.www.example.com"
    change(client, zone_id, txt("CREATE", "a"))
    rejected(client, zone_id, txt("CREATE", "x", name=other), txt("DELETE", "stale"))
    assert current(client, zone_id, other) is None
    assert current(client, zone_id) == (60, ['"a"'])


def test_duplicate_values_are_rejected(client: Any, zone_id: str) -> None:
    message = rejected(client, zone_id, txt("CREATE", "a", "a"))
    assert "Duplicate Resource Record" in message


def test_recreating_a_deleted_value_is_allowed(client: Any, zone_id: str) -> None:
    # moto's own journal check refuses this when any record sorts after the name.
    change(client, zone_id, txt("CREATE", "z", name="zzz.example.com"))
    change(client, zone_id, txt("CREATE", "a"))
    change(client, zone_id, txt("DELETE", "a"))
    change(client, zone_id, txt("CREATE", "a"))
    assert current(client, zone_id) == (60, ['"a"'])


def test_upsert_still_replaces(client: Any, zone_id: str) -> None:
    change(client, zone_id, txt("UPSERT", "a"))
    change(client, zone_id, txt("UPSERT", "b"))
    assert current(client, zone_id) == (60, ['"b"'])


def test_name_outside_the_zone_is_rejected(client: Any, zone_id: str) -> None:
    message = rejected(client, zone_id, txt("CREATE", "a", name="_acme-challenge.notexample.com"))
    assert "is not permitted in zone example.com." in message


@pytest.mark.usefixtures("unpatched")
def test_moto_alone_accepts_what_route53_rejects(client: Any, zone_id: str) -> None:
    """Why the patch exists: without it both checks above pass silently."""
    change(client, zone_id, txt("CREATE", "a", "b"))
    change(client, zone_id, txt("CREATE", "c"))  # Route 53: "already exists"
    # Route 53: the values do not match [a, b]; moto drops every TXT set of that name.
    change(client, zone_id, txt("DELETE", "c"))
    assert current(client, zone_id) is None
