"""Teams sharing one deployment, end to end on the local stack.

The stack's TEAMS_FILE is local_stack/teams.toml: `alpha` (suffixes under example.com,
team.example.com and example.net, its own Slack webhook, staging allowed) and `beta` (one suffix
under example.net, no webhook, ec256 only, no staging). A team's request arrives as EventBridge
delivers it; a direct invoke is the operators'. Each test checks what a team sees (the outcome,
its Slack channel, the outcome event) and what must not happen (S3, Route 53 and the CA
untouched by a refused request).
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from local_stack import Stack
from local_stack.seed import SLACK_WEBHOOK_PATH, TEAM_WEBHOOK_PATHS, TEAMS_FILE
from tests.e2e.faults_support import moto, orders_for
from tests.e2e.support import (
    ISSUER,
    assert_valid_stored,
    challenge_values,
    client,
    invoke,
    s3_keys,
    stored_set,
    unique,
    zone_ids,
)
from wildcert import container
from wildcert.adapters.bucket.certificates import CertificateStore
from wildcert.adapters.bucket.leases import InFlight, Journal
from wildcert.adapters.bucket.objects import Bucket
from wildcert.jobs.issue.outcome import StageFailure

# Fault rules (the rate limit, an event bus outage) are this module's own, and so is the
# count of each team's refusals the operators' channel was spared.
pytestmark = pytest.mark.usefixtures("fresh_faults", "fresh_container")

ACCOUNT = "123456789012"
OPERATORS = SLACK_WEBHOOK_PATH
ALPHA = TEAM_WEBHOOK_PATHS["alpha"]


def team_event(team: str, detail: dict[str, Any], *, account: str = ACCOUNT,
               source: str | None = None) -> dict[str, Any]:
    """A request as EventBridge delivers it to the issuer from a team's `put-events`."""
    return {
        "version": "0", "id": str(uuid.uuid4()),
        "detail-type": "wildcert.certificate.requested",
        "source": source or f"wildcert.team.{team}", "account": account,
        "time": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "eu-west-1", "resources": [], "detail": detail,
    }


def send(event: object) -> Any:
    """Invoke the issuer's handler as Lambda does (a team's event, a direct or SQS request)."""
    return invoke(ISSUER, event)


def route53_state() -> dict[str, list[dict[str, Any]]]:
    route53 = client("route53")
    state: dict[str, list[dict[str, Any]]] = {}
    for zone in zone_ids():
        pages = route53.get_paginator("list_resource_record_sets").paginate(HostedZoneId=zone)
        state[zone] = [r for page in pages for r in page["ResourceRecordSets"]]
    return state


@dataclass(frozen=True)
class World:
    """Everything a refused request must leave as it was."""

    keys: frozenset[str]
    records: dict[str, list[dict[str, Any]]]
    new_orders: int

    @classmethod
    def now(cls, stack: Stack) -> World:
        return cls(frozenset(s3_keys()), route53_state(), len(stack.acme_front.new_orders()))


def slack_posts(stack: Stack, since: int) -> list[tuple[str, str]]:
    """(webhook path, payload as text) of every post after the first `since`."""
    return [(m["path"], json.dumps(m["payload"])) for m in stack.slack_messages()[since:]]


def refused(result: dict[str, Any], rule: str) -> None:
    assert result["status"] == "rejected", result
    assert result["stage"] == "policy", result
    assert rule in result["rules"], result
    assert rule in result["message"], result


@pytest.fixture
def outcome_events() -> Iterator[OutcomeEvents]:
    events = OutcomeEvents(os.environ["WILDCERT_OUTCOME_QUEUE_URL"])
    events.drain()
    yield events


class OutcomeEvents:
    """The outcome events the issuer put on the bus, as a rule delivers them to a queue."""

    def __init__(self, url: str):
        self.url = url
        self.seen: list[dict[str, Any]] = []

    def drain(self) -> list[dict[str, Any]]:
        sqs = client("sqs")
        while True:
            messages = sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10,
                                           WaitTimeSeconds=0).get("Messages", [])
            if not messages:
                return self.seen
            for message in messages:
                self.seen.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])

    def about(self, name: str | None) -> list[dict[str, Any]]:
        return [e for e in self.drain() if e["detail"].get("name") == name]


# -- a team inside its policy ------------------------------------------------------------------


