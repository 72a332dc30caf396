"""Invoke a function's real handler (functions/*/app.py) on the running local stack, as Lambda
would, and print what came of it: the answer, the outcome events, the Slack posts.

    python -m local_stack invoke issuer events/issue-wildcard.json          # the file as is
    python -m local_stack invoke issuer --team alpha --request '{"domains": [...]}'
    python -m local_stack invoke issuer events/issue-wildcard.json --operators
    python -m local_stack invoke issuer --requests     # what `aws events put-events` sent
    python -m local_stack invoke renewal_sweep events/sweep-scheduled.json
    python -m local_stack invoke issuer --renewals     # the renewal queue, one message a run

`--team T` puts the request on the stack's request bus with source `wildcert.team.T`, as a
team's `aws events put-events` does; the bus's rule (template.yaml's IssueRequestRule) routes it
to a queue standing for the issuer, from which it is handed to the handler as Lambda would
(the template's UnmatchedRequestRule routes a mistyped source or detail-type there too, for the
issuer to answer). moto leaves
`account` out of the events it delivers: the account that sent it (`--account`, default the
local stack's 123456789012) is filled in. `--operators` invokes the issuer directly with the
request. `--renewals` hands each message of the renewal queue to the issuer as the SQS event
source mapping does (a batch of one, deleted unless it is reported as a batch item failure).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local_stack import files
from local_stack.lambda_runtime import FUNCTIONS, ISSUER, LOCAL_ACCOUNT, Function, invoke, sqs_event
from local_stack.route53_source import local_client
from local_stack.seed import EVENT_BUS, RENEWAL_VISIBILITY_SECONDS, SLACK_WEBHOOK_PATH

REQUESTED = "wildcert.certificate.requested"
SOURCE_PREFIX = "wildcert.team."
ALIASES = {"sweep": "renewal_sweep", "renewal-sweep": "renewal_sweep"}
MAX_DELIVERIES = 100  # a queue that never empties (a bug) must not keep the tool running


class InvokeError(RuntimeError):
    """What the tool could not do, said so that the user can fix it."""


@dataclass(frozen=True)
class Delivery:
    """One invocation: what it is, for the printout, and the event handed to the handler."""

    what: str
    event: Any
    receipt: tuple[str, str] | None = None  # (queue URL, receipt handle) to delete after


def default_dir() -> Path:
    return Path(os.environ.get("WILDCERT_STACK_DIR") or ".local-stack")


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(
        prog="local-stack invoke", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("function", help="issuer, renewal_sweep (or sweep) or watch")
    cli.add_argument("event", nargs="?", type=Path, help="a JSON file, e.g. events/*.json")
    who = cli.add_mutually_exclusive_group()
    who.add_argument("--team", help="send the request as this team, through the request bus")
    who.add_argument("--operators", action="store_true",
                     help="invoke the issuer directly with the request, as the operators do")
    who.add_argument("--requests", action="store_true",
                     help="hand the issuer what the bus's rule routed to it (put-events)")
    who.add_argument("--renewals", action="store_true",
                     help="hand the issuer each message of the renewal queue")
    cli.add_argument("--request", help="the request as JSON, instead of (or over) EVENT")
    cli.add_argument("--account", default=LOCAL_ACCOUNT,
                     help=f"the account a team's event comes from (default {LOCAL_ACCOUNT})")
    cli.add_argument("--dir", type=Path, default=default_dir(),
                     help="the local stack's directory (default $WILDCERT_STACK_DIR, "
                          "else .local-stack)")
    return cli


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    try:
        function = _function(args.function)
        _check_options(args, function)
        env = load_stack_env(args.dir.resolve())
        os.environ.update(env)
        os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")  # the summary, not the logs
        report = Report(env)
        for delivery in deliveries(args, function, env):
            if not run(function, delivery, env, report):
                return 1
        report.hint(function)
        return 0
    except InvokeError as error:
        print(f"local-stack invoke: {error}", file=sys.stderr)
        return 1


def _function(name: str) -> Function:
    wanted = ALIASES.get(name, name)
    for function in FUNCTIONS:
        if function.directory == wanted:
            return function
    names = ", ".join(f.directory for f in FUNCTIONS)
    raise InvokeError(f"no function {name!r}: one of {names} (functions/<name>/app.py)")


def _check_options(args: argparse.Namespace, function: Function) -> None:
    issuer_only = [flag for flag, given in (
        ("--team", args.team), ("--operators", args.operators), ("--requests", args.requests),
        ("--renewals", args.renewals)) if given]
    if issuer_only and function is not ISSUER:
        raise InvokeError(f"{issuer_only[0]} is for the issuer, not {function.directory}")
    if args.requests or args.renewals:
        if args.event or args.request:
            raise InvokeError("--requests and --renewals take no EVENT or --request: they "
                              "deliver what waits on the stack's queues")
    elif args.event is None and args.request is None:
        raise InvokeError("give an EVENT file (events/*.json) or --request '{...}'")


def load_stack_env(directory: Path) -> dict[str, str]:
    from local_stack.stack import Stack

    stack = Stack.attach(directory)
    if stack is None or not stack.is_ready() or not files.env_json(directory).exists():
        raise InvokeError(f"no local stack runs in {directory}: start one with "
                          "`make stack-start` (or `make demo KEEP=1`)")
    env = json.loads(files.env_json(directory).read_text())
    # Nothing may send the handlers to a real account.
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)
    return {str(k): str(v) for k, v in env.items()}


def deliveries(args: argparse.Namespace, function: Function,
               env: Mapping[str, str]) -> Iterator[Delivery]:
    if args.renewals:
        yield from _queued_renewals(env)
        return
    if args.requests:
        yield from _routed_requests(env, args.account)
        return
    given = _given(args)
    if args.team:
        _put_on_bus(args.team, _request_of(given))
        routed = list(_routed_requests(env, args.account))
        if not routed:
            raise InvokeError(f"the request bus's rules routed nothing to the issuer for team "
                              f"{args.team!r}")
        yield from routed
        return
    if args.operators:
        yield Delivery("a direct invoke (the operators)", _request_of(given))
        return
    source = str(args.event) if args.event else "--request"
    if function is ISSUER and _sqs_records(given):
        # The issuer's only SQS event source is the renewal queue, and it takes no other
        # queue's records: a sample message is delivered as one of the stack's queue.
        given = _from_renewal_queue(given, env["RENEWAL_QUEUE_ARN"])
        source += " (its records as the stack's renewal queue's)"
    yield Delivery(f"{function.directory} <- {source}", given)


def _sqs_records(event: Any) -> list[dict[str, Any]]:
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list):
        return []
    return [r for r in records if isinstance(r, dict) and r.get("eventSource") == "aws:sqs"]


def _from_renewal_queue(event: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    region = queue_arn.split(":")[3]
    records = [{**r, "eventSourceARN": queue_arn, "awsRegion": region}
               if r.get("eventSource") == "aws:sqs" else r for r in event["Records"]]
    return {**event, "Records": records}


def _given(args: argparse.Namespace) -> Any:
    try:
        event = json.loads(args.event.read_text()) if args.event else None
    except OSError as error:
        raise InvokeError(f"cannot read {args.event}: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise InvokeError(f"{args.event} is not JSON: {error}") from None
    if args.request is None:
        return event
    try:
        request = json.loads(args.request)
    except json.JSONDecodeError as error:
        raise InvokeError(f"--request is not JSON: {error}") from None
    if isinstance(event, dict) and isinstance(request, dict):
        return _with_request(event, request)
    return request


def _with_request(event: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    """--request over a file: its fields replace the request's (an envelope's detail)."""
    if isinstance(event.get("detail"), dict):
        return {**event, "detail": {**event["detail"], **request}}
    return {**event, **request}


def _request_of(event: Any) -> Any:
    """The request itself: an EventBridge envelope's detail, else the event as given."""
    if isinstance(event, dict) and event.get("detail-type") == REQUESTED and "detail" in event:
        return event["detail"]
    return event


