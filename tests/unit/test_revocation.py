"""Revoke requests (logic/revocation.py) and the puller's refusal of a revoked set."""

from __future__ import annotations

import pytest

from wildcert.logic.revocation import RevokeRejected, is_revoke, parse_revoke
from wildcert_pull.errors import Exit, PullError
from wildcert_pull.formats import parse_cert_json
from wildcert_pull.run import refuse_revoked


def test_a_request_by_names_domains_or_serials() -> None:
    by_name = parse_revoke({"revoke": {"names": ["web"], "reason": "keyCompromise"}})
    assert (by_name.selector, by_name.values, by_name.reason_code) == ("names", ("web",), 1)
    by_serial = parse_revoke({"revoke": {"serials": ["03:AB:cd"]}})
    assert by_serial.values == ("3abcd",) and by_serial.reason == "unspecified"
    assert by_serial.selects("x", (), "3abcd") and not by_serial.selects("x", (), "3abce")
    by_domain = parse_revoke({"revoke": {"domains": ["WWW.Example.com."]}})
    assert by_domain.selects("x", ("*.example.com", "www.example.com"), "1")
    assert is_revoke({"revoke": {}}) and not is_revoke({"revoke": {}, "name": "x"})


@pytest.mark.parametrize(("body", "expected"), [
    ({"names": ["a"], "serials": ["1"]}, "exactly one of"),
    ({}, "exactly one of"),
    ({"names": ["a"], "reason": "cACompromise"}, "reason must be one of"),
    ({"names": []}, "names must list"),
    ({"serials": ["xyz"]}, "not hex serials"),
    ({"names": ["a"], "why": "x"}, "unknown fields"),
])
def test_a_wrong_request_says_what_to_fix(body: dict, expected: str) -> None:
    with pytest.raises(RevokeRejected) as rejected:
        parse_revoke({"revoke": body})
    assert expected in str(rejected.value)


CERT_JSON = ('{"name": "web", "domains": ["web.example.com"], "serial": "ab", '
             '"archive": "web/archive/ab/", "sha256": {}%s}')


def test_the_puller_refuses_a_set_cert_json_marks_revoked() -> None:
    fine = parse_cert_json((CERT_JSON % ', "revoked": [{"serial": "aa", "reason": "x"}]').encode())
    refuse_revoked(fine, "s3://b/web/cert.json")  # an earlier serial was revoked: fine
    revoked = parse_cert_json(
        (CERT_JSON % ', "revoked": [{"serial": "ab", "reason": "keyCompromise"}]').encode())
    with pytest.raises(PullError) as refused:
        refuse_revoked(revoked, "s3://b/web/cert.json")
    assert refused.value.code is Exit.REFUSED and "keyCompromise" in str(refused.value)
