"""template.yaml passes cfn-lint and checkov; every checkov suppression carries a reason."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from scripts.team_resources import render
from wildcert.logic.teams import parse_teams

from .iam_world import TEAMS_TOML, sam_with_teams
from .infra_template import load_sam
from .infra_tools import REPO, tool

# Suppressions a reviewer has accepted. A new one must be added here on purpose.
ACCEPTED_SUPPRESSIONS = {
    ("CertBucket", "CKV_AWS_18"),  # access logs: optional parameter; CloudTrail data events
    ("IssuerLogGroup", "CKV_AWS_158"),  # no secrets in logs; keep logs out of the key policy
    ("IssuerFunction", "CKV_AWS_116"),  # OnFailure destination instead of a DLQ
    ("IssuerFunction", "CKV_AWS_117"),  # public endpoints only; a VPC would need NAT
    ("IssuerFunction", "CKV_AWS_115"),  # reserved concurrency is an optional parameter
    ("IssuerFunction", "CKV_AWS_173"),  # no secrets in the environment
    ("DeadLetterQueue", "CKV_AWS_27"),  # SSE-SQS, which the check does not recognise
    ("RenewalQueue", "CKV_AWS_27"),  # SSE-SQS, as the DLQ
    ("RenewalDeadLetterQueue", "CKV_AWS_27"),  # SSE-SQS, as the DLQ
    # The sweep and the watch: as the issuer's.
    ("RenewalSweepLogGroup", "CKV_AWS_158"),
    ("WatchLogGroup", "CKV_AWS_158"),
    ("RenewalSweepFunction", "CKV_AWS_116"),
    ("RenewalSweepFunction", "CKV_AWS_117"),
    ("RenewalSweepFunction", "CKV_AWS_115"),
    ("RenewalSweepFunction", "CKV_AWS_173"),
    ("WatchFunction", "CKV_AWS_116"),
    ("WatchFunction", "CKV_AWS_117"),
    ("WatchFunction", "CKV_AWS_115"),
    ("WatchFunction", "CKV_AWS_173"),
}


def test_cfn_lint_is_clean() -> None:
    started = time.monotonic()
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--", "template.yaml",
         "deploy/zone-access-role.yaml", "deploy/acm-import-role.yaml"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    print(f"cfn-lint: {time.monotonic() - started:.1f} s")
    assert result.returncode == 0, result.stdout + result.stderr


def template_suppressions() -> dict[tuple[str, str], str]:
    found = {}
    for name, resource in load_sam()["Resources"].items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            found[(name, skip["id"])] = skip.get("comment", "")
    return found


def test_every_suppression_is_accepted_and_explained() -> None:
    found = template_suppressions()
    assert set(found) == ACCEPTED_SUPPRESSIONS
    for (name, check), comment in found.items():
        assert len(comment.split()) >= 12, f"{name} {check}: the reason is too thin: {comment!r}"


def offline_env() -> dict[str, str]:
    """No platform API key: checkov must not talk to its vendor (skip-download is set too)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BC_", "PRISMA_"))}
    env["LOG_LEVEL"] = "WARNING"
    return env


def test_checkov_finds_nothing() -> None:
    checkov = tool("checkov")
    started = time.monotonic()
    result = subprocess.run(
        [str(checkov), "--config-file", ".checkov.yaml", "--output", "json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=offline_env(),
    )
    print(f"checkov: {time.monotonic() - started:.1f} s")
    assert result.stdout.strip(), result.stderr
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    failed = [
        f"{c['check_id']} {c['resource']}: {c['check_name']}"
        for r in reports
        for c in r.get("results", {}).get("failed_checks", [])
    ]
    assert failed == []
    assert result.returncode == 0, result.stderr
    skipped = {
        (c["resource"].split(".")[-1], c["check_id"])
        for r in reports
        for c in r.get("results", {}).get("skipped_checks", [])
    }
    assert skipped == ACCEPTED_SUPPRESSIONS


def test_cfn_lint_is_clean_with_teams(tmp_path: Path) -> None:
    """The teams' generated resources (scripts/team_resources.py) are valid CloudFormation."""
    assert "TeamAlphaRole" in sam_with_teams()["Resources"]
    rendered = tmp_path / "template.yaml"
    rendered.write_text(render((REPO / "template.yaml").read_text(), parse_teams(TEAMS_TOML)))
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--", str(rendered)],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
