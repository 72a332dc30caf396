"""The teams' policy: the file (every problem at once), who is asking, and each rule a request
can break, with the sentence that names it."""

from __future__ import annotations

from pathlib import Path

import pytest

from wildcert.logic import teams
from wildcert.logic.request import CertificateRequest, Requester, parse_request
from wildcert.logic.teams import Refusal, Team, Teams, TeamsError, parse_teams

ROOT = Path(__file__).resolve().parents[2]
ZONES = ("example.com", "example.net")

GOOD = """
[teams.alpha]
sources = ["wildcert.team.alpha"]
accounts = ["123456789012"]
suffixes = ["Alpha.Example.com."]
apex = true
wildcard_at_suffix = true
key_types = ["ec256", "rsa2048"]
max_certificates = 3
max_forced_per_day = 2
staging = true
slack_webhook_secret = "wildcert/slack/alpha"

[teams.beta]
sources = ["wildcert.team.beta"]
accounts = ["210987654321"]
suffixes = ["beta.example.net"]
"""


@pytest.fixture
def policy() -> Teams:
    return parse_teams(GOOD)


def request(raw: dict[str, object], namespace: str = "") -> CertificateRequest:
    return parse_request(raw, ZONES, namespace=namespace)


def rules(found: list[Refusal]) -> list[str]:
    return [r.rule for r in found]


# -- the file ----------------------------------------------------------------------------------


def test_a_good_file_with_its_defaults(policy: Teams) -> None:
    alpha, beta = policy.get("alpha"), policy.get("beta")
    assert alpha is not None and beta is not None
    assert alpha.suffixes == ("alpha.example.com",)  # normalised like a requested name
    assert alpha.key_types == ("ec256", "rsa2048") and alpha.staging and alpha.apex
    assert alpha.slack_webhook_secret == "wildcert/slack/alpha"
    # What a team leaves out is the narrow choice.
    assert beta == Team("beta", ("wildcert.team.beta",), ("210987654321",),
                        ("beta.example.net",), apex=False, wildcard_at_suffix=False,
                        key_types=("ec256",), max_certificates=50, max_forced_per_day=10,
                        staging=False, slack_webhook_secret=None)
    assert len(policy) == 2 and policy.get(None) is None and policy.get("gamma") is None


def test_every_problem_in_the_file_is_named_at_once() -> None:
    text = """
    owner = "me"
    [teams.Alpha]
    sources = ["wildcert.team.Alpha"]
    accounts = ["123"]
    suffixes = ["*.alpha.example.com"]
    key_types = ["dsa"]
    apex = "yes"
    max_certificates = -1
    colour = "red"

    [teams.beta]
    accounts = ["123456789012"]
    suffixes = ["beta.example.com"]
    sources = ["wildcert.team.gamma"]

    [teams.gamma]
    accounts = ["123456789012"]
    suffixes = ["x.beta.example.com"]
    sources = ["wildcert.team.gamma"]
    slack_webhook_secret = ""
    """
    with pytest.raises(TeamsError) as raised:
        parse_teams(text, "teams.toml")
    said = "\n".join(raised.value.problems)
    for needle in ("unknown top-level key 'owner'", "[teams.Alpha]: the team id",
                   "account '123' is not a 12-digit", "suffix '*.alpha.example.com'",
                   "key type 'dsa'", "apex must be true or false", "max_certificates must be",
                   "unknown key 'colour'", "source 'wildcert.team.gamma' must be "
                   "wildcert.team.beta", "slack_webhook_secret must be",
                   "[teams.beta] suffix 'beta.example.com' and [teams.gamma] suffix "
                   "'x.beta.example.com' overlap"):
        assert needle in said, needle
    assert len(raised.value.problems) >= 11
    assert str(raised.value).startswith("teams.toml has ")


def test_a_source_in_two_teams_and_missing_keys_are_problems() -> None:
    text = """
    [teams.alpha]
    sources = ["wildcert.team.alpha"]
    accounts = ["123456789012"]
    suffixes = ["alpha.example.com"]
    [teams.alpha-two]
    suffixes = ["two.example.com"]
    """
    with pytest.raises(TeamsError) as raised:
        parse_teams(text)
    assert "[teams.alpha-two]: sources is required" in raised.value.problems
    assert "[teams.alpha-two]: accounts is required" in raised.value.problems


def test_not_toml_is_one_problem() -> None:
    with pytest.raises(TeamsError, match="not valid TOML"):
        parse_teams("[teams.alpha\n")


