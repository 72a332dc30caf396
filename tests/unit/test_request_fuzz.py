"""Property tests: whatever arrives, parse_request returns a request that obeys every rule, or
rejects it with a bounded, printable list of problems. Nothing else escapes.

Each property runs through ``run_counted``, which asserts how many generated cases actually ran
and records the number (``record_property``, visible in JUnit XML and with ``-s``).
``WILDCERT_FUZZ_SCALE=20`` multiplies the example counts for a longer hunt; ``make test-fast``
runs a quarter of them (0.25): the same properties in seconds, `make test` runs them whole.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import time
from collections import Counter
from collections.abc import Callable

import idna
import pytest
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, SQSRecord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wildcert.logic.request import (
    KEY_TYPES,
    CertificateRequest,
    RequestRejected,
    is_eventbridge,
    parse_request,
)
from wildcert.logic.request.envelope import eventbridge_detail, message_id, sqs_request
from wildcert.logic.zones import zone_for

ZONES = ("example.com", "team.example.com", "example.org", "xn--bcher-kva.example", "co.uk")
MAX_MESSAGE = 20_000
CASES: Counter[str] = Counter()
SCALE = max(0.05, float(os.environ.get("WILDCERT_FUZZ_SCALE", "1")))


def scaled(count: int) -> int:
    return max(1, round(count * SCALE))


FUZZ = settings(
    max_examples=scaled(200),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=False,
)


def run_counted(prop: Callable[[], None], minimum: int, record: Callable[..., None]) -> None:
    name = prop.__name__
    before = CASES[name]
    prop()
    ran = CASES[name] - before
    record(f"hypothesis_cases_{name}", ran)
    print(f"{name}: {ran} cases")
    assert ran >= scaled(minimum), f"{name} ran only {ran} cases"


# --- an independent statement of the rules ----------------------------------------------------

LDH = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
CERT_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,127}")


def assert_valid_domain(domain: str, zone: str) -> None:
    assert domain.isascii() and domain == domain.lower()
    assert len(domain) <= 253
    labels = domain.split(".")
    if labels[0] == "*":
        labels = labels[1:]
    assert len(labels) >= 2
    for label in labels:
        assert LDH.fullmatch(label), label
        assert label[2:4] != "--" or label.startswith("xn--")
        if label.startswith("xn--"):
            idna.decode(label)  # a real A-label
    assert not labels[-1].isdigit()
    base = ".".join(labels)
    for candidate in (base, base.strip("[]")):
        with pytest.raises(ValueError):
            ipaddress.ip_address(candidate)
    assert base == zone or base.endswith("." + zone)


def assert_valid_request(request: CertificateRequest, raw: dict, zones: tuple[str, ...]) -> None:
    assert isinstance(request, CertificateRequest)
    assert 1 <= len(request.domains) <= 100
    assert len(set(request.domains)) == len(request.domains)
    for domain in request.domains:
        zone = zone_for(domain, zones)
        assert zone is not None
        assert_valid_domain(domain, zone.removesuffix(".").lower())
    assert CERT_NAME.fullmatch(request.name) and ".." not in request.name
    if raw.get("name") is not None:
        assert request.name == raw["name"]
    assert request.key_type in KEY_TYPES
    assert request.key_type == (raw.get("key_type") or "ec256")
    assert request.force is (raw.get("force") is True)
    assert set(raw) <= {"domains", "name", "key_type", "force"}
    assert_domains_follow_input(request.domains, raw["domains"])


def reference_normalisation(entry: str) -> str | None:
    """What the idna package alone makes of an entry, when it can say (no wildcards)."""
    text = entry.strip()
    if text.isascii():
        text = text.lower()
        return text[:-1] if text.endswith(".") else text
    try:
        encoded = idna.encode(text, uts46=True, transitional=False).decode("ascii")
    except idna.IDNAError:
        return None
    return encoded[:-1] if encoded.endswith(".") else encoded


def assert_domains_follow_input(domains: tuple[str, ...], raw: list[str]) -> None:
    """Strip, lowercase, IDNA 2008 + UTS 46, one trailing dot off, first occurrence kept."""
    expected: list[str | None] = []
    for entry in raw:
        reference = None if "*" in entry or "\uff0a" in entry else reference_normalisation(entry)
        if reference is None:
            expected.append(None)
        elif reference not in expected:
            expected.append(reference)
    assert len(domains) <= len(expected)
    if None not in expected:
        assert list(domains) == expected


def assert_good_rejection(error: RequestRejected) -> None:
    assert error.problems
    assert all(isinstance(p, str) and p for p in error.problems)
    message = str(error)
    assert len(message) <= MAX_MESSAGE, len(message)
    message.encode("utf-8")  # no lone surrogates
    for line in message.split("\n"):
        assert line.isprintable(), line


def check(raw: object, zones: tuple[str, ...] = ZONES) -> CertificateRequest | None:
    try:
        request = parse_request(raw, zones)
    except RequestRejected as error:
        assert_good_rejection(error)
        return None
    assert isinstance(raw, dict)
    assert_valid_request(request, raw, zones)
    return request


# --- strategies -------------------------------------------------------------------------------

any_char = st.characters(exclude_categories=())  # surrogates and controls included
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**40, max_value=10**4000)  # JSON-encodable, still huge
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(alphabet=any_char, max_size=40)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=25,
)

label_chars = st.sampled_from("abcxyz019-_*AZ")
ascii_labels = st.text(label_chars, min_size=0, max_size=8) | st.sampled_from(
    ["www", "*", "xn--bcher-kva", "xn--zz", "a" * 63, "a" * 64, "ab--c", "1", "api"]
)
idn_labels = st.text(
    st.characters(categories=["L", "M", "Nd"], max_codepoint=0x3FFFF), min_size=1, max_size=6
) | st.sampled_from(
    ["bücher", "faß", "café", "\uff57\uff57\uff57", "пример", "例え", "मराठी", "ﻋ", "\u00ad"]
)


@st.composite
def host_names(draw: st.DrawFn) -> str:
    labels = draw(st.lists(ascii_labels | idn_labels, max_size=4))
    zone = draw(st.sampled_from([*ZONES, "notexample.com", "com", "", "EXAMPLE.COM"]))
    name = ".".join([*labels, zone]) if zone else ".".join(labels)
    name = draw(st.sampled_from(["", "", "", "*.", "\uff0a."])) + name
    if draw(st.booleans()):
        name = name.upper()
    if draw(st.integers(0, 4)) == 0:
        name += "."
    pad = draw(st.sampled_from(["", " ", "\t", "\n", "\u3000", "\x00"]))
    return pad + name + draw(st.sampled_from(["", pad]))


odd_strings = (
    st.text(alphabet=any_char, max_size=300)
    | st.builds(lambda n, c: c * n, st.integers(254, 2_000_000), st.sampled_from("a.*-\x00é"))
    | st.sampled_from(
        ["1.2.3.4", "[::1]", "::1", "127.1", "0x7f.1", "1.2.3.4.", "*.com", "*", ".", "..", ""]
    )
    | st.builds(".".join, st.lists(st.text(alphabet=any_char, max_size=10), max_size=6))
)
domain_entries = host_names() | odd_strings | json_values
field_values = {
    "domains": st.lists(domain_entries, max_size=8)
    | st.lists(host_names(), min_size=1, max_size=5)
    | json_values,
    "name": st.sampled_from([None, "web", "a..b", "Web", "_x", "a" * 129])
    | st.from_regex(r"[a-z0-9][a-z0-9._-]{0,127}", fullmatch=True)
    | json_values,
    "key_type": st.sampled_from([*KEY_TYPES, None, "EC256", "rsa", ""]) | json_values,
    "force": st.sampled_from([True, False, None, "true", 1, 0]) | json_values,
}


@st.composite
def request_like(draw: st.DrawFn) -> dict:
    raw: dict[object, object] = {}
    for key, values in field_values.items():
        if draw(st.integers(0, 5)) > 0:
            raw[key] = draw(values)
    if draw(st.integers(0, 6)) == 0:
        raw[draw(st.text(max_size=12) | st.integers() | st.none())] = draw(json_values)
    return raw


# --- properties -------------------------------------------------------------------------------


@FUZZ
@given(json_values)
def random_json(raw: object) -> None:
    CASES["random_json"] += 1
    check(raw)


@settings(FUZZ, max_examples=scaled(300))
@given(request_like())
def request_shaped(raw: dict) -> None:
    CASES["request_shaped"] += 1
    check(raw)


@FUZZ
@given(st.lists(host_names(), min_size=1, max_size=2), st.sampled_from(KEY_TYPES), st.booleans())
def mostly_valid(domains: list[str], key_type: str, force: bool) -> None:
    CASES["mostly_valid"] += 1
    if check({"domains": domains, "key_type": key_type, "force": force}):
        CASES["mostly_valid accepted"] += 1


@FUZZ
@given(
    st.lists(st.text(alphabet=any_char, max_size=20) | json_values, max_size=4),
    st.lists(domain_entries, min_size=1, max_size=3),
)
def random_zones(zones: list[object], domains: list[object]) -> None:
    CASES["random_zones"] += 1
    zone_names = tuple(z for z in zones if isinstance(z, str))
    check({"domains": domains}, zone_names)


def sqs(bodies: list[object]) -> dict:
    return {
        "Records": [
            {"messageId": f"m{i}", "eventSource": "aws:sqs", "body": body}
            for i, body in enumerate(bodies)
        ]
    }


envelope_bodies = (
    st.text(alphabet=any_char, max_size=200)
    | request_like().map(lambda r: json.dumps(r, default=str))
    | json_values.map(json.dumps)
    | json_values
    | st.builds(lambda n: "[" * n + "]" * n, st.integers(500, 200_000))
    | st.builds(lambda n: '{"a":' * n, st.integers(500, 200_000))
)
events = (
    st.builds(sqs, st.lists(envelope_bodies, max_size=4))
    | st.builds(lambda d: {"detail-type": "x", "source": "y", "detail": d}, request_like())
    | st.builds(lambda d: {"detail-type": "x", "source": "y", "detail": d}, json_values)
    | st.builds(lambda r: {"Records": r}, json_values)
    | st.builds(lambda r: {"Records": [r]}, json_values)
    | st.builds(lambda e: {"detail-type": e}, json_values)
    | json_values
)


def payloads_in(event: object) -> list[object]:
    """The requests the issuer's entry takes out of ``event``, the way it does."""
    records = event.get("Records") if isinstance(event, dict) else None
    if isinstance(records, list):
        sqs_records = [SQSRecord(record) for record in records]
        for record in sqs_records:
            found = message_id(record)
            assert found is None or isinstance(found, str)
        return [sqs_request(record, index) for index, record in enumerate(sqs_records)]
    if is_eventbridge(event):
        return [eventbridge_detail(EventBridgeEvent(event))]
    return [event]


