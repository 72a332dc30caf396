"""A request's `acm` targets: regions and `cloudfront`, and the key types CloudFront takes."""

from __future__ import annotations

import pytest

from wildcert.logic.request import RequestRejected, parse_request
from wildcert.logic.request.acm import check_acm, regions


def test_targets_are_regions_and_cloudfront_each_once() -> None:
    found: list[str] = []
    targets = check_acm(["eu-west-1", "CloudFront", "eu-west-1", "us-east-1"], "rsa2048", found)
    assert found == [] and targets == ("eu-west-1", "cloudfront", "us-east-1")
    assert regions(targets) == ("eu-west-1", "us-east-1")


@pytest.mark.parametrize("value", [[], "eu-west-1", ["eu-west-1"] * 11, [1], ["europe"]])
def test_anything_else_is_one_problem(value: object) -> None:
    found: list[str] = []
    assert check_acm(value, "ec256", found) == () and len(found) == 1


@pytest.mark.parametrize(("key_type", "ok"), [("ec256", True), ("rsa2048", True),
                                              ("ec384", False), ("rsa3072", False),
                                              ("rsa4096", False)])
def test_cloudfront_takes_rsa_2048_and_ec_p256_only(key_type: str, ok: bool) -> None:
    raw = {"domains": ["a.example.com"], "key_type": key_type, "acm": ["cloudfront"]}
    if ok:
        assert parse_request(raw, ["example.com"]).acm == ("cloudfront",)
    else:
        with pytest.raises(RequestRejected, match="acm target cloudfront takes only"):
            parse_request(raw, ["example.com"])
    # A region's ACM imports every key type wildcert makes.
    assert parse_request({**raw, "acm": ["eu-west-1"]}, ["example.com"]).acm == ("eu-west-1",)
