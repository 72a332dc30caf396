"""Teams: who may ask for which certificates, from `teams.toml`.

Pure: the text of the policy file in, a `Teams` value (or every problem with the file at once)
out; a request and what is stored in, the rules it breaks out. Reading the file is the
runtime's job (`wildcert.runtime.teams`).

The issuance asks two questions, each one call:
    identify(teams, requester)  who is asking (before the request is read: a team's request
                                is named in its namespace)
    admit(asking, counts)       may that team have this request served: every rule of its
                                policy, then its caps (counted through `counts`, the bucket)

    [teams.alpha]
    sources = ["wildcert.team.alpha"]       # EventBridge sources it sends with
    accounts = ["123456789012"]             # AWS accounts it sends from
    suffixes = ["alpha.example.com"]        # its host names are under these
    apex = true                             # may ask for alpha.example.com itself
    wildcard_at_suffix = true               # may ask for *.alpha.example.com
    key_types = ["ec256", "rsa2048"]
    max_certificates = 50                   # certificates it may own
    max_forced_per_day = 10                 # early reissues a day (UTC): forced, or new domains
    staging = false                         # may ask for the CA's staging directory
    acme_cas = ["letsencrypt"]              # the ACME_CAS it may use; unset: all of them
    slack_webhook_secret = "arn:…"          # its own channel; else only the operators'
    acm = ["eu-west-1", "cloudfront"]       # ACM imports in the issuer's account; or in its own:
    # acm = {regions = [...], role_arn = "arn:…:role/wildcert-acm-import", external_id = "…"}

A team's certificate names are `<team>.<rest>`: the bucket prefix its readers may read. The
operators are not a team: they invoke the issuer directly, may ask for anything in the allowed
zones and own every name issued before teams (a cert.json without `team`).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from wildcert.errors import WildcertError
from wildcert.logic.request import KEY_TYPES, CertificateRequest, Requester
from wildcert.logic.request.acm import check_acm
from wildcert.logic.request.domains import normalise_domain
from wildcert.logic.request.echo import show
from wildcert.logic.zones import (
    ACM_ROLE_PREFIX,
    OtherAccountZone,
    ZoneAccess,
    other_account_zone,
    role_problems,
)

TEAM_ID = re.compile(r"[a-z][a-z0-9-]{1,30}")
SOURCE_PREFIX = "wildcert.team."
ACCOUNT_ID = re.compile(r"[0-9]{12}")
BUS_ARN = re.compile(r"arn:aws[a-z-]*:events:[a-z0-9-]+:(?P<account>[0-9]{12}):event-bus/"
                     r"[A-Za-z0-9._/-]{1,256}")
MAX_CAP = 100_000
RESERVED_ID = "operators"  # logic.fleet.OPERATORS: the owner of no team's certificates

# The rules a request can break, as outcomes, Slack and events name them.
UNKNOWN_SOURCE = "unknown-source"
QUEUE_NOT_ALLOWED = "queue-not-allowed"
ACCOUNT_NOT_ALLOWED = "account-not-allowed"
SUFFIX_NOT_ALLOWED = "suffix-not-allowed"
ENDPOINT_NOT_ALLOWED = "endpoint-not-allowed"
APEX_NOT_ALLOWED = "apex-not-allowed"
WILDCARD_AT_SUFFIX_NOT_ALLOWED = "wildcard-at-suffix-not-allowed"
KEY_TYPE_NOT_ALLOWED = "key-type-not-allowed"
NAME_OUTSIDE_NAMESPACE = "name-outside-namespace"
NAME_OWNED_BY_ANOTHER_TEAM = "name-owned-by-another-team"
STAGING_NOT_ALLOWED = "staging-not-allowed"
CERTIFICATE_CAP_REACHED = "certificate-cap-reached"
FORCED_PER_DAY_CAP_REACHED = "forced-per-day-cap-reached"
POLICY_CHANGED = "policy-changed"
TEAMS_POLICY_BROKEN = "teams-policy-broken"


@dataclass(frozen=True)
class Team:
    id: str
    sources: tuple[str, ...]
    accounts: tuple[str, ...]
    suffixes: tuple[str, ...]
    apex: bool = False
    wildcard_at_suffix: bool = False
    key_types: tuple[str, ...] = ("ec256",)
    max_certificates: int = 50
    max_forced_per_day: int = 10
    staging: bool = False
    slack_webhook_secret: str | None = None
    # An EventBridge bus in one of the team's accounts that gets a copy of its outcome events.
    outcome_bus_arn: str | None = None
    # Its hosted zones in other accounts (its own, usually), each with the role to reach it.
    zones: tuple[OtherAccountZone, ...] = ()
    # ACM regions (and "cloudfront") its certificates go to when a request does not say.
    acm: tuple[str, ...] = ()
    # The role in one of its accounts its ACM imports go through (deploy/acm-import-role.yaml);
    # None: into the issuer's own account. Never used for another team's certificate.
    acm_access: ZoneAccess | None = None
    acme_cas: tuple[str, ...] | None = None  # the deployment's CAs it may use; None: all

    @property
    def namespace(self) -> str:
        """How its certificate names start (and its readers' bucket prefix)."""
        return self.id + "."


@dataclass(frozen=True)
class Teams:
    """The teams' policy. With `problems` it is broken: no team request is taken, and
    `teams` holds what could be read, for what needs no trust (whose channel, whose name)."""

    teams: Mapping[str, Team]
    problems: tuple[str, ...] = ()

    def get(self, team_id: str | None) -> Team | None:
        return self.teams.get(team_id) if team_id else None

    def for_source(self, source: str | None) -> Team | None:
        return next((t for t in self.teams.values() if source in t.sources), None)

    def namespace_owner(self, name: str) -> str | None:
        """The team whose namespace `name` is in, if any."""
        team_id = name.partition(".")[0]
        return team_id if team_id in self.teams and "." in name else None

    def __len__(self) -> int:
        return len(self.teams)


NO_TEAMS = Teams({})


@dataclass(frozen=True)
class Refusal:
    """One rule of the team policy a request breaks, and the sentence that says so."""

    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.message} (rule: {self.rule})"


