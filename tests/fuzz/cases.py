"""What the handler fuzz sends: Lambda events, each tagged with the kind of case it is.

The requests, odd strings and broken envelopes come from the validator's property tests
(tests/unit/test_request_fuzz.py, `unit`) and the handler's bad-input test
(tests/e2e/test_bad_input_stack.py, `bad_input`). Added here: the whole envelopes Lambda
delivers (every field of an EventBridge event and of an SQS record, batches of up to ten),
hostile strings aimed at what a request reaches after validation (Slack, logs, S3 keys), and
requests one mistake away from valid, in the stack's own zones.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from hypothesis import strategies as st

from local_stack.seed import RENEWAL_QUEUE
from local_stack.seed import ZONES as STACK_ZONES
from tests.e2e import test_bad_input_stack as bad_input
from tests.unit import test_request_fuzz as unit
from wildcert.logic.request import KEY_TYPES, is_eventbridge

# The local stack's renewal queue (RENEWAL_QUEUE_ARN): the only queue the issuer takes.
QUEUE_ARN = f"arn:aws:sqs:us-east-1:123456789012:{RENEWAL_QUEUE}"
DETAIL_TYPE = "wildcert.certificate.requested"
# A request whose domains sit under this label passes validation and is refused by the CAA
# precheck: the fuzz puts `0 issue "sectigo.com"` there in the stack's example.com zone.
CAA_LABEL = "caa-forbidden"


@dataclass(frozen=True)
class Case:
    kind: str  # which generator made it; the report counts by kind
    event: object  # what the handler gets


# ---- envelopes as Lambda delivers them -----------------------------------------------------


def eventbridge(detail: object, event_id: object = "4f0c7c4e-0000-4000-8000-000000000000") -> dict:
    return {
        "version": "0", "id": event_id, "detail-type": DETAIL_TYPE, "source": "custom.deploy",
        "account": "123456789012", "time": "2026-11-29T12:00:00Z", "region": "us-east-1",
        "resources": [], "detail": detail,
    }


def sqs_record(body: object, message_id: object, index: int) -> dict:
    return {
        "messageId": message_id, "receiptHandle": f"AQEBfuzz{index}", "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1764417600000",
                       "SenderId": "AIDAFUZZ", "ApproximateFirstReceiveTimestamp": "1764417600001"},
        "messageAttributes": {}, "md5OfBody": "0" * 32, "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN, "awsRegion": "us-east-1",
    }


def sqs_batch(bodies: list[object]) -> dict:
    return {"Records": [sqs_record(body, f"msg-{i}", i) for i, body in enumerate(bodies)]}


event_ids = st.uuids().map(str) | unit.json_values


@st.composite
def delivered(draw: st.DrawFn, request: object) -> tuple[str, object]:
    """`request` as Lambda hands it over: directly, in EventBridge, or as an SQS body."""
    how = draw(st.sampled_from(["direct", "eventbridge", "sqs", "sqs+eventbridge"]))
    if how == "direct":
        return how, request
    if how == "eventbridge":
        return how, eventbridge(request, draw(event_ids))
    body = json.dumps(eventbridge(request) if how == "sqs+eventbridge" else request)
    return how, sqs_batch([body])


# ---- valid requests and one mistake away ---------------------------------------------------

labels = st.from_regex(r"[a-z][a-z0-9]{5,9}", fullmatch=True)
issuing_zones = st.sampled_from(STACK_ZONES)


@st.composite
def valid_requests(draw: st.DrawFn) -> dict:
    """A request the stack can issue: a fresh label under one of its zones."""
    label, zone = draw(labels), draw(issuing_zones)
    base = f"{label}.{zone}"
    domains = draw(st.sampled_from([
        [f"*.{base}", base], [base], [f"*.{base}"], [f" WWW.{base.upper()}. ", f"api.{base}"],
        [f"bücher.{base}", f"*.{base}"],
    ]))
    request: dict[str, object] = {"domains": domains}
    if draw(st.booleans()):
        request["name"] = label
    if draw(st.booleans()):
        request["key_type"] = draw(st.sampled_from(KEY_TYPES[:3]))  # rsa4096 costs seconds
    if draw(st.booleans()):
        request["force"] = draw(st.booleans())
    if draw(st.booleans()):
        request["endpoints"] = [f"www.{base}:443"]
    return request


def _set(field: str, values: st.SearchStrategy[object]) -> Callable[[st.DrawFn, dict], None]:
    def mutate(draw: st.DrawFn, request: dict) -> None:
        request[field] = draw(values)

    return mutate


def _domain(values: st.SearchStrategy[object],
            template: bool = False) -> Callable[[st.DrawFn, dict], None]:
    """Replace one domain with a bad one (a `template` is filled with the request's label)."""

    def mutate(draw: st.DrawFn, request: dict) -> None:
        domains = list(request["domains"])
        base = domains[-1].strip().lstrip("*.").lower().rstrip(".")
        bad = draw(values)
        if template:
            bad = str(bad).format(label=base.split(".")[0], base=base)
        domains[draw(st.integers(0, len(domains) - 1))] = bad
        request["domains"] = domains

    return mutate


def _too_many(draw: st.DrawFn, request: dict) -> None:
    base = request["domains"][-1].strip().lstrip("*.").lower().rstrip(".")
    request["domains"] = [f"h{i}.{base}" for i in range(draw(st.integers(101, 400)))]


def _caa_forbidden(draw: st.DrawFn, request: dict) -> None:
    label = draw(labels)
    request["domains"] = [f"*.{label}.{CAA_LABEL}.example.com", f"{label}.{CAA_LABEL}.example.com"]
    request.pop("endpoints", None)


BAD_DOMAINS = st.sampled_from([
    "{label}.example.org", "{label}.notexample.com", "{base}.evil.example.org", "com", "co.uk",
    "192.0.2.1", "[::1]", "127.1", "0x7f.1", "*.*.{base}", "a.*.{base}", "*{label}.example.com",
    "-{base}", "{label}-.example.com", "{label}_x.example.com", "{label} x.example.com",
    "a" * 64 + ".{base}", ("a" * 60 + ".") * 4 + "{base}", "ab--{base}", "xn--zz.{base}",
    "{base}\x00", "{base}\u202e", "*.", "*", ".", "..", "", "   ", "{base}..", "{label}..com",
])
MUTATIONS: tuple[Callable[[st.DrawFn, dict], None], ...] = (
    _domain(BAD_DOMAINS, template=True),
    _domain(unit.odd_strings),
    _domain(bad_input.bad_domain),
    _too_many,
    _set("domains", st.sampled_from([[], None, "", "{label}.example.com", {"0": "x.example.com"},
                                     [["x.example.com"]], [None], [1]])),
    _set("name", st.sampled_from(["a..b", "Web", "_x", "a" * 129, "a/b", "../x", "", " web",
                                  "web ", "-web", ".web", "wéb", "web\n", 7, True, []])),
    _set("key_type", st.sampled_from(["EC256", "rsa1024", "ed25519", "ec521", "", " ec256",
                                      256, ["ec256"]])),
    _set("force", st.sampled_from(["true", "false", 1, 0, "yes", [], {}])),
    _set("endpoints", st.sampled_from([["www.example.com:8443"], ["www.example.org:443"],
                                       ["192.0.2.1:443"], ["https://www.example.com"],
                                       ["www.example.com"], "www.example.com:443",
                                       ["www.example.com:443"] * 21, [443]])),
    _set("renews", st.sampled_from(["xyz", "0x", "", "12:zz", "a" * 129, 123, [], "-1"])),
    _set(" domains", st.just(["x.example.com"])),
    _set("Domains", st.just(["x.example.com"])),
    _set("profile", st.sampled_from(["classic", "shortlived"])),
    _set("key-type", st.just("ec256")),
)


@st.composite
def near_valid(draw: st.DrawFn) -> Case:
    """A valid request with exactly one mistake (or under a CAA record that forbids the CA)."""
    request = draw(valid_requests())
    caa = draw(st.integers(0, 9)) == 0
    mutate = _caa_forbidden if caa else draw(st.sampled_from(MUTATIONS))
    mutate(draw, request)
    how, event = draw(delivered(request))
    return Case(f"near-valid/{'caa' if caa else 'field'}/{how}", event)


# ---- hostile strings -----------------------------------------------------------------------

HOSTILE = st.sampled_from([
    "<!channel>", "<!here|here>", "<@U0123>", "<https://evil.example|click here>", "*bold* _it_",
    "```\ncode\n```", "&lt;b&gt;", "a\r\n{\"level\":\"ERROR\",\"message\":\"forged\"}",
    "\x1b[31mred\x1b[0m", "\u202eevil", "\u200b", "\ufeffx", "%s%n%x{0}{name}", "${jndi:x}",
    "../../_wildcert/account.json", "_wildcert", "a/../../b", "%2e%2e%2f", "cert.json",
    "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----",
    "https://hooks.slack.com/services/T000/B000/XXXXXXXX", "\ud800", "\udfff\ud800", "\x00" * 50,
    "'; DROP TABLE x; --", "null", "{}", "[]",
]) | st.builds(lambda text, times: text * times, st.sampled_from(["A", "é", "\U0001f600", "\x00"]),
               st.integers(50, 100_000))


@st.composite
def hostile(draw: st.DrawFn) -> Case:
    """A hostile string where a request or an envelope carries text."""
    value = draw(HOSTILE | unit.odd_strings)
    request = draw(valid_requests())
    where = draw(st.sampled_from(["domain", "name", "key_type", "field", "endpoint", "renews",
                                  "message_id", "event_id", "body", "source"]))
    if where == "domain":
        request["domains"] = [*request["domains"], value]
    elif where == "endpoint":
        request["endpoints"] = [value]
    elif where == "field":
        request[value] = True
    elif where in ("name", "key_type", "renews"):
        request[where] = value
    elif where == "message_id":
        request["domains"] = [f"{value}.example.com"]
        return Case("hostile/message_id", {"Records": [sqs_record(json.dumps(request), value, 0)]})
    elif where == "event_id":
        request["name"] = value
        return Case("hostile/event_id", eventbridge(request, value))
    elif where == "body":
        return Case("hostile/body", sqs_batch([value]))
    else:
        return Case("hostile/source", {**eventbridge({"name": value}), "source": value})
    how, event = draw(delivered(request))
    return Case(f"hostile/{where}/{how}", event)


# ---- the generators of the unit and e2e properties, as whole events ---------------------------


@st.composite
def envelopes_broken(draw: st.DrawFn) -> Case:
    """Envelopes Lambda could hand over broken, or that only look like one."""
    good = json.dumps(draw(valid_requests()))
    record = sqs_record(good, "m0", 0)
    broken = draw(st.sampled_from([
        {"Records": None}, {"Records": {}}, {"Records": "x"}, {"Records": [None]},
        {"Records": [[]]}, {"Records": [{**record, "eventSource": "aws:kinesis"}]},
        {"Records": [{k: v for k, v in record.items() if k != "body"}]},
        {"Records": [{**record, "body": json.loads(good)}]},
        {"Records": [{**record, "messageId": None}]}, {"Records": [{**record, "messageId": 7}]},
        {"Records": [{**record, "body": good[:-1]}]}, {"Records": [{**record, "body": ""}]},
        {"Records": [{**record, "body": json.dumps(good)}]},  # JSON in a JSON string
        {"detail-type": DETAIL_TYPE, "source": "x"},  # EventBridge without detail
        {"detail-type": DETAIL_TYPE, "detail": json.loads(good)},  # no source: a request?
        {**eventbridge(good)},  # detail as a JSON string, not an object
        {**eventbridge(None)}, {**eventbridge([json.loads(good)])},
        {**json.loads(good), "detail-type": DETAIL_TYPE, "source": "x"},
        {**json.loads(good), "Records": []},
    ]))
    return Case("malformed/envelope", broken)


@st.composite
def sqs_batches(draw: st.DrawFn) -> Case:
    """Up to ten records, each body from the unit property's envelope bodies or near-valid."""
    bodies = draw(st.lists(
        unit.envelope_bodies | near_valid().map(_as_body) | hostile().map(_as_body),
        min_size=1, max_size=10,
    ))
    ids = draw(st.sampled_from(["distinct", "same", "missing"]))
    records = [sqs_record(b, {"distinct": f"m{i}", "same": "m", "missing": None}[ids], i)
               for i, b in enumerate(bodies)]
    return Case("sqs/batch", {"Records": records})


def _as_body(case: Case) -> object:
    """The request inside a generated case, as an SQS body (itself when it is not an event)."""
    event = case.event
    if isinstance(event, dict) and isinstance(event.get("Records"), list) and event["Records"]:
        first = event["Records"][0]
        return first.get("body") if isinstance(first, dict) else first
    return json.dumps(event.get("detail") if is_eventbridge(event) else event, default=str)


@st.composite
def deeply_nested(draw: st.DrawFn) -> Case:
    depth = draw(st.integers(100, 20_000))
    value: object = "x.example.com"
    for level in range(depth):
        value = [value] if level % 2 else {"domains": value}
    where = draw(st.sampled_from(["event", "domains", "name", "detail", "sqs-body"]))
    event: object = {
        "event": value, "domains": {"domains": value}, "name": {"domains": ["x.example.com"],
                                                                 "name": value},
        "detail": eventbridge(value), "sqs-body": sqs_batch([value]),
    }[where]
    return Case(f"deep/{where}", event)


def tagged(kind: str, strategy: st.SearchStrategy[object]) -> st.SearchStrategy[Case]:
    return strategy.map(lambda event: Case(kind, event))


# The runner gives each the same number of cases; valid requests come in small batches between.
REJECTED_KINDS: dict[str, st.SearchStrategy[Case]] = {
    "unit/request_like": tagged("unit/request_like", unit.request_like()),
    "unit/events": tagged("unit/events", unit.events),
    "unit/json": tagged("unit/json", unit.json_values),
    "bad_input/envelopes": tagged("bad_input/envelopes", bad_input.envelopes),
    "eventbridge/request_like": tagged("eventbridge/request_like", st.tuples(
        unit.request_like(), event_ids).map(lambda pair: eventbridge(*pair))),
    "sqs/batch": sqs_batches(),
    "malformed/envelope": envelopes_broken(),
    "hostile": hostile(),
    "near-valid": near_valid(),
    "deep": deeply_nested(),
}


@st.composite
def valid(draw: st.DrawFn) -> Case:
    how, event = draw(delivered(draw(valid_requests())))
    return Case(f"valid/{how}", event)


@st.composite
def cases(draw: st.DrawFn, valid_per_thousand: int = 10) -> Case:
    """Any kind, for a run too short to give each kind a batch of its own."""
    # Valid at the top of the range: Hypothesis starts each run from the simplest draw, 0.
    if draw(st.integers(0, 999)) >= 1000 - valid_per_thousand:
        return draw(valid())
    return draw(st.one_of(list(REJECTED_KINDS.values())))