def _put_on_bus(team: str, request: Any) -> None:
    events = _client("events")
    answer = events.put_events(Entries=[{
        "EventBusName": EVENT_BUS, "Source": f"{SOURCE_PREFIX}{team}",
        "DetailType": REQUESTED, "Detail": json.dumps(request)}])
    if answer.get("FailedEntryCount"):
        raise InvokeError(f"the request bus refused the event: {answer['Entries']}")


def _routed_requests(env: Mapping[str, str], account: str) -> Iterator[Delivery]:
    url = env["WILDCERT_REQUEST_QUEUE_URL"]
    for message in _receive(url, MAX_DELIVERIES):
        event = json.loads(message["Body"])
        event.setdefault("account", account)
        yield Delivery(f"issuer <- the request bus's rules: {event.get('source')} "
                       f"(event {event.get('id')}, account {event['account']})", event,
                       (url, message["ReceiptHandle"]))


def _queued_renewals(env: Mapping[str, str]) -> Iterator[Delivery]:
    url = env["RENEWAL_QUEUE_URL"]
    sqs = _client("sqs")
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"]
    for message in _receive(url, MAX_DELIVERIES):
        body = json.loads(message["Body"])
        reason = message.get("MessageAttributes", {}).get("reason", {}).get("StringValue")
        yield Delivery(f"issuer <- the renewal queue: {body.get('name')} ({reason})",
                       sqs_event(message, arn), (url, message["ReceiptHandle"]))