class TeamsError(WildcertError, ValueError):
    """The policy file is wrong; `problems` lists every problem found."""

    def __init__(self, where: str, problems: Sequence[str], found: Sequence[Team] = ()):
        self.problems = tuple(problems)
        self.found = tuple(found)  # the teams that could be read, problems and all
        listed = "\n".join(f"- {p}" for p in self.problems)
        super().__init__(f"{where} has {len(self.problems)} problem(s):\n{listed}")


# -- the file ----------------------------------------------------------------------------------

_FIELDS = ("sources", "accounts", "suffixes", "apex", "wildcard_at_suffix", "key_types",
           "max_certificates", "max_forced_per_day", "staging", "slack_webhook_secret",
           "acme_cas", "zones", "acm", "outcome_bus_arn")
_REQUIRED = ("sources", "accounts", "suffixes")


def parse_teams(text: str, where: str = "teams.toml") -> Teams:
    """The teams `text` describes; raises TeamsError naming every problem at once."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise TeamsError(where, [f"it is not valid TOML: {error}"]) from None
    problems: list[str] = [f"unknown top-level key {show(key)}; only [teams.<id>] tables "
                           "belong here" for key in document if key != "teams"]
    tables = document.get("teams", {})
    if not isinstance(tables, dict):
        raise TeamsError(where, [*problems, "teams must be a table of [teams.<id>] tables"])
    parsed = [team for team_id, table in tables.items()
              if (team := _team(team_id, table, problems)) is not None]
    problems.extend(_overlaps(parsed))
    if problems:
        raise TeamsError(where, problems, parsed)
    return Teams({team.id: team for team in parsed})


def broken(problems: Sequence[str], found: Sequence[Team] = ()) -> Teams:
    """A policy with problems: it refuses every team request and keeps what could be read."""
    return Teams({team.id: team for team in found}, problems=tuple(problems))


def _team(team_id: str, table: object, problems: list[str]) -> Team | None:
    """The team as its table says, or None when it is not a table; problems go to `problems`
    (a team with problems is still returned, so the overlap checks see it too)."""
    where = f"[teams.{team_id}]"
    found: list[str] = []
    if not TEAM_ID.fullmatch(team_id):
        found.append(f"{where}: the team id must match [a-z][a-z0-9-]{{1,30}} (no dots: it "
                     "starts the team's certificate names)")
    if team_id == RESERVED_ID:
        found.append(f"{where}: the id {RESERVED_ID} is reserved (the fleet inventory and the "
                     "metrics call the certificates of no team so)")
    if not isinstance(table, dict):
        problems.extend([*found, f"{where} must be a table"])
        return None
    for key in table:
        if key not in _FIELDS:
            found.append(f"{where}: unknown key {show(key)}; the keys are {', '.join(_FIELDS)}")
    for key in _REQUIRED:
        if key not in table:
            found.append(f"{where}: {key} is required")
    sources = _strings(table, "sources", where, found)
    for source in sources:
        if source != SOURCE_PREFIX + team_id and not source.startswith(
                f"{SOURCE_PREFIX}{team_id}."):
            found.append(f"{where}: source {show(source)} must be {SOURCE_PREFIX}{team_id} (or "
                         "start with it and a dot): the bus lets a team send only its own source")
    accounts = _strings(table, "accounts", where, found)
    found.extend(f"{where}: account {show(a)} is not a 12-digit AWS account id"
                 for a in accounts if not ACCOUNT_ID.fullmatch(a))
    suffixes = tuple(_suffix(s, where, found) for s in _strings(table, "suffixes", where, found))
    key_types = _strings(table, "key_types", where, found, default=("ec256",))
    found.extend(f"{where}: key type {show(k)} is not one of {', '.join(KEY_TYPES)}"
                 for k in key_types if k not in KEY_TYPES)
    values: dict[str, Any] = {
        flag: _flag(table, flag, where, found)
        for flag in ("apex", "wildcard_at_suffix", "staging")
    }
    values["max_certificates"] = _count(table, "max_certificates", 50, where, found)
    values["max_forced_per_day"] = _count(table, "max_forced_per_day", 10, where, found)
    secret = table.get("slack_webhook_secret")
    if secret is not None and (not isinstance(secret, str) or not secret.strip()):
        found.append(f"{where}: slack_webhook_secret must be a secret's name or ARN")
    zones = _zones(table.get("zones", []), team_id, where, found)
    bus = table.get("outcome_bus_arn")
    if bus is not None:
        matched = BUS_ARN.fullmatch(bus) if isinstance(bus, str) else None
        if matched is None:
            found.append(f"{where}: outcome_bus_arn must be an EventBridge bus ARN "
                         "(arn:aws:events:<region>:<account>:event-bus/<name>)")
        elif matched["account"] not in accounts:
            found.append(f"{where}: outcome_bus_arn {show(bus)} is in account "
                         f"{matched['account']}, not one of the team's accounts")
        else:
            values["outcome_bus_arn"] = bus
    if "acme_cas" in table:
        values["acme_cas"] = _strings(table, "acme_cas", where, found)
    if "acm" in table:
        values["acm"], values["acm_access"] = _acm(table["acm"], accounts, where, found)
    problems.extend(found)
    return Team(team_id, sources, accounts, suffixes, key_types=key_types, zones=zones,
                slack_webhook_secret=secret if isinstance(secret, str) else None, **values)


_ACM_KEYS = ("regions", "role_arn", "external_id")


def _acm(value: object, accounts: Sequence[str], where: str,
         found: list[str]) -> tuple[tuple[str, ...], ZoneAccess | None]:
    """The team's ACM targets, and the role in its own account they go through (a table
    `{regions, role_arn, external_id}`) or None (a list: the issuer's account)."""
    access = None
    if isinstance(value, dict):
        found.extend(f"{where}: acm has unknown key {show(key)}; the keys are "
                     f"{', '.join(_ACM_KEYS)}" for key in value if key not in _ACM_KEYS)
        role, external_id = value.get("role_arn"), value.get("external_id")
        if not isinstance(role, str) or not isinstance(external_id, str):
            found.append(f"{where}: acm's role_arn and external_id must be given as text")
        else:
            access = ZoneAccess(role.strip(), external_id.strip())
            problems = role_problems(access, ACM_ROLE_PREFIX, "deploy/acm-import-role.yaml")
            if not problems and access.account not in accounts:
                problems.append(f"acm's role_arn is in account {access.account}, not one of "
                                "the team's accounts: a team imports only into its own")
            found.extend(f"{where}: {problem}" for problem in problems)
        value = value.get("regions")
    # Any key type for now: a key CloudFront cannot use is refused per request.
    acm_found: list[str] = []
    targets = check_acm(value, "ec256", acm_found)
    found.extend(f"{where}: {problem}" for problem in acm_found)
    return targets, access


def _zones(value: object, team_id: str, where: str,
           found: list[str]) -> tuple[OtherAccountZone, ...]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        found.append(f"{where}: zones must be a list of tables ([[teams.{team_id}.zones]])")
        return ()
    zones = (other_account_zone(entry, f"{where} zones[{i}]", found, team=team_id)
             for i, entry in enumerate(value))
    return tuple(z for z in zones if z is not None)


def _strings(table: Mapping[str, Any], key: str, where: str, found: list[str],
             default: tuple[str, ...] = ()) -> tuple[str, ...]:
    value = table.get(key, list(default))
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        found.append(f"{where}: {key} must be a list of strings")
        return ()
    if key in table and not value:
        found.append(f"{where}: {key} is empty")
    return tuple(value)


def _suffix(text: str, where: str, found: list[str]) -> str:
    checked = normalise_domain(text)
    if checked.name is None or checked.name.startswith("*."):
        found.append(f"{where}: suffix {show(text)} is not a DNS name "
                     f"({checked.problem or 'a wildcard is not a suffix'})")
        return text
    return checked.name


def _flag(table: Mapping[str, Any], key: str, where: str, found: list[str]) -> bool:
    value = table.get(key, False)
    if not isinstance(value, bool):
        found.append(f"{where}: {key} must be true or false")
        return False
    return value


def _count(table: Mapping[str, Any], key: str, default: int, where: str,
           found: list[str]) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_CAP:
        found.append(f"{where}: {key} must be a whole number from 0 to {MAX_CAP}")
        return default
    return value


def _overlaps(teams: Sequence[Team]) -> list[str]:
    """A host name must belong to one team at most, and a source to one team."""
    problems: list[str] = []
    for index, team in enumerate(teams):
        for other in teams[index + 1:]:
            problems.extend(
                f"[teams.{team.id}] suffix {show(mine)} and [teams.{other.id}] suffix "
                f"{show(theirs)} overlap: each host name must belong to one team"
                for mine in team.suffixes for theirs in other.suffixes
                if _under(mine, theirs) or _under(theirs, mine))
            problems.extend(
                f"source {show(s)} is listed by both [teams.{team.id}] and [teams.{other.id}]"
                for s in set(team.sources) & set(other.sources))
    return problems


def _under(name: str, suffix: str) -> bool:
    return name == suffix or name.endswith("." + suffix)


# -- requests ----------------------------------------------------------------------------------


def identify(teams: Teams, requester: Requester) -> Team | Refusal | None:
    """The team an EventBridge event comes from, or why it comes from none; None otherwise.

    A direct invoke is the operators; a message of the renewal queue acts for the stored
    certificate's owner; a message of any other queue is refused: nothing says who sent it.
    """
    if requester.kind == "other-queue":
        return Refusal(QUEUE_NOT_ALLOWED, (
            f"the SQS message comes from {show(requester.source)}, not the renewal queue; the "
            "issuer takes messages of the renewal queue only (teams ask with an EventBridge "
            "event, docs/TEAMS.md)"))
    if requester.kind != "eventbridge":
        return None
    if teams.problems:
        return Refusal(TEAMS_POLICY_BROKEN, (
            "wildcert's teams policy (teams.toml) has a problem the operators must fix, so no "
            "team request is taken until then; renewals of existing certificates go on. The "
            "operators have been told; send the request again once they have fixed it"))
    team = teams.for_source(requester.source)
    if team is None:
        return Refusal(UNKNOWN_SOURCE, (
            f"the event's source {show(requester.source)} belongs to no team; a team sends "
            f"with source \"{SOURCE_PREFIX}<team>\" as listed in teams.toml"))
    if requester.account not in team.accounts:
        return Refusal(ACCOUNT_NOT_ALLOWED, (
            f"team {team.id} does not send from account {show(requester.account)}; its "
            "accounts are listed in teams.toml"))
    return team


def refusals(team: Team, request: CertificateRequest, *, exists: bool,
             owner: str | None) -> list[Refusal]:
    """Every rule of `team`'s policy that `request` breaks, given who owns its name now.

    exists: a certificate is stored under the name; owner: its team (None: the operators).
    """
    found: list[Refusal] = []
    in_namespace = (request.name.startswith(team.namespace)
                    and len(request.name) > len(team.namespace))
    if exists and owner == team.id:
        pass  # its own, wherever the name is (the operators may give it any name)
    elif not in_namespace:
        # The same words whether the name is unused or another's: a refusal must not tell a
        # team which names exist outside its own namespace.
        found.append(Refusal(NAME_OUTSIDE_NAMESPACE, (
            f"the name {show(request.name)} is not team {team.id}'s: its names start with "
            f"{show(team.namespace)} (leave name out to get one), or were given to it by "
            "the operators")))
    elif exists:
        whose = f"team {owner}" if owner else "the operators"
        found.append(Refusal(NAME_OWNED_BY_ANOTHER_TEAM, (
            f"the certificate {show(request.name)} belongs to {whose}; team {team.id} may "
            f"only ask for its own names (which start with {show(team.namespace)})")))
    found.extend(_domain_refusals(team, request.domains))
    found.extend(_endpoint_refusals(team, request.endpoints))
    if request.key_type not in team.key_types:
        found.append(Refusal(KEY_TYPE_NOT_ALLOWED, (
            f"key_type {show(request.key_type)} is not allowed for team {team.id}; use one of "
            f"{', '.join(team.key_types)}")))
    if request.ca == "staging" and not team.staging:
        found.append(Refusal(STAGING_NOT_ALLOWED, (
            f"team {team.id} may not ask for the staging CA (staging = false in teams.toml)")))
    return found


def _domain_refusals(team: Team, domains: Iterable[str]) -> list[Refusal]:
    found: list[Refusal] = []
    suffixes = ", ".join(show(s) for s in team.suffixes)
    for domain in domains:
        wildcard = domain.startswith("*.")
        base = domain.removeprefix("*.")
        if any(base.endswith("." + s) for s in team.suffixes):
            continue
        at_suffix = base in team.suffixes
        if at_suffix and wildcard and not team.wildcard_at_suffix:
            found.append(Refusal(WILDCARD_AT_SUFFIX_NOT_ALLOWED, (
                f"{show(domain)} is a wildcard at team {team.id}'s suffix itself, which its "
                "policy does not allow (wildcard_at_suffix = false)")))
        elif at_suffix and not wildcard and not team.apex:
            found.append(Refusal(APEX_NOT_ALLOWED, (
                f"{show(domain)} is team {team.id}'s suffix itself, which its policy does not "
                "allow (apex = false)")))
        elif not at_suffix:
            found.append(Refusal(SUFFIX_NOT_ALLOWED, (
                f"{show(domain)} is not under a suffix of team {team.id} ({suffixes})")))
    return found


def host_refusals(team: Team, domains: Iterable[str], key_type: str,
                  endpoints: Iterable[str] = ()) -> list[Refusal]:
    """What of a certificate's hosts, key type and endpoints `team`'s policy does not allow
    now: a renewal or an assignment is checked against the policy as it is today."""
    found = [*_domain_refusals(team, domains), *_endpoint_refusals(team, endpoints)]
    if key_type not in team.key_types:
        found.append(Refusal(KEY_TYPE_NOT_ALLOWED, (
            f"key_type {show(key_type)} is not allowed for team {team.id}; its key types are "
            f"{', '.join(team.key_types)}")))
    return found


def _endpoint_refusals(team: Team, endpoints: Iterable[str]) -> list[Refusal]:
    """An endpoint is one of the team's own hosts: at or under one of its suffixes."""
    suffixes = ", ".join(show(s) for s in team.suffixes)
    return [Refusal(ENDPOINT_NOT_ALLOWED, (
                f"endpoint {show(endpoint)} is not a host under a suffix of team {team.id} "
                f"({suffixes}); the watch checks only the team's own servers"))
            for endpoint in endpoints
            if not any(_under(endpoint.rpartition(":")[0], s) for s in team.suffixes)]


def certificate_cap(team: Team, owned: int) -> Refusal | None:
    """Why a new certificate would take `team` over its cap, if it would."""
    if owned < team.max_certificates:
        return None
    return Refusal(CERTIFICATE_CAP_REACHED, (
        f"team {team.id} owns {owned} certificate(s), its cap (max_certificates = "
        f"{team.max_certificates}); remove one or ask the operators for a higher cap"))


def policy_changed(team: Team, name: str, broken: Sequence[Refusal]) -> Refusal:
    """A renewal of `team`'s certificate that its policy, as changed since, no longer allows."""
    said = "; ".join(f"{b.message} ({b.rule})" for b in broken)
    return Refusal(POLICY_CHANGED, (
        f"the renewal of {show(name)} is refused: team {team.id}'s policy changed since it was "
        f"issued and no longer allows it: {said}. Ask for a certificate that fits the policy "
        "(or have the operators change teams.toml back)"))


def forced_cap(team: Team, day: str) -> Refusal:
    return Refusal(FORCED_PER_DAY_CAP_REACHED, (
        f"team {team.id} has used its {team.max_forced_per_day} forced reissue(s) for {day} "
        "(UTC); ask again tomorrow, or without force to renew only when due"))


# -- admission: the one question the issuance asks about a team's request ---------------------


@dataclass(frozen=True)
class Asking:
    """What the issuance knows when it asks whether `team` may have `request` served."""

    team: Team
    request: CertificateRequest
    stored: bool  # a certificate is stored under the request's name
    owner: str | None  # the stored certificate's team; None: the operators (or none stored)
    orders: bool  # the request would be ordered (it is not answered by the stored certificate)
    # The order comes before the stored certificate is due (`force`, or other names, key type
    # or CA): every such order counts towards the daily cap.
    early: bool
    day: str  # today (UTC), ISO: early reissues are counted per day
    request_id: str | None  # the same request delivered again is counted once
    hold_until: str = ""  # a new name's reservation lapses then (ISO) if never released


class Counts(Protocol):
    """Where a team's caps are counted (the bucket: `adapters.bucket.teams.TeamLedger`)."""

    def reserve(self, team_id: str, name: str, *, cap: int,
                until: str) -> tuple[int, bool]: ...

    def take_forced(self, team_id: str, day: str, limit: int,
                    request_id: str | None = None) -> int | None: ...


@dataclass(frozen=True)
class Admission:
    """The answer: admitted when nothing refuses; what was counted, for the log."""

    refusals: tuple[Refusal, ...] = ()
    owned: int | None = None  # certificates the team owns or has reserved (a new one asked)
    forced: int | None = None  # early reissues counted today, this one included
    reserved: str | None = None  # the new name reserved: released once the request ends

    @property
    def admitted(self) -> bool:
        return not self.refusals


def admit(asking: Asking, counts: Counts) -> Admission:
    """May `asking.team` have its request served? Its policy first (names, hosts, key types,
    CA), then, for a request that would be ordered, its caps: a new certificate within
    `max_certificates` (reserving its name, so concurrent requests never pass the cap
    together), an early reissue within today's `max_forced_per_day` (taking one).

    Counting happens only once the policy admits the request, and never for a request the
    stored certificate answers. Errors of `counts` propagate (the caller names the stage).
    """
    team = asking.team
    broken = refusals(team, asking.request, exists=asking.stored, owner=asking.owner)
    if broken or not asking.orders:
        return Admission(tuple(broken))
    if not asking.stored:
        name = asking.request.name
        owned, taken = counts.reserve(team.id, name, cap=team.max_certificates,
                                      until=asking.hold_until)
        refusal = certificate_cap(team, owned)
        if refusal is not None:
            return Admission((refusal,), owned=owned)
        return Admission(owned=owned, reserved=name if taken else None)
    if asking.early:
        count = counts.take_forced(team.id, asking.day, team.max_forced_per_day,
                                   asking.request_id)
        if count is None:
            return Admission((forced_cap(team, asking.day),))
        return Admission(forced=count)
    return Admission()
