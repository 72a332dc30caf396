"""The teams' own resources in template.yaml, generated from layers/wildcert/teams.toml.

A team whose roles live in accounts of its own gets, in the stack's account:

- `Team<Id>Role`: the role its readers assume to read its certificates. Tagged
  `wildcert-team=<id>` by the stack (no one else can tag it), with the stack's TeamPolicy,
  assumable only from the team's accounts that are also in TeamAccountIds, and without
  `sts:TagSession` (no session tag can stand in for the stack's tag).
- `Team<Id>Requests`: the request bus's permission for the team's accounts (again only those
  in TeamAccountIds) to send the team's sources, and only those.
- `Team<Id>Outcomes` (with `outcome_bus_arn`): the issuer's permission to put the team's
  outcome events, source `wildcert` only, on the team's own bus.

Nothing else trusts another account: a tag set in a team's account means nothing to the bucket,
the key or the bus. Run after changing teams.toml (`make team-resources`); `make build` and the
infrastructure tests refuse a template that is out of step with the file.

    python scripts/team_resources.py            # rewrite template.yaml's generated sections
    python scripts/team_resources.py --check    # exit 1 if they differ from teams.toml
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from wildcert.logic.teams import Team, Teams, parse_teams

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "template.yaml"
TEAMS_FILE = REPO / "layers" / "wildcert" / "teams.toml"
RESOURCES = "teams' resources"
OUTPUTS = "teams' outputs"


def begin(section: str) -> str:
    return (f"  # ---- BEGIN {section}: generated from layers/wildcert/teams.toml by "
            "scripts/team_resources.py; do not edit\n")


def end(section: str) -> str:
    return f"  # ---- END {section}\n"


def logical_id(team: Team) -> str:
    return "Team" + "".join(part.capitalize() for part in team.id.split("-"))


def _list(values: tuple[str, ...]) -> str:
    return json.dumps(list(values))


def team_resources(team: Team) -> str:
    name = logical_id(team)
    accounts = _list(team.accounts)
    return f"""
  # Team {team.id}: its readers in its accounts assume {name}Role; its requests come from its
  # accounts with its sources only. Both only for accounts that are also in TeamAccountIds.
  {name}Role:
    Type: AWS::IAM::Role
    Properties:
      Description: wildcert team {team.id}'s readers (assumed from the team's own accounts)
      MaxSessionDuration: 3600
      ManagedPolicyArns: [!Ref TeamPolicy]
      Tags:
        - Key: wildcert-team
          Value: {team.id}
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal:
              AWS: {accounts}
            Action: sts:AssumeRole
            Condition:
              StringEquals:
                aws:PrincipalAccount: !Split [",", !Ref TeamAccountIds]

  {name}Requests:
    Type: AWS::Events::EventBusPolicy
    Properties:
      EventBusName: !Ref RequestBus
      StatementId: {name}SendsFromItsAccounts
      Statement:
        Effect: Allow
        Principal:
          AWS: {accounts}
        Action: events:PutEvents
        Resource: !GetAtt RequestBus.Arn
        Condition:
          ForAllValues:StringEquals:
            events:source: {_list(team.sources)}
          "Null":
            events:source: "false"
          StringEquals:
            aws:PrincipalAccount: !Split [",", !Ref TeamAccountIds]
"""


def outcome_bus(team: Team) -> str:
    """The issuer's permission to put the team's outcome events on its own bus, if it has one
    (teams.toml `outcome_bus_arn`; the bus's own policy must admit the stack's account)."""
    if not team.outcome_bus_arn:
        return ""
    name = logical_id(team)
    # The stack's partition: a bus of another partition is out of reach anyway.
    bus = "arn:${AWS::Partition}:" + team.outcome_bus_arn.split(":", 2)[2]
    return f"""
  # Team {team.id}'s outcome events are copied to its own bus, with source wildcert only.
  {name}Outcomes:
    Type: AWS::IAM::Policy
    Properties:
      PolicyName: {name}OutcomeBus
      Roles: [!Ref IssuerRole]
      PolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Action: events:PutEvents
            Resource: !Sub "{bus}"
            Condition:
              ForAllValues:StringEquals:
                events:source: ["wildcert"]
              "Null":
                events:source: "false"
"""


def team_outputs(team: Team) -> str:
    name = logical_id(team)
    return f"""  {name}RoleArn:
    Description: Role team {team.id}'s readers assume from its accounts (docs/TEAMS.md)
    Value: !GetAtt {name}Role.Arn
"""


def sections(teams: Teams) -> dict[str, str]:
    ordered = [teams.teams[k] for k in sorted(teams.teams)]
    return {
        RESOURCES: "".join(team_resources(t) + outcome_bus(t) for t in ordered),
        OUTPUTS: "".join(team_outputs(t) for t in ordered),
    }


def replace_section(text: str, section: str, body: str) -> str:
    head, tail = begin(section), end(section)
    if text.count(head) != 1 or text.count(tail) != 1:
        raise ValueError(f"template.yaml must hold exactly one '{head.strip()}' ... "
                         f"'{tail.strip()}' section")
    start = text.index(head) + len(head)
    return text[:start] + body + text[text.index(tail):]


def render(template: str, teams: Teams) -> str:
    for section, body in sections(teams).items():
        template = replace_section(template, section, body)
    return template


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="only check that template.yaml is in step with teams.toml")
    args = parser.parse_args(argv)
    teams = parse_teams(TEAMS_FILE.read_text(), str(TEAMS_FILE.relative_to(REPO)))
    current = TEMPLATE.read_text()
    wanted = render(current, teams)
    if args.check:
        if wanted != current:
            print("template.yaml's teams' sections are out of step with "
                  "layers/wildcert/teams.toml: run `make team-resources`", file=sys.stderr)
            return 1
        return 0
    TEMPLATE.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
