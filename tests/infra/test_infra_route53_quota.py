"""Route 53's API limit is a deployment setting: the template's two parameters reach the
issuer's settings, with Route 53's current quota (10 requests/s, burst 50) by default."""

from __future__ import annotations

from typing import Any

import pytest

from wildcert.settings import Settings

from .infra_invariants import ISSUER
from .infra_template import load_sam, resolved_stack


@pytest.fixture(scope="module")
def sam() -> dict[str, Any]:
    return load_sam()


def issuer_settings(sam: dict[str, Any], params: dict[str, Any]) -> Settings:
    env = resolved_stack(params, sam)[ISSUER.function]["Properties"]["Environment"]["Variables"]
    # The rest of the issuer's environment is resolved to placeholders; these two are real.
    return Settings.from_env({"CERT_BUCKET": "b", "KMS_KEY_ID": "k", "ALLOWED_ZONES": "Z1",
                              **{k: str(v) for k, v in env.items() if k.startswith("ROUTE53_")}})


def test_the_issuer_assumes_route53s_current_quota_by_default(sam: dict[str, Any]) -> None:
    settings = issuer_settings(sam, {})
    assert (settings.route53_requests_per_second, settings.route53_request_burst) == (10.0, 50)


def test_an_account_with_another_quota_says_so_in_two_parameters(sam: dict[str, Any]) -> None:
    settings = issuer_settings(sam, {"Route53RequestsPerSecond": 25,
                                     "Route53RequestBurst": 100})
    assert (settings.route53_requests_per_second, settings.route53_request_burst) == (25.0, 100)
    for name in ("Route53RequestsPerSecond", "Route53RequestBurst"):
        spec = sam["Parameters"][name]
        assert spec["Type"] == "Number" and spec["MinValue"] >= 1, name
