"""scripts/team_resources.py: template.yaml's teams' sections follow teams.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts import team_resources
from wildcert.logic.teams import parse_teams

TEAMS = """
[teams.alpha-ops]
sources = ["wildcert.team.alpha-ops"]
accounts = ["444455556666", "777788889999"]
suffixes = ["alpha.example.com"]
"""


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    template = tmp_path / "template.yaml"
    template.write_text(team_resources.TEMPLATE.read_text())
    teams = tmp_path / "teams.toml"
    teams.write_text(TEAMS)
    monkeypatch.setattr(team_resources, "TEMPLATE", template)
    monkeypatch.setattr(team_resources, "TEAMS_FILE", teams)
    monkeypatch.setattr(team_resources, "REPO", tmp_path)
    return template, teams


def test_a_new_team_puts_the_template_out_of_step_until_regenerated(files) -> None:
    template, _ = files
    assert team_resources.main(["--check"]) == 1
    assert team_resources.main([]) == 0
    assert team_resources.main(["--check"]) == 0
    text = template.read_text()
    assert "  TeamAlphaOpsRole:\n" in text and "  TeamAlphaOpsRequests:\n" in text
    assert "  TeamAlphaOpsRoleArn:\n" in text
    assert 'AWS: ["444455556666", "777788889999"]' in text


def test_regenerating_twice_changes_nothing(files) -> None:
    template, _ = files
    team_resources.main([])
    once = template.read_text()
    team_resources.main([])
    assert template.read_text() == once


def test_a_template_without_its_markers_is_refused() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        team_resources.render("Resources: {}\n", parse_teams(TEAMS))


def test_a_teams_own_outcome_bus_gets_the_issuers_permission_for_it_alone(files) -> None:
    template, teams = files
    bus = "arn:aws:events:eu-west-1:444455556666:event-bus/alpha-ops-outcomes"
    teams.write_text(TEAMS + f'outcome_bus_arn = "{bus}"\n')
    assert team_resources.main([]) == 0
    text = template.read_text()
    in_partition = 'Resource: !Sub "arn:${AWS::Partition}:events:eu-west-1:444455556666:' \
        'event-bus/alpha-ops-outcomes"'
    assert "  TeamAlphaOpsOutcomes:\n" in text and in_partition in text
    assert "Roles: [!Ref IssuerRole]" in text