def test_alpha_inside_its_suffix_is_issued_and_owns_the_name(stack: Stack) -> None:
    label = unique("a")
    domains = [f"*.{label}.alpha.example.com", f"{label}.alpha.example.com"]
    event = team_event("alpha", {"domains": domains})
    result = send(event)
    assert result["status"] == "issued", result
    # No name given: the team's namespace and the derived name.
    name = f"alpha.wildcard.{label}.alpha.example.com"
    assert result["name"] == name and result["team"] == "alpha"
    meta = assert_valid_stored(name, domains)
    assert meta["team"] == "alpha"
    assert meta["requester"] == {"kind": "eventbridge", "account": ACCOUNT,
                                 "source": "wildcert.team.alpha", "event_id": event["id"]}
    assert result["requester"] == meta["requester"]
    assert challenge_values() == {}


def test_a_team_may_ask_for_its_suffix_itself_and_a_wildcard_at_it_when_allowed() -> None:
    """alpha may (apex, wildcard_at_suffix); beta may not, and each refusal names its rule."""
    label = unique("s")
    with_apex = send(team_event("alpha", {"name": f"alpha.{label}",
                                            "domains": ["alpha.team.example.com"]}))
    assert with_apex["status"] == "issued", with_apex
    refused(send(team_event("beta", {"name": f"beta.{label}",
                                       "domains": ["beta.example.net"]})), "apex-not-allowed")
    refused(send(team_event("beta", {"name": f"beta.{label}w",
                                       "domains": ["*.beta.example.net"]})),
            "wildcard-at-suffix-not-allowed")


# -- what one team must not do to another ------------------------------------------------------


def test_beta_cannot_overwrite_alphas_certificate(stack: Stack) -> None:
    label = unique("o")
    name = f"alpha.{label}"
    first = send(team_event("alpha", {"name": name,
                                        "domains": [f"*.{label}.alpha.example.com"]}))
    assert first["status"] == "issued", first
    before, since = World.now(stack), len(stack.slack_messages())
    # Beta's own host names, at alpha's name; then alpha's host names at alpha's name.
    for domains in ([f"x.{label}.beta.example.net"], [f"x.{label}.alpha.example.com"]):
        result = send(team_event("beta", {"name": name, "domains": domains, "force": True}))
        refused(result, "name-outside-namespace")  # as if alpha.<label> were unused
        assert result["team"] == "beta"
    assert World.now(stack) == before
    meta, _ = stored_set(name)
    assert meta["serial"] == first["serial"] and meta["team"] == "alpha"
    # Beta (no channel of its own) hears through the operators' channel, which gets its first
    # refusal of the hour only; alpha's channel hears nothing.
    assert [path for path, _ in slack_posts(stack, since)] == [OPERATORS]


def test_beta_cannot_get_a_certificate_for_alphas_host_names(stack: Stack) -> None:
    label = unique("h")
    before = World.now(stack)
    result = send(team_event("beta", {"name": f"beta.copy-{label}",
                                        "domains": [f"login.{label}.alpha.example.com"]}))
    refused(result, "suffix-not-allowed")
    assert f"login.{label}.alpha.example.com" in result["message"]
    assert World.now(stack) == before


def test_beta_cannot_list_alphas_hosts_as_its_endpoints(stack: Stack) -> None:
    """Alpha's hosts are in the stack's hosted zones, but not under beta's suffixes."""
    label = unique("e")
    before = World.now(stack)
    result = send(team_event("beta", {
        "name": f"beta.{label}", "domains": [f"*.{label}.beta.example.net"],
        "endpoints": [f"www.{label}.beta.example.net:443",
                      f"login.{label}.alpha.example.com:443"]}))
    refused(result, "endpoint-not-allowed")
    assert f"login.{label}.alpha.example.com:443" in result["message"]
    assert World.now(stack) == before


def test_a_teams_request_that_meets_a_lease_is_told_busy(
        stack: Stack, outcome_events: OutcomeEvents) -> None:
    """EventBridge does not deliver a returned `busy` again: the team hears it as an event."""
    label = unique("bz")
    name = f"alpha.{label}"
    leases = InFlight(Bucket(client("s3"), os.environ["CERT_BUCKET"], os.environ["KMS_KEY_ID"]))
    now = dt.datetime.now(dt.UTC)
    lease, _ = leases.acquire(Journal(name=name, holder="another-attempt",
                                      domains=(f"{label}.alpha.example.com",),
                                      key_type="ec256", expires_at=InFlight.until(now, 600)),
                              now)
    try:
        result = send(team_event("alpha", {"name": name,
                                             "domains": [f"{label}.alpha.example.com"]}))
        assert result["status"] == "busy", result
        (told,) = outcome_events.about(name)
        assert told["detail-type"] == "wildcert.certificate.busy"
        assert told["detail"]["team"] == "alpha" and told["detail"]["retry_after"] > 500
    finally:
        leases.release(lease)


