"""What the handler fuzz reads from the stack to prove that a case wrote nothing.

After every case: the AWS fault proxy's call counts by operation (every AWS call the handler
makes goes through it) and the ACME front's request counts (every ACME request does). Every few
hundred cases, and around each accepted case: the state itself, read from moto directly so the
reads are not counted — every object version in the bucket with its ETag, every record set of
the stack's zones, every SQS queue's message counts, the CA's newOrder count, and each Slack
post since the last look.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import ssl
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local_stack import Stack
from local_stack.ports import HOST
from local_stack.seed import OUTCOME_QUEUE

# Operations that only read; any other one (Put, Delete, Change, Create, Copy, Send, Tag, ...)
# counts as a write. An allow-list of reads, so that an unforeseen operation is a write.
READ_PREFIXES = ("Get", "List", "Head", "Describe")
SLACK_SECTION_LIMIT = 3000  # characters of a section block's text
SLACK_PAYLOAD_LIMIT = 40_000
_BROADCAST = re.compile(r"(?<!\u200b)@(here|channel|everyone)\b", re.IGNORECASE)


def is_read(operation: str) -> bool:
    """`operation` as the proxy names it: "s3 GetObject"."""
    return operation.split(" ", 1)[-1].startswith(READ_PREFIXES)


class KeepAlive:
    """GET JSON over one kept-alive connection: a new connection (a TLS handshake for the ACME
    front) per case would cost more than the case itself."""

    def __init__(self, port: int, context: ssl.SSLContext | None = None) -> None:
        self.port, self.context = port, context
        self._connection: http.client.HTTPConnection | None = None

    def get(self, path: str) -> Any:
        for attempt in (1, 2):
            try:
                return self._get(path)
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _get(self, path: str) -> Any:
        if self._connection is None:
            self._connection = (
                http.client.HTTPSConnection(HOST, self.port, timeout=30, context=self.context)
                if self.context else http.client.HTTPConnection(HOST, self.port, timeout=30))
        self._connection.request("GET", path)
        self._quick_ack()
        response = self._connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise http.client.HTTPException(f"GET {path}: {response.status} {body[:200]!r}")
        return json.loads(body)

    def _quick_ack(self) -> None:
        """ACK at once: the servers write an answer's head and body apart, and Nagle holds the
        body back until the head's ACK, which Linux otherwise delays by 40 ms."""
        sock = self._connection.sock if self._connection is not None else None
        if sock is not None and hasattr(socket, "TCP_QUICKACK"):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


@dataclass(frozen=True)
class Counters:
    aws: Mapping[str, int]  # "s3 PutObject" -> calls so far
    ca: Mapping[str, int]  # "POST newOrder" -> requests so far

    def since(self, before: Counters) -> Delta:
        def minus(now: Mapping[str, int], then: Mapping[str, int]) -> dict[str, int]:
            return {k: v - then.get(k, 0) for k, v in now.items() if v != then.get(k, 0)}

        return Delta(minus(self.aws, before.aws), minus(self.ca, before.ca))


# The one write a rejection makes: its outcome event on the bus.
OUTCOME_WRITES = frozenset({"events PutEvents"})


@dataclass(frozen=True)
class Delta:
    aws: dict[str, int]
    ca: dict[str, int]

    @property
    def writes(self) -> dict[str, int]:
        # Every outcome, a rejection too, is put on the bus by design (docs/TEAMS.md).
        return {op: n for op, n in self.aws.items()
                if not is_read(op) and op not in OUTCOME_WRITES}

    @property
    def reads(self) -> dict[str, int]:
        return {op: n for op, n in self.aws.items() if is_read(op)}


class Meters:
    """The per-case counters of the AWS fault proxy and the ACME front."""

    def __init__(self, stack: Stack) -> None:
        self._aws = KeepAlive(stack.ports.aws_faults)
        context = ssl.create_default_context(cafile=str(stack.acme_front.ca))
        self._ca = KeepAlive(stack.ports.acme_front, context)

    def read(self) -> Counters:
        aws = self._aws.get("/_faults/stats")["by_operation"]
        ca = self._ca.get("/_front/stats")["by_request"]
        return Counters(dict(aws), dict(ca))

    def close(self) -> None:
        self._aws.close()
        self._ca.close()