@pytest.mark.parametrize("path", ["layers/wildcert/teams.toml", "local_stack/teams.toml"])
def test_the_repositorys_policy_files_parse(path: str) -> None:
    parse_teams((ROOT / path).read_text(), path)


def test_a_name_in_a_teams_namespace(policy: Teams) -> None:
    assert policy.namespace_owner("alpha.web") == "alpha"
    assert policy.namespace_owner("alpha") is None
    assert policy.namespace_owner("alphaweb.example.com") is None
    assert policy.namespace_owner("gamma.web") is None


# -- who is asking -----------------------------------------------------------------------------


def test_only_an_eventbridge_event_comes_from_a_team(policy: Teams) -> None:
    assert teams.identify(policy, Requester("direct")) is None
    assert teams.identify(policy, Requester("queue", event_id="m-1")) is None
    found = teams.identify(policy, Requester("eventbridge", "123456789012",
                                             "wildcert.team.alpha", "e-1"))
    assert isinstance(found, Team) and found.id == "alpha"


@pytest.mark.parametrize(("account", "source", "rule"), [
    ("123456789012", "wildcert.team.gamma", teams.UNKNOWN_SOURCE),
    ("123456789012", "wildcert.team.operators", teams.UNKNOWN_SOURCE),
    ("123456789012", None, teams.UNKNOWN_SOURCE),
    ("210987654321", "wildcert.team.alpha", teams.ACCOUNT_NOT_ALLOWED),
    (None, "wildcert.team.alpha", teams.ACCOUNT_NOT_ALLOWED),
])
def test_an_event_from_no_team_or_a_foreign_account_is_refused(
        policy: Teams, account: str | None, source: str | None, rule: str) -> None:
    found = teams.identify(policy, Requester("eventbridge", account, source))
    assert isinstance(found, Refusal) and found.rule == rule
    assert f"(rule: {rule})" in str(found)


def test_a_message_of_any_queue_but_the_renewal_queue_is_refused(policy: Teams) -> None:
    queue = "arn:aws:sqs:eu-west-1:210987654321:beta-own"
    for policy_in_force in (policy, teams.NO_TEAMS):
        found = teams.identify(policy_in_force, Requester("other-queue", source=queue))
        assert isinstance(found, Refusal) and found.rule == teams.QUEUE_NOT_ALLOWED
        assert queue in found.message and "renewal queue" in found.message


def test_without_teams_every_event_is_refused() -> None:
    found = teams.identify(teams.NO_TEAMS, Requester("eventbridge", "123456789012",
                                                     "wildcert.team.alpha"))
    assert isinstance(found, Refusal) and found.rule == teams.UNKNOWN_SOURCE


def test_a_broken_policy_refuses_every_team_and_keeps_what_it_could_read() -> None:
    text = GOOD + """
    [teams.gamma]
    sources = ["wildcert.team.gamma"]
    accounts = ["123456789012"]
    suffixes = ["example.com"]
    """
    with pytest.raises(TeamsError) as raised:
        parse_teams(text)
    policy = teams.broken(raised.value.problems, raised.value.found)
    assert policy.problems == raised.value.problems and "alpha" in policy.teams
    found = teams.identify(policy, Requester("eventbridge", "123456789012",
                                             "wildcert.team.alpha", "e-1"))
    assert isinstance(found, Refusal) and found.rule == teams.TEAMS_POLICY_BROKEN
    assert "operators" in found.message and "gamma" not in found.message
    # Renewals and the operators need no team.
    assert teams.identify(policy, Requester("queue", event_id="m-1")) is None
    assert teams.identify(policy, Requester("direct")) is None


# -- the rules ---------------------------------------------------------------------------------


def test_a_request_inside_the_policy_breaks_nothing(policy: Teams) -> None:
    alpha = policy.teams["alpha"]
    asked = request({"domains": ["*.alpha.example.com", "alpha.example.com",
                                 "*.web.alpha.example.com"], "key_type": "rsa2048",
                     "ca": "staging"}, alpha.namespace)
    assert asked.name == "alpha.wildcard.alpha.example.com"
    assert teams.refusals(alpha, asked, exists=False, owner=None) == []
    # Its own certificate, with other domains: the owner may change them.
    own = request({"name": "alpha.web", "domains": ["x.alpha.example.com"]})
    assert teams.refusals(alpha, own, exists=True, owner="alpha") == []