def test_a_teams_refusals_reach_the_operators_as_a_summary(stack: Stack) -> None:
    """Fifteen junk requests: alpha's channel hears each, the operators' channel the first
    (saying the rest are not posted there), and the next hour's first says how many were
    held back."""
    since = len(stack.slack_messages())
    for index in range(15):
        refused(send(team_event("alpha", {"name": f"beta.junk{index}",
                                            "domains": [f"x{index}.alpha.example.com"]})),
                "name-outside-namespace")
    posts = slack_posts(stack, since)
    assert [p for p, _ in posts].count(ALPHA) == 15
    (summary,) = [text for path, text in posts if path == OPERATORS]
    assert "first refusal each hour" in summary and "beta.junk0" in summary
    # An hour later the operators hear again, with the count they were spared.
    tally = container.current().refusals
    assert tally.to_operators("alpha", "2999-01-01T00") == (True, 14)


def test_each_team_hears_its_own_outcomes_on_its_own_bus(
        stack: Stack, outcome_events: OutcomeEvents) -> None:
    """Alpha's teams.toml names a bus of its own: its outcomes (issued, refused) arrive there
    as on the stack's bus; beta's never do."""
    own = OutcomeEvents(os.environ["WILDCERT_ALPHA_OUTCOME_QUEUE_URL"])
    own.drain()
    label = unique("ob")
    issued = send(team_event("alpha", {"name": f"alpha.{label}",
                                         "domains": [f"{label}.alpha.example.com"]}))
    assert issued["status"] == "issued", issued
    refused(send(team_event("alpha", {"name": f"alpha.{label}-x", "key_type": "rsa4096",
                                        "domains": [f"{label}.alpha.example.com"]})),
            "key-type-not-allowed")
    refused(send(team_event("beta", {"name": f"beta.{label}",
                                       "domains": [f"{label}.alpha.example.com"]})),
            "suffix-not-allowed")
    seen = [e for e in own.drain() if label in (e["detail"]["name"] or "")]
    assert sorted((e["detail-type"], e["detail"]["name"]) for e in seen) == [
        ("wildcert.certificate.issued", f"alpha.{label}"),
        ("wildcert.certificate.rejected", f"alpha.{label}-x")]
    assert {e["detail"]["team"] for e in seen} == {"alpha"}
    assert len(outcome_events.about(f"beta.{label}")) == 1  # on the stack's bus only


def test_a_message_of_any_queue_but_the_renewal_queue_is_refused(stack: Stack) -> None:
    """Beta maps a queue of its own to the issuer and asks for alpha's host names through it:
    the record names its queue, and only the renewal queue's records are taken."""
    label = unique("q")
    before = World.now(stack)
    beta_queue = f"arn:aws:sqs:eu-west-1:{ACCOUNT}:beta-{label}"
    asked = {"name": f"alpha.{label}", "domains": [f"login.{label}.alpha.example.com"],
             "key_type": "ec256"}
    (result,) = send(renewal_message({**asked, "serial": None}, beta_queue))["results"]
    refused(result, "queue-not-allowed")
    assert beta_queue in result["message"]
    assert World.now(stack) == before


def test_a_team_cannot_ask_for_a_whole_zone(stack: Stack) -> None:
    before = World.now(stack)
    result = send(team_event("beta", {"domains": ["*.example.com"]}))
    refused(result, "suffix-not-allowed")
    assert World.now(stack) == before


def test_a_name_outside_the_teams_namespace_is_refused(stack: Stack) -> None:
    label = unique("n")
    before = World.now(stack)
    result = send(team_event("beta", {"name": f"{label}",
                                        "domains": [f"{label}.beta.example.net"]}))
    refused(result, "name-outside-namespace")
    assert World.now(stack) == before


