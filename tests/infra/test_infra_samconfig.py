"""samconfig.toml: both environments deploy the same template with sane settings."""

from __future__ import annotations

import tomllib

from .infra_template import load_sam
from .infra_tools import REPO


def overrides(deploy: dict) -> dict[str, str]:
    items = deploy["parameter_overrides"]
    items = items if isinstance(items, list) else items.split()
    return dict(item.split("=", 1) for item in items)


def test_default_and_staging_environments() -> None:
    config = tomllib.loads((REPO / "samconfig.toml").read_text())
    parameters = load_sam()["Parameters"]
    required = {name for name, spec in parameters.items() if "Default" not in spec}
    stacks = set()
    for env, ca in (("default", "production"), ("staging", "staging")):
        deploy = config[env]["deploy"]["parameters"]
        assert deploy["capabilities"] == "CAPABILITY_IAM"  # roles are unnamed: no NAMED_IAM
        assert deploy["resolve_s3"] is True
        given = overrides(deploy)
        assert set(given) <= set(parameters), set(given) - set(parameters)
        assert required <= set(given), required - set(given)
        assert given["AcmeCa"] == ca
        for name, value in given.items():
            allowed = parameters[name].get("AllowedValues")
            if allowed is not None and "REPLACE-ME" not in value:
                assert value in [str(a) for a in allowed], (env, name, value)
        stacks.add(config[env]["global"]["parameters"]["stack_name"])
    assert len(stacks) == 2, "staging must be a separate stack"
