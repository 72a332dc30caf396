"""`make demo`: two teams share one wildcert on the local stack.

Starts the local stack (Pebble, moto, the DNS server, the Slack sink) in .local-stack/demo with
its two teams (local_stack/teams.toml), and invokes the issuer Lambda's handler as EventBridge
would: team alpha asks for a wildcard certificate (events/issue-eventbridge.json) and gets it;
team beta asks for alpha's certificate name (events/issue-team-refused.json) and is refused,
with the rule it broke. Prints the certificate, the S3 objects, what each Slack channel
received and the outcome events, then stops the stack again.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "functions" / "issuer")]

DEMO_DIR = ROOT / ".local-stack" / "demo"
DEMO_PORT_BASE = int(os.environ.get("WILDCERT_DEMO_PORT_BASE", "14100"))


def lambda_context(seconds: float = 900) -> SimpleNamespace:
    """What Lambda passes the handler, as far as wildcert reads it."""
    end = time.monotonic() + seconds
    return SimpleNamespace(
        function_name="wildcert-issuer-demo",
        function_version="$LATEST",
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:wildcert-issuer-demo",
        memory_limit_in_mb=512,
        aws_request_id="demo-request",
        log_group_name="/aws/lambda/wildcert-issuer-demo",
        log_stream_name="demo",
        get_remaining_time_in_millis=lambda: int((end - time.monotonic()) * 1000),
    )


def show_certificate(env: dict[str, str], name: str) -> None:
    import boto3
    from cryptography import x509

    from wildcert.logic import certificates as certs

    s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"])
    bucket = env["CERT_BUCKET"]
    meta = json.loads(s3.get_object(Bucket=bucket, Key=f"{name}/cert.json")["Body"].read())
    leaf = x509.load_pem_x509_certificate(
        s3.get_object(Bucket=bucket, Key=f"{name}/cert.pem")["Body"].read()
    )
    print("\nThe certificate")
    print(f"  subject    {leaf.subject.rfc4514_string()}")
    print(f"  SANs       {', '.join(certs.san_names(leaf))}")
    print(f"  issuer     {leaf.issuer.rfc4514_string()}")
    print(f"  serial     {meta['serial']}")
    print(f"  valid      {meta['not_before']} .. {meta['not_after']}")
    print(f"  key type   {meta['key_type']}")
    print(f"\nObjects in s3://{bucket}/ (all SSE-KMS)")
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=f"{name}/")
    for obj in sorted(listing.get("Contents", []), key=lambda o: o["Key"]):
        head = s3.head_object(Bucket=bucket, Key=obj["Key"])
        key_id = head.get("SSEKMSKeyId", "").rsplit("/", 1)[-1]
        print(f"  {obj['Key']:<52} {obj['Size']:>6} B  {head['ServerSideEncryption']} {key_id}")


def show_slack(env: dict[str, str]) -> None:
    from local_stack.seed import SLACK_WEBHOOK_PATH, TEAM_WEBHOOK_PATHS

    channels = {SLACK_WEBHOOK_PATH: "the operators' channel",
                **{path: f"team {team}'s channel" for team, path in TEAM_WEBHOOK_PATHS.items()}}
    path = Path(env["WILDCERT_SLACK_LOG"])
    lines = path.read_text().splitlines() if path.exists() else []
    for line in lines:
        posted = json.loads(line)
        print(f"\nSlack: {channels.get(posted['path'], posted['path'])} received")
        for block in posted["payload"].get("blocks", []):
            for text_line in block.get("text", {}).get("text", "").splitlines():
                print(f"  | {text_line}")


def show_outcome_events(env: dict[str, str]) -> None:
    import boto3

    sqs = boto3.client("sqs", endpoint_url=env["WILDCERT_MOTO_URL"])
    print("\nOutcome events on the bus (source wildcert)")
    while True:
        messages = sqs.receive_message(QueueUrl=env["WILDCERT_OUTCOME_QUEUE_URL"],
                                       MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return
        for message in messages:
            event = json.loads(message["Body"])
            detail = event["detail"]
            said = detail.get("serial") or "; ".join(detail.get("rules") or []) or ""
            print(f"  {event['detail-type']:<34} team {detail['team']}: {detail['name']} {said}")


def main() -> int:
    from local_stack import Stack

    alpha = json.loads((ROOT / "events" / "issue-eventbridge.json").read_text())
    beta = json.loads((ROOT / "events" / "issue-team-refused.json").read_text())
    print(f"Starting the local stack in {DEMO_DIR.relative_to(ROOT)} (port base {DEMO_PORT_BASE})")
    stack = Stack.start(DEMO_DIR, DEMO_PORT_BASE)
    try:
        os.environ.update(stack.env)
        # The function's JSON logs would bury the summary; `POWERTOOLS_LOG_LEVEL=INFO make demo`
        # shows them.
        os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
        import app  # functions/issuer/app.py, the Lambda handler itself

        print(f"\nTeam alpha asks ({alpha['source']}, events/issue-eventbridge.json): "
              f"{json.dumps(alpha['detail'])}")
        started = time.monotonic()
        result = app.handler(alpha, lambda_context())
        elapsed = time.monotonic() - started
        print(f"Result after {elapsed:.1f} s: {result['status']} {result['name']} "
              f"(team {result.get('team')}), serial {result.get('serial')}")
        if result.get("status") not in {"issued", "skipped"}:
            print(json.dumps(result, indent=2))
            return 1
        show_certificate(stack.env, result["name"])

        print(f"\nTeam beta asks for alpha's name ({beta['source']}, "
              f"events/issue-team-refused.json): {json.dumps(beta['detail'])}")
        refused = app.handler(beta, lambda_context())
        print(f"Result: {refused['status']} at stage {refused.get('stage')}, "
              f"rules {', '.join(refused.get('rules') or [])}")
        for problem in refused.get("problems", []):
            print(f"  - {problem}")
        if refused.get("status") != "rejected":
            return 1
        show_slack(stack.env)
        show_outcome_events(stack.env)
        return 0
    finally:
        stack.stop()
        print("\nLocal stack stopped.")


if __name__ == "__main__":
    sys.exit(main())