@FUZZ
@given(events)
def envelopes(event: object) -> None:
    CASES["envelopes"] += 1
    for payload in payloads_in(event):
        check(payload)


@settings(FUZZ, max_examples=scaled(30))
@given(st.integers(1_000, 200_000), st.sampled_from(["list", "dict", "mixed"]))
def deeply_nested(depth: int, shape: str) -> None:
    CASES["deeply_nested"] += 1
    value: object = "example.com"
    for level in range(depth):
        as_list = shape == "list" or (shape == "mixed" and level % 2)
        value = [value] if as_list else {"domains": value}
    for raw in (value, {"domains": value}, {"domains": [value]}, {"name": value}, {"x": value}):
        check(raw)
    check({"domains": ["example.com"], "force": value})


@settings(FUZZ, max_examples=scaled(15))
@given(st.integers(101, 20_000), st.sampled_from(["same", "distinct", "bad"]))
def many_domains(count: int, kind: str) -> None:
    CASES["many_domains"] += 1
    domains = {
        "same": ["example.com"] * count,
        "distinct": [f"h{i}.example.com" for i in range(count)],
        "bad": [f"bad_{i}\x00.example.net" for i in range(count)],
    }[kind]
    started = time.monotonic()
    request = check({"domains": domains})
    assert time.monotonic() - started < 2
    assert (request is not None) == (kind == "same" and count <= 1000)


PROPERTIES = [
    (random_json, 150),
    (request_shaped, 250),
    (mostly_valid, 150),
    (random_zones, 150),
    (envelopes, 150),
    (deeply_nested, 10),
    (many_domains, 5),
]


@pytest.mark.parametrize(("prop", "minimum"), PROPERTIES, ids=[p.__name__ for p, _ in PROPERTIES])
def test_property(prop: Callable[[], None], minimum: int, record_property) -> None:
    run_counted(prop, minimum, record_property)
    if prop is mostly_valid:
        # Guards against a generator that only ever produces rejections.
        assert CASES["mostly_valid accepted"] >= scaled(minimum) // 10


def test_ten_thousand_domains_is_one_problem() -> None:
    with pytest.raises(RequestRejected) as caught:
        parse_request({"domains": [f"h{i}.example.com" for i in range(10_000)]}, ZONES)
    assert len(caught.value.problems) == 1


def test_valid_requests_are_found() -> None:
    # Guards against a generator that only ever produces rejections.
    request = check({"domains": ["WWW.Bücher.example.", " *.team.example.com "]})
    assert request is not None
    assert request.domains == ("www.xn--bcher-kva.example", "*.team.example.com")
