"""What a fresh local stack holds before wildcert runs, as template.yaml deploys it: bucket,
key, zones, the Slack secrets (the operators' and team alpha's), the request bus with the rule
that routes teams' requests to the issuer and the route of its outcome events, and the renewal
queue with its dead-letter queue.

Lambda is not part of the stack: a rule's target is a queue standing for its function, which
`python -m local_stack invoke` delivers to the real handler (local_stack/invoke.py)."""

from __future__ import annotations

import json
import shlex
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from local_stack import files
from local_stack.ports import HOST, Ports
from local_stack.route53_source import LOCAL_CREDENTIALS, local_client

REPO_ROOT = Path(__file__).resolve().parent.parent

BUCKET = "wildcert-local"
KEY_ALIAS = "alias/wildcert-local"
ZONES = ("example.com", "team.example.com", "example.net")
SLACK_SECRET = "wildcert/slack-webhook"  # noqa: S105 - the name of the secret
SLACK_WEBHOOK_PATH = "/services/T000/B000/local"
# The teams of local_stack/teams.toml with a channel of their own (beta has none).
TEAM_SECRETS = {"alpha": "wildcert/slack/alpha"}
TEAM_WEBHOOK_PATHS = {"alpha": "/services/T000/B000/alpha"}
TEAMS_FILE = REPO_ROOT / "local_stack" / "teams.toml"
# The second CA (an EAB-requiring Pebble): where its key id and HMAC key live, its CAA identity.
SECOND_CA_EAB_SECRET = "wildcert/acme-eab/second"  # noqa: S105 - the name of the secret
SECOND_CA_NAME = "second"
SECOND_CA_IDENTITY = "second-ca.test"
FIRST_CA_NAME = "pebble"
FIRST_CA_IDENTITY = "letsencrypt.org"
# As the stack `wildcert` names them (template.yaml: "${AWS::StackName}-requests").
EVENT_BUS = "wildcert-requests"
# template.yaml's rules on the request bus whose target is the issuer, as the template writes
# them: teams' requests, and the events that look like requests but match no rule (answered).
REQUEST_RULES = ("IssueRequestRule", "UnmatchedRequestRule")
REQUEST_QUEUE = "wildcert-local-requests"  # stands for the rules' target, the issuer
TEMPLATE = REPO_ROOT / "template.yaml"
OUTCOME_RULE = "wildcert-local-outcomes"
OUTCOME_QUEUE = "wildcert-local-outcomes"
RENEWAL_QUEUE = "wildcert-local-renewals"
# Team alpha's own bus (teams.toml outcome_bus_arn), and a queue its rule copies events to.
ALPHA_BUS = "wildcert-local-alpha"
ALPHA_OUTCOME_QUEUE = "wildcert-local-alpha-outcomes"
RENEWAL_DLQ = "wildcert-local-renewals-dlq"
RENEWAL_MAX_RECEIVES = 10  # template.yaml's RenewalQueue redrive policy
RENEWAL_VISIBILITY_SECONDS = 5400
CONTACT_EMAIL = "platform@example.com"
DELEGATION_TTL = 172800


@dataclass(frozen=True)
class Seeded:
    kms_key_arn: str
    account_key_arn: str
    zone_ids: Mapping[str, str]  # zone name (no final dot) -> bare hosted zone id
    outcome_queue_url: str = ""
    request_queue_url: str = ""
    renewal_queue_url: str = ""
    renewal_queue_arn: str = ""
    renewal_dlq_url: str = ""
    alpha_outcome_queue_url: str = ""


