"""parse_request, default_name and the event envelopes: what is accepted, what is said when
not."""

from __future__ import annotations

import hashlib
import json
import pickle

import pytest
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, SQSRecord

from wildcert.logic.request import (
    DIRECT,
    KEY_TYPES,
    Requester,
    RequestRejected,
    UnreadableEvent,
    default_name,
    is_eventbridge,
    is_valid_cert_name,
    normalise_serial,
    parse_request,
)
from wildcert.logic.request.envelope import (
    eventbridge_detail,
    eventbridge_requester,
    message_id,
    queue_requester,
    sqs_request,
)

ZONES = (
    "example.com",
    "team.example.com",
    "example.org",
    "xn--bcher-kva.example",
    "xn--fa-hia.de",
    "xn--mgbh0fb.xn--kgbechtv",
)


def rejected(raw: object, zones: tuple[str, ...] = ZONES) -> RequestRejected:
    with pytest.raises(RequestRejected) as caught:
        parse_request(raw, zones)
    return caught.value


# --- domains that are accepted, and what they normalise to ------------------------------------

GOOD_DOMAINS = [
    (["example.com"], ("example.com",)),
    (["www.example.com"], ("www.example.com",)),
    (["*.example.com"], ("*.example.com",)),
    (["example.com", "*.example.com"], ("example.com", "*.example.com")),
    (["*.example.com", "example.com"], ("*.example.com", "example.com")),
    (["EXAMPLE.COM"], ("example.com",)),
    (["Www.Example.Com"], ("www.example.com",)),
    (["example.com."], ("example.com",)),
    (["*.example.com."], ("*.example.com",)),
    (["  example.com  "], ("example.com",)),
    (["\texample.com\n"], ("example.com",)),
    (["example.com", "EXAMPLE.com", "example.com."], ("example.com",)),
    (["b.example.com", "a.example.com", "b.example.com"], ("b.example.com", "a.example.com")),
    (["*.team.example.com"], ("*.team.example.com",)),
    (["a.b.c.d.team.example.com"], ("a.b.c.d.team.example.com",)),
    (["steam.example.com"], ("steam.example.com",)),
    (["a-b.example.com"], ("a-b.example.com",)),
    (["a--b.example.com"], ("a--b.example.com",)),
    (["0.example.com"], ("0.example.com",)),
    (["123.example.com"], ("123.example.com",)),
    (["1.2.3.example.com"], ("1.2.3.example.com",)),
    (["x.example.org"], ("x.example.org",)),
    (["a" * 63 + ".example.com"], ("a" * 63 + ".example.com",)),
    (["bücher.example"], ("xn--bcher-kva.example",)),
    (["BÜCHER.example"], ("xn--bcher-kva.example",)),
    (["www.bücher.example"], ("www.xn--bcher-kva.example",)),
    (["*.bücher.example"], ("*.xn--bcher-kva.example",)),
    (["xn--bcher-kva.example"], ("xn--bcher-kva.example",)),
    (["XN--BCHER-KVA.example"], ("xn--bcher-kva.example",)),
    (["bücher.example", "xn--bcher-kva.example"], ("xn--bcher-kva.example",)),
    (["faß.de"], ("xn--fa-hia.de",)),  # IDNA 2008 keeps ß (no transitional mapping to "ss")
    (["\uff57\uff57\uff57.example.com"], ("www.example.com",)),  # full-width letters map to ASCII
    (["www。example。com"], ("www.example.com",)),  # ideographic full stop is a dot
    (["\uff0a.example.com"], ("*.example.com",)),
    (["café.example.com"], ("xn--caf-dma.example.com",)),
    (["cafe\u0301.example.com"], ("xn--caf-dma.example.com",)),  # decomposed é composes
    (["ⅻ.example.com"], ("xii.example.com",)),  # UTS 46 compatibility mapping
]


@pytest.mark.parametrize(("domains", "expected"), GOOD_DOMAINS)
def test_good_domains_normalise(domains: list[str], expected: tuple[str, ...]) -> None:
    request = parse_request({"domains": domains}, ZONES)
    assert request.domains == expected


def test_right_to_left_idn_is_converted() -> None:
    request = parse_request({"domains": ["موقع.مصر"]}, ("xn--wgbh1c",))
    assert request.domains == ("xn--4gbrim.xn--wgbh1c",)


def test_longest_valid_name_is_accepted() -> None:
    name = ".".join(["a" * 63] * 3) + ".example.com"
    name = "b" * (253 - len(name) - 1) + "." + name
    assert len(name) == 253
    assert parse_request({"domains": [name]}, ZONES).domains == (name,)


