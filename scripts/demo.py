"""`make demo`: issue a real wildcard certificate on the local stack and show what was stored.

Starts the local stack (Pebble, moto, the DNS server, the Slack sink) in .local-stack/demo,
invokes the issuer Lambda's handler with events/issue-wildcard.json, prints the certificate,
the S3 objects and the Slack message, and stops the stack again.
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
    path = Path(env["WILDCERT_SLACK_LOG"])
    lines = path.read_text().splitlines() if path.exists() else []
    print("\nSlack received")
    for line in lines:
        payload = json.loads(line)["payload"]
        for block in payload.get("blocks", []):
            for text_line in block.get("text", {}).get("text", "").splitlines():
                print(f"  | {text_line}")


def main() -> int:
    from local_stack import Stack

    event = json.loads((ROOT / "events" / "issue-wildcard.json").read_text())
    print(f"Starting the local stack in {DEMO_DIR.relative_to(ROOT)} (port base {DEMO_PORT_BASE})")
    stack = Stack.start(DEMO_DIR, DEMO_PORT_BASE)
    try:
        os.environ.update(stack.env)
        # The function's JSON logs would bury the summary; `POWERTOOLS_LOG_LEVEL=INFO make demo`
        # shows them.
        os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
        import app  # functions/issuer/app.py, the Lambda handler itself

        print(f"Invoking the issuer with events/issue-wildcard.json: {json.dumps(event)}")
        started = time.monotonic()
        result = app.handler(event, lambda_context())
        elapsed = time.monotonic() - started
        print(f"\nResult after {elapsed:.1f} s:\n{json.dumps(result, indent=2)}")
        if result.get("status") not in {"issued", "skipped"}:
            return 1
        show_certificate(stack.env, result["name"])
        show_slack(stack.env)
        return 0
    finally:
        stack.stop()
        print("\nLocal stack stopped.")


if __name__ == "__main__":
    sys.exit(main())