def seed(ports: Ports, directory: Path) -> Seeded:
    endpoint = f"http://{HOST}:{ports.moto}"
    # Independent services, seeded side by side: this is most of `start`'s own time.
    with ThreadPoolExecutor(max_workers=4) as pool:
        zones = pool.submit(lambda: _zones(local_client("route53", endpoint)))
        s3 = pool.submit(local_client, "s3", endpoint)
        secrets = pool.submit(local_client, "secretsmanager", endpoint)
        bus = pool.submit(lambda: _event_bus(local_client("events", endpoint),
                                             local_client("sqs", endpoint)))
        renewals = pool.submit(lambda: _renewal_queues(local_client("sqs", endpoint)))
        alpha = pool.submit(lambda: _team_bus(local_client("events", endpoint),
                                              local_client("sqs", endpoint)))
        key_arn = _kms_key(local_client("kms", endpoint))
        account_key_arn = _account_key(local_client("kms", endpoint))
        done = [
            pool.submit(_bucket, s3.result(), key_arn),
            pool.submit(_slack_secret, secrets.result(), key_arn, ports),
            pool.submit(_eab_secret, secrets.result(), key_arn, directory),
        ]
        for future in done:
            future.result()
        outcome_url, request_url = bus.result()
        renewal_url, renewal_arn, renewal_dlq_url = renewals.result()
        return Seeded(kms_key_arn=key_arn, account_key_arn=account_key_arn,
                      zone_ids=zones.result(),
                      outcome_queue_url=outcome_url, request_queue_url=request_url,
                      renewal_queue_url=renewal_url, renewal_queue_arn=renewal_arn,
                      renewal_dlq_url=renewal_dlq_url,
                      alpha_outcome_queue_url=alpha.result())


def _kms_key(kms: Any) -> str:
    key = kms.create_key(
        Description="wildcert local stack: certificates and state",
        KeyUsage="ENCRYPT_DECRYPT",
        KeySpec="SYMMETRIC_DEFAULT",
    )["KeyMetadata"]
    kms.create_alias(AliasName=KEY_ALIAS, TargetKeyId=key["KeyId"])
    return str(key["Arn"])


def _account_key(kms: Any) -> str:
    """What the template's AcmeAccountKey is: ACME account keys that never leave KMS (tests
    and the demo turn it on with ACME_ACCOUNT_KMS_KEY; the stack's own settings do not)."""
    key = kms.create_key(Description="wildcert local stack: ACME account key",
                         KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")["KeyMetadata"]
    return str(key["Arn"])


def _bucket(s3: Any, key_arn: str) -> None:
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(
        Bucket=BUCKET,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {
                        "SSEAlgorithm": "aws:kms",
                        "KMSMasterKeyID": key_arn,
                    },
                    "BucketKeyEnabled": True,
                }
            ]
        },
    )
    s3.put_public_access_block(
        Bucket=BUCKET,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )


def _zones(route53: Any) -> dict[str, str]:
    zone_ids: dict[str, str] = {}
    name_servers: dict[str, list[str]] = {}
    for name in ZONES:
        created = route53.create_hosted_zone(
            Name=name,
            CallerReference=f"wildcert-local-{name}-{uuid.uuid4()}",
            HostedZoneConfig={"Comment": "wildcert local stack", "PrivateZone": False},
        )
        zone_ids[name] = created["HostedZone"]["Id"].rsplit("/", 1)[-1]
        name_servers[name] = created["DelegationSet"]["NameServers"]
    # The parent delegates to the child as it would on the internet.
    route53.change_resource_record_sets(
        HostedZoneId=zone_ids["example.com"],
        ChangeBatch={
            "Comment": "delegate team.example.com",
            "Changes": [
                {
                    "Action": "CREATE",
                    "ResourceRecordSet": {
                        "Name": "team.example.com.",
                        "Type": "NS",
                        "TTL": DELEGATION_TTL,
                        "ResourceRecords": [
                            {"Value": server} for server in name_servers["team.example.com"]
                        ],
                    },
                }
            ],
        },
    )
    return zone_ids


def _slack_secret(secrets: Any, key_arn: str, ports: Ports) -> None:
    secrets.create_secret(
        Name=SLACK_SECRET,
        Description="Slack incoming webhook URL (local sink)",
        KmsKeyId=key_arn,
        SecretString=f"http://{HOST}:{ports.slack}{SLACK_WEBHOOK_PATH}",
    )
    for team, name in TEAM_SECRETS.items():
        secrets.create_secret(
            Name=name,
            Description=f"Team {team}'s Slack incoming webhook URL (local sink)",
            KmsKeyId=key_arn,
            SecretString=f"http://{HOST}:{ports.slack}{TEAM_WEBHOOK_PATHS[team]}",
        )


def _eab_secret(secrets: Any, key_arn: str, directory: Path) -> None:
    """The second CA's EAB credential as an operator stores one: {"kid", "hmac_key"}."""
    secrets.create_secret(
        Name=SECOND_CA_EAB_SECRET,
        Description="External Account Binding for the local stack's second CA",
        KmsKeyId=key_arn,
        SecretString=files.second_ca_eab(directory).read_text().strip(),
    )


