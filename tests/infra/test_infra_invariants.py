"""Security invariants of template.yaml, on the CloudFormation that SAM turns it into (offline).

The mutation tests loosen a copy of the template the way a hurried change would and check that
`violations` notices: an invariant that cannot fail protects nothing.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from .infra_invariants import violations
from .infra_template import ACCOUNT, load_sam, resolved_stack

ADMINS = (
    f"arn:aws:iam::{ACCOUNT}:role/platform-admin,"
    f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_*"
)

PARAMETER_SETS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "staging-with-admins-alarms-reserved": {
        "AcmeCa": "staging",
        "AdminRoleArns": ADMINS,
        "AlarmTopicArn": f"arn:aws:sns:eu-west-1:{ACCOUNT}:ops",
        "IssuerReservedConcurrency": "2",
        "AccessLogBucketName": "central-s3-access-logs",
        "ContactEmail": "pki@example.com",
        "AcmeProfile": "tlsserver",
    },
    "one-zone-directory-override": {
        "HostedZoneIds": ["Z0999ZZZZZZZZZ"],
        "DirectoryUrlOverride": "https://acme.example.net/directory",
        "SweepSchedule": "",
        "WatchSchedule": "",
    },
}


@pytest.fixture(scope="module")
def sam() -> dict[str, Any]:
    return load_sam()


@pytest.mark.parametrize("name", PARAMETER_SETS)
def test_template_keeps_every_invariant(sam: dict[str, Any], name: str) -> None:
    params = PARAMETER_SETS[name]
    assert violations(resolved_stack(params, sam), params) == []


def test_route53_statement_is_exactly_the_acme_challenge_grant(sam: dict[str, Any]) -> None:
    resources = resolved_stack({}, sam)
    statements = resources["IssuerPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    change = [s for s in statements if "route53:ChangeResourceRecordSets" in str(s["Action"])]
    assert change == [
        {
            "Sid": "WriteOnlyAcmeChallengeTxtRecords",
            "Effect": "Allow",
            "Action": "route53:ChangeResourceRecordSets",
            "Resource": [
                "arn:aws:route53:::hostedzone/Z0111AAAAAAAAA",
                "arn:aws:route53:::hostedzone/Z0222BBBBBBBBB",
            ],
            "Condition": {
                "ForAllValues:StringLike": {
                    "route53:ChangeResourceRecordSetsNormalizedRecordNames": ["_acme-challenge.*"]
                },
                "ForAllValues:StringEquals": {
                    "route53:ChangeResourceRecordSetsRecordTypes": ["TXT"],
                    "route53:ChangeResourceRecordSetsActions": ["CREATE", "DELETE"],
                },
            },
        }
    ]


def test_optional_parameters_switch_resources(sam: dict[str, Any]) -> None:
    plain = resolved_stack({}, sam)
    assert "ReservedConcurrentExecutions" not in plain["IssuerFunction"]["Properties"]
    assert "LoggingConfiguration" not in plain["CertBucket"]["Properties"]
    assert "AlarmActions" not in plain["DeadLetterQueueAlarm"]["Properties"]
    full = resolved_stack(PARAMETER_SETS["staging-with-admins-alarms-reserved"], sam)
    assert full["IssuerFunction"]["Properties"]["ReservedConcurrentExecutions"] == "2"
    assert full["CertBucket"]["Properties"]["LoggingConfiguration"]["DestinationBucketName"] == (
        "central-s3-access-logs"
    )
    env = full["IssuerFunction"]["Properties"]["Environment"]["Variables"]
    assert env["ACME_PROFILE"] == "tlsserver"
    assert env["ACME_CONTACT_EMAIL"] == "pki@example.com"


# ----------------------------------------------------------------------------- mutations
def _resource(sam: dict[str, Any], name: str) -> dict[str, Any]:
    return sam["Resources"][name]["Properties"]


def _statement(document: dict[str, Any], sid: str) -> dict[str, Any]:
    return next(s for s in document["Statement"] if s.get("Sid") == sid)


def _drop_statement(document: dict[str, Any], sid: str) -> None:
    document["Statement"] = [s for s in document["Statement"] if s.get("Sid") != sid]


def issuer_doc(sam):
    return _resource(sam, "IssuerPolicy")["PolicyDocument"]


def key_doc(sam):
    return _resource(sam, "CertKey")["KeyPolicy"]


def bucket_doc(sam):
    return _resource(sam, "CertBucketPolicy")["PolicyDocument"]


def reader_doc(sam):
    return _resource(sam, "ReaderPolicy")["PolicyDocument"]


def widen_record_names(sam):
    _statement(issuer_doc(sam), "WriteOnlyAcmeChallengeTxtRecords")["Condition"][
        "ForAllValues:StringLike"
    ]["route53:ChangeResourceRecordSetsNormalizedRecordNames"] = ["*"]


def allow_upsert(sam):
    _statement(issuer_doc(sam), "WriteOnlyAcmeChallengeTxtRecords")["Condition"][
        "ForAllValues:StringEquals"
    ]["route53:ChangeResourceRecordSetsActions"].append("UPSERT")


def drop_record_type_condition(sam):
    _statement(issuer_doc(sam), "WriteOnlyAcmeChallengeTxtRecords")["Condition"].pop(
        "ForAllValues:StringEquals"
    )


def any_zone(sam):
    _statement(issuer_doc(sam), "WriteOnlyAcmeChallengeTxtRecords")["Resource"] = (
        "arn:aws:route53:::hostedzone/*"
    )


def route53_star(sam):
    issuer_doc(sam)["Statement"].append({"Effect": "Allow", "Action": "route53:*", "Resource": "*"})


def issuer_s3_star(sam):
    issuer_doc(sam)["Statement"].append(
        {"Effect": "Allow", "Action": "s3:*", "Resource": {"Fn::Sub": "${CertBucket.Arn}/*"}}
    )


def issuer_admin_managed_policy(sam):
    _resource(sam, "IssuerRole")["ManagedPolicyArns"] = [
        "arn:aws:iam::aws:policy/AdministratorAccess"
    ]


def new_function_with_sam_role(sam):
    sam["Resources"]["SweepFunction"] = {
        "Type": "AWS::Serverless::Function",
        "Properties": {
            "CodeUri": "functions/renewal_sweep/",
            "Handler": "app.handler",
            "Policies": [
                {"Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}]}
            ],
        },
    }


def key_root_kms_star(sam):
    _statement(key_doc(sam), "AccountAdministersKey")["Action"].append("kms:*")


def key_root_decrypt(sam):
    _statement(key_doc(sam), "AccountAdministersKey")["Action"].append("kms:Decrypt")


def key_root_create_grant(sam):
    _statement(key_doc(sam), "AccountAdministersKey")["Action"].append("kms:CreateGrant")


def key_reader_any_service(sam):
    _statement(key_doc(sam), "ReaderDecryptsThroughS3").pop("Condition")


def key_reader_encrypts(sam):
    _statement(key_doc(sam), "ReaderDecryptsThroughS3")["Action"] = ["kms:Decrypt", "kms:Encrypt"]


def key_someone_else(sam):
    key_doc(sam)["Statement"].append(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/ops"},
            "Action": "kms:Decrypt",
            "Resource": "*",
        }
    )


def key_no_rotation(sam):
    _resource(sam, "CertKey")["EnableKeyRotation"] = False


def drop_tls_deny(sam):
    _drop_statement(bucket_doc(sam), "DenyInsecureTransport")


def weaken_unencrypted_deny(sam):
    _statement(bucket_doc(sam), "DenyUnencryptedObjectUploads")["Condition"]["Null"] = {
        "s3:x-amz-server-side-encryption": "false"
    }


def drop_wrong_key_deny(sam):
    _drop_statement(bucket_doc(sam), "DenyUploadsWithOtherKmsKey")


def extra_bucket_principal(sam):
    condition = _statement(bucket_doc(sam), "DenyObjectAccessToOtherPrincipals")["Condition"]
    condition["ArnNotLike"]["aws:PrincipalArn"] = f"arn:aws:iam::{ACCOUNT}:role/*"


def bucket_public_allow(sam):
    bucket_doc(sam)["Statement"].append(
        {
            "Sid": "Oops",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": {"Fn::Sub": "${CertBucket.Arn}/*"},
        }
    )


def sse_s3(sam):
    default = _resource(sam, "CertBucket")["BucketEncryption"]["ServerSideEncryptionConfiguration"][
        0
    ]
    default["ServerSideEncryptionByDefault"] = {"SSEAlgorithm": "AES256"}


def no_bucket_key(sam):
    _resource(sam, "CertBucket")["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
        "BucketKeyEnabled"
    ] = False


def public_policy_allowed(sam):
    _resource(sam, "CertBucket")["PublicAccessBlockConfiguration"]["BlockPublicPolicy"] = False


def no_versioning(sam):
    _resource(sam, "CertBucket")["VersioningConfiguration"]["Status"] = "Suspended"


def reader_sees_state(sam):
    _drop_statement(reader_doc(sam), "DenyWildcertState")
    _drop_statement(bucket_doc(sam), "DenyReaderWildcertState")


def reader_lists_state(sam):
    _statement(reader_doc(sam), "ListCertificatePrefixes")["Condition"].pop("StringNotLike")
    _drop_statement(bucket_doc(sam), "DenyReaderListingWildcertState")


def reader_reads_everything(sam):
    _statement(reader_doc(sam), "ReadCertificateFiles")["Resource"] = {
        "Fn::Sub": "${CertBucket.Arn}/*"
    }
    reader_sees_state(sam)


def reader_writes(sam):
    _statement(reader_doc(sam), "ReadCertificateFiles")["Action"] = ["s3:GetObject", "s3:PutObject"]


def no_failure_destination(sam):
    _resource(sam, "IssuerEventInvokeConfig").pop("DestinationConfig")


def failure_destination_elsewhere(sam):
    _resource(sam, "IssuerEventInvokeConfig")["DestinationConfig"]["OnFailure"]["Destination"] = (
        "arn:aws:sqs:eu-west-1:111122223333:somewhere-else"
    )


def unlimited_retries(sam):
    _resource(sam, "IssuerEventInvokeConfig")["MaximumRetryAttempts"] = 0


def no_dlq_alarm(sam):
    del sam["Resources"]["DeadLetterQueueAlarm"]


def secret_unencrypted(sam):
    _resource(sam, "SlackWebhookSecret").pop("KmsKeyId")


def secret_any(sam):
    _statement(issuer_doc(sam), "ReadSlackWebhook")["Resource"] = "*"


def key_alias_in_env(sam):
    sam["Globals"]["Function"]["Environment"]["Variables"]["KMS_KEY_ID"] = {"Ref": "CertKeyAlias"}


def x86(sam):
    sam["Globals"]["Function"]["Architectures"] = ["x86_64"]


MUTATIONS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "route53 record names widened": (widen_record_names, "route53:ChangeResourceRecordSets"),
    "route53 UPSERT allowed": (allow_upsert, "route53:ChangeResourceRecordSets"),
    "route53 type/action condition dropped": (
        drop_record_type_condition,
        "ChangeResourceRecordSets",
    ),
    "route53 any zone": (any_zone, "route53:ChangeResourceRecordSets"),
    "route53:* added": (route53_star, "wildcard action"),
    "issuer gets s3:*": (issuer_s3_star, "wildcard action 's3:*'"),
    "issuer gets AdministratorAccess": (issuer_admin_managed_policy, "AdministratorAccess"),
    "new function with SAM-made role": (new_function_with_sam_role, "wildcard action"),
    "key policy root kms:*": (key_root_kms_star, "wildcard action 'kms:*'"),
    "key policy root may decrypt": (key_root_decrypt, "kms:Decrypt is granted to"),
    "key policy root may create grants": (key_root_create_grant, "create grants"),
    "key policy reader via any service": (key_reader_any_service, "expected Decrypt via S3"),
    "key policy reader encrypts": (key_reader_encrypts, "expected Decrypt via S3"),
    "key policy extra principal": (key_someone_else, "only root, issuer and reader"),
    "key rotation off": (key_no_rotation, "rotation is off"),
    "TLS deny dropped": (drop_tls_deny, "non-TLS"),
    "unencrypted-PUT deny weakened": (weaken_unencrypted_deny, "without aws:kms"),
    "wrong-key deny dropped": (drop_wrong_key_deny, "another KMS key"),
    "principal deny widened": (extra_bucket_principal, "are not denied to every principal"),
    "bucket policy public Allow": (bucket_public_allow, "any principal"),
    "SSE-S3 instead of SSE-KMS": (sse_s3, "not SSE-KMS with CertKey"),
    "bucket key off": (no_bucket_key, "BucketKeyEnabled"),
    "public policies allowed": (public_policy_allowed, "BlockPublicPolicy"),
    "versioning suspended": (no_versioning, "versioning"),
    "reader denies dropped": (reader_sees_state, "reader role: may s3:GetObject _wildcert/"),
    "reader may list _wildcert/": (reader_lists_state, "may list the bucket with prefix"),
    "reader reads every object": (
        reader_reads_everything,
        "reader role: may s3:GetObject _wildcert/",
    ),
    "reader may write": (reader_writes, "reader role: may s3:PutObject"),
    "no OnFailure destination": (no_failure_destination, "OnFailure goes to None"),
    "OnFailure elsewhere": (failure_destination_elsewhere, "not the DLQ"),
    "retries changed": (unlimited_retries, "MaximumRetryAttempts"),
    "DLQ alarm removed": (no_dlq_alarm, "no alarm on messages in the DLQ"),
    "secret without CMK": (secret_unencrypted, "not CertKey"),
    "issuer reads every secret": (secret_any, "Secrets Manager access"),
    "KMS_KEY_ID is an alias": (key_alias_in_env, "KMS_KEY_ID"),
    "x86_64": (x86, "arm64"),
}


@pytest.mark.parametrize(
    ("policy", "sid"),
    [("ReaderPolicy", "DenyWildcertState"), ("CertBucketPolicy", "DenyReaderWildcertState")],
)
def test_either_reader_deny_alone_keeps_state_private(
    sam: dict[str, Any], policy: str, sid: str
) -> None:
    """Defence in depth: the reader's own Deny and the bucket's Deny each suffice alone."""
    loosened = copy.deepcopy(sam)
    _statement(reader_doc(loosened), "ReadCertificateFiles")["Resource"] = {
        "Fn::Sub": "${CertBucket.Arn}/*"
    }
    _drop_statement(_resource(loosened, policy)["PolicyDocument"], sid)
    found = violations(resolved_stack({}, loosened), {})
    assert not [line for line in found if "_wildcert" in line], found


@pytest.mark.parametrize("name", MUTATIONS)
def test_loosened_template_is_caught(sam: dict[str, Any], name: str) -> None:
    mutate, expected = MUTATIONS[name]
    loosened = copy.deepcopy(sam)
    mutate(loosened)
    found = violations(resolved_stack({}, loosened), {})
    assert any(expected in line for line in found), (
        f"mutation {name!r} went unnoticed; violations were: {found}"
    )
