"""The documentation's `aws` blocks that mean something on the local stack, run there with the
AWS CLI (tests/infra/infra_tools.tool), and what each did checked: a team's Slack secret
created and used for its news, its role tagged, its request put on the bus and answered, a
reader's copy of the certificate (the AWS CLI's, the checksummed job's, wildcert-pull's), a
certificate from before teams given to it, a CA's EAB secret stored under the stack's key.

The docs write for a real account (`<KmsKeyArn output>`, the bucket `wildcert-certbucket-abc123`,
`/etc/ssl/wildcert`, `systemctl reload nginx`); each block runs with those placeholders
replaced by the stack's values (named at each `run`), nothing else changed. The blocks that
need a real AWS account stay checked statically by tests/unit/test_docs_commands.py, each
listed in STATIC with the reason. One stack (the session's) serves them all.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from local_stack import Stack
from local_stack.invoke import drain_outcomes
from local_stack.seed import TEAM_SECRETS
from tests.doc_blocks import REPO, Block, shell_blocks
from tests.e2e.support import ISSUER, invoke
from tests.infra.infra_tools import tool
from wildcert import container

TEAMS_DOC = REPO / "docs" / "TEAMS.md"
ACCOUNT = "123456789012"  # the docs' account, and the one the stack's callers have

# (doc, a line only that block has) -> why it cannot run on the local stack.
STATIC = {
    ("README.md", "make deploy SAM_ENV=staging GUIDED=1"): "deploys to AWS",
    ("docs/DEPLOY.md", "make deps"): "builds the venv the tests run in",
    ("docs/DEPLOY.md", "make build"): "sam build of the whole template (checked with make -n)",
    ("docs/DEPLOY.md", "make deploy SAM_ENV=staging GUIDED=1"): "deploys to AWS",
    ("docs/DEPLOY.md", "make deploy        "): "deploys to AWS",
    ("docs/DEPLOY.md", "AcmeCa=production"): "deploys to AWS",
    ("docs/DEPLOY.md", "SlackWebhookSecretArn"): "reads the CloudFormation outputs of the "
                                                  "deployed stack, which the local one is not",
    ("docs/DEPLOY.md", "AlarmTopicArn"): "reads the CloudFormation outputs of the deployed "
                                          "stack; moto does not deliver e-mail",
    ("docs/DEPLOY.md", "--payload fileb://request.json"): "Lambda (none on the local stack: "
                                                          "`make invoke`, run by "
                                                          "test_docs_commands.py)",
    ("docs/DEPLOY.md", "dry-run.json"): "Lambda (none on the local stack: `make invoke`)",
    ("docs/DEPLOY.md", "force.json"): "Lambda (none on the local stack: `make invoke`)",
    ("docs/RENEWAL.md", "sweep-force-incident.json"): "Lambda (none on the local stack: "
                                                      "`make invoke`, LOCAL.md)",
    ("docs/CAS.md", "issue-revoke-key-compromise.json"): "Lambda (none on the local stack)",
    ("docs/TEAMS.md", "make team-resources"): "no AWS, but rewrites the repository's "
                                               "template.yaml (checked with make -n; "
                                               "tests/unit/test_team_resources.py runs it)",
    ("docs/ZONES.md", "zone-access-role.yaml"): "run in a zone's own account by "
                                                "tests/e2e/test_zone_docs.py",
    ("docs/ZONES.md", "CNAME"): "run by tests/e2e/test_zone_docs.py",
    ("docs/ZONES.md", "acm-import-role.yaml"): "run in a team's own account by "
                                               "tests/e2e/test_acm_other_accounts.py",
}
RUN = {
    ("docs/TEAMS.md", "wildcert/slack/payments"),
    ("docs/TEAMS.md", "tag-role"),
    ("docs/TEAMS.md", "put-events"),
    ("docs/TEAMS.md", "assign_team"),
    ("docs/DEPLOY.md", "put-events"),
    ("docs/DEPLOY.md", "export AWS_PROFILE=wildcert-reader"),
    ("docs/DEPLOY.md", "sha256sum --check"),
    ("docs/DEPLOY.md", "AWS_PROFILE=wildcert-reader wildcert-pull"),
    ("docs/CAS.md", "wildcert/acme-eab/zerossl"),
}


def _key(block: Block) -> tuple[str, str] | None:
    doc = str(block.path.relative_to(REPO))
    found = [key for key in (*STATIC, *RUN) if key[0] == doc and key[1] in block.text]
    return found[0] if len(found) == 1 else None


def aws_block(doc: str, line: str) -> Block:
    (block,) = [b for b in shell_blocks() if b.kind == "aws" and _key(b) == (doc, line)]
    return block


def test_every_aws_block_runs_here_or_says_why_not() -> None:
    aws = [b for b in shell_blocks() if b.kind == "aws"]
    unplaced = [b.where for b in aws if _key(b) is None]
    assert not unplaced, f"`aws` blocks neither run on the stack nor listed in STATIC: {unplaced}"
    assert {_key(b) for b in aws} == set(STATIC) | RUN
    for block in aws:  # the marker tells the reader which ones run here
        marker = block.path.read_text().splitlines()[block.line - 2]
        assert (Path(__file__).name in marker) == (_key(block) in RUN), (block.where, marker)


def run(block: Block, stack: Stack, tmp: Path, env: dict[str, str] | None = None,
        cwd: Path | None = None, **placeholders: str) -> str:
    """The block with its placeholders replaced, run by bash with the AWS CLI against the
    stack; its output."""
    script = block.text
    for placeholder, value in placeholders.items():
        assert placeholder in script, f"{block.where} no longer shows {placeholder!r}"
        script = script.replace(placeholder, value)
    path = os.pathsep.join((str(tool("aws").parent), str(REPO / ".venv" / "bin"),
                            os.environ["PATH"]))
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")}, **(env or {})}
    env.update(PATH=path, AWS_ENDPOINT_URL=stack.env["AWS_ENDPOINT_URL"],
               AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="testing",
               AWS_SECRET_ACCESS_KEY="testing", AWS_CONFIG_FILE=str(tmp / "aws-config"))
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd or tmp, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"{block.where}:\n{script}\n{done.stdout}{done.stderr}"
    return done.stdout


def deliver_requests(stack: Stack, source: str) -> list[dict[str, Any]]:
    """What the bus's rule routed to the issuer from `source`, handed to it as Lambda would;
    the outcome events that came of it."""
    sqs = stack.client("sqs")
    url = stack.env["WILDCERT_REQUEST_QUEUE_URL"]
    answers = []
    for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                       WaitTimeSeconds=1).get("Messages", []):
        event = json.loads(message["Body"])
        if event.get("source") != source:  # another test's: back on the queue
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"],
                                          VisibilityTimeout=0)
            continue
        answers.append(invoke(ISSUER, {**event, "account": event.get("account") or ACCOUNT}))
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert answers, f"the request bus routed nothing from {source}"
    return [e for e in drain_outcomes(stack.env) if e["detail"].get("team") == "payments"]


def onboard(stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    """TEAMS.md's step 1: the team's Slack secret (the URL of alpha's channel on the sink) and
    its table in a copy of the stack's policy; the channel and the policy file."""
    secrets = stack.client("secretsmanager")
    channel = secrets.get_secret_value(SecretId=TEAM_SECRETS["alpha"])["SecretString"]

    # The team's Slack secret, under the stack's key; its ARN goes into the team's table.
    created = json.loads(run(aws_block("docs/TEAMS.md", "wildcert/slack/payments"), stack,
                             tmp_path, **{"<KmsKeyArn output>": stack.env["KMS_KEY_ID"],
                                          "https://hooks.slack.com/services/…": channel}))
    stored = secrets.describe_secret(SecretId=created["ARN"])
    assert stored["Name"] == "wildcert/slack/payments"
    assert stored["KmsKeyId"] == stack.env["KMS_KEY_ID"]
    table = re.search(r"```toml\n(\[teams\.payments\].*?)```", TEAMS_DOC.read_text(),
                      re.DOTALL)
    assert table, "TEAMS.md no longer shows [teams.payments]"
    entry = re.sub(r'^slack_webhook_secret = ".*"$', f'slack_webhook_secret = "{created["ARN"]}"',
                   table[1], flags=re.MULTILINE)
    teams = tmp_path / "teams.toml"
    teams.write_text(Path(stack.env["TEAMS_FILE"]).read_text() + "\n" + entry)
    monkeypatch.setenv("TEAMS_FILE", str(teams))
    container.start_afresh()
    return channel, teams


def tag_role(stack: Stack, tmp_path: Path) -> None:
    # Its role tagged (moto keeps the tag; IAM's effect is the policy simulator's, tests/infra).
    iam = stack.client("iam")
    iam.create_role(RoleName="payments-ci", AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": []}))
    try:
        run(aws_block("docs/TEAMS.md", "tag-role"), stack, tmp_path)
        tags = iam.list_role_tags(RoleName="payments-ci")["Tags"]
        assert {"Key": "wildcert-team", "Value": "payments"} in tags
    finally:
        iam.delete_role(RoleName="payments-ci")


def read_as_a_host(stack: Stack, tmp_path: Path) -> None:
    """DEPLOY.md's reader: the AWS CLI's copy, the checksummed job, wildcert-pull."""
    ssl = tmp_path / "ssl"
    (ssl / "payments.web").mkdir(parents=True)
    printed = run(aws_block("docs/DEPLOY.md", "export AWS_PROFILE=wildcert-reader"), stack,
                  tmp_path, **{"wildcert-certbucket-abc123": stack.env["CERT_BUCKET"],
                               "/etc/ssl/wildcert": str(ssl)})
    meta, listed = json.JSONDecoder().raw_decode(printed)  # cert.json, then the listing
    assert meta["name"] == "payments.web" and "fullchain.pem" in printed[listed:]
    chain = (ssl / "payments.web" / "fullchain.pem").read_text()
    assert chain.startswith("-----BEGIN CERTIFICATE-----")
    assert (ssl / "payments.web" / "privkey.pem").read_text().startswith("-----BEGIN")

    # The same as a host's job: checked against cert.json's digests, then by wildcert-pull.
    where = {"BUCKET": stack.env["CERT_BUCKET"], "NAME": "payments.web"}
    server = {"/etc/ssl/wildcert": str(ssl), "systemctl reload nginx": "echo reloaded nginx"}
    for f in ssl.glob("payments.web/*"):
        f.unlink()
    printed = run(aws_block("docs/DEPLOY.md", "sha256sum --check"), stack, tmp_path, where,
                  **server)
    assert printed.strip() == "reloaded nginx"
    assert (ssl / "payments.web" / "fullchain.pem").read_text() == chain
    assert (ssl / "payments.web" / "privkey.pem").stat().st_mode & 0o777 == 0o600
    printed = run(aws_block("docs/DEPLOY.md", "AWS_PROFILE=wildcert-reader wildcert-pull"),
                  stack, tmp_path, where, **server)
    assert "reloaded nginx" in printed, printed
    assert (ssl / "payments.web" / "cert.pem").read_text() in chain


def test_a_team_onboarded_and_served_with_the_docs_aws_commands(
        stack: Stack, stack_env: dict[str, str], fresh_container: container.Container,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "aws-config").write_text(
        "[profile wildcert-reader]\naws_access_key_id = testing\n"
        "aws_secret_access_key = testing\nregion = us-east-1\n")
    channel, teams = onboard(stack, tmp_path, monkeypatch)
    tag_role(stack, tmp_path)

    # Its request, as TEAMS.md and DEPLOY.md send it, answered with an outcome event and a
    #  post on its own channel: issued, then the same request again finds it still valid.
    drain_outcomes(stack.env)
    posted = len(stack.slack_messages())
    for doc, outcome in (("docs/TEAMS.md", "issued"), ("docs/DEPLOY.md", "skipped")):
        answer = json.loads(run(aws_block(doc, "put-events"), stack, tmp_path))
        assert answer["FailedEntryCount"] == 0, answer
        outcomes = deliver_requests(stack, "wildcert.team.payments")
        assert [(e["detail-type"], e["detail"]["name"]) for e in outcomes] == [
            (f"wildcert.certificate.{outcome}", "payments.web")], outcomes
    news = [m for m in stack.slack_messages()[posted:] if "payments.web" in json.dumps(m)]
    assert channel.split(str(stack.ports.slack))[1] in {m["path"] for m in news}, news

    read_as_a_host(stack, tmp_path)

    # A certificate from before teams given to the team, from the repository's root.
    legacy = invoke(ISSUER, {"name": "web-legacy", "domains": ["legacy.payments.example.com"]})
    assert legacy["status"] == "issued", legacy
    run(aws_block("docs/TEAMS.md", "assign_team"), stack, tmp_path, cwd=REPO, **{
        "wildcert-certificates": stack.env["CERT_BUCKET"], "arn:aws:kms:…": stack.env["KMS_KEY_ID"],
        "layers/wildcert/teams.toml": str(teams)})
    meta = json.loads(stack.client("s3").get_object(
        Bucket=stack.env["CERT_BUCKET"], Key="web-legacy/cert.json")["Body"].read())
    assert meta["team"] == "payments", meta


def test_a_cas_eab_secret_as_the_docs_store_it(stack: Stack, tmp_path: Path) -> None:
    (tmp_path / "aws-config").write_text("")
    created = json.loads(run(aws_block("docs/CAS.md", "wildcert/acme-eab/zerossl"), stack,
                             tmp_path, **{'"$KMS_KEY_ARN"': stack.env["KMS_KEY_ID"]}))
    secrets = stack.client("secretsmanager")
    assert secrets.describe_secret(SecretId=created["ARN"])["KmsKeyId"] == stack.env["KMS_KEY_ID"]
    assert json.loads(secrets.get_secret_value(SecretId=created["ARN"])["SecretString"]) == {
        "kid": "EAB_KID", "hmac_key": "EAB_HMAC_KEY"}