def acme_cas(ports: Ports) -> list[dict[str, Any]]:
    """ACME_CAS for both of the stack's CAs, the first preferred (tests set it; the stack's
    own settings keep the one-CA form)."""
    return [
        {"name": FIRST_CA_NAME, "directory": f"https://{HOST}:{ports.acme_front}/dir",
         "caa_identities": [FIRST_CA_IDENTITY]},
        {"name": SECOND_CA_NAME, "directory": f"https://{HOST}:{ports.second_acme_front}/dir",
         "eab_secret": SECOND_CA_EAB_SECRET, "caa_identities": [SECOND_CA_IDENTITY]},
    ]


def _event_bus(events: Any, sqs: Any) -> tuple[str, str]:
    """The request bus, its rule for teams' requests, and a rule copying the issuer's outcome
    events to a queue the tests and the invoke tool read: (outcome queue, request queue)."""
    events.create_event_bus(Name=EVENT_BUS)
    routes = [(OUTCOME_RULE, {"source": ["wildcert"]}, OUTCOME_QUEUE),
              *((name, pattern, REQUEST_QUEUE) for name, pattern in request_rules().items())]
    urls: dict[str, str] = {}
    for rule, pattern, queue in routes:
        if queue not in urls:
            urls[queue], _ = _queue(sqs, queue)
        arn = sqs.get_queue_attributes(QueueUrl=urls[queue], AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        events.put_rule(Name=rule, EventBusName=EVENT_BUS, EventPattern=json.dumps(pattern))
        events.put_targets(Rule=rule, EventBusName=EVENT_BUS, Targets=[{"Id": queue, "Arn": arn}])
    return urls[OUTCOME_QUEUE], urls[REQUEST_QUEUE]


def _team_bus(events: Any, sqs: Any) -> str:
    """Team alpha's own bus in its account, and a rule copying what arrives to a queue."""
    events.create_event_bus(Name=ALPHA_BUS)
    url, arn = _queue(sqs, ALPHA_OUTCOME_QUEUE)
    events.put_rule(Name=ALPHA_OUTCOME_QUEUE, EventBusName=ALPHA_BUS,
                    EventPattern=json.dumps({"source": ["wildcert"]}))
    events.put_targets(Rule=ALPHA_OUTCOME_QUEUE, EventBusName=ALPHA_BUS,
                       Targets=[{"Id": "outcomes", "Arn": arn}])
    return url


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Ref, !GetAtt, ...), which the patterns do not use."""


_CfnLoader.add_multi_constructor("!", lambda _loader, _suffix, _node: None)


def request_rules() -> dict[str, Any]:
    """The event pattern of each of template.yaml's rules that send the request bus's events
    to the issuer: the stack routes what a deployment routes."""
    resources = yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)["Resources"]  # noqa: S506
    return {name: resources[name]["Properties"]["EventPattern"] for name in REQUEST_RULES}


def _renewal_queues(sqs: Any) -> tuple[str, str, str]:
    """The queue the sweep and the watch send renewals to, and its dead-letter queue:
    (URL, ARN, dead-letter queue URL)."""
    dlq_url, dlq_arn = _queue(sqs, RENEWAL_DLQ)
    url, arn = _queue(sqs, RENEWAL_QUEUE, {
        "VisibilityTimeout": str(RENEWAL_VISIBILITY_SECONDS),
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn,
                                     "maxReceiveCount": RENEWAL_MAX_RECEIVES}),
    })
    return url, arn, dlq_url


def _queue(sqs: Any, name: str, attributes: Mapping[str, str] | None = None) -> tuple[str, str]:
    url = str(sqs.create_queue(QueueName=name, Attributes=dict(attributes or {}))["QueueUrl"])
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"]
    return url, str(arn)


def teams_file(directory: Path) -> Path:
    """The stack's own copy of local_stack/teams.toml, which onboarding a team edits."""
    copy = files.teams(directory)
    if not copy.exists():
        copy.write_text(TEAMS_FILE.read_text())
    return copy