def test_unlisted_key_type_and_staging_are_refused_with_every_rule(stack: Stack) -> None:
    label = unique("k")
    before = World.now(stack)
    result = send(team_event("beta", {"name": f"beta.{label}", "key_type": "ec384",
                                        "ca": "staging",
                                        "domains": [f"{label}.beta.example.net"]}))
    refused(result, "key-type-not-allowed")
    refused(result, "staging-not-allowed")
    assert World.now(stack) == before


@pytest.mark.parametrize(("source", "account", "rule"), [
    ("wildcert.team.gamma", ACCOUNT, "unknown-source"),
    ("platform.team-payments", ACCOUNT, "unknown-source"),
    ("wildcert.team.alpha", "999999999999", "account-not-allowed"),
])
def test_the_events_source_and_account_are_checked(stack: Stack, source: str, account: str,
                                                    rule: str) -> None:
    label = unique("u")
    before = World.now(stack)
    result = send(team_event("alpha", {"name": f"alpha.{label}",
                                         "domains": [f"{label}.alpha.example.com"]},
                               source=source, account=account))
    refused(result, rule)
    assert World.now(stack) == before


# -- staging -----------------------------------------------------------------------------------


def test_staging_uses_its_own_directory_and_account(stack: Stack) -> None:
    label = unique("st")
    name = f"alpha.{label}"
    domains = [f"{label}.alpha.example.net"]
    result = send(team_event("alpha", {"name": name, "domains": domains, "ca": "staging"}))
    assert result["status"] == "issued", result
    meta = assert_valid_stored(name, domains)
    assert meta["ca"] == "staging"
    store = CertificateStore.__new__(CertificateStore)
    staging = os.environ["ACME_STAGING_DIRECTORY_URL"]
    assert staging != os.environ["ACME_DIRECTORY_URL"]
    # Alpha's own account at the staging directory.
    account = json.loads(moto("s3").get_object(
        Bucket=os.environ["CERT_BUCKET"], Key=store.account_key(staging, "alpha"))["Body"].read())
    (order,) = orders_for(stack, domains)
    assert order["protected"]["kid"] == account["account_url"]


# -- Slack and outcome events ------------------------------------------------------------------


def test_each_teams_messages_go_to_its_channel_and_the_operators(
        stack: Stack, outcome_events: OutcomeEvents) -> None:
    label = unique("sl")
    since = len(stack.slack_messages())
    issued = send(team_event("alpha", {"name": f"alpha.{label}",
                                         "domains": [f"{label}.alpha.example.com"]}))
    assert issued["status"] == "issued", issued
    posts = slack_posts(stack, since)
    assert sorted(path for path, _ in posts) == sorted([ALPHA, OPERATORS])
    assert all(f"alpha.{label}" in text and "issued" in text for _, text in posts)

    since = len(stack.slack_messages())
    rejected = send(team_event("beta", {"name": f"beta.{label}", "key_type": "rsa4096",
                                          "domains": [f"{label}.beta.example.net"]}))
    assert rejected["status"] == "rejected"
    # beta has no webhook of its own: the operators' channel, once.
    posts = slack_posts(stack, since)
    assert [path for path, _ in posts] == [OPERATORS]
    assert "key-type-not-allowed" in posts[0][1]

    (issued_event,) = outcome_events.about(f"alpha.{label}")
    assert issued_event["source"] == "wildcert"
    assert issued_event["detail-type"] == "wildcert.certificate.issued"
    detail = issued_event["detail"]
    assert detail["team"] == "alpha" and detail["serial"] == issued["serial"]
    assert detail["domains"] == [f"{label}.alpha.example.com"]
    assert detail["not_after"] == issued["not_after"]
    assert detail["location"] == issued["location"]
    (rejected_event,) = outcome_events.about(f"beta.{label}")
    assert rejected_event["detail-type"] == "wildcert.certificate.rejected"
    assert rejected_event["detail"]["team"] == "beta"
    assert rejected_event["detail"]["stage"] == "policy"
    assert "key-type-not-allowed" in rejected_event["detail"]["reason"]


def test_an_event_bus_outage_never_fails_an_issuance(stack: Stack) -> None:
    stack.aws_faults.add(service="events", operation="PutEvents", action="error",
                         error="InternalException", status=500)
    label = unique("eo")
    result = send(team_event("alpha", {"name": f"alpha.{label}",
                                         "domains": [f"{label}.alpha.example.com"]}))
    assert result["status"] == "issued", result
    assert stack.aws_faults.stats()["faults_fired"]


# -- fairness: one team's rate limit -----------------------------------------------------------