@dataclass(frozen=True)
class Snapshot:
    objects: frozenset[tuple[str, str, str]]  # key, version id, ETag (or "delete marker")
    records: frozenset[tuple[str, str, str, tuple[str, ...]]]  # zone, name, type, values
    queues: Mapping[str, tuple[str, ...]]  # queue URL -> its message counts
    new_orders: int

    def changes(self, later: Snapshot) -> list[str]:
        """What differs in `later`, one line per kind, with a few examples."""
        found = []
        for what, old, new in (("S3 object version", self.objects, later.objects),
                               ("Route 53 record set", self.records, later.records)):
            if new - old:
                found.append(f"{what} added or changed: {_few(new - old)}")
            if old - new:
                found.append(f"{what} gone: {_few(old - new)}")
        if dict(self.queues) != dict(later.queues):
            found.append(f"SQS queues changed: {dict(self.queues)} -> {dict(later.queues)}")
        if later.new_orders != self.new_orders:
            found.append(f"{later.new_orders - self.new_orders} newOrder request(s) at the CA")
        return found


def _few(items: Iterable[object], shown: int = 3) -> str:
    listed = sorted(items, key=repr)
    more = f" and {len(listed) - shown} more" if len(listed) > shown else ""
    return ", ".join(repr(i)[:160] for i in listed[:shown]) + more


def snapshot(stack: Stack) -> Snapshot:
    return Snapshot(_objects(stack), _records(stack), _queues(stack),
                    int(stack.acme_front.stats()["by_request"].get("POST newOrder", 0)))


def _objects(stack: Stack) -> frozenset[tuple[str, str, str]]:
    found: set[tuple[str, str, str]] = set()
    pages = stack.client("s3").get_paginator("list_object_versions")
    for page in pages.paginate(Bucket=stack.env["CERT_BUCKET"]):
        for version in page.get("Versions", []):
            found.add((version["Key"], str(version.get("VersionId")), version["ETag"]))
        for marker in page.get("DeleteMarkers", []):
            found.add((marker["Key"], str(marker.get("VersionId")), "delete marker"))
    return frozenset(found)


def _records(stack: Stack) -> frozenset[tuple[str, str, str, tuple[str, ...]]]:
    route53 = stack.client("route53")
    found = set()
    for zone in stack.env["ALLOWED_ZONES"].split(","):
        for page in route53.get_paginator("list_resource_record_sets").paginate(HostedZoneId=zone):
            for rrset in page["ResourceRecordSets"]:
                values = tuple(sorted(r["Value"] for r in rrset.get("ResourceRecords", [])))
                found.add((zone, rrset["Name"], rrset["Type"], values))
    return frozenset(found)


def _queues(stack: Stack) -> dict[str, tuple[str, ...]]:
    sqs = stack.client("sqs")
    counts = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
              "ApproximateNumberOfMessagesDelayed")
    found = {}
    for url in sqs.list_queues().get("QueueUrls", []):
        if url.rstrip("/").endswith("/" + OUTCOME_QUEUE):
            continue  # the outcome events' queue: it hears every rejection by design
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(counts))
        found[url] = tuple(attributes["Attributes"].get(c, "?") for c in counts)
    return found


@dataclass
class SlackLog:
    """The Slack sink's log, read from where the last look stopped."""

    path: Path
    offset: int = 0
    problems: Counter[str] = field(default_factory=Counter)

    def new_payloads(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        with self.path.open("rb") as log:
            log.seek(self.offset)
            data = log.read()
        complete = data[: data.rfind(b"\n") + 1]
        self.offset += len(complete)
        return [json.loads(line)["payload"] for line in complete.splitlines() if line.strip()]


def slack_problems(payload: Mapping[str, Any]) -> list[str]:
    """What Slack would refuse or render as a control sequence in one posted message."""
    found = []
    if len(json.dumps(payload)) > SLACK_PAYLOAD_LIMIT:
        found.append("payload over 40,000 characters")
    texts = [str(payload.get("text", ""))]
    for block in payload.get("blocks") or []:
        text = str((block.get("text") or {}).get("text", ""))
        texts.append(text)
        if len(text) > SLACK_SECTION_LIMIT:
            found.append(f"section text of {len(text)} characters (Slack takes 3000)")
    for text in texts:
        if "<" in text or ">" in text:
            found.append("an unescaped '<' or '>' (a Slack control sequence)")
        if _BROADCAST.search(text):
            found.append("a live @here/@channel/@everyone")
    return found