def test_one_hundred_names_are_accepted() -> None:
    domains = [f"h{i}.example.com" for i in range(100)]
    assert len(parse_request({"domains": domains}, ZONES).domains) == 100


def test_duplicates_do_not_count_towards_the_limit() -> None:
    domains = [f"h{i}.example.com" for i in range(100)] * 3
    assert len(parse_request({"domains": domains}, ZONES).domains) == 100


def test_zone_names_may_be_given_as_route53_spells_them() -> None:
    request = parse_request({"domains": ["www.example.com"]}, ["Example.COM."])
    assert request.domains == ("www.example.com",)


# --- optional fields --------------------------------------------------------------------------

GOOD_OPTIONS = [
    ({}, "example.com", "ec256", False),
    ({"name": "web"}, "web", "ec256", False),
    ({"name": "a"}, "a", "ec256", False),
    ({"name": "0"}, "0", "ec256", False),
    ({"name": "a" * 128}, "a" * 128, "ec256", False),
    ({"name": "prod.web_site-2"}, "prod.web_site-2", "ec256", False),
    ({"name": "a.b.c"}, "a.b.c", "ec256", False),
    ({"name": None}, "example.com", "ec256", False),
    ({"key_type": None}, "example.com", "ec256", False),
    ({"force": None}, "example.com", "ec256", False),
    ({"force": True}, "example.com", "ec256", True),
    ({"force": False}, "example.com", "ec256", False),
    *[({"key_type": k}, "example.com", k, False) for k in KEY_TYPES],
    ({"name": "x", "key_type": "rsa4096", "force": True}, "x", "rsa4096", True),
]


@pytest.mark.parametrize(("extra", "name", "key_type", "force"), GOOD_OPTIONS)
def test_good_options(extra: dict[str, object], name: str, key_type: str, force: bool) -> None:
    request = parse_request({"domains": ["example.com"], **extra}, ZONES)
    assert (request.name, request.key_type, request.force) == (name, key_type, force)


# --- rejected requests: each case lists substrings the message must hold -----------------------

