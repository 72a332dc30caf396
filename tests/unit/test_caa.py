from __future__ import annotations

import pytest

from wildcert.logic.caa import CaaRecord, evaluate, parse_issue_value

LE = '0 issue "letsencrypt.org"'
ACCOUNT = "https://acme-v02.api.letsencrypt.org/acme/acct/12345"


def records(*lines: str) -> list[tuple[int, str, str]]:
    parsed = []
    for line in lines:
        flags, tag, value = line.split(" ", 2)
        parsed.append((int(flags), tag, value.strip('"')))
    return parsed


# (case, name, records, allowed, words the reason must contain)
POLICIES = [
    ("no records", "example.com", [], True, []),
    ("issue allows LE", "example.com", [LE], True, []),
    ("issue allows another CA", "example.com", ['0 issue "sectigo.com"'], False,
     ["example.com", '0 issue "sectigo.com"', "allows only sectigo.com",
      '`0 issue "letsencrypt.org"`']),
    ("one of several issue records allows LE", "example.com",
     ['0 issue "sectigo.com"', LE], True, []),
    ("only iodef", "example.com", ['0 iodef "mailto:sec@example.com"'], True, []),
    ("only iodef, wildcard", "*.example.com", ['0 iodef "mailto:sec@example.com"'], True, []),
    ("critical iodef is known", "example.com", ['128 iodef "mailto:sec@example.com"'], True, []),
    ("empty issuer ';'", "example.com", ['0 issue ";"'], False, ["forbids every CA"]),
    ("empty value", "example.com", ['0 issue ""'], False, ["forbids every CA"]),
    ("empty next to LE", "example.com", ['0 issue ";"', LE], True, []),
    ("wildcard with only issue uses issue", "*.example.com", [LE], True, []),
    ("wildcard with only issue of another CA", "*.example.com", ['0 issue "sectigo.com"'],
     False, ['`0 issue "letsencrypt.org"`']),
    ("issuewild overrides issue for wildcard", "*.example.com",
     [LE, '0 issuewild "sectigo.com"'], False,
     ["issuewild records govern *.example.com", '`0 issuewild "letsencrypt.org"`']),
    ("issuewild allows wildcard despite issue", "*.example.com",
     ['0 issue "sectigo.com"', '0 issuewild "letsencrypt.org"'], True, []),
    ("issuewild ignored for non-wildcard", "example.com",
     [LE, '0 issuewild ";"'], True, []),
    ("only issuewild, non-wildcard", "example.com", ['0 issuewild "sectigo.com"'], True, []),
    ("issuewild ';' forbids wildcards", "*.example.com", [LE, '0 issuewild ";"'], False,
     ["forbids every CA"]),
    ("critical unknown tag", "example.com", [LE, '128 tbs "unknown"'], False,
     ['128 tbs "unknown"', "critical", "Remove it"]),
    ("flag bit 1 counts as critical", "example.com", [LE, '1 tbs "unknown"'], False,
     ["critical"]),
    ("non-critical unknown tag ignored", "example.com", [LE, '0 tbs "unknown"'], True, []),
    ("non-critical unknown tag alone", "example.com", ['0 tbs "unknown"'], True, []),
    ("validationmethods includes dns-01", "example.com",
     ['0 issue "letsencrypt.org; validationmethods=http-01,dns-01"'], True, []),
    ("validationmethods without dns-01", "example.com",
     ['0 issue "letsencrypt.org; validationmethods=http-01"'], False,
     ["validationmethods=http-01", "add dns-01"]),
    ("duplicate validationmethods", "example.com",
     ['0 issue "letsencrypt.org; validationmethods=dns-01; validationmethods=dns-01"'], False,
     ["more than one validationmethods"]),
    ("malformed validationmethods", "example.com",
     ['0 issue "letsencrypt.org; validationmethods=dns-01,,http-01"'], False, ["malformed"]),
    ("tag in upper case", "example.com", ['0 ISSUE "letsencrypt.org"'], True, []),
    ("issuer in mixed case is a near miss", "example.com", ['0 issue "LetsEncrypt.org"'],
     False, ["'LetsEncrypt.org'", "exactly", "'letsencrypt.org'"]),
    ("issuer with a trailing dot is a near miss", "example.com",
     ['0 issue "letsencrypt.org."'], False, ["exactly"]),
    ("spaces around issuer and parameters", "example.com",
     ['0 issue "  letsencrypt.org ;  validationmethods=dns-01  "'], True, []),
    ("tab before the semicolon", "example.com", ['0 issue "letsencrypt.org\t; "'], True, []),
    ("space inside a parameter value", "example.com",
     ['0 issue "letsencrypt.org; validationmethods=dns 01"'], False, ["malformed"]),
    ("parameter without '='", "example.com", ['0 issue "letsencrypt.org; dns-01"'], False,
     ["malformed", "not tag=value"]),
    ("unknown parameter ignored", "example.com",
     ['0 issue "letsencrypt.org; cansignhttpexchanges=yes"'], True, []),
]


