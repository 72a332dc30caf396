"""The layer's build checks the teams' policy it ships with the issuer's own parser: a policy
with a problem (two teams' suffixes overlapping, say) fails `sam build` with every problem
listed, and never reaches AWS, where the issuer would refuse every team's request.

The build recipe runs for real on a copy of layers/wildcert/, with pip left out (PIP=true):
the check runs on the copy of the package and the policy the layer would ship, and stops the
build before anything else is done with them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from .infra_tools import REPO

LAYER = REPO / "layers" / "wildcert"
OVERLAPPING = """
[teams.alpha]
sources = ["wildcert.team.alpha"]
accounts = ["123456789012"]
suffixes = ["alpha.example.com"]

[teams.beta]
sources = ["wildcert.team.beta"]
accounts = ["123456789012"]
suffixes = ["web.alpha.example.com"]
key_types = ["dsa1024"]
"""


def build_layer(tmp_path: Path, teams: str | None) -> tuple[subprocess.CompletedProcess[str], Path]:
    source = tmp_path / "layer"
    shutil.copytree(LAYER, source, ignore=shutil.ignore_patterns("__pycache__"))
    if teams is not None:
        (source / "teams.toml").write_text(teams)
    artifacts = tmp_path / "artifacts"
    done = subprocess.run(
        ["make", "-C", str(source), "build-WildcertLayer", f"ARTIFACTS_DIR={artifacts}",
         "PIP=true", f"PYTHON={sys.executable}"],
        capture_output=True, text=True, timeout=120, check=False)
    return done, artifacts / "python"


def test_the_layer_build_fails_on_overlapping_suffixes_with_every_problem(tmp_path: Path) -> None:
    done, built = build_layer(tmp_path, OVERLAPPING)
    assert done.returncode != 0, done.stdout
    assert "has 2 problem(s)" in done.stderr, done.stderr
    assert ("[teams.alpha] suffix 'alpha.example.com' and [teams.beta] suffix "
            "'web.alpha.example.com' overlap") in done.stderr
    assert "key type 'dsa1024' is not one of" in done.stderr
    assert not built.exists(), "a layer with a bad policy was left for sam to deploy"


def check_teams(tmp_path: Path, teams: Path) -> subprocess.CompletedProcess[str]:
    """The check as the build runs it (the build as a whole, SDK and bytecode included, is
    test_infra_sam_build.py's)."""
    return subprocess.run(
        ["make", "-C", str(LAYER), "check-teams", f"TEAMS_TOML={teams}",
         f"PYTHON={sys.executable}"],
        capture_output=True, text=True, timeout=120, check=False)


def test_the_policy_in_the_repository_is_sound(tmp_path: Path) -> None:
    done = check_teams(tmp_path, LAYER / "teams.toml")
    assert done.returncode == 0, done.stderr
    assert "is sound; teams: none: only the operators" in done.stdout


def test_the_local_stacks_policy_is_sound_too(tmp_path: Path) -> None:
    done = check_teams(tmp_path, REPO / "local_stack" / "teams.toml")
    assert done.returncode == 0, done.stderr
    assert "teams: alpha, beta" in done.stdout