D = "domains"
BAD_REQUESTS: list[tuple[str, object, list[str]]] = [
    # the request itself
    ("list", [{"domains": ["example.com"]}], ["must be a JSON object", "array of 1 item"]),
    ("string", '{"domains": ["example.com"]}', ["must be a JSON object", "a string"]),
    ("null", None, ["must be a JSON object", "null"]),
    ("number", 42, ["must be a JSON object", "a number (42)"]),
    ("bool", True, ["must be a JSON object", "a boolean (true)"]),
    ("bytes", b'{"domains": []}', ["must be a JSON object", "bytes"]),
    ("set", {"example.com"}, ["must be a JSON object", "'set'"]),
    ("empty object", {}, ["domains is missing"]),
    # domains: shape
    ("domains null", {D: None}, ["domains is missing"]),
    ("domains string", {D: "example.com"}, ["not a single string", "'example.com'", "["]),
    ("domains object", {D: {"example.com": 1}}, ["domains must be a list", "an object"]),
    ("domains number", {D: 1}, ["domains must be a list", "a number (1)"]),
    ("domains bool", {D: True}, ["domains must be a list", "a boolean (true)"]),
    ("domains empty", {D: []}, ["domains is empty"]),
    ("domains item number", {D: [5]}, ["domains[0] must be a string", "a number (5)"]),
    ("domains item null", {D: ["example.com", None]}, ["domains[1] must be a string", "null"]),
    ("domains item list", {D: [["example.com"]]}, ["domains[0] must be a string", "an array"]),
    ("domains item object", {D: [{}]}, ["domains[0] must be a string", "an object"]),
    ("domains item bytes", {D: [b"example.com"]}, ["domains[0] must be a string", "bytes"]),
    ("too many", {D: [f"h{i}.example.com" for i in range(101)]}, ["101 distinct", "at most 100"]),
    ("way too many", {D: ["example.com"] * 10_000}, ["10000 entries", "at most 100"]),
    # domains: syntax
    ("empty name", {D: [""]}, ["domains[0] '' is empty"]),
    ("blank name", {D: ["   "]}, ["domains[0] '   ' is empty"]),
    ("root", {D: ["."]}, ["only a dot"]),
    ("single label", {D: ["localhost"]}, ["'localhost' has a single label"]),
    ("tld", {D: ["com"]}, ["'com' has a single label"]),
    ("bare star", {D: ["*"]}, ["'*'", "whole leftmost label"]),
    ("star dot", {D: ["*."]}, ["whole leftmost label"]),
    ("star tld", {D: ["*.com"]}, ["'*.com'", "whole top-level domain"]),
    ("double star", {D: ["*.*.example.com"]}, ["'*.*.example.com'", "whole leftmost label"]),
    ("inner star", {D: ["a.*.example.com"]}, ["'a.*.example.com'", "whole leftmost label"]),
    ("partial star", {D: ["*a.example.com"]}, ["'*a.example.com'", "whole leftmost label"]),
    ("star suffix", {D: ["a*.example.com"]}, ["whole leftmost label"]),
    ("trailing star", {D: ["example.com.*"]}, ["whole leftmost label"]),
    ("empty label", {D: ["a..example.com"]}, ["empty label"]),
    ("leading dot", {D: [".example.com"]}, ["empty label"]),
    ("two trailing dots", {D: ["example.com.."]}, ["empty label"]),
    ("underscore", {D: ["_acme.example.com"]}, ["'_acme.example.com'", "underscore"]),
    ("underscore mid", {D: ["a_b.example.com"]}, ["underscore", "'a_b'"]),
    ("leading hyphen", {D: ["-a.example.com"]}, ["'-a'", "hyphen"]),
    ("trailing hyphen", {D: ["a-.example.com"]}, ["'a-'", "hyphen"]),
    ("hyphen tld", {D: ["example.com-"]}, ["hyphen"]),
    ("lone hyphen", {D: ["-.example.com"]}, ["hyphen"]),
    ("reserved --", {D: ["ab--cd.example.com"]}, ["'ab--cd'", "third and fourth"]),
    ("bad a-label", {D: ["xn--zz.example.com"]}, ["'xn--zz'", "not a valid internationalised"]),
    ("empty a-label", {D: ["xn--.example.com"]}, ["'xn--'", "hyphen"]),
    ("a-label hyphen end", {D: ["xn--a-.example.com"]}, ["'xn--a-'", "hyphen"]),
    ("a-label not canonical", {D: ["xn--bcher-kva-.example"]}, ["hyphen"]),
    ("emoji a-label", {D: ["xn--ls8h.example.com"]}, ["'xn--ls8h'", "internationalised"]),
    ("emoji", {D: ["💩.example.com"]}, ["IDNA 2008"]),
    ("label 64", {D: ["a" * 64 + ".example.com"]}, ["longer than 63"]),
    ("name 254", {D: ["ab." + "a." * 120 + "example.com"]}, ["254 characters", "at most 253"]),
    ("huge", {D: ["a" * 1_000_000]}, ["1000000 characters", "at most 253"]),
    ("space inside", {D: ["www example.com"]}, ["whitespace"]),
    ("tab inside", {D: ["www\texample.com"]}, ["whitespace", "'\\t'"]),
    ("nbsp inside", {D: ["www\u00a0example.com"]}, ["whitespace", "\\xa0"]),
    ("nul", {D: ["exa\x00mple.com"]}, ["U+0000", "'exa\\x00mple.com'"]),
    ("escape char", {D: ["\x1b[31mexample.com"]}, ["U+001B", "\\x1b"]),
    ("del char", {D: ["exa\x7fmple.com"]}, ["U+007F"]),
    ("soft hyphen", {D: ["exa\u00admple.com"]}, ["U+00AD"]),
    ("zero width space", {D: ["exa\u200bmple.com"]}, ["U+200B"]),
    ("bidi override", {D: ["\u202eexample.com"]}, ["U+202E", "\\u202e"]),
    ("lone surrogate", {D: ["exa\ud800mple.com"]}, ["U+D800", "\\ud800"]),
    ("bad joiner", {D: ["a\u200cb.example.com"]}, ["IDNA 2008", "\\u200c"]),
    ("ipv4", {D: ["192.0.2.1"]}, ["'192.0.2.1' is an IP address"]),
    ("ipv4 dot", {D: ["192.0.2.1."]}, ["IP address"]),
    ("ipv4 short", {D: ["127.1"]}, ["numeric label", "IP address"]),
    ("ipv4 hex", {D: ["0x7f.0.0.1"]}, ["numeric label"]),
    ("ipv4 five", {D: ["1.2.3.4.5"]}, ["numeric label"]),
    ("numeric tld", {D: ["example.123"]}, ["numeric label '123'"]),
    ("full-width ipv4", {D: ["\uff11.\uff12.\uff13.\uff14"]}, ["IP address"]),
    ("ipv6", {D: ["2001:db8::1"]}, ["'2001:db8::1' is an IP address"]),
    ("ipv6 brackets", {D: ["[::1]"]}, ["'[::1]' is an IP address"]),
    ("ipv6 scoped", {D: ["fe80::1%eth0"]}, ["IP address"]),
    ("ipv6 mapped", {D: ["::ffff:192.0.2.1"]}, ["IP address"]),
    ("url", {D: ["https://example.com/"]}, ["looks like a URL", "only the host name"]),
    ("path", {D: ["example.com/path"]}, ["looks like a URL"]),
    ("port", {D: ["example.com:443"]}, ["':'", "remove the port"]),
    ("email", {D: ["admin@example.com"]}, ["'@'", "not an e-mail address"]),
    ("comma list", {D: ["example.com,www.example.com"]}, ["','"]),
    ("quote", {D: ["exa'mple.com"]}, ["'exa\\'mple.com'", "contains '\\''"]),
    # domains: zones
    ("not in zone", {D: ["example.net"]}, ["'example.net' is not in any hosted zone", "one of:"]),
    ("notexample", {D: ["notexample.com"]}, ["'notexample.com' is not in any hosted zone"]),
    ("zone suffix", {D: ["example.com.au"]}, ["not in any hosted zone"]),
    ("lists zones", {D: ["example.net"]}, ["'example.com'", "'team.example.com'"]),
    ("idn not in zone", {D: ["bücher.de"]}, ["'bücher.de' (xn--bcher-kva.de) is not in any"]),
    ("wildcard of tld", {D: ["*.example"]}, ["'*.example' is a wildcard for a whole top-level"]),
    ("wildcard elsewhere", {D: ["*.example.net"]}, ["'*.example.net' is not in any hosted"]),
    ("redundant", {D: ["*.example.com", "www.example.com"]}, ["'www.example.com' is already"]),
    ("redundant first", {D: ["www.example.com", "*.example.com"]}, ["domains[1] '*.example.com'"]),
    # name
    ("name empty", {D: ["example.com"], "name": ""}, ["name is empty"]),
    ("name upper", {D: ["example.com"], "name": "Web"}, ["name 'Web' is not allowed", "'web'"]),
    ("name space", {D: ["example.com"], "name": "my cert"}, ["name 'my cert' is not allowed"]),
    ("name slash", {D: ["example.com"], "name": "a/b"}, ["name 'a/b' is not allowed"]),
    ("name dotdot", {D: ["example.com"], "name": "a..b"}, ["name 'a..b'", "without '..'"]),
    ("name parent", {D: ["example.com"], "name": ".."}, ["name '..'"]),
    ("name underscore start", {D: ["example.com"], "name": "_wildcert"}, ["'_wildcert'"]),
    ("name dot start", {D: ["example.com"], "name": ".hidden"}, ["name '.hidden'"]),
    ("name hyphen start", {D: ["example.com"], "name": "-x"}, ["name '-x'"]),
    ("name star", {D: ["example.com"], "name": "*.example.com"}, ["name '*.example.com'"]),
    ("name 129", {D: ["example.com"], "name": "a" * 129}, ["(129 characters)", "1 to 128"]),
    ("name unicode", {D: ["example.com"], "name": "bücher"}, ["name 'bücher'"]),
    ("name newline", {D: ["example.com"], "name": "a\nb"}, ["name 'a\\nb'"]),
    ("name trailing nl", {D: ["example.com"], "name": "web\n"}, ["name 'web\\n'", "'web'"]),
    ("name number", {D: ["example.com"], "name": 7}, ["name must be a string", "(7)"]),
    ("name list", {D: ["example.com"], "name": ["a"]}, ["name must be a string", "an array"]),
    ("name bool", {D: ["example.com"], "name": False}, ["name must be a string", "(false)"]),
    # key_type
    ("key upper", {D: ["example.com"], "key_type": "EC256"}, ["'EC256'", "'ec256'?"]),
    ("key rsa", {D: ["example.com"], "key_type": "rsa"}, ["'rsa' is not", "'rsa2048'?"]),
    ("key p384", {D: ["example.com"], "key_type": "p384"}, ["'ec384'?"]),
    ("key typo", {D: ["example.com"], "key_type": "rsa4069"}, ["'rsa4096'?"]),
    ("key rsa1024", {D: ["example.com"], "key_type": "rsa1024"}, ["'rsa1024' is not supported"]),
    ("key ed25519", {D: ["example.com"], "key_type": "ed25519"}, ["one of ec256, ec384"]),
    ("key empty", {D: ["example.com"], "key_type": ""}, ["key_type '' is not supported"]),
    ("key number", {D: ["example.com"], "key_type": 256}, ["key_type must be a string", "256"]),
    ("key list", {D: ["example.com"], "key_type": ["ec256"]}, ["key_type must be a string"]),
    # force
    ("force string", {D: ["example.com"], "force": "true"}, ["force must be a JSON boolean"]),
    ("force one", {D: ["example.com"], "force": 1}, ["force must be", "a number (1)"]),
    ("force zero", {D: ["example.com"], "force": 0}, ["force must be", "a number (0)"]),
    ("force yes", {D: ["example.com"], "force": "yes"}, ["force must be", "'yes'"]),
    ("force nan", {D: ["example.com"], "force": float("nan")}, ["force must be", "(nan)"]),
    ("force inf", {D: ["example.com"], "force": float("inf")}, ["(inf)"]),
    ("force big", {D: ["example.com"], "force": 10**5000}, ["over 40 digits"]),
    # unknown fields
    ("typo domain", {"domain": ["example.com"]}, ["'domain' is not recognised", "'domains'?"]),
    ("typo Domains", {"Domains": ["example.com"]}, ["'Domains'", "'domains'?"]),
    ("alias sans", {D: ["example.com"], "sans": []}, ["'sans'", "'domains'?"]),
    ("typo keytype", {D: ["example.com"], "keytype": "ec256"}, ["'keytype'", "'key_type'?"]),
    ("typo key-type", {D: ["example.com"], "key-type": "ec256"}, ["'key_type'?"]),
    ("typo forse", {D: ["example.com"], "forse": True}, ["'forse'", "'force'?"]),
    ("alias renew", {D: ["example.com"], "renew": True}, ["'renew'", "'force'?"]),
    ("typo nmae", {D: ["example.com"], "nmae": "x"}, ["'nmae'", "'name'?"]),
    ("unrelated", {D: ["example.com"], "colour": "blue"}, ["'colour'", "the fields are"]),
    ("int key", {D: ["example.com"], 1: "x"}, ["field whose name is a number (1)"]),
    ("none key", {D: ["example.com"], None: "x"}, ["field whose name is null"]),
    ("tuple key", {D: ["example.com"], (1, 2): "x"}, ["field whose name is an array"]),
    ("control key", {D: ["example.com"], "a\x00": 1}, ["'a\\x00' is not recognised"]),
    ("huge key", {D: ["example.com"], "k" * 10_000: 1}, ["(10000 characters)"]),
    ("envelope fields", {D: ["example.com"], "detail": {}}, ["'detail' is not recognised"]),
]