@pytest.mark.parametrize(
    ("name", "rrset", "allowed", "words"),
    [pytest.param(n, records(*r), a, w, id=case) for case, n, r, a, w in POLICIES],
)
def test_policy(name: str, rrset: list[tuple[int, str, str]], allowed: bool, words: list[str]):
    verdict = evaluate(name, rrset)
    assert verdict.allowed is allowed, verdict.reason
    assert (verdict.reason == "") is allowed
    for word in words:
        assert word in verdict.reason


def test_reason_names_the_owner_the_records_and_the_fix() -> None:
    verdict = evaluate(
        "www.example.com", records('0 issue "sectigo.com"'), owner="example.com"
    )
    assert verdict.reason == (
        "CAA at example.com does not allow letsencrypt.org to issue for www.example.com: "
        '0 issue "sectigo.com" allows only sectigo.com. '
        'Add `0 issue "letsencrypt.org"` at example.com, or change the records above.'
    )


def test_reason_mentions_the_cname_that_led_there() -> None:
    verdict = evaluate(
        "alias.example.com", records('0 issue ";"'),
        owner="target.example.net", alias="alias.example.com",
    )
    assert "CAA at target.example.net (the CNAME target of alias.example.com)" in verdict.reason
    assert "at target.example.net, or change" in verdict.reason


def test_other_identities() -> None:
    rrset = records('0 issue "pki.goog"')
    assert evaluate("example.com", rrset, identities=("pki.goog",)).allowed
    assert not evaluate("example.com", rrset).allowed


def test_accounturi_matches_our_account() -> None:
    rrset = records(f'0 issue "letsencrypt.org; accounturi={ACCOUNT}"')
    assert evaluate("example.com", rrset, account_uri=ACCOUNT) == evaluate("example.com", [])


def test_accounturi_of_another_account_forbids() -> None:
    rrset = records(f'0 issue "letsencrypt.org; accounturi={ACCOUNT}"')
    verdict = evaluate("example.com", rrset, account_uri=ACCOUNT + "9")
    assert not verdict.allowed
    assert f"only for account {ACCOUNT}," in verdict.reason


def test_accounturi_with_our_account_unknown_is_a_warning() -> None:
    rrset = records(f'0 issue "letsencrypt.org; accounturi={ACCOUNT}"')
    verdict = evaluate("example.com", rrset, owner="example.com")
    assert verdict.allowed
    assert len(verdict.warnings) == 1
    assert "CAA at example.com" in verdict.warnings[0]
    assert ACCOUNT in verdict.warnings[0]


def test_unpinned_record_next_to_a_pinned_one_needs_no_warning() -> None:
    rrset = records(f'0 issue "letsencrypt.org; accounturi={ACCOUNT}"', LE)
    assert evaluate("example.com", rrset).warnings == ()


def test_duplicate_accounturi_forbids() -> None:
    rrset = records(f'0 issue "letsencrypt.org; accounturi={ACCOUNT}; accounturi={ACCOUNT}"')
    assert not evaluate("example.com", rrset, account_uri=ACCOUNT).allowed


def test_records_may_be_dataclasses() -> None:
    assert evaluate("example.com", [CaaRecord(0, "issue", "letsencrypt.org")]).allowed


@pytest.mark.parametrize(
    ("value", "issuer", "parameters", "error"),
    [
        ("letsencrypt.org", "letsencrypt.org", (), False),
        (";", "", (), False),
        ("", "", (), False),
        ("ca.example; a=1; b-c=x=y", "ca.example", (("a", "1"), ("b-c", "x=y")), False),
        ("ca.example;", "ca.example", (), False),
        ("ca.example; -a=1", "ca.example", (), True),
    ],
)
def test_parse_issue_value(
    value: str, issuer: str, parameters: tuple[tuple[str, str], ...], error: bool
) -> None:
    parsed = parse_issue_value(value)
    assert parsed.issuer == issuer
    assert parsed.parameters == parameters
    assert (parsed.error is not None) is error


def test_record_renders_in_zone_file_form() -> None:
    assert str(CaaRecord(128, "issue", 'a"b')) == '128 issue "a\\"b"'
