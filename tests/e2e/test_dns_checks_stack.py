"""dns_checks against the local stack's authoritative server over moto's Route 53 zones.

CAA at a zone apex would change the verdict for every other test sharing the seeded zones, so
these tests make hosted zones of their own (unique names) and delete them afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from local_stack import Stack
from wildcert.adapters import dns as dns_checks
from wildcert.adapters.dns import PropagationTimeout, Server, caa_preflight, wait_for_txt
from wildcert.deadline import Deadline

pytestmark = pytest.mark.stack

LE = '0 issue "letsencrypt.org"'


def txt_answered(stack: Stack) -> int:
    """TXT queries the stack's DNS server has answered since it started."""
    return int(stack.stats()["dns"]["by_qtype"].get("TXT", 0))


class Zone:
    """A hosted zone made for one test; records are written with UPSERT."""

    def __init__(self, route53: Any, name: str) -> None:
        self.route53 = route53
        self.name = name
        created = route53.create_hosted_zone(
            Name=name, CallerReference=f"dns-checks-{uuid.uuid4()}",
            HostedZoneConfig={"Comment": "wildcert dns_checks test", "PrivateZone": False},
        )
        self.id = created["HostedZone"]["Id"].rsplit("/", 1)[-1]
        self.name_servers: list[str] = created["DelegationSet"]["NameServers"]

    def put(self, label: str, rdtype: str, *values: str) -> str:
        name = f"{label}.{self.name}" if label else self.name
        self.route53.change_resource_record_sets(
            HostedZoneId=self.id,
            ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": {
                "Name": name + ".", "Type": rdtype, "TTL": 60,
                "ResourceRecords": [{"Value": v} for v in values],
            }}]},
        )
        return name

    def delete(self) -> None:
        paginator = self.route53.get_paginator("list_resource_record_sets")
        changes = [
            {"Action": "DELETE", "ResourceRecordSet": rrset}
            for page in paginator.paginate(HostedZoneId=self.id)
            for rrset in page["ResourceRecordSets"]
            if rrset["Type"] not in ("SOA", "NS") or rrset["Name"].rstrip(".") != self.name
        ]
        if changes:
            self.route53.change_resource_record_sets(
                HostedZoneId=self.id, ChangeBatch={"Changes": changes}
            )
        self.route53.delete_hosted_zone(Id=self.id)


@pytest.fixture
def new_zone(stack) -> Iterator[Callable[[], Zone]]:
    zones: list[Zone] = []

    def make() -> Zone:
        zone = Zone(stack.client("route53"), f"caa-{uuid.uuid4().hex[:10]}.test")
        zones.append(zone)
        return zone

    yield make
    for zone in zones:
        zone.delete()


@pytest.fixture
def override(stack) -> str:
    return stack.env["DNS_SERVER_OVERRIDE"]


def preflight(domains: list[str], override: str) -> list[str]:
    return caa_preflight(domains, resolver_address=override, deadline=Deadline.after(20))


def test_no_caa_anywhere_allows(new_zone, override) -> None:
    zone = new_zone()
    assert preflight([zone.name, f"*.{zone.name}", f"deep.www.{zone.name}"], override) == []


def test_caa_at_the_apex_forbidding_is_a_problem(new_zone, override) -> None:
    zone = new_zone()
    zone.put("", "CAA", '0 issue "sectigo.com"')
    problems = preflight([f"*.{zone.name}", f"www.{zone.name}"], override)
    assert len(problems) == 2
    assert problems[0].startswith(f"CAA at {zone.name} does not allow letsencrypt.org to "
                                  f"issue for *.{zone.name}")
    assert '0 issue "sectigo.com" allows only sectigo.com' in problems[0]
    assert f'Add `0 issue "letsencrypt.org"` at {zone.name}' in problems[0]


def test_caa_allowing_letsencrypt_is_fine(new_zone, override) -> None:
    zone = new_zone()
    zone.put("", "CAA", LE, '0 iodef "mailto:security@example.com"')
    assert preflight([zone.name, f"*.{zone.name}"], override) == []


def test_closest_ancestor_wins_child_allows(new_zone, override) -> None:
    zone = new_zone()
    zone.put("", "CAA", '0 issue ";"')
    zone.put("app", "CAA", LE)
    assert preflight([f"app.{zone.name}", f"*.app.{zone.name}", f"x.app.{zone.name}"],
                     override) == []
    assert len(preflight([f"other.{zone.name}"], override)) == 1