def test_each_rule_is_named(policy: Teams) -> None:
    beta = policy.teams["beta"]
    asked = request({"name": "web", "key_type": "ec384", "ca": "staging",
                     "domains": ["beta.example.net", "*.beta.example.net",
                                 "login.alpha.example.com", "notbeta.example.net",
                                 "ok.web.beta.example.net"]})
    found = teams.refusals(beta, asked, exists=False, owner=None)
    assert rules(found) == [teams.NAME_OUTSIDE_NAMESPACE, teams.APEX_NOT_ALLOWED,
                            teams.WILDCARD_AT_SUFFIX_NOT_ALLOWED, teams.SUFFIX_NOT_ALLOWED,
                            teams.SUFFIX_NOT_ALLOWED, teams.KEY_TYPE_NOT_ALLOWED,
                            teams.STAGING_NOT_ALLOWED]
    said = [str(r) for r in found]
    assert "'login.alpha.example.com' is not under a suffix of team beta" in said[3]
    assert "'notbeta.example.net'" in said[4]  # whole labels: not under beta.example.net
    assert all(f"(rule: {r.rule})" in str(r) for r in found)


def test_endpoints_must_be_the_teams_own_hosts(policy: Teams) -> None:
    """Hosts inside the hosted zones are not enough: an endpoint is under one of the team's
    suffixes (or is one), so the watch never reports on another team's servers for it."""
    beta = policy.teams["beta"]
    asked = request({"name": "beta.web", "domains": ["*.web.beta.example.net"],
                     "endpoints": ["www.web.beta.example.net:443", "beta.example.net:443",
                                   "login.alpha.example.com:443", "notbeta.example.net:443"]})
    found = teams.refusals(beta, asked, exists=False, owner=None)
    assert rules(found) == [teams.ENDPOINT_NOT_ALLOWED, teams.ENDPOINT_NOT_ALLOWED]
    assert "'login.alpha.example.com:443' is not a host under a suffix of team beta" in str(
        found[0])
    assert "'notbeta.example.net:443'" in str(found[1])


@pytest.mark.parametrize(("owner", "whose"), [("alpha", "team alpha"),
                                              (None, "the operators")])
def test_a_name_owned_by_someone_else_is_refused_whatever_its_domains(
        policy: Teams, owner: str | None, whose: str) -> None:
    beta = policy.teams["beta"]
    asked = request({"name": "alpha.web", "domains": ["x.beta.example.net"]})
    (found,) = teams.refusals(beta, asked, exists=True, owner=owner)
    # Outside its namespace a team cannot tell another's name from an unused one.
    (unused,) = teams.refusals(beta, asked, exists=False, owner=None)
    assert found == unused and found.rule == teams.NAME_OUTSIDE_NAMESPACE
    assert "alpha" not in found.message.replace("'alpha.web'", "")
    # In its own namespace (which its readers see anyway) it is told whose the name is.
    mine = request({"name": "beta.old", "domains": ["x.beta.example.net"]})
    (found,) = teams.refusals(beta, mine, exists=True, owner=owner)
    assert found.rule == teams.NAME_OWNED_BY_ANOTHER_TEAM and whose in found.message


def test_an_assigned_name_outside_the_namespace_is_the_teams_own(policy: Teams) -> None:
    alpha = policy.teams["alpha"]
    asked = request({"name": "legacy-web", "domains": ["www.alpha.example.com"]})
    assert teams.refusals(alpha, asked, exists=True, owner="alpha") == []
    assert rules(teams.refusals(alpha, asked, exists=False, owner=None)) == [
        teams.NAME_OUTSIDE_NAMESPACE]
    bare = request({"name": "alpha.", "domains": ["www.alpha.example.com"]})
    assert rules(teams.refusals(alpha, bare, exists=False, owner=None)) == [
        teams.NAME_OUTSIDE_NAMESPACE]


def test_the_caps(policy: Teams) -> None:
    alpha = policy.teams["alpha"]
    assert teams.certificate_cap(alpha, 2) is None
    capped = teams.certificate_cap(alpha, 3)
    assert capped is not None and capped.rule == teams.CERTIFICATE_CAP_REACHED
    assert "owns 3 certificate(s)" in capped.message
    forced = teams.forced_cap(alpha, "2027-03-01")
    assert forced.rule == teams.FORCED_PER_DAY_CAP_REACHED and "2027-03-01" in forced.message


# -- admission: policy, then caps, counted only when the request would be ordered ------------