@pytest.mark.parametrize(
    ("raw", "expected"), [(c[1], c[2]) for c in BAD_REQUESTS], ids=[c[0] for c in BAD_REQUESTS]
)
def test_bad_requests_are_rejected_with_a_clear_problem(raw: object, expected: list[str]) -> None:
    error = rejected(raw)
    message = str(error)
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"
    assert error.problems
    assert len(message) < 20_000
    assert message.isprintable() or "\n" in message
    message.encode("utf-8")  # no lone surrogates leak into messages


def test_every_problem_is_reported_at_once() -> None:
    error = rejected(
        {
            "domains": ["ok.example.com", "bad_one.example.com", 3, "other.net"],
            "name": "Bad Name",
            "key_type": "dsa",
            "force": "yes",
            "extra": 1,
        }
    )
    assert len(error.problems) == 7
    message = str(error)
    assert message.startswith("The certificate request was rejected (7 problems):\n- ")
    for part in ("'extra'", "domains[1]", "domains[2]", "domains[3]", "name", "key_type", "force"):
        assert part in message


def test_single_problem_message_is_one_line() -> None:
    error = rejected({"domains": ["example.net"]})
    assert "\n" not in str(error)
    assert str(error).startswith("The certificate request was rejected: domains[0] 'example.net'")