def stack_env(directory: Path, ports: Ports, seeded: Seeded) -> dict[str, str]:
    """The settings wildcert reads (see settings.py), plus what tests and the demo need."""
    directory = directory.resolve()
    zones = seeded.zone_ids
    return {
        # Through the fault proxy, so tests can fail any AWS call; it counts them all, too.
        "AWS_ENDPOINT_URL": f"http://{HOST}:{ports.aws_faults}",
        "AWS_ACCESS_KEY_ID": LOCAL_CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": LOCAL_CREDENTIALS["aws_secret_access_key"],
        "AWS_DEFAULT_REGION": LOCAL_CREDENTIALS["region_name"],
        # Through the front, so ARI, profiles, fault injection and counts cover every request.
        "ACME_DIRECTORY_URL": f"https://{HOST}:{ports.acme_front}/dir",
        # The same Pebble behind the same front, at another URL: another account, as a CA's
        # staging directory would be.
        "ACME_STAGING_DIRECTORY_URL": f"https://{HOST}:{ports.acme_front}/dir?ca=staging",
        "ACME_CA_BUNDLE": str(files.tls_ca(directory)),
        "ACME_CONTACT_EMAIL": CONTACT_EMAIL,
        "CERT_BUCKET": BUCKET,
        "KMS_KEY_ID": seeded.kms_key_arn,
        "ALLOWED_ZONES": ",".join(zones[name] for name in ZONES),
        "SLACK_WEBHOOK_SECRET": SLACK_SECRET,
        "TEAMS_FILE": str(teams_file(directory)),
        "EVENT_BUS_NAME": EVENT_BUS,
        # The only queue whose records the issuer takes (the template's RenewalQueue); tests
        # with a renewal queue of their own set it to theirs.
        "RENEWAL_QUEUE_ARN": seeded.renewal_queue_arn,
        "DNS_SERVER_OVERRIDE": f"{HOST}:{ports.dns}",
        # The watch resolves endpoints through the stack's DNS; its test servers are on loopback.
        "WATCH_ALLOW_LOOPBACK": "true",
        "WILDCERT_MOTO_URL": f"http://{HOST}:{ports.moto}",
        "WILDCERT_STACK_DIR": str(directory),
        "WILDCERT_STACK_PORT_BASE": str(ports.base),
        "WILDCERT_PEBBLE_DIRECTORY_URL": f"https://{HOST}:{ports.acme}/dir",
        "WILDCERT_ACME_FRONT_URL": f"https://{HOST}:{ports.acme_front}",
        "WILDCERT_PEBBLE_ROOTS_URL": f"https://{HOST}:{ports.pebble_management}/roots/0",
        "WILDCERT_ACME_CAS": json.dumps(acme_cas(ports)),
        "WILDCERT_ACCOUNT_KMS_KEY": seeded.account_key_arn,
        "WILDCERT_SECOND_ACME_FRONT_URL": f"https://{HOST}:{ports.second_acme_front}",
        "WILDCERT_SECOND_PEBBLE_ROOTS_URL":
            f"https://{HOST}:{ports.second_pebble_management}/roots/0",
        "WILDCERT_SLACK_LOG": str(files.slack_log(directory)),
        "WILDCERT_SLACK_SINK": f"http://{HOST}:{ports.slack}",
        "RENEWAL_QUEUE_URL": seeded.renewal_queue_url,
        "WILDCERT_OUTCOME_QUEUE_URL": seeded.outcome_queue_url,
        "WILDCERT_ALPHA_OUTCOME_QUEUE_URL": seeded.alpha_outcome_queue_url,
        "WILDCERT_REQUEST_QUEUE_URL": seeded.request_queue_url,
        "WILDCERT_RENEWAL_DLQ_URL": seeded.renewal_dlq_url,
        "WILDCERT_ZONE_EXAMPLE_COM": zones["example.com"],
        "WILDCERT_ZONE_TEAM_EXAMPLE_COM": zones["team.example.com"],
        "WILDCERT_ZONE_EXAMPLE_NET": zones["example.net"],
    }


def write_env(directory: Path, env: Mapping[str, str]) -> None:
    lines = [f"export {key}={shlex.quote(value)}" for key, value in env.items()]
    header = '# local stack settings: . this file (or eval "$(scripts/local-stack env)")\n'
    _replace(files.env_sh(directory), header + "\n".join(lines) + "\n")
    _replace(files.env_json(directory), json.dumps(dict(env), indent=2) + "\n")


def _replace(path: Path, text: str) -> None:
    """Readers never see half a file."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    partial.replace(path)