def test_a_rate_limit_for_betas_domain_leaves_alphas_order_untouched(
        stack: Stack, outcome_events: OutcomeEvents) -> None:
    stack.acme_front.inject(
        "newOrder", "rateLimited", count=1, retry_after=3600,
        detail='too many certificates (50) already issued for "example.net" in the last '
               "168h0m0s, retry after 2026-12-30 00:00:00 UTC: see "
               "https://letsencrypt.org/docs/rate-limits/#new-certificates-per-registered-domain")
    beta, alpha = unique("rb"), unique("ra")
    try:
        with pytest.raises(StageFailure) as limited:
            send(team_event("beta", {"name": f"beta.{beta}",
                                       "domains": [f"{beta}.beta.example.net"]}))
        assert "rateLimited" in limited.value.message
        (failed,) = outcome_events.about(f"beta.{beta}")
        assert failed["detail-type"] == "wildcert.certificate.failed"
        assert failed["detail"]["stage"] == "acme" and failed["detail"]["team"] == "beta"
        assert "rateLimited" in failed["detail"]["reason"]

        alpha_domains = [f"*.{alpha}.alpha.example.com"]
        result = send(team_event("alpha", {"name": f"alpha.{alpha}",
                                             "domains": alpha_domains}))
        assert result["status"] == "issued", result
        assert len(orders_for(stack, alpha_domains)) == 1

        # What the CA limited waits, without asking it: beta again, and alpha under example.net.
        new_orders = len(stack.acme_front.new_orders())
        for team, domain in (("beta", f"{beta}.beta.example.net"),
                             ("alpha", f"{alpha}.alpha.example.net")):
            with pytest.raises(StageFailure) as deferred:
                send(team_event(team, {"name": f"{team}.{unique('rd')}",
                                         "domains": [domain]}))
            assert deferred.value.deferred and deferred.value.retry_after > 3000
        assert len(stack.acme_front.new_orders()) == new_orders
    finally:
        clear_cooldowns()


@pytest.fixture
def ca_limits(stack: Stack) -> Iterator[Stack]:
    """The CA's own limits (the front's model of Let's Encrypt's), counted from now."""
    stack.acme_front.reset()
    yield stack
    stack.acme_front.reset()
    clear_cooldowns()


def beta_until_limited(label: str) -> StageFailure:
    """Beta's first new certificate is issued; its second meets the CA's limit and waits."""
    first = send(team_event("beta", {"name": f"beta.{label}",
                                       "domains": [f"{label}.beta.example.net"]}))
    assert first["status"] == "issued", first
    with pytest.raises(StageFailure) as limited:
        send(team_event("beta", {"name": f"beta.{label}-2",
                                   "domains": [f"{label}-2.beta.example.net"]}))
    assert limited.value.deferred, limited.value.message
    return limited.value


def test_betas_domain_limit_never_holds_alphas_renewal_of_its_exact_set(
        ca_limits: Stack) -> None:
    """The CA exempts a renewal of an exact set from the per-registered-domain limit, so the
    cooldown beta's orders started for example.net must not hold alpha's renewal."""
    stack = ca_limits
    label = unique("ex")
    domains = [f"{label}.alpha.example.net"]
    first = send(team_event("alpha", {"name": f"alpha.{label}", "domains": domains}))
    assert first["status"] == "issued", first
    stack.acme_front.set_limits(certificates_per_domain=1)
    limited = beta_until_limited(label)
    assert "example.net" in limited.message

    meta, _ = stored_set(f"alpha.{label}")
    (renewed,) = send(renewal_message(meta))["results"]
    assert renewed["status"] == "renewed" and renewed["renewal"] is True, renewed
    assert len(orders_for(stack, domains)) == 2
    assert stack.acme_front.limits()["exempt"]["renewal"] >= 1


def test_betas_account_wide_order_limit_never_stops_alpha(ca_limits: Stack) -> None:
    """Each team orders with an ACME account of its own: beta spending its account's new
    orders leaves alpha's untouched."""
    stack = ca_limits
    label = unique("ac")
    stack.acme_front.set_limits(orders_per_account=1)
    beta_until_limited(label)
    assert stack.acme_front.limits()["refused"].get("newOrdersPerAccount", 0) >= 1

    domains = [f"{label}.alpha.example.com"]
    result = send(team_event("alpha", {"name": f"alpha.{label}", "domains": domains}))
    assert result["status"] == "issued", result
    (alphas,) = orders_for(stack, domains)
    (betas,) = orders_for(stack, [f"{label}.beta.example.net"])
    assert alphas["protected"]["kid"] != betas["protected"]["kid"]
    # Each team's account is its own, per directory, next to the operators' default one.
    directory = os.environ["ACME_DIRECTORY_URL"]
    assert {"alpha", "beta"} <= {key.rsplit("/", 1)[-1].removesuffix(".json") for key in
                                 s3_keys_direct(CertificateStore.accounts_prefix(directory))}


