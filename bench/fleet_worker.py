"""The fleet bench's wildcert processes, each with the fleet stack's settings in its environment:

  fleet_worker.py seed SPEC.json OUT.json    issue every request in SPEC from a thread pool
  fleet_worker.py sweep OUT.json             one renewal sweep (RENEWAL_QUEUE_URL set)
  fleet_worker.py poll ID QUEUE_URL BATCH STOP OUT.jsonl
                                             one issuer container fed as Lambda's SQS poller
                                             feeds it, until the file STOP exists

The poller, as AWS documents the SQS event source: long-poll up to BATCH messages, invoke
the function with them as `Records`, then delete the messages the function did not name in
`batchItemFailures` (none if the invocation failed); the rest come back when their visibility
timeout ends — the queue's, or what the function set with ChangeMessageVisibility.
One process is one warm container: the handler is imported once, its first invocation is
the container's cold start.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.wildcert_runner import import_handler, lambda_context

ACCOUNT = "123456789012"
REGION = "us-east-1"
LONG_POLL_SECONDS = 2  # Lambda's poller waits 20 s; 2 lets a worker see STOP soon enough


def seed(spec_path: Path, out: Path) -> None:
    """Issue each request of the spec (limits off): the fleet before it comes due."""
    spec = json.loads(spec_path.read_text())
    app = import_handler()

    def issue(request: dict[str, Any]) -> dict[str, Any]:
        try:
            result = app.handler(request, lambda_context())
        except Exception as error:  # one failure is a result, not the end of the seeding
            return {"name": request["name"], "status": "failed", "error": str(error)[:300]}
        return {"name": request["name"], "status": result.get("status"),
                "serial": result.get("serial")}

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=int(spec["threads"])) as pool:
        results = list(pool.map(issue, spec["requests"]))
    out.write_text(json.dumps({"wall": time.perf_counter() - started, "results": results}))


def sweep(out: Path) -> None:
    app = import_handler(function="renewal_sweep")
    began = time.time()
    started = time.perf_counter()
    result = app.handler({}, lambda_context("wildcert-renewal-sweep-bench", 900))
    out.write_text(json.dumps({"began": began, "wall": time.perf_counter() - started,
                               "result": result}))


class Recorder:
    """What happened to each record, without changing it: `issue_record` wrapped."""

    def __init__(self) -> None:
        self.current: list[dict[str, Any]] = []

    def install(self) -> None:
        from wildcert.jobs.issue import entry

        original = entry.issue_record
        recorder = self

        def recorded(issuer: Any, record: Any, index: int, *rest: Any) -> dict[str, Any]:
            note: dict[str, Any] = {"message_id": record.message_id}
            recorder.current.append(note)
            try:
                outcome = original(issuer, record, index, *rest)
            except Exception as failure:
                note.update(_failure(failure))
                raise
            note.update(status=outcome.get("status"), name=outcome.get("name"),
                        serial=outcome.get("serial"), replaces=outcome.get("replaces"),
                        sent_as=outcome.get("sent_as"))
            return dict(outcome)

        entry.issue_record = recorded


def _failure(failure: BaseException) -> dict[str, Any]:
    outcome = getattr(failure, "outcome", None)
    if isinstance(outcome, dict) and outcome.get("status") == "busy":  # Redeliver
        return {"status": outcome.get("status", "busy"), "name": outcome.get("name"),
                "retry_after": outcome.get("retry_after")}
    return {"status": "failed", "stage": getattr(failure, "stage", None),
            "deferred": bool(getattr(failure, "deferred", False)),
            "retry_after": getattr(failure, "retry_after", None),
            "error": str(failure)[:400]}


def queue_arn(queue_url: str) -> str:
    """The ARN moto gives the queue at `queue_url`: what Lambda names as a record's source."""
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue_url.rstrip('/').rsplit('/', 1)[-1]}"


def lambda_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """One SQS message as Lambda's event source mapping hands it to the function."""
    attributes = message.get("Attributes", {})
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": attributes,
        "messageAttributes": {
            name: {"stringValue": value.get("StringValue"), "stringListValues": [],
                   "binaryListValues": [], "dataType": value.get("DataType", "String")}
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


def poll(worker: str, queue_url: str, batch: int, stop: Path, out: Path) -> None:
    app = import_handler()
    recorder = Recorder()
    recorder.install()
    sqs = boto3.client("sqs")  # the stack's AWS_ENDPOINT_URL and region, from the environment
    arn = queue_arn(queue_url)
    Path(f"{out}.ready").touch()  # imported: a warm container waiting for its first event
    with out.open("a") as log:
        while True:
            messages = sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=batch, WaitTimeSeconds=LONG_POLL_SECONDS,
                AttributeNames=["All"], MessageAttributeNames=["All"]).get("Messages", [])
            if not messages:
                if stop.exists():
                    return
                continue
            event = {"Records": [lambda_record(m, arn) for m in messages]}
            recorder.current = []
            started = time.time()
            error = None
            try:
                response = app.handler(event, lambda_context(f"wildcert-issuer-{worker}", 900))
                failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
            except Exception as raised:  # a failed invocation: the whole batch comes back
                error = "".join(traceback.format_exception_only(raised)).strip()[:400]
                failed = {m["MessageId"] for m in messages}
            ended = time.time()
            done = [m for m in messages if m["MessageId"] not in failed]
            if done:
                sqs.delete_message_batch(QueueUrl=queue_url, Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(done)])
            received = {m["MessageId"]: int(m.get("Attributes", {}).get(
                "ApproximateReceiveCount", 0)) for m in messages}
            for note in recorder.current or [{"message_id": m["MessageId"]} for m in messages]:
                note.update(worker=worker, invocation=str(uuid.uuid4())[:8], start=started,
                            end=ended, receives=received.get(note["message_id"]),
                            redelivered=note["message_id"] in failed)
                if error:
                    note["invocation_error"] = error
                log.write(json.dumps(note) + "\n")
            log.flush()


def main(argv: list[str]) -> None:
    command = argv[0]
    if command == "seed":
        seed(Path(argv[1]), Path(argv[2]))
    elif command == "sweep":
        sweep(Path(argv[1]))
    elif command == "poll":
        poll(argv[1], argv[2], int(argv[3]), Path(argv[4]), Path(argv[5]))
    else:
        raise SystemExit(f"unknown command {command!r}: seed, sweep or poll")


if __name__ == "__main__":
    main(sys.argv[1:])