def _receive(url: str, limit: int) -> Iterator[dict[str, Any]]:
    """Messages one at a time, as a batch size of 1 hands them; each stays hidden while the
    handler works on it."""
    sqs = _client("sqs")
    for _ in range(limit):
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=0,
            VisibilityTimeout=RENEWAL_VISIBILITY_SECONDS,
            AttributeNames=["All"], MessageAttributeNames=["All"]).get("Messages", [])
        if not messages:
            return
        yield messages[0]


def run(function: Function, delivery: Delivery, env: Mapping[str, str], report: Report) -> bool:
    print(f"\n== {delivery.what}")
    try:
        answer = invoke(function, delivery.event)
    except Exception:
        traceback.print_exc()
        print(f"{function.directory} raised (above): Lambda reports it as the invocation's "
              "error", file=sys.stderr)
        report.show()
        return False
    print(json.dumps(answer, indent=2, sort_keys=True))
    _settle(delivery, answer)
    report.show()
    return True


def _settle(delivery: Delivery, answer: Any) -> None:
    """What Lambda does with a message it delivered: delete it, unless the function reported it
    as a batch item failure (then SQS brings it back, as the issuer arranged)."""
    if delivery.receipt is None:
        return
    if isinstance(answer, dict) and answer.get("batchItemFailures"):
        return
    url, receipt = delivery.receipt
    _client("sqs").delete_message(QueueUrl=url, ReceiptHandle=receipt)


class Report:
    """The outcome events and Slack posts that came of each invocation."""

    def __init__(self, env: Mapping[str, str]):
        self.env = env
        self.slack_log = Path(env["WILDCERT_SLACK_LOG"])
        self.slack_seen = _line_count(self.slack_log)

    def show(self) -> None:
        for event in drain_outcomes(self.env):
            detail = event.get("detail", {})
            said = detail.get("serial") or "; ".join(detail.get("rules") or []) or (
                detail.get("reason") or "")
            print(f"outcome event: {event.get('detail-type')}  team {detail.get('team')}  "
                  f"{detail.get('name')}  {said}"[:200])
        lines = self.slack_log.read_text().splitlines() if self.slack_log.exists() else []
        for line in lines[self.slack_seen:]:
            posted = json.loads(line)
            channel = ("the operators' channel" if posted["path"] == SLACK_WEBHOOK_PATH
                       else f"webhook {posted['path']}")
            print(f"Slack, {channel}: {_first_line(posted['payload'])}"[:200])
        self.slack_seen = len(lines)

    def hint(self, function: Function) -> None:
        waiting = _client("sqs").get_queue_attributes(
            QueueUrl=self.env["RENEWAL_QUEUE_URL"],
            AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
        count = int(waiting.get("ApproximateNumberOfMessages", "0"))
        if count:
            print(f"\n{count} renewal(s) wait on the renewal queue: hand them to the issuer "
                  "with `make invoke FN=issuer RENEWALS=1`")


def drain_outcomes(env: Mapping[str, str]) -> list[dict[str, Any]]:
    """The outcome events the bus's rule copied to its queue since the last look; each is also
    kept in the stack's outcomes.jsonl (`python -m local_stack outcomes`)."""
    sqs = _client("sqs")
    url = env["WILDCERT_OUTCOME_QUEUE_URL"]
    found: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                       WaitTimeSeconds=0).get("Messages", [])
        if not messages:
            break
        for message in messages:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    if found:
        with files.outcomes(Path(env["WILDCERT_STACK_DIR"])).open("a") as log:
            log.writelines(json.dumps(event, sort_keys=True) + "\n" for event in found)
    return found


def outcomes(directory: Path) -> int:
    """Print every outcome event of the stack so far, oldest first."""
    try:
        env = load_stack_env(directory)
    except InvokeError as error:
        print(f"local-stack outcomes: {error}", file=sys.stderr)
        return 1
    os.environ.update(env)
    drain_outcomes(env)
    path = files.outcomes(directory)
    for line in path.read_text().splitlines() if path.exists() else []:
        event = json.loads(line)
        detail = event.get("detail", {})
        said = detail.get("serial") or ",".join(detail.get("rules") or [])
        print(f"{event.get('time')}  {event.get('detail-type'):<31} team {detail.get('team')}  "
              f"{detail.get('name')}  {said}")
    return 0


def _first_line(payload: Mapping[str, Any]) -> str:
    for block in payload.get("blocks", []):
        text = block.get("text", {}).get("text", "") if isinstance(block, dict) else ""
        if text:
            return str(text.splitlines()[0])
    return str(payload.get("text", "")).split("\n", 1)[0]


def _line_count(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def _client(service: str) -> Any:
    # Through the fault proxy, as the handlers call AWS (AWS_ENDPOINT_URL).
    return local_client(service, os.environ["AWS_ENDPOINT_URL"])