class Counted:
    """Counts kept in memory, recording every call (the bucket's ledger on the real path)."""

    def __init__(self, owned: int = 0, forced: int = 0) -> None:
        self.owned_now, self.forced_now = owned, forced
        self.calls: list[str] = []

    def reserve(self, team_id: str, name: str, *, cap: int, until: str) -> tuple[int, bool]:
        self.calls.append(f"reserve {team_id} {name} cap={cap} until={until}")
        return self.owned_now, self.owned_now < cap

    def take_forced(self, team_id: str, day: str, limit: int,
                    request_id: str | None = None) -> int | None:
        self.calls.append(f"forced {team_id} {day} {limit} {request_id}")
        if self.forced_now >= limit:
            return None
        self.forced_now += 1
        return self.forced_now


def asking(team: Team, asked: CertificateRequest, *, stored: bool = False,
           owner: str | None = None, orders: bool = True,
           early: bool = False) -> teams.Asking:
    return teams.Asking(team, asked, stored=stored, owner=owner, orders=orders,
                        early=early, day="2027-03-01", request_id="m-1",
                        hold_until="2027-03-01T00:15:00Z")


def test_admission_counts_a_new_certificate_against_the_cap(policy: Teams) -> None:
    alpha = policy.teams["alpha"]
    new = request({"domains": ["a.alpha.example.com"]}, alpha.namespace)
    counts = Counted(owned=2)
    admitted = teams.admit(asking(alpha, new), counts)
    assert admitted.admitted and admitted.owned == 2 and admitted.reserved == new.name
    assert counts.calls == [f"reserve alpha {new.name} cap=3 until=2027-03-01T00:15:00Z"]
    capped = teams.admit(asking(alpha, new), Counted(owned=3))
    assert rules(list(capped.refusals)) == [teams.CERTIFICATE_CAP_REACHED]


def test_admission_takes_an_early_reissue_only_when_the_order_is_early(policy: Teams) -> None:
    alpha = policy.teams["alpha"]
    own = request({"name": "alpha.web", "domains": ["a.alpha.example.com"], "force": True})
    counts = Counted(forced=1)
    first = teams.admit(asking(alpha, own, stored=True, owner="alpha", early=True), counts)
    assert first.admitted and first.forced == 2
    assert counts.calls == ["forced alpha 2027-03-01 2 m-1"]
    again = teams.admit(asking(alpha, own, stored=True, owner="alpha", early=True), counts)
    assert rules(list(again.refusals)) == [teams.FORCED_PER_DAY_CAP_REACHED]
    due = teams.admit(asking(alpha, own, stored=True, owner="alpha"), Counted())
    assert due == teams.Admission()  # a renewal that is due anyway is not counted


def test_admission_counts_nothing_for_a_refused_or_answered_request(policy: Teams) -> None:
    beta = policy.teams["beta"]
    theirs = request({"name": "alpha.web", "domains": ["x.beta.example.net"]})
    counts = Counted()
    refused = teams.admit(asking(beta, theirs, stored=True, owner="alpha", early=True),
                          counts)
    assert rules(list(refused.refusals)) == [teams.NAME_OUTSIDE_NAMESPACE]
    mine = request({"name": "beta.web", "domains": ["x.beta.example.net"]})
    answered = teams.admit(asking(beta, mine, stored=True, owner="beta", orders=False,
                                  early=True), counts)
    assert answered.admitted and counts.calls == []


def test_a_teams_own_outcome_bus_is_in_one_of_its_accounts() -> None:
    bus = "arn:aws:events:eu-west-1:123456789012:event-bus/alpha-outcomes"

    def with_bus(arn: str) -> str:
        return GOOD.replace("staging = true\n", f'staging = true\noutcome_bus_arn = "{arn}"\n')

    good = parse_teams(with_bus(bus))
    assert good.teams["alpha"].outcome_bus_arn == bus
    assert good.teams["beta"].outcome_bus_arn is None
    for wrong, said in ((bus.replace("123456789012", "999999999999"), "not one of the team's"),
                        ("alpha-outcomes", "must be an EventBridge bus ARN")):
        with pytest.raises(TeamsError, match=said):
            parse_teams(with_bus(wrong))


def test_the_operators_id_is_reserved() -> None:
    with pytest.raises(TeamsError) as raised:
        parse_teams(GOOD.replace("alpha", "operators"))
    assert any("operators is reserved" in p for p in raised.value.problems)
