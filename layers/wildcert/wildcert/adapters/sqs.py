"""Renewals out to the issuer's queue: one SQS message per certificate, ten per call.

Each message body is an issuance request the issuer accepts as is; the issuer consumes the
queue one message at a time, so one failing renewal never holds back the others, and no
Lambda ever renews in a loop.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from wildcert import retry
from wildcert.adapters import aws
from wildcert.deadline import Deadline
from wildcert.errors import WildcertError

logger = logging.getLogger("wildcert.adapters.sqs")

BATCH = 10  # SendMessageBatch's limit
SEND_ATTEMPTS = 4
REASONS = ("due", "ari", "forced")


@dataclass(frozen=True)
class Renewal:
    """One certificate to renew, as the issuer will be asked for it."""

    name: str
    domains: tuple[str, ...]
    key_type: str
    reason: str  # one of REASONS, also sent as the message attribute "reason"
    serial: str  # of the certificate being replaced, for deduplication and the attribute
    force: bool = True
    endpoints: tuple[str, ...] = ()
    ca: str = "production"

    def request(self) -> dict[str, Any]:
        # renews: if another message already replaced this serial, the issuer skips this one.
        body: dict[str, Any] = {"domains": list(self.domains), "name": self.name,
                                "key_type": self.key_type, "force": self.force,
                                "renews": self.serial}
        if self.endpoints:
            body["endpoints"] = list(self.endpoints)
        if self.ca != "production":
            body["ca"] = self.ca
        return body

    def entry(self, entry_id: str, fifo: bool) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "Id": entry_id,
            "MessageBody": json.dumps(self.request(), separators=(",", ":")),
            "MessageAttributes": {
                "reason": {"DataType": "String", "StringValue": self.reason},
                "name": {"DataType": "String", "StringValue": self.name},
                "serial": {"DataType": "String", "StringValue": self.serial},
            },
        }
        if fifo:
            # On a FIFO queue, a sweep and a watch (or a retried sweep) asking to replace the
            # same serial within five minutes send one message, not two.
            entry["MessageGroupId"] = self.name
            entry["MessageDeduplicationId"] = hashlib.sha256(
                f"{self.name}\n{self.serial}".encode()).hexdigest()
        return entry


@dataclass(frozen=True)
class SendResult:
    queued: tuple[str, ...]  # names
    failed: tuple[tuple[str, str], ...]  # (name, why)


class _Transient(WildcertError):
    """Some entries of a batch failed on the service's side; resend just those."""

    def __init__(self, pending: dict[str, Renewal], errors: dict[str, str]):
        super().__init__(f"{len(pending)} entries failed: {sorted(set(errors.values()))}")
        self.pending = pending
        self.errors = errors


def _transient(error: BaseException) -> bool:
    if isinstance(error, _Transient):
        return True
    if isinstance(error, ClientError):
        return aws.error_code(error) in {"ThrottlingException", "RequestThrottled",
                                         "ServiceUnavailable", "InternalError",
                                         "KmsThrottled", "KMS.ThrottlingException"}
    return isinstance(error, BotoCoreError)


class RenewalQueue:
    def __init__(self, sqs: Any, queue_url: str, deadline: Deadline):
        self.sqs = sqs
        self.queue_url = queue_url
        self.deadline = deadline
        self.fifo = queue_url.endswith(".fifo")

    def send(self, renewals: Sequence[Renewal]) -> SendResult:
        queued: list[str] = []
        failed: list[tuple[str, str]] = []
        for start in range(0, len(renewals), BATCH):
            batch = renewals[start:start + BATCH]
            ok, bad = self._send_batch({str(i): r for i, r in enumerate(batch)})
            queued.extend(ok)
            failed.extend(bad)
        return SendResult(tuple(queued), tuple(failed))

    def _send_batch(self, pending: dict[str, Renewal]) -> tuple[list[str], list[tuple[str, str]]]:
        queued: list[str] = []
        failed: list[tuple[str, str]] = []
        state = {"pending": dict(pending)}

        def attempt() -> None:
            response = self.sqs.send_message_batch(
                QueueUrl=self.queue_url,
                Entries=[r.entry(i, self.fifo) for i, r in state["pending"].items()],
            )
            for ok in response.get("Successful", []):
                queued.append(state["pending"].pop(ok["Id"]).name)
            retryable: dict[str, str] = {}
            for bad in response.get("Failed", []):
                why = f"{bad.get('Code', 'Error')}: {bad.get('Message', '')}".rstrip(": ")
                if bad.get("SenderFault"):
                    failed.append((state["pending"].pop(bad["Id"]).name, why))
                else:
                    retryable[bad["Id"]] = why
            if state["pending"]:
                raise _Transient(state["pending"], retryable)

        try:
            retry.call(attempt, is_transient=_transient, deadline=self.deadline,
                       attempts=SEND_ATTEMPTS, base=0.2, cap=2.0, what="queueing renewals")
        except _Transient as exc:
            failed.extend((r.name, exc.errors.get(i, "not sent")) for i, r in exc.pending.items())
        except (ClientError, BotoCoreError) as exc:
            why = aws.error_text(exc)
            failed.extend((r.name, why) for r in state["pending"].values())
        for name, why in failed:
            logger.error("could not queue the renewal of %s: %s", name, why)
        return queued, failed


# -- a received renewal that must wait (jobs/issue/entry.py, logic/redelivery.py) -------------
WAITING_SINCE = "wildcert-waiting-since"  # message attribute: when the request began to wait
REQUEST_ID = "wildcert-request-id"  # message attribute: the first message's id, kept
_max_receives: dict[str, int | None] = {}


def max_receives(queue_url: str) -> int | None:
    """The queue's redrive maxReceiveCount (None: no dead-letter queue), read once."""
    if queue_url not in _max_receives:
        answer = aws.client("sqs").get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])
        policy = answer.get("Attributes", {}).get("RedrivePolicy")
        _max_receives[queue_url] = int(json.loads(policy)["maxReceiveCount"]) if policy else None
    return _max_receives[queue_url]


def hide(queue_url: str, receipt: str, seconds: int) -> None:
    aws.client("sqs").change_message_visibility(
        QueueUrl=queue_url, ReceiptHandle=receipt, VisibilityTimeout=seconds)


def send_anew(queue_url: str, body: str, attributes: dict[str, str], delay: int) -> str:
    """The same request as a new message, `delay` seconds from now; its message id."""
    sent = aws.client("sqs").send_message(
        QueueUrl=queue_url, MessageBody=body, DelaySeconds=delay,
        MessageAttributes={name: {"DataType": "String", "StringValue": value}
                           for name, value in attributes.items()})
    return str(sent["MessageId"])