def test_problems_are_full_sentences() -> None:
    error = rejected({"domains": ["a_b.example.com", 1, "x.net"], "colour": 1, "force": 2})
    for problem in error.problems:
        assert problem[0].isalpha()
        assert problem.endswith((".", "?"))


def test_many_domain_problems_are_capped() -> None:
    error = rejected({"domains": [f"bad_{i}.example.com" for i in range(50)]})
    assert len(error.problems) == 11
    assert "domains[9]" in str(error)
    assert "domains[10]" not in str(error)
    assert error.problems[-1] == "40 more domain problems are not listed; fix the ones above first."


def test_too_many_names_and_bad_names_both_reported() -> None:
    error = rejected({"domains": [f"h{i}.example.net" for i in range(120)]})
    assert "120 distinct names" in error.problems[0]
    assert len(error.problems) == 12


def test_many_unknown_fields_are_capped() -> None:
    raw: dict[object, object] = {f"field{i}": i for i in range(1000)}
    raw["domains"] = ["example.com"]
    error = rejected(raw)
    assert len(error.problems) == 11
    assert "990 more unrecognised fields" in error.problems[-1]


def test_zone_list_is_capped() -> None:
    zones = tuple(f"zone{i:02d}.example" for i in range(30))
    error = rejected({"domains": ["example.net"]}, zones)
    assert "'zone04.example' and 25 more" in str(error)


