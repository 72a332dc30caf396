"""What Lambda does around a handler, as far as wildcert can tell: the functions of
template.yaml (tests/e2e/test_entry_points.py checks them against it), the context object,
the JSON round trip of an invocation, and the event an SQS event source mapping hands the
issuer for one message. Used by the invoke tool, the demo and the end-to-end tests."""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
LOCAL_ACCOUNT = "123456789012"  # moto's account: the local stack's, and its callers'


@dataclass(frozen=True)
class Function:
    """One of template.yaml's functions as Lambda runs it."""

    logical_id: str
    directory: str  # CodeUri functions/<directory>/, Handler app.handler
    timeout: int  # seconds
    memory_mb: int

    @property
    def handler(self) -> Callable[[Any, Any], Any]:
        # functions/<dir>/ has no __init__.py: with functions/ on sys.path, functions/issuer/
        # app.py imports as issuer.app, the file Lambda loads as app.py.
        on_path(REPO_ROOT / "functions", REPO_ROOT / "layers" / "wildcert")
        return importlib.import_module(f"{self.directory}.app").handler

    def context(self, seconds: float) -> LambdaContext:
        name = f"wildcert-{self.logical_id}-local"
        region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
        return LambdaContext(
            function_name=name,
            memory_limit_in_mb=str(self.memory_mb),
            invoked_function_arn=f"arn:aws:lambda:{region}:{LOCAL_ACCOUNT}:function:{name}",
            aws_request_id=str(uuid.uuid4()),
            log_group_name=f"/aws/lambda/{name}",
            log_stream_name=f"local/[$LATEST]{uuid.uuid4().hex}",
            deadline_ms=int((time.time() + seconds) * 1000),
        )


ISSUER = Function("IssuerFunction", "issuer", timeout=900, memory_mb=512)
SWEEP = Function("RenewalSweepFunction", "renewal_sweep", timeout=300, memory_mb=512)
WATCH = Function("WatchFunction", "watch", timeout=300, memory_mb=512)
FUNCTIONS = (ISSUER, SWEEP, WATCH)


@dataclass(frozen=True)
class LambdaContext:
    """The context object of Lambda's Python runtime (awslambdaric's LambdaContext): names
    from the function's configuration (memory as the string the runtime reads from its
    environment) and the time left before the timeout, on the wall clock."""

    function_name: str
    memory_limit_in_mb: str
    invoked_function_arn: str
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    deadline_ms: int
    function_version: str = "$LATEST"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self.deadline_ms - int(time.time() * 1000))


def invoke(function: Function, event: object, *, seconds: float | None = None) -> Any:
    """Invoke `function` as Lambda does: its handler module, the event as JSON, a context whose
    time runs out after `seconds` (the function's timeout by default), the answer as JSON.

    An exception the handler raises is raised here, as Lambda reports it as the invocation's
    error. An answer that is not JSON fails, as it would fail in Lambda.
    """
    context = function.context(function.timeout if seconds is None else seconds)
    answer = function.handler(json.loads(json.dumps(event)), context)
    return json.loads(json.dumps(answer))


def sqs_event(message: Mapping[str, Any], queue_arn: str) -> dict[str, Any]:
    """The event Lambda's SQS poller hands a function for one message as ReceiveMessage returned
    it (with AttributeNames and MessageAttributeNames "All"): a batch of one record, in the
    shape of events/issue-renewal-sqs.json."""
    attributes = {"ApproximateReceiveCount": "1", "SentTimestamp": str(int(time.time() * 1000)),
                  **message.get("Attributes", {})}
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": attributes,
        "messageAttributes": {
            key: {"stringValue": value["StringValue"], "stringListValues": [],
                  "binaryListValues": [], "dataType": value["DataType"]}
            for key, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": queue_arn.split(":")[3],
    }
    return {"Records": [record]}


def on_path(*directories: Path) -> None:
    for directory in reversed(directories):
        if str(directory) not in sys.path:
            sys.path.insert(0, str(directory))