def clear_cooldowns() -> None:
    s3 = moto("s3")
    for key in s3_keys_direct("_wildcert/ca-cooldown/"):
        s3.delete_object(Bucket=os.environ["CERT_BUCKET"], Key=key)


def s3_keys_direct(prefix: str) -> set[str]:
    pages = moto("s3").get_paginator("list_objects_v2").paginate(
        Bucket=os.environ["CERT_BUCKET"], Prefix=prefix)
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


# -- caps --------------------------------------------------------------------------------------


@pytest.fixture
def small_team(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A team of this test alone, with a cap of two certificates and one forced renewal a day."""
    team = unique("cap")
    policy = tmp_path / "teams.toml"
    policy.write_text(
        f'[teams.{team}]\nsources = ["wildcert.team.{team}"]\naccounts = ["{ACCOUNT}"]\n'
        f'suffixes = ["{team}.example.net"]\nkey_types = ["ec256"]\n'
        "max_certificates = 2\nmax_forced_per_day = 1\n")
    monkeypatch.setenv("TEAMS_FILE", str(policy))
    return team


def test_the_certificate_cap_counts_what_the_team_owns(stack: Stack, small_team: str) -> None:
    team = small_team

    def ask(label: str, **extra: Any) -> dict[str, Any]:
        return send(team_event(team, {"name": f"{team}.{label}",
                                        "domains": [f"{label}.{team}.example.net"], **extra}))

    assert ask("one")["status"] == "issued"
    assert ask("two")["status"] == "issued"
    before = World.now(stack)
    refused(ask("three"), "certificate-cap-reached")
    assert World.now(stack) == before
    # Renewing what it owns is not a new certificate; the second forced one today is refused.
    assert ask("one", force=True)["status"] == "renewed"
    before = World.now(stack)
    refused(ask("two", force=True), "forced-per-day-cap-reached")
    assert World.now(stack) == before


def test_every_early_order_counts_towards_the_forced_cap(stack: Stack, small_team: str) -> None:
    """Changing a certificate's domains reissues it before it is due, as `force` does: each
    such order is counted, so the cap bounds them."""
    team = small_team
    name = f"{team}.web"

    def ask(*labels: str) -> dict[str, Any]:
        return send(team_event(team, {"name": name, "domains": [
            f"{label}.{team}.example.net" for label in labels]}))

    assert ask("a")["status"] == "issued"
    assert ask("a", "b")["status"] == "renewed"  # today's one early reissue
    before = World.now(stack)
    refused(ask("a", "b", "c"), "forced-per-day-cap-reached")
    assert World.now(stack) == before


def test_the_certificate_cap_holds_under_concurrent_requests(stack: Stack,
                                                            small_team: str) -> None:
    """With room for one more certificate, three new names asked for at once: one is issued,
    the others are refused, and the refusals leave no reservation behind."""
    team = small_team
    assert send(team_event(team, {"name": f"{team}.first",
                                    "domains": [f"first.{team}.example.net"]}))["status"] \
        == "issued"
    labels = [unique("c") for _ in range(3)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda label: send(team_event(team, {
            "name": f"{team}.{label}", "domains": [f"{label}.{team}.example.net"]})), labels))
    assert sorted(r["status"] for r in results) == ["issued", "rejected", "rejected"], results
    for result in results:
        if result["status"] == "rejected":
            refused(result, "certificate-cap-reached")
    # The certificates' prefixes (the team's inventory object, <team>._inventory.json, is none).
    assert len({k.split("/")[0] for k in s3_keys(f"{team}.") if "/" in k}) == 2


# -- names from before teams -------------------------------------------------------------------


def renewal_message(meta: dict[str, Any], queue_arn: str | None = None) -> dict[str, Any]:
    """What the sweep puts on the renewal queue for a stored certificate, as Lambda delivers it
    (from `queue_arn`: by default the renewal queue, RENEWAL_QUEUE_ARN)."""
    body = {"domains": meta["domains"], "name": meta["name"], "key_type": meta["key_type"],
            "force": True, "renews": meta["serial"]}
    return {"Records": [{"eventSource": "aws:sqs", "messageId": str(uuid.uuid4()),
                         "eventSourceARN": queue_arn or os.environ["RENEWAL_QUEUE_ARN"],
                         "body": json.dumps(body)}]}


def test_a_name_from_before_teams_is_still_renewed_for_the_operators(stack: Stack) -> None:
    label = unique("legacy")
    domains = [f"{label}.example.com"]
    first = send({"domains": domains, "name": label})  # a direct invoke: the operators
    assert first["status"] == "issued", first
    meta, _ = stored_set(label)
    assert "team" not in meta
    assert meta["requester"] == {"kind": "direct"}

    response = send(renewal_message(meta))
    (renewed,) = response["results"]
    assert renewed["status"] == "renewed" and renewed["renewal"] is True, renewed
    meta, _ = stored_set(label)
    assert "team" not in meta and meta["serial"] == renewed["serial"]
    assert meta["requester"]["kind"] == "queue"


def test_a_teams_renewal_from_the_queue_acts_for_the_owner(
        stack: Stack, outcome_events: OutcomeEvents) -> None:
    label = unique("tq")
    name = f"alpha.{label}"
    first = send(team_event("alpha", {"name": name,
                                        "domains": [f"{label}.alpha.example.com"]}))
    assert first["status"] == "issued", first
    meta, _ = stored_set(name)
    since = len(stack.slack_messages())
    (renewed,) = send(renewal_message(meta))["results"]
    assert renewed["status"] == "renewed" and renewed["team"] == "alpha", renewed
    assert stored_set(name)[0]["team"] == "alpha"
    assert sorted(p for p, _ in slack_posts(stack, since)) == sorted([ALPHA, OPERATORS])
    kinds = [e["detail-type"] for e in outcome_events.about(name)]
    assert kinds == ["wildcert.certificate.issued", "wildcert.certificate.renewed"]
    # The same message again: skipped, and said so.
    (skipped,) = send(renewal_message(meta))["results"]
    assert skipped["status"] == "skipped", skipped
    (event,) = outcome_events.about(name)[2:]
    assert event["detail-type"] == "wildcert.certificate.skipped"
    assert "already replaced" in event["detail"]["reason"]


def test_a_renewal_that_no_longer_fits_the_teams_policy_is_refused_saying_why(
        stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Alpha gave up alpha.example.com (teams.toml changed): the renewal queue's message for a
    certificate under it is refused, naming what changed; the operators' names renew on."""
    label = unique("pc")
    name = f"alpha.{label}"
    first = send(team_event("alpha", {"name": name, "domains": [f"{label}.alpha.example.com"]}))
    assert first["status"] == "issued", first
    meta, _ = stored_set(name)
    policy = tmp_path / "teams.toml"
    policy.write_text(TEAMS_FILE.read_text().replace(
        'suffixes = ["alpha.example.com", ', "suffixes = ["))
    monkeypatch.setenv("TEAMS_FILE", str(policy))
    before = World.now(stack)
    (result,) = send(renewal_message(meta))["results"]
    refused(result, "policy-changed")
    assert "team alpha's policy changed" in result["message"]
    assert f"{label}.alpha.example.com" in result["message"]
    assert result["team"] == "alpha"
    assert World.now(stack) == before


def test_an_operator_assigns_a_name_from_before_teams_to_a_team(stack: Stack) -> None:
    from wildcert.tools import assign_team

    label = unique("as")
    domains = [f"{label}.alpha.example.com"]
    assert send({"domains": domains, "name": label})["status"] == "issued"
    refused(send(team_event("alpha", {"name": label, "domains": domains, "force": True})),
            "name-outside-namespace")

    assert assign_team.main([label, "alpha"]) == 1  # outside alpha's namespace: said so
    assert assign_team.main([label, "alpha", "--outside-namespace"]) == 0
    assert stored_set(label)[0]["team"] == "alpha"
    renewed = send(team_event("alpha", {"name": label, "domains": domains, "force": True}))
    assert renewed["status"] == "renewed", renewed
    refused(send(team_event("beta", {"name": label, "domains": domains})),
            "name-outside-namespace")