def test_no_zones_configured() -> None:
    error = rejected({"domains": ["example.com"]}, ())
    assert "none are configured" in str(error)
    assert "ALLOWED_ZONES" in str(error)


def test_huge_values_are_echoed_short() -> None:
    error = rejected(
        {"domains": ["x" * 5000 + "\x00"], "name": "N" * 100_000, "key_type": "k" * 999}
    )
    assert len(str(error)) < 1_000
    assert "…' (100000 characters)" in str(error)


def test_rejection_survives_pickling() -> None:
    error = rejected({"domains": []})
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes
    assert copy.problems == error.problems
    assert str(copy) == str(error)


def test_rejection_without_problems_still_says_something() -> None:
    assert RequestRejected([]).problems


# --- default name -----------------------------------------------------------------------------

DEFAULT_NAMES = [
    (["example.com"], "example.com"),
    (["www.example.com", "example.com"], "www.example.com"),
    (["*.example.com"], "wildcard.example.com"),
    (["*.example.com", "example.com"], "wildcard.example.com"),
    (["example.com", "*.example.com"], "example.com"),
    (["*.team.example.com"], "wildcard.team.example.com"),
    (["xn--bcher-kva.example"], "xn--bcher-kva.example"),
    (["*.xn--bcher-kva.example"], "wildcard.xn--bcher-kva.example"),
    (["a" * 116 + ".example.com"], "a" * 116 + ".example.com"),
]


@pytest.mark.parametrize(("domains", "expected"), DEFAULT_NAMES)
def test_default_name(domains: list[str], expected: str) -> None:
    assert default_name(domains) == expected
    assert is_valid_cert_name(expected)


def test_default_name_from_parse() -> None:
    assert parse_request({"domains": ["*.Example.COM.", "example.com"]}, ZONES).name == (
        "wildcard.example.com"
    )
    assert parse_request({"domains": ["bücher.example"]}, ZONES).name == "xn--bcher-kva.example"


@pytest.mark.parametrize("wildcard", [False, True])
def test_long_default_name_is_cut_with_a_hash(wildcard: bool) -> None:
    long = ".".join(["a" * 63, "b" * 63, "c" * 63]) + ".example.com"
    domain = ("*." if wildcard else "") + long
    name = default_name([domain])
    assert len(name) <= 128
    assert is_valid_cert_name(name)
    assert name == default_name([domain])
    derived = ("wildcard." if wildcard else "") + long
    prefix, _, digest = name.rpartition("-")
    assert digest == hashlib.sha256(derived.encode()).hexdigest()[:8]
    assert prefix == derived[:119].rstrip(".-")
    assert not prefix.endswith((".", "-"))
    assert default_name(["x" + long]) != default_name([long])


def test_default_name_never_ends_in_a_cut_dot() -> None:
    # 119 characters of derived name end exactly on a dot here.
    domain = "a" * 118 + "." + "b" * 60 + ".example.com"
    name = default_name([domain])
    assert name == "a" * 118 + "-" + name[-8:]
    assert is_valid_cert_name(name)


def test_default_name_needs_a_domain() -> None:
    with pytest.raises(ValueError):
        default_name([])


# --- Lambda event envelopes --------------------------------------------------------------------

REQUEST = {"domains": ["example.com"]}


def sqs_record(body: object, message_id: str = "m-1", source: str = "aws:sqs") -> dict:
    return {"messageId": message_id, "eventSource": source, "body": body}


def from_sqs(record: object, index: int = 0) -> object:
    return sqs_request(SQSRecord(record), index)  # type: ignore[arg-type]


