"""The CAs in order of preference (logic/cas.py) and their settings."""

from __future__ import annotations

import json

import pytest

from wildcert.logic.cas import Ca, fails_over, issuer_of, parse_cas, usable
from wildcert.settings import Settings, SettingsError

LE = {"name": "letsencrypt", "directory": "https://acme-v02.api.letsencrypt.org/directory",
      "caa_identities": ["letsencrypt.org"]}
ZEROSSL = {"name": "zerossl", "directory": "https://acme.zerossl.com/v2/DV90",
           "caa_identities": ["sectigo.com", "zerossl.com"], "eab_secret": "wildcert/eab/zerossl"}
BASE = {"CERT_BUCKET": "b", "KMS_KEY_ID": "k", "ALLOWED_ZONES": "Z1"}


def test_a_list_of_cas_in_order() -> None:
    cas, problems = parse_cas(json.dumps([LE, {**ZEROSSL, "profile": "dv90"}]))
    assert problems == []
    assert [c.name for c in cas] == ["letsencrypt", "zerossl"]
    assert cas[1] == Ca("zerossl", ZEROSSL["directory"], ("sectigo.com", "zerossl.com"),
                        "wildcert/eab/zerossl", "dv90")


@pytest.mark.parametrize(("entries", "expected"), [
    ("[", "not JSON"),
    ([], "non-empty JSON list"),
    ([{**LE, "name": "Lets Encrypt"}], "name must be lower-case"),
    ([{**LE, "directory": "http://insecure/dir"}], "https:// URL"),
    ([{**LE, "caa_identities": []}], "caa_identities must list"),
    ([LE, {**ZEROSSL, "name": "letsencrypt"}], "names 'letsencrypt' more than once"),
    ([LE, {**ZEROSSL, "directory": LE["directory"]}], "directory"),
    ([{**LE, "eab": "x"}], "unknown fields ['eab']"),
    ([{**ZEROSSL, "eab_secret": ""}], "eab_secret must be a non-empty string"),
])
def test_a_wrong_list_says_what_to_fix(entries: object, expected: str) -> None:
    raw = entries if isinstance(entries, str) else json.dumps(entries)
    _, problems = parse_cas(raw)
    assert any(expected in p for p in problems), problems


def test_settings_keep_the_one_ca_form() -> None:
    one = Settings.from_env({**BASE, "ACME_DIRECTORY_URL": "https://ca.test/dir",
                             "CAA_IDENTITIES": "ca.test", "ACME_PROFILE": "short"})
    assert one.cas == (Ca("primary", "https://ca.test/dir", ("ca.test",), profile="short"),)
    assert one.cas_for("staging")[0].directory_url == one.staging_directory_url
    several = Settings.from_env({**BASE, "ACME_CAS": json.dumps([LE, ZEROSSL])})
    assert [c.name for c in several.cas] == ["letsencrypt", "zerossl"]
    assert [c.name for c in several.cas_for("staging")] == ["staging"]
    with pytest.raises(SettingsError, match="ACME_CAS"):
        Settings.from_env({**BASE, "ACME_CAS": "[]"})


def test_a_team_uses_its_cas_in_the_deployments_order() -> None:
    cas, _ = parse_cas(json.dumps([LE, ZEROSSL]))
    assert usable(cas, None) == cas
    assert [c.name for c in usable(cas, ["zerossl", "letsencrypt"])] == ["letsencrypt", "zerossl"]
    assert usable(cas, ["other"]) == ()


def test_the_issuer_of_a_stored_certificate() -> None:
    cas, _ = parse_cas(json.dumps([LE, ZEROSSL]))
    assert issuer_of({"acme_ca": "zerossl"}, cas) == "zerossl"
    assert issuer_of({}, cas) == "letsencrypt"  # stored before cert.json named its CA
    assert issuer_of({"ca": "staging"}, cas) == "staging"


@pytest.mark.parametrize(("unavailable", "wait", "remaining", "expected"), [
    (True, None, 100.0, True),  # connection errors, 5xx, serverInternal past the retries
    (False, None, 100.0, False),  # refused: validation, CAA, rejectedIdentifier
    (False, 3600.0, 100.0, True),  # a rate limit longer than the request has left
    (False, 30.0, 100.0, False),  # a short one: the request waits and comes back
])
def test_when_to_fail_over(unavailable: bool, wait: float | None, remaining: float,
                           expected: bool) -> None:
    assert fails_over(unavailable=unavailable, wait=wait, remaining=remaining) is expected


def test_teams_toml_narrows_a_team_to_some_cas() -> None:
    from wildcert.logic.teams import TeamsError, parse_teams

    table = ('[teams.alpha]\nsources = ["wildcert.team.alpha"]\naccounts = ["123456789012"]\n'
             'suffixes = ["alpha.example.com"]\n')
    assert parse_teams(table).teams["alpha"].acme_cas is None  # unset: every CA
    narrowed = parse_teams(table + 'acme_cas = ["zerossl"]\n').teams["alpha"]
    cas, _ = parse_cas(json.dumps([LE, ZEROSSL]))
    assert [c.name for c in usable(cas, narrowed.acme_cas)] == ["zerossl"]
    with pytest.raises(TeamsError, match="acme_cas must be a list of strings"):
        parse_teams(table + "acme_cas = 1\n")