def test_closest_ancestor_wins_child_forbids(new_zone, override) -> None:
    zone = new_zone()
    zone.put("", "CAA", LE)
    zone.put("app", "CAA", '0 issue "sectigo.com"')
    problems = preflight([f"x.app.{zone.name}"], override)
    assert len(problems) == 1
    assert problems[0].startswith(f"CAA at app.{zone.name} does not allow")
    assert preflight([f"other.{zone.name}"], override) == []


def test_issuewild_governs_the_wildcard_only(new_zone, override) -> None:
    zone = new_zone()
    zone.put("", "CAA", LE, '0 issuewild ";"')
    problems = preflight([zone.name, f"*.{zone.name}"], override)
    assert len(problems) == 1
    assert f"to issue for *.{zone.name} (issuewild records govern" in problems[0]
    assert '0 issuewild ";" forbids every CA' in problems[0]


def test_issuewild_allows_the_wildcard_despite_issue(new_zone, override) -> None:
    zone = new_zone()
    zone.put("", "CAA", '0 issue "sectigo.com"', '0 issuewild "letsencrypt.org"')
    assert preflight([f"*.{zone.name}"], override) == []
    assert len(preflight([zone.name], override)) == 1


def test_caa_at_a_cname_target_in_another_zone_is_used(new_zone, override) -> None:
    zone, elsewhere = new_zone(), new_zone()
    zone.put("", "CAA", LE)
    elsewhere.put("cdn", "CAA", '0 issue "sectigo.com"')
    zone.put("www", "CNAME", f"cdn.{elsewhere.name}.")
    problems = preflight([f"www.{zone.name}"], override)
    assert len(problems) == 1
    assert problems[0].startswith(
        f"CAA at cdn.{elsewhere.name} (the CNAME target of www.{zone.name}) does not allow"
    )


def test_cname_target_without_caa_falls_back_to_the_alias_parents(new_zone, override) -> None:
    zone, elsewhere = new_zone(), new_zone()
    zone.put("", "CAA", '0 issue ";"')
    elsewhere.put("", "CAA", LE)  # the target's parent does not count (RFC 8659)
    elsewhere.put("cdn", "A", "192.0.2.1")
    zone.put("www", "CNAME", f"cdn.{elsewhere.name}.")
    problems = preflight([f"www.{zone.name}"], override)
    assert len(problems) == 1
    assert problems[0].startswith(f"CAA at {zone.name} does not allow")


def test_critical_unknown_property_is_a_problem(new_zone, override) -> None:
    zone = new_zone()
    zone.put("", "CAA", LE, '128 tbs "unknown"')
    problems = preflight([zone.name], override)
    assert len(problems) == 1
    assert "critical" in problems[0]


def test_wait_for_txt_sees_the_values(new_zone, override, stack) -> None:
    zone = new_zone()
    apex = zone.put("_acme-challenge", "TXT", '"token-a"', '"token-b"', '"someone-else"')
    www = zone.put("_acme-challenge.www", "TXT", '"token-c"')
    before = txt_answered(stack)
    wait_for_txt({apex: {"token-a", "token-b"}, www: {"token-c"}}, override,
                 deadline=Deadline.after(20), timeout=5)
    assert txt_answered(stack) - before == 2


def test_wait_for_txt_asks_every_name_server_of_the_zone(new_zone, override, stack,
                                                         monkeypatch) -> None:
    zone = new_zone()
    name = zone.put("_acme-challenge", "TXT", '"token"')
    local = dns_checks.parse_address(override)

    # moto's name server names do not resolve here: all of them stand for the local server.
    def resolve(hosts, *, deadline):
        return {host: Server(local.address, local.port, host) for host in hosts}

    monkeypatch.setattr(dns_checks, "resolve_name_servers", resolve)
    before = txt_answered(stack)
    wait_for_txt({name: {"token"}}, {name: zone.name_servers}, deadline=Deadline.after(20),
                 timeout=5)
    assert txt_answered(stack) - before == len(zone.name_servers)


def test_wait_for_txt_times_out_naming_the_server_and_the_missing_value(new_zone, override
                                                                        ) -> None:
    zone = new_zone()
    name = zone.put("_acme-challenge", "TXT", '"old"')
    absent = f"_acme-challenge.nothing.{zone.name}"
    with pytest.raises(PropagationTimeout) as raised:
        # Long enough for both names to be answered on a loaded machine: the message names
        # what each server last said.
        wait_for_txt({name: {"new"}, absent: {"x"}}, override, deadline=Deadline.after(20),
                     timeout=3)
    message = str(raised.value)
    assert f'{override}: {name} lacks "new"; it shows "old"' in message
    assert f'{override}: {absent} lacks "x": the name does not exist there (NXDOMAIN)' in message
