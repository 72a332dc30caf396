"""Where the deployed watch may connect: port 443 unless the operator says otherwise, and never
loopback (WATCH_ALLOW_LOOPBACK exists for the local stack alone)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from .infra_invariants import FUNCTIONS, ISSUER, WATCH, violations
from .infra_template import load_sam, resolved_stack
from .test_infra_invariants import PARAMETER_SETS


@pytest.fixture(scope="module")
def sam() -> dict[str, Any]:
    return load_sam()


def environments(resources: dict[str, dict[str, Any]]) -> dict[str, dict[str, str]]:
    return {spec.function: resources[spec.function]["Properties"]
            .get("Environment", {}).get("Variables", {}) for spec in FUNCTIONS}


def test_template_text_never_names_the_loopback_switch() -> None:
    from .infra_template import TEMPLATE

    assert "WATCH_ALLOW_LOOPBACK" not in TEMPLATE.read_text()


@pytest.mark.parametrize("name", PARAMETER_SETS)
def test_no_function_may_reach_loopback(sam: dict[str, Any], name: str) -> None:
    for function, env in environments(resolved_stack(PARAMETER_SETS[name], sam)).items():
        assert "WATCH_ALLOW_LOOPBACK" not in env, function


def test_setting_the_loopback_switch_is_a_violation(sam: dict[str, Any]) -> None:
    loosened = copy.deepcopy(sam)
    loosened["Globals"]["Function"]["Environment"]["Variables"]["WATCH_ALLOW_LOOPBACK"] = "true"
    found = violations(resolved_stack({}, loosened), {})
    assert f"{WATCH.function}: WATCH_ALLOW_LOOPBACK is for the local stack only" in found


def test_endpoint_ports_default_to_443_for_the_validator_and_the_watch(
        sam: dict[str, Any]) -> None:
    for spec in (ISSUER, WATCH):
        assert environments(resolved_stack({}, sam))[spec.function]["ENDPOINT_PORTS"] == "443"
    wider = environments(resolved_stack({"EndpointPorts": "443,8443"}, sam))
    assert wider[ISSUER.function]["ENDPOINT_PORTS"] == "443,8443"
    assert wider[WATCH.function]["ENDPOINT_PORTS"] == "443,8443"
