"""samconfig.toml: both environments deploy the same template with sane settings."""

from __future__ import annotations

import re
import tomllib

import pytest

from .infra_invariants import violations
from .infra_template import load_sam, resolved_stack
from .infra_tools import REPO

ENVIRONMENTS = (("default", "production"), ("staging", "staging"))


def overrides(deploy: dict) -> dict[str, str]:
    items = deploy["parameter_overrides"]
    items = items if isinstance(items, list) else items.split()
    return dict(item.split("=", 1) for item in items)


def config() -> dict:
    return tomllib.loads((REPO / "samconfig.toml").read_text())


def test_default_and_staging_environments() -> None:
    parameters = load_sam()["Parameters"]
    required = {name for name, spec in parameters.items() if "Default" not in spec}
    stacks = set()
    for env, ca in ENVIRONMENTS:
        deploy = config()[env]["deploy"]["parameters"]
        assert deploy["capabilities"] == "CAPABILITY_IAM"  # roles are unnamed: no NAMED_IAM
        assert deploy["resolve_s3"] is True
        given = overrides(deploy)
        assert set(given) <= set(parameters), set(given) - set(parameters)
        assert required <= set(given), required - set(given)
        assert given["AcmeCa"] == ca
        for name, value in given.items():
            if "REPLACE-ME" in value:
                continue
            spec = parameters[name]
            allowed = spec.get("AllowedValues")
            if allowed is not None:
                assert value in [str(a) for a in allowed], (env, name, value)
            if "AllowedPattern" in spec:
                assert re.fullmatch(spec["AllowedPattern"], value), (env, name, value)
            if spec.get("Type") == "Number":
                number = float(value)
                assert float(spec.get("MinValue", number)) <= number, (env, name, value)
                assert number <= float(spec.get("MaxValue", number)), (env, name, value)
        stacks.add(config()[env]["global"]["parameters"]["stack_name"])
    assert len(stacks) == 2, "staging must be a separate stack"


@pytest.mark.parametrize("env", [env for env, _ in ENVIRONMENTS])
def test_environment_keeps_every_invariant(env: str) -> None:
    """The stack each environment deploys (placeholders filled in) is as sound as the tests'."""
    given = overrides(config()[env]["deploy"]["parameters"])
    params = {name: value.replace("REPLACE-ME-", "") for name, value in given.items()}
    assert violations(resolved_stack(params), params) == []
