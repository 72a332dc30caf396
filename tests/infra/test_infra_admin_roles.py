"""AdminRoleArns can only name IAM roles of a given account, never everyone.

The bucket policy's DenyObjectAccessToOtherPrincipals and DenyListingToOtherPrincipals exempt
the principals that match the admin entries (ArnNotLike): an entry `*`, or one with a wildcard
account, would switch both denies off for every principal. CloudFormation refuses a value
that does not match the parameter's AllowedPattern (the whole value must match, as Java's
`Pattern.matches`, which `re.fullmatch` mirrors for this syntax).

The mutation test loosens the pattern in a copy of the template and checks that
`admin_pattern_violations` notices: a check that cannot fail protects nothing.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .infra_template import ACCOUNT, load_sam

PARAMETER = "AdminRoleArns"

# Entries CloudFormation must refuse, alone or next to a good one.
REFUSED_ENTRIES = {
    "everyone": "*",
    "any account": "arn:aws:iam::*:role/x",
    "any account, digit wildcards": "arn:aws:iam::????????????:role/x",
    "any role of the account": f"arn:aws:iam::{ACCOUNT}:role/*",
    "any principal of the account": f"arn:aws:iam::{ACCOUNT}:*",
    "a user": f"arn:aws:iam::{ACCOUNT}:user/alice",
    "the account root": f"arn:aws:iam::{ACCOUNT}:root",
    "an assumed-role session": f"arn:aws:sts::{ACCOUNT}:assumed-role/admin/alice",
    "any partition": f"arn:*:iam::{ACCOUNT}:role/x",
    "short account id": "arn:aws:iam::11112222333:role/x",
    "no role name": f"arn:aws:iam::{ACCOUNT}:role/",
    "an empty entry": "",
    "blank": " ",
    "leading space": f" arn:aws:iam::{ACCOUNT}:role/x",
    "line break": f"arn:aws:iam::{ACCOUNT}:role/x\n*",
}

# Role ARNs teams really pass, one entry each.
ACCEPTED_ENTRIES = (
    f"arn:aws:iam::{ACCOUNT}:role/platform-admin",
    f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_*",
    f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/eu-west-1/"
    "AWSReservedSSO_AdministratorAccess_0123456789abcdef",
    f"arn:aws:iam::{ACCOUNT}:role/team/pki/cert-admin@ops.example+1=2",
    f"arn:aws:iam::{ACCOUNT}:role/break-glass-?",
    "arn:aws-us-gov:iam::123456789012:role/GovAdmin",
    "arn:aws-cn:iam::123456789012:role/service-role/ChinaAdmin",
    "arn:aws-iso-b:iam::123456789012:role/IsoAdmin",
)


def refused_values() -> Iterator[tuple[str, str]]:
    good = ACCEPTED_ENTRIES[0]
    for name, entry in REFUSED_ENTRIES.items():
        if entry:  # the whole value "" is the default: no administrators
            yield name, entry
        yield f"{name} after a good entry", f"{good},{entry}"
        yield f"{name} before a good entry", f"{entry},{good}"
    yield "trailing comma", f"{good},"
    yield "two commas", f"{good},,{good}"
    yield "a lone comma", ","


def accepted_values() -> Iterator[str]:
    yield ""  # the default: no administrators
    yield from ACCEPTED_ENTRIES
    yield ",".join(ACCEPTED_ENTRIES)


def _matches(spec: dict[str, Any], value: str) -> bool:
    """Would CloudFormation take `value` for this parameter?"""
    pattern = spec.get("AllowedPattern")
    if pattern is None:
        return True
    entries = value.split(",") if spec.get("Type") == "CommaDelimitedList" else [value]
    return all(re.fullmatch(pattern, entry) is not None for entry in entries)


def admin_pattern_violations(sam: dict[str, Any]) -> list[str]:
    spec = sam["Parameters"][PARAMETER]
    found = [
        f"{PARAMETER} accepts {name}: {value!r}"
        for name, value in refused_values()
        if _matches(spec, value)
    ]
    found += [
        f"{PARAMETER} refuses {value!r}" for value in accepted_values() if not _matches(spec, value)
    ]
    if not _matches(spec, str(spec.get("Default", ""))):
        found.append(f"{PARAMETER} refuses its own default {spec.get('Default')!r}")
    return found


def test_admin_role_arns_accept_only_role_arns() -> None:
    assert admin_pattern_violations(load_sam()) == []


# ----------------------------------------------------------------------------- mutations
def _pattern(sam: dict[str, Any]) -> str:
    return str(sam["Parameters"][PARAMETER]["AllowedPattern"])


def _set(sam: dict[str, Any], pattern: str) -> None:
    sam["Parameters"][PARAMETER]["AllowedPattern"] = pattern


def no_pattern(sam):
    sam["Parameters"][PARAMETER].pop("AllowedPattern")


def anything(sam):
    _set(sam, ".*")


def any_account(sam):
    _set(sam, _pattern(sam).replace("[0-9]{12}", "[0-9*?]{12}"))


def account_star(sam):
    _set(sam, _pattern(sam).replace("[0-9]{12}", "([0-9]{12}|[*])"))


def users_too(sam):
    _set(sam, _pattern(sam).replace("role/", "(role|user)/"))


def wildcard_first(sam):
    _set(sam, _pattern(sam).replace("role/[A-Za-z0-9+=.@_-]", "role/[A-Za-z0-9+=.@_*-]"))


def any_partition(sam):
    _set(sam, _pattern(sam).replace("arn:aws(-[a-z]+)*:", "arn:[a-z*-]+:"))


def aws_only(sam):
    _set(sam, _pattern(sam).replace("arn:aws(-[a-z]+)*:", "arn:aws:"))


def empty_entries(sam):
    _set(sam, _pattern(sam).replace("(,", "(,+"))


def star_entry(sam):
    _set(sam, f"^[*]$|{_pattern(sam)}")


MUTATIONS: dict[str, Callable[[dict[str, Any]], None]] = {
    f.__name__: f
    for f in (
        no_pattern,
        anything,
        any_account,
        account_star,
        users_too,
        wildcard_first,
        any_partition,
        aws_only,
        empty_entries,
        star_entry,
    )
}


@pytest.mark.parametrize("mutation", MUTATIONS)
def test_loosened_pattern_is_caught(mutation: str) -> None:
    sam = copy.deepcopy(load_sam())
    before = sam["Parameters"][PARAMETER].get("AllowedPattern")
    MUTATIONS[mutation](sam)
    assert sam["Parameters"][PARAMETER].get("AllowedPattern") != before, "mutation did nothing"
    assert admin_pattern_violations(sam), f"{mutation} went unnoticed"