def eventbridge(detail: object) -> dict:
    return {
        "version": "0",
        "id": "1",
        "detail-type": "wildcert.certificate.requested",
        "source": "acme.team",
        "account": "123456789012",
        "time": "2025-01-01T00:00:00Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": detail,
    }


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (eventbridge(REQUEST), True),
        ({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}, True),
        ({"detail-type": "x", "source": "y"}, True),
        (REQUEST, False),
        ({"detail-type": "x", "detail": REQUEST}, False),  # no source: not from EventBridge
        ({"source": "x", "detail": REQUEST}, False),
        ({"Records": []}, False),
        (None, False),
        ([eventbridge(REQUEST)], False),
        ("detail-type source", False),
    ],
)
def test_what_counts_as_an_eventbridge_event(event: object, expected: bool) -> None:
    assert is_eventbridge(event) is expected


def test_eventbridge_detail_is_the_request() -> None:
    assert eventbridge_detail(EventBridgeEvent(eventbridge(REQUEST))) == REQUEST


def test_eventbridge_event_without_detail_is_unreadable() -> None:
    payload = eventbridge_detail(EventBridgeEvent({"detail-type": "x", "source": "y"}))
    assert isinstance(payload, UnreadableEvent)
    assert "The EventBridge event has no 'detail'" in str(rejected(payload))


def test_sqs_body_is_the_request() -> None:
    assert from_sqs(sqs_record(json.dumps(REQUEST))) == REQUEST
    assert from_sqs(sqs_record(json.dumps({"domains": ["*.example.com"]}), "m-2"), 1) == {
        "domains": ["*.example.com"]
    }


def test_eventbridge_event_delivered_through_sqs_is_unwrapped() -> None:
    assert from_sqs(sqs_record(json.dumps(eventbridge(REQUEST)))) == REQUEST


def test_a_bad_sqs_record_names_itself_and_its_message() -> None:
    payload = from_sqs(sqs_record("not json", "m-1"))
    assert isinstance(payload, UnreadableEvent)
    assert "Records[0] (message 'm-1') body is not valid JSON" in payload.problem


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"messageId": "m-7"}, "m-7"),
        ({"messageId": 7}, None),
        ({}, None),
        (1, None),
        (None, None),
    ],
)
def test_message_id_is_read_only_when_it_is_a_string(record: object, expected: object) -> None:
    assert message_id(SQSRecord(record)) == expected  # type: ignore[arg-type]


BAD_RECORDS = [
    (1, "Records[0] must be an object"),
    (sqs_record("{"), "body is not valid JSON (Expecting"),
    (sqs_record(""), "body is not valid JSON"),
    (sqs_record(None), "has no string body; got null"),
    (sqs_record({"domains": []}), "has no string body; got an object"),
    (sqs_record(json.dumps(REQUEST), source="aws:s3"), "comes from 'aws:s3'"),
    ({"body": json.dumps(REQUEST)}, "comes from null, not SQS"),
    (sqs_record("[" * 100_000), "could not be decoded"),
    (sqs_record("[" * 100_000 + "]" * 100_000), "nested too deeply"),
    (sqs_record("9" * 10_000), "number too large"),
    (sqs_record(json.dumps({"detail-type": "x", "source": "y"})), "in Records[0]"),
    (sqs_record("{", "\x00" * 500), "(message '\\x00\\x00"),
]


@pytest.mark.parametrize(("record", "expected"), BAD_RECORDS)
def test_bad_sqs_records_become_rejections(record: object, expected: str) -> None:
    payload = from_sqs(record)
    assert isinstance(payload, UnreadableEvent)
    assert expected in payload.problem
    assert len(payload.problem) < 500
    error = rejected(payload)
    assert expected in str(error)


def test_unreadable_event_is_rejected_with_its_problem() -> None:
    error = rejected(UnreadableEvent("Records[0] body is not valid JSON."))
    assert error.problems == ("Records[0] body is not valid JSON.",)


def test_eventbridge_detail_that_is_not_an_object_is_rejected_by_parse() -> None:
    payload = eventbridge_detail(EventBridgeEvent(eventbridge("example.com")))
    assert "must be a JSON object" in str(rejected(payload))


def test_sqs_body_with_nan_is_rejected_cleanly() -> None:
    payload = from_sqs(sqs_record('{"domains": ["example.com"], "force": NaN}'))
    assert "force must be a JSON boolean" in str(rejected(payload))


@pytest.mark.parametrize(
    ("endpoints", "expected"),
    [
        (["www.example.com:443", "api.example.com:443"],
         ("www.example.com:443", "api.example.com:443")),
        (["WWW.Example.com:443", "www.example.com:443"], ("www.example.com:443",)),
        (None, ()),
    ],
)
def test_endpoints_accepted(endpoints, expected) -> None:
    raw = {"domains": ["example.com"], "endpoints": endpoints}
    assert parse_request(raw, ["example.com"]).endpoints == expected


