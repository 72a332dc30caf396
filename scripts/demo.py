"""`make demo`: two teams share one wildcert on the local stack.

Starts the local stack (Pebble, moto, the DNS server, the Slack sink) in .local-stack (or
$WILDCERT_STACK_DIR; one already running there is used as it is) with its two teams
(local_stack/teams.toml), and invokes the issuer Lambda's handler as EventBridge would: team
alpha asks for a wildcard certificate (events/issue-eventbridge.json) and gets it; team beta
asks for alpha's certificate name (events/issue-team-refused.json) and is refused, with the rule
it broke; team alpha then gets a certificate whose hosted zone lives in another AWS account
(222222222222), written through the role the issuer assumes there (docs/ZONES.md). Prints the
certificate, the S3 objects, what each Slack channel received and the outcome events, then what
to try next. Stops a stack it started, unless given --keep.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "wildcert")]

DEMO_DIR = Path(os.environ.get("WILDCERT_STACK_DIR") or ROOT / ".local-stack")
DEMO_PORT_BASE = int(os.environ.get("WILDCERT_DEMO_PORT_BASE", "14000"))
ZONE_ACCOUNT, ZONE = "222222222222", "apps.alpha.example.com"
ZONE_ENTRY = """
[[teams.alpha.zones]]
id = "{zone_id}"
name = "{zone}"
role = "arn:aws:iam::{account}:role/wildcert-zone-access-alpha"
external_id = "demo-{zone_id}"
"""

NEXT_STEPS = """
What to try next on the running stack (`make stack-stop` ends it; docs/LOCAL.md has more):
  make invoke FN=issuer EVENT=events/issue-wildcard.json        # the operators' request
  make invoke FN=issuer TEAM=alpha REQUEST='{{"domains": ["*.alpha.example.com"]}}'
  make invoke FN=renewal_sweep EVENT=events/sweep-force-incident.json
  make invoke FN=issuer RENEWALS=1                              # what the sweep queued
  make invoke FN=watch EVENT=events/watch-scheduled.json
  make outcomes                                                 # every outcome event so far
  eval "$(scripts/local-stack env)"                             # then, as a server would:
  .venv/bin/wildcert-pull --bucket {bucket} --name alpha.web --dest /tmp/wildcert/alpha.web
  make stack-stop
"""


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
    from local_stack.invoke import drain_outcomes

    print("\nOutcome events on the bus (source wildcert)")
    for event in drain_outcomes(env):
        detail = event["detail"]
        said = detail.get("serial") or "; ".join(detail.get("rules") or []) or ""
        print(f"  {event['detail-type']:<34} team {detail['team']}: {detail['name']} {said}")


def zone_in_another_account(env: dict[str, str]) -> tuple[str, Path]:
    """Team alpha's zone in account ZONE_ACCOUNT (made once per stack), and the stack's teams
    file with that zone added to alpha."""
    from local_stack.route53_source import account_client

    route53 = account_client("route53", env["WILDCERT_MOTO_URL"], ZONE_ACCOUNT)
    found = [z["Id"] for z in route53.list_hosted_zones()["HostedZones"]
             if z["Name"] == ZONE + "."]
    zone_id = str(found[0] if found else route53.create_hosted_zone(
        Name=ZONE, CallerReference=str(uuid.uuid4()))["HostedZone"]["Id"]).rsplit("/", 1)[-1]
    teams = DEMO_DIR / "teams-with-zones.toml"
    teams.write_text(Path(env["TEAMS_FILE"]).read_text()
                     + ZONE_ENTRY.format(zone_id=zone_id, zone=ZONE, account=ZONE_ACCOUNT))
    return zone_id, teams


def start_or_attach(directory: Path) -> tuple[object, bool]:
    """The stack running in `directory`, or a new one: (stack, started here)."""
    from local_stack import Stack

    running = Stack.attach(directory)
    if running is not None and running.is_ready() and running.env:
        print(f"Using the local stack running in {directory} (port base {running.ports.base})")
        return running, False
    print(f"Starting the local stack in {directory} (port base {DEMO_PORT_BASE})")
    began = time.monotonic()
    stack = Stack.start(directory, DEMO_PORT_BASE)
    print(f"  up in {time.monotonic() - began:.1f} s")
    return stack, True


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(description=__doc__)
    cli.add_argument("--keep", action="store_true", help="leave the stack running")
    keep = cli.parse_args(argv).keep
    from local_stack.lambda_runtime import ISSUER, invoke

    alpha = json.loads((ROOT / "events" / "issue-eventbridge.json").read_text())
    beta = json.loads((ROOT / "events" / "issue-team-refused.json").read_text())
    stack, started = start_or_attach(DEMO_DIR.resolve())
    env = stack.env  # type: ignore[attr-defined]
    try:
        os.environ.update(env)
        # The function's JSON logs would bury the summary; `POWERTOOLS_LOG_LEVEL=INFO make demo`
        # shows them.
        os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")

        print(f"\nTeam alpha asks ({alpha['source']}, events/issue-eventbridge.json): "
              f"{json.dumps(alpha['detail'])}")
        began = time.monotonic()
        result = invoke(ISSUER, alpha)
        elapsed = time.monotonic() - began
        print(f"Result after {elapsed:.1f} s: {result['status']} {result['name']} "
              f"(team {result.get('team')}), serial {result.get('serial')}")
        if result.get("status") not in {"issued", "skipped"}:
            print(json.dumps(result, indent=2))
            return 1
        show_certificate(env, result["name"])

        print(f"\nTeam beta asks for alpha's name ({beta['source']}, "
              f"events/issue-team-refused.json): {json.dumps(beta['detail'])}")
        refused = invoke(ISSUER, beta)
        print(f"Result: {refused['status']} at stage {refused.get('stage')}, "
              f"rules {', '.join(refused.get('rules') or [])}")
        for problem in refused.get("problems", []):
            print(f"  - {problem}")
        if refused.get("status") != "rejected":
            return 1

        zone_id, teams_file = zone_in_another_account(env)
        os.environ["TEAMS_FILE"] = str(teams_file)
        other = {**alpha, "id": str(uuid.uuid4()),
                 "detail": {"domains": [f"*.{ZONE}", ZONE], "name": "alpha.apps"}}
        print(f"\nTeam alpha asks for a name in its zone {ZONE} ({zone_id}), which lives in "
              f"account {ZONE_ACCOUNT}: {json.dumps(other['detail'])}")
        result = invoke(ISSUER, other)
        print(f"Result: {result['status']} {result['name']}, serial {result.get('serial')}: "
              f"the challenge values went into that account's zone through role "
              f"wildcert-zone-access-alpha ({teams_file.name} names it)")
        if result.get("status") not in {"issued", "skipped"}:
            print(json.dumps(result, indent=2))
            return 1
        show_slack(env)
        show_outcome_events(env)
        running = keep or not started
        if not running:
            stack.stop()  # type: ignore[attr-defined]
            print("\nLocal stack stopped. To try the commands below, leave it running first: "
                  "`make demo KEEP=1` or `make stack-start`.")
        print(NEXT_STEPS.format(bucket=env["CERT_BUCKET"]))
        return 0
    finally:
        if started and not keep:  # stopped above unless something failed first
            stack.stop()  # type: ignore[attr-defined]


if __name__ == "__main__":
    sys.exit(main())
