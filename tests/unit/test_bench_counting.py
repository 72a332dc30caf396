"""The bench's counters, all at the stack: Pebble log lines to ACME steps, AWS requests to
operations (as the stack's AWS fault proxy names them)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bench.observe import Observers
from bench.pebble_log import LogCursor, count_requests
from local_stack import aws_faults


def named(method: str, target: str, headers: dict[str, str]) -> str:
    """The `service Operation` the stack's AWS fault proxy counts a request under."""
    return aws_faults.classify(aws_faults.Request(method, target, list(headers.items()),
                                                  b"")).name


SIGNED = "AWS4-HMAC-SHA256 Credential=testing/20261125/us-east-1/{service}/aws4_request, X"

PEBBLE_LINES = """\
Pebble 2026/11/25 08:13:27 GET /dir -> calling handler()
Pebble 2026/11/25 08:13:27 HEAD /nonce-plz -> calling handler()
Pebble 2026/11/25 08:13:27 POST /order-plz -> calling handler()
Pebble 2026/11/25 08:13:27 There are now 2 authorizations in the db
Pebble 2026/11/25 08:13:27 POST /authZ/ -> calling handler()
Pebble 2026/11/25 08:13:27 POST /authZ/ -> calling handler()
Pebble 2026/11/25 08:13:27 POST /chalZ/ -> calling handler()
Pebble 2026/11/25 08:13:27 POST /finalize-order/ -> calling handler()
Pebble 2026/11/25 08:13:27 POST /my-order/ -> calling handler()
Pebble 2026/11/25 08:13:27 POST /certZ/ -> calling handler()
Pebble 2026/11/25 08:13:27 POST /something-new/ -> calling handler()
"""


def test_pebble_lines_become_acme_steps() -> None:
    assert count_requests(PEBBLE_LINES) == {
        "GET directory": 1, "HEAD newNonce": 1, "POST newOrder": 1, "POST authz": 2,
        "POST challenge": 1, "POST finalize": 1, "POST order": 1, "POST certificate": 1,
        "POST /something-new/": 1,
    }


def test_log_cursor_counts_only_what_came_after_the_mark(tmp_path: Path) -> None:
    log = tmp_path / "pebble.log"
    log.write_text(PEBBLE_LINES)
    cursor = LogCursor(log)
    with log.open("a") as more:
        more.write("Pebble 2026/11/25 08:13:28 POST /order-plz -> calling handler()\n")
    assert cursor.since_mark() == {"POST newOrder": 1}
    cursor.mark()
    assert cursor.since_mark() == {}


@pytest.mark.parametrize(
    ("method", "target", "service", "expected"),
    [
        ("GET", "/2013-04-01/hostedzone", "route53", "route53 ListHostedZones"),
        ("GET", "/2013-04-01/hostedzone?maxitems=100", "route53", "route53 ListHostedZones"),
        ("GET", "/2013-04-01/hostedzone/Z1", "route53", "route53 GetHostedZone"),
        ("POST", "/2013-04-01/hostedzone/Z1/rrset/", "route53",
         "route53 ChangeResourceRecordSets"),
        ("GET", "/2013-04-01/hostedzone/Z1/rrset?name=a", "route53",
         "route53 ListResourceRecordSets"),
        ("GET", "/2013-04-01/change/C1", "route53", "route53 GetChange"),
        ("PUT", "/bucket/a/b.pem", "s3", "s3 PutObject"),
        ("GET", "/bucket/a/b.pem", "s3", "s3 GetObject"),
        ("HEAD", "/bucket/a", "s3", "s3 HeadObject"),
        ("DELETE", "/bucket/a", "s3", "s3 DeleteObject"),
        ("GET", "/bucket?list-type=2&prefix=a", "s3", "s3 ListObjectsV2"),
        ("HEAD", "/bucket", "s3", "s3 HeadBucket"),
        ("POST", "/", "sqs", "sqs POST /"),
    ],
)
def test_rest_requests_are_named_by_operation(
    method: str, target: str, service: str, expected: str
) -> None:
    assert named(method, target, {"Authorization": SIGNED.format(service=service)}) == expected


def test_json_protocols_are_named_by_their_target_header() -> None:
    headers = {"Authorization": SIGNED.format(service="secretsmanager"),
               "X-Amz-Target": "secretsmanager.GetSecretValue"}
    assert named("POST", "/", headers) == "secretsmanager GetSecretValue"


def test_copy_and_unsigned_requests() -> None:
    copy = {"Authorization": SIGNED.format(service="s3"), "x-amz-copy-source": "/b/k"}
    assert named("PUT", "/b/k2", copy) == "s3 CopyObject"
    assert named("GET", "/anything", {}).startswith("unsigned ")


class _Stack:
    """A local stack as Observers reads it: its fault proxy's counts grow between begin and
    end."""

    def __init__(self) -> None:
        self.aws: Counter[str] = Counter()

    def stats(self) -> dict[str, Any]:
        return {"dns": {"by_qtype": {}}, "slack": {"recorded": 0}}

    @property
    def aws_faults(self) -> SimpleNamespace:
        return SimpleNamespace(stats=lambda: {"by_operation": dict(self.aws)})


def test_a_run_counts_the_aws_calls_the_stacks_proxy_saw_meanwhile(tmp_path: Path) -> None:
    stack = _Stack()
    stack.aws["s3 PutObject"] = 7  # earlier runs
    (tmp_path / "pebble.log").write_text("")
    observers = Observers(LogCursor(tmp_path / "pebble.log"), stack)
    before = observers.begin()
    stack.aws.update({"s3 PutObject": 4, "route53 ChangeResourceRecordSets": 2})
    seen = observers.end(before)
    assert seen["aws_proxy"] == {"route53 ChangeResourceRecordSets": 2, "s3 PutObject": 4}