@pytest.mark.parametrize(
    ("endpoints", "needle"),
    [
        ("www.example.com:443", "must be a list"),
        (["www.example.com"], "is not host:port"),
        (["www.example.com:0"], "uses port 0"),
        (["www.example.com:70000"], "uses port 70000"),
        (["*.example.com:443"], "is a wildcard"),
        (["[nothost]:443"], "is an IP address"),
        (["10.0.0.5:443"], "is an IP address"),
        (["www.example.net:443"], "is not in any hosted zone"),
        ([443], "endpoints[0] must be a string"),
        (["a.example.com:443"] * 21, "at most 20"),
    ],
)
def test_endpoints_rejected(endpoints, needle) -> None:
    with pytest.raises(RequestRejected) as rejected:
        parse_request({"domains": ["example.com"], "endpoints": endpoints}, ["example.com"])
    assert needle in str(rejected.value)


@pytest.mark.parametrize(
    ("renews", "expected"),
    [("0A:1B:2c", "a1b2c"), ("0x00ff", "ff"), ("ABCDEF", "abcdef"), (" 00 ", "0"), (None, None)],
)
def test_renews_serial_is_normalised(renews, expected) -> None:
    raw = {"domains": ["example.com"], "renews": renews}
    assert parse_request(raw, ["example.com"]).renews == expected


@pytest.mark.parametrize("renews", ["xyz", "", "  ", "0x", ":", "12-34", 12, "f" * 200])
def test_renews_must_be_a_hex_serial(renews) -> None:
    with pytest.raises(RequestRejected, match="renews must be the hex serial"):
        parse_request({"domains": ["example.com"], "renews": renews}, ["example.com"])


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("03:AB:cd", "3abcd"),
        ("0x03abcd", "3abcd"),
        ("0x00ff", "ff"),
        (" 3A BC\tD\n", "3abcd"),
        ("00", "0"),
        ("xyz", None),
        ("", None),
        ("  ", None),
        ("0x", None),
        ("0x0x1", None),
        ("12-34", None),
    ],
)
def test_one_serial_normalisation_for_requests_and_stored_certificates(
    given: str, stored: str | None
) -> None:
    assert normalise_serial(given) == stored


# -- teams: the CA, a team's namespace, and who is asking -------------------------------------


def test_the_ca_is_production_unless_staging_is_asked_for() -> None:
    assert parse_request({"domains": ["a.example.com"]}, ZONES).ca == "production"
    assert parse_request({"domains": ["a.example.com"], "ca": "staging"}, ZONES).ca == "staging"
    assert "ca must be one of production, staging; got a string ('test')" in str(
        rejected({"domains": ["a.example.com"], "ca": "test"}))


def test_a_team_without_a_name_gets_one_in_its_namespace() -> None:
    asked = parse_request({"domains": ["*.web.alpha.example.com"]}, ZONES, namespace="alpha.")
    assert asked.name == "alpha.wildcard.web.alpha.example.com"
    named = parse_request({"domains": ["a.example.com"], "name": "x"}, ZONES, namespace="alpha.")
    assert named.name == "x"  # a name given is the team policy's to judge
    long = default_name(["a" * 60 + "." + "b" * 60 + ".example.com"], "alpha.")
    assert long.startswith("alpha.aaa") and len(long) == 128 and is_valid_cert_name(long)


def test_a_requester_says_only_what_the_envelope_said() -> None:
    assert DIRECT.as_json() == {"kind": "direct"} and str(DIRECT) == "direct"
    event = {"version": "0", "id": "e-1", "detail-type": "wildcert.certificate.requested",
             "source": "wildcert.team.alpha", "account": "123456789012", "detail": {}}
    found = eventbridge_requester(EventBridgeEvent(event))
    assert found == Requester("eventbridge", "123456789012", "wildcert.team.alpha", "e-1")
    assert str(found) == ("eventbridge source wildcert.team.alpha account 123456789012 id e-1")
    odd = eventbridge_requester(EventBridgeEvent({**event, "account": 5, "source": "a\nb",
                                                  "id": "x" * 300}))
    assert odd == Requester("eventbridge")
    queue = "arn:aws:sqs:eu-west-1:123456789012:renewals"
    record = SQSRecord({**sqs_record({"domains": ["a.example.com"]}, message_id="m-9"),
                        "eventSourceARN": queue})
    assert queue_requester(record, queue) == Requester("queue", event_id="m-9")
    assert queue_requester(record, queue + "-2") == Requester("other-queue", source=queue,
                                                               event_id="m-9")
    assert queue_requester(record, None) == Requester("other-queue", source=queue,
                                                       event_id="m-9")
