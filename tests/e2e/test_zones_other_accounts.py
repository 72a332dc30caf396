"""Hosted zones in other accounts, end to end on the local stack.

Team alpha keeps a zone in account 222222222222, team beta one in 333333333333 (moto keeps
accounts apart; a role assumed there acts in that account, and the stack's DNS server serves
every local account's public zones, as Route 53's name servers do). Each zone names the role
the issuer assumes there (deploy/zone-access-role.yaml makes it) and an external id, in a
teams.toml of this module's own.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from local_stack import Stack
from local_stack.route53_source import account_client
from tests.e2e.support import (
    ISSUER,
    assert_valid_stored,
    invoke,
    queued,
    stored_set,
    unique,
)
from wildcert import container
from wildcert.logic.zones import session_name

pytestmark = pytest.mark.usefixtures("fresh_faults")

ALPHA_ACCOUNT, BETA_ACCOUNT = "222222222222", "333333333333"


@dataclass(frozen=True)
class Zone:
    account: str
    id: str
    name: str
    client: Any

    def txt(self) -> dict[str, list[str]]:
        sets = self.client.list_resource_record_sets(HostedZoneId=self.id)["ResourceRecordSets"]
        return {s["Name"]: [r["Value"] for r in s["ResourceRecords"]]
                for s in sets if s["Type"] == "TXT"}


def _zone(stack: Stack, account: str, name: str) -> Zone:
    route53 = account_client("route53", stack.env["WILDCERT_MOTO_URL"], account)
    made = route53.create_hosted_zone(Name=name, CallerReference=str(uuid.uuid4()))
    return Zone(account, made["HostedZone"]["Id"].rsplit("/", 1)[-1], name, route53)


TEAMS = """
[teams.alpha]
sources = ["wildcert.team.alpha"]
accounts = ["{alpha_account}"]
suffixes = ["alpha.{alpha_zone}"]
wildcard_at_suffix = true

[[teams.alpha.zones]]
id = "{alpha_id}"
name = "{alpha_zone}"
role = "arn:aws:iam::{alpha_account}:role/wildcert-zone-access-alpha"
external_id = "alpha-zone-7f3a"

[teams.beta]
sources = ["wildcert.team.beta"]
accounts = ["{beta_account}"]
suffixes = ["beta.{beta_zone}", "beta.{alpha_zone}"]

[[teams.beta.zones]]
id = "{beta_id}"
name = "{beta_zone}"
role = "arn:aws:iam::{beta_account}:role/wildcert-zone-access"
external_id = "beta-zone-91c2"
"""


@dataclass(frozen=True)
class World:
    alpha: Zone
    beta: Zone


@pytest.fixture
def world(stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    tag = uuid.uuid4().hex[:8]
    alpha = _zone(stack, ALPHA_ACCOUNT, f"a{tag}.example.org")
    beta = _zone(stack, BETA_ACCOUNT, f"b{tag}.example.org")
    teams = tmp_path / "teams.toml"
    teams.write_text(TEAMS.format(alpha_account=ALPHA_ACCOUNT, beta_account=BETA_ACCOUNT,
                                  alpha_zone=alpha.name, alpha_id=alpha.id,
                                  beta_zone=beta.name, beta_id=beta.id))
    monkeypatch.setenv("TEAMS_FILE", str(teams))
    container.start_afresh()
    yield World(alpha, beta)
    for zone in (alpha, beta):
        zone.client.delete_hosted_zone(Id=zone.id)


def team_event(team: str, account: str, detail: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "0", "id": str(uuid.uuid4()),
        "detail-type": "wildcert.certificate.requested",
        "source": f"wildcert.team.{team}", "account": account,
        "time": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "eu-west-1", "resources": [], "detail": detail,
    }


def _changes_to(stack: Stack, zone: Zone) -> int:
    return sum(1 for c in stack.aws_faults.calls(service="route53",
                                                 operation="ChangeResourceRecordSets")
               if zone.id in c["path"])


def test_each_teams_zone_is_written_in_its_own_account_through_its_role(
        stack: Stack, world: World, caplog: pytest.LogCaptureFixture) -> None:
    own = {z["Id"].rsplit("/", 1)[-1]
           for z in stack.client("route53").list_hosted_zones()["HostedZones"]}
    assert world.alpha.id not in own and world.beta.id not in own  # not in the stack's account
    for team, account, zone in (("alpha", ALPHA_ACCOUNT, world.alpha),
                                ("beta", BETA_ACCOUNT, world.beta)):
        label = unique("x")
        domains = [f"*.{label}.{team}.{zone.name}", f"{label}.{team}.{zone.name}"]
        event = team_event(team, account, {"domains": domains, "name": f"{team}.{label}"})
        with caplog.at_level(logging.INFO):
            result = invoke(ISSUER, event)
        assert result["status"] == "issued", result
        assert_valid_stored(f"{team}.{label}", domains)
        assert stored_set(f"{team}.{label}")[0]["team"] == team
        assert _changes_to(stack, zone) == 2  # the challenge values added, then removed
        assert zone.txt() == {}
        session = session_name(team, event['id'])
        assert f"as session {session} for route53" in caplog.text
    assert stack.aws_faults.count("sts", "AssumeRole") == 2


def test_a_queued_renewal_assumes_the_zone_role_as_the_certificates_team(
        stack: Stack, world: World, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The renewal queue is no team: the session names the team cert.json says owns it."""
    label = unique("q")
    name, domains = f"alpha.{label}", [f"{label}.alpha.{world.alpha.name}"]
    event = team_event("alpha", ALPHA_ACCOUNT, {"domains": domains, "name": name})
    assert invoke(ISSUER, event)["status"] == "issued"
    serial = stored_set(name)[0]["serial"]
    # Pebble reuses a valid authorization half the time (PEBBLE_AUTHZREUSE's default): a name
    # proved once may need no challenge, and no zone role, again. A name added is proved anew.
    more = [*domains, f"www.{domains[0]}"]
    renewal = queued(monkeypatch.setenv, {"domains": more, "name": name, "force": True,
                                          "renews": serial})
    written = _changes_to(stack, world.alpha)
    with caplog.at_level(logging.INFO):
        (again,) = invoke(ISSUER, renewal)["results"]
    assert again["status"] == "renewed", again
    assert stored_set(name)[0]["team"] == "alpha"
    assert _changes_to(stack, world.alpha) > written and world.alpha.txt() == {}
    session = session_name("alpha", renewal["Records"][0]["messageId"])
    assert f"as session {session} for route53" in caplog.text


def test_a_zone_of_one_team_never_serves_another_teams_names(
        stack: Stack, world: World) -> None:
    """beta's suffix beta.<alpha's zone> lies in alpha's zone: refused, naming both."""
    label = unique("x")
    event = team_event("beta", BETA_ACCOUNT, {
        "domains": [f"{label}.beta.{world.alpha.name}"], "name": f"beta.{label}"})
    result = invoke(ISSUER, event)
    assert result["status"] == "rejected", result
    assert (f"{label}.beta.{world.alpha.name} is in hosted zone {world.alpha.name} "
            f"({world.alpha.id}, account {ALPHA_ACCOUNT}), which belongs to team alpha: it "
            "never serves team beta's certificates.") in result["message"]
    assert stack.aws_faults.count("sts", "AssumeRole") == 0
    assert stack.aws_faults.count("route53", "ChangeResourceRecordSets") == 0
