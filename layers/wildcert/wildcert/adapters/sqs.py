"""Renewals out to the issuer's queue: one SQS message per certificate, ten per call.

Each message body is an issuance request the issuer accepts as is; the issuer consumes the
queue one message at a time, so one failing renewal never holds back the others, and no
Lambda ever renews in a loop.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.data_classes import SQSRecord
from botocore.exceptions import BotoCoreError, ClientError

from wildcert import container, retry
from wildcert.adapters import aws
from wildcert.deadline import Deadline
from wildcert.errors import WildcertError
from wildcert.logic import redelivery
from wildcert.logic.request.envelope import message_id, receive_count, string_attributes
from wildcert.logic.times import iso, parse_time

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


# -- a received renewal that must wait (logic/redelivery.py decides how) ----------------------
WAITING_SINCE = "wildcert-waiting-since"  # message attribute: when the request began to wait
REQUEST_ID = "wildcert-request-id"  # message attribute: the first message's id, kept


def max_receives(queue_url: str) -> int | None:
    """The queue's redrive maxReceiveCount (None: no dead-letter queue), read once a container."""
    kept = container.current().max_receives
    if queue_url not in kept:
        answer = aws.client("sqs").get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])
        policy = answer.get("Attributes", {}).get("RedrivePolicy")
        kept[queue_url] = int(json.loads(policy)["maxReceiveCount"]) if policy else None
    return kept[queue_url]


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


def request_id_of(record: SQSRecord) -> str | None:
    """The first message's id: a request sent anew is still the same request (its forced
    reissue is counted once, and done once)."""
    return string_attributes(record).get(REQUEST_ID) or message_id(record)


def come_back(record: SQSRecord, seconds: float, *, waiting: bool) -> str | None:
    """Bring the message back after `seconds`: hidden until then (None), or, for a wait that
    would spend its receives, sent anew with a delay (the new message's id).

    Without this SQS redelivers after the queue's visibility timeout (90 minutes), and a
    message waiting for the CA would walk to the dead-letter queue (logic/redelivery.py).
    `waiting` is False for a failure that may come back on its own terms but must still be
    counted towards the dead-letter queue.
    """
    queue_url = queue_url_from_arn(str(record.get("eventSourceARN") or ""))
    receipt = record.get("receiptHandle")
    if not queue_url or not isinstance(receipt, str):
        return None
    request_id = message_id(record)
    try:
        plan = _plan(record, queue_url, seconds, waiting=waiting)
        body = record.get("body")
        if plan.how == redelivery.REQUEUE and isinstance(body, str):
            return _send_anew(record, queue_url, body, plan)
    except Exception as exc:  # hidden instead: it still comes back, one receive spent
        logger.warning("could not send message %s anew: %s", request_id, exc)
    try:
        hide(queue_url, receipt, redelivery.visibility(seconds))
    except Exception as exc:  # the default visibility timeout still applies
        logger.warning("could not delay message %s: %s", request_id, exc)
    return None


def _plan(record: SQSRecord, queue_url: str, seconds: float, *,
          waiting: bool) -> redelivery.Comeback:
    can_requeue = waiting and not queue_url.endswith(".fifo")  # FIFO: no per-message delay
    since = string_attributes(record).get(WAITING_SINCE)
    return redelivery.comeback(
        seconds, receive_count=receive_count(record),
        max_receives=max_receives(queue_url) if can_requeue else None,
        waiting_since=parse_time(since) if since else None, now=_now(),
        can_requeue=can_requeue)


def _send_anew(record: SQSRecord, queue_url: str, body: str,
               plan: redelivery.Comeback) -> str:
    attributes = string_attributes(record)
    attributes[WAITING_SINCE] = iso(plan.waiting_since)
    attributes[REQUEST_ID] = request_id_of(record) or ""
    sent_as = send_anew(queue_url, body, attributes, plan.seconds)
    logger.info("message %s waits %d s more as message %s (waiting since %s)",
                        message_id(record), plan.seconds, sent_as, iso(plan.waiting_since))
    return sent_as


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def queue_url_from_arn(arn: str) -> str | None:
    # Not SQSRecord.queue_url: that one ignores the SQS endpoint the deployment configures.
    parts = arn.split(":")
    if len(parts) != 6 or parts[2] != "sqs":
        return None
    region, account, name = parts[3], parts[4], parts[5]
    endpoint = aws.client("sqs").meta.endpoint_url.rstrip("/")
    if "amazonaws.com" in endpoint:
        return f"https://sqs.{region}.amazonaws.com/{account}/{name}"
    return f"{endpoint}/{account}/{name}"
