"""Security invariants of template.yaml, on the CloudFormation that SAM turns it into (offline).

The mutation tests loosen a copy of the template the way a hurried change would and check that
`violations` notices: an invariant that cannot fail protects nothing.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

import pytest

from .iam_world import sam_with_teams
from .infra_invariants import foreign_partitions, retention_parameter_problems, violations
from .infra_template import ACCOUNT, BASE_PARAMS, resolved_stack

ADMINS = (
    f"arn:aws:iam::{ACCOUNT}:role/platform-admin,"
    f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_*"
)

TEAM_ACCOUNTS = "444455556666,777788889999"

PARAMETER_SETS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "staging-with-admins-alarms-reserved": {
        "AcmeCa": "staging",
        "AdminRoleArns": ADMINS,
        "AlarmTopicArn": f"arn:aws:sns:eu-west-1:{ACCOUNT}:ops",
        "IssuerReservedConcurrency": "4",
        "RenewalConcurrency": "4",
        "AccessLogBucketName": "central-s3-access-logs",
        "ContactEmail": "pki@example.com",
        "AcmeProfile": "tlsserver",
        "ExpiryWarningDays": "21",
        "SweepSchedule": "cron(30 4 ? * MON,THU *)",
        "SweepIntervalDays": "4",
        "ArchivedKeyRetentionDays": "400",
    },
    "one-zone-directory-override": {
        "HostedZoneIds": ["Z0999ZZZZZZZZZ"],
        "DirectoryUrlOverride": "https://acme.example.net/directory",
        "SweepSchedule": "",
        "WatchSchedule": "",
    },
    "sweep-without-watch": {"WatchSchedule": "", "RenewalConcurrency": "2"},
    "team-accounts": {"TeamAccountIds": TEAM_ACCOUNTS},
    "account-key-in-kms": {"AcmeAccountKeyInKms": "true"},
}


@pytest.fixture(scope="module")
def sam() -> dict[str, Any]:
    """template.yaml with three teams' generated resources (alpha and beta in accounts of
    their own, gamma in the stack's)."""
    return copy.deepcopy(sam_with_teams())


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
                "arn:*:route53:::hostedzone/Z0111AAAAAAAAA",
                "arn:*:route53:::hostedzone/Z0222BBBBBBBBB",
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
    # Without a topic given, the stack's own is every alarm's.
    assert plain["DeadLetterQueueAlarm"]["Properties"]["AlarmActions"] == ["<AlarmTopic>"]
    assert {"AlarmTopic", "AlarmTopicKey"} <= set(plain)
    assert {"RenewalSweepScheduleRule", "WatchScheduleRule"} <= set(plain)
    full = resolved_stack(PARAMETER_SETS["staging-with-admins-alarms-reserved"], sam)
    assert not {"AlarmTopic", "AlarmTopicKey"} & set(full)
    assert full["IssuerFunction"]["Properties"]["ReservedConcurrentExecutions"] == "4"
    assert full["RenewalSweepScheduleRule"]["Properties"]["ScheduleExpression"] == (
        "cron(30 4 ? * MON,THU *)"
    )
    unscheduled = resolved_stack(PARAMETER_SETS["one-zone-directory-override"], sam)
    for name in (
        "RenewalSweepScheduleRule",
        "RenewalSweepSchedulePermission",
        "WatchScheduleRule",
        "WatchSchedulePermission",
    ):
        assert name not in unscheduled
    dead_letter_sources = unscheduled["DeadLetterQueuePolicy"]["Properties"]["PolicyDocument"][
        "Statement"
    ][0]["Condition"]["ArnEquals"]["aws:SourceArn"]
    assert dead_letter_sources == ["<IssueRequestRule.Arn>", "<UnmatchedRequestRule.Arn>"]
    assert full["CertBucket"]["Properties"]["LoggingConfiguration"]["DestinationBucketName"] == (
        "central-s3-access-logs"
    )
    env = full["IssuerFunction"]["Properties"]["Environment"]["Variables"]
    assert env["ACME_PROFILE"] == "tlsserver"
    assert env["ACME_CONTACT_EMAIL"] == "pki@example.com"


# ----------------------------------------------------------------------------- mutations
def _resource(sam: dict[str, Any], name: str) -> dict[str, Any]:
    return sam["Resources"][name]["Properties"]


def _sub(text: str) -> dict[str, str]:
    return {"Fn::Sub": text}


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


def account_key_root_signs(sam):
    policy = _resource(sam, "AcmeAccountKey")["KeyPolicy"]
    _statement(policy, "AccountAdministersKey")["Action"].append("kms:Sign")


def account_key_signs_raw_only(sam):
    policy = _resource(sam, "AcmeAccountKey")["KeyPolicy"]
    _statement(policy, "IssuerSignsAsTheAccount")["Condition"] = {
        "StringNotEquals": {"kms:MessageType": "DIGEST"}}


def issuer_deletes_any_version(sam):
    _statement(issuer_doc(sam), "DeleteEarlierAccountKeyVersions")["Resource"] = _sub(
        "${CertBucket.Arn}/*")


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


# -- the sweep and the watch
def sweep_doc(sam):
    return _resource(sam, "RenewalSweepPolicy")["PolicyDocument"]


def watch_doc(sam):
    return _resource(sam, "WatchPolicy")["PolicyDocument"]


def sweep_route53(sam):
    sweep_doc(sam)["Statement"].append(
        {
            "Effect": "Allow",
            "Action": "route53:ChangeResourceRecordSets",
            "Resource": "arn:aws:route53:::hostedzone/Z0111AAAAAAAAA",
        }
    )


def watch_route53_read(sam):
    watch_doc(sam)["Statement"].append(
        {"Effect": "Allow", "Action": "route53:ListHostedZones", "Resource": "*"}
    )


def sweep_reads_state(sam):
    _statement(sweep_doc(sam), "ReadAndUpdateCertJson")["Resource"] = _sub("${CertBucket.Arn}/*")
    _drop_statement(sweep_doc(sam), "DenyWildcertStateAndNestedKeys")
    _drop_statement(bucket_doc(sam), "DenyRenewalJobsWildcertState")


def watch_own_deny_dropped(sam):
    _drop_statement(watch_doc(sam), "DenyWildcertStateAndNestedKeys")


def jobs_bucket_deny_dropped(sam):
    _drop_statement(bucket_doc(sam), "DenyRenewalJobsWildcertState")


def sweep_writes_everything(sam):
    _statement(sweep_doc(sam), "ReadAndUpdateCertJson")["Resource"] = _sub("${CertBucket.Arn}/*")


def watch_deletes(sam):
    _statement(watch_doc(sam), "ReadAndUpdateCertJson")["Action"].append("s3:DeleteObject")


def nested_cert_json_writable(sam):
    _statement(sweep_doc(sam), "DenyWildcertStateAndNestedKeys")["Resource"] = [
        _sub("${CertBucket.Arn}/_*")
    ]


def sweep_receives_renewals(sam):
    statement = _statement(sweep_doc(sam), "QueueRenewals")
    statement["Action"] = ["sqs:SendMessage", "sqs:ReceiveMessage"]


def watch_sends_anywhere(sam):
    _statement(watch_doc(sam), "QueueRenewals")["Resource"] = _sub(
        "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:*"
    )


def issuer_consumes_any_queue(sam):
    _statement(issuer_doc(sam), "ConsumeRenewalQueue")["Resource"] = _sub(
        "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:*"
    )


def issuer_consumes_dlq_too(sam):
    _statement(issuer_doc(sam), "ConsumeRenewalQueue")["Resource"] = [
        {"Fn::GetAtt": ["RenewalQueue", "Arn"]},
        {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]},
    ]


def issuer_cannot_defer(sam):
    _statement(issuer_doc(sam), "ConsumeRenewalQueue")["Action"].remove(
        "sqs:ChangeMessageVisibility"
    )


def renewal_event(sam):
    return _resource(sam, "IssuerFunction")["Events"]["RenewalQueue"]["Properties"]


def esm_batch_of_ten(sam):
    renewal_event(sam)["BatchSize"] = 10


def esm_whole_batch_fails(sam):
    renewal_event(sam).pop("FunctionResponseTypes")


def esm_unbounded(sam):
    renewal_event(sam).pop("ScalingConfig")


def esm_for_the_watch_too(sam):
    _resource(sam, "WatchFunction")["Events"] = {
        "Renewals": {
            "Type": "SQS",
            "Properties": {"Queue": {"Fn::GetAtt": ["RenewalQueue", "Arn"]}},
        }
    }


def sweep_retried(sam):
    _resource(sam, "RenewalSweepEventInvokeConfig")["MaximumRetryAttempts"] = 2


def watch_retries_by_default(sam):
    _resource(sam, "WatchEventInvokeConfig").pop("MaximumRetryAttempts")


def sweep_failures_nowhere(sam):
    _resource(sam, "RenewalSweepEventInvokeConfig").pop("DestinationConfig")


def sweep_long_timeout(sam):
    _resource(sam, "RenewalSweepFunction")["Timeout"] = 900


def short_visibility(sam):
    _resource(sam, "RenewalQueue")["VisibilityTimeout"] = 900


def no_redrive(sam):
    _resource(sam, "RenewalQueue").pop("RedrivePolicy")


def redrive_after_one(sam):
    _resource(sam, "RenewalQueue")["RedrivePolicy"]["maxReceiveCount"] = 1


def renewal_queue_plain_http(sam):
    _drop_statement(_resource(sam, "RenewalQueuePolicy")["PolicyDocument"], "DenyInsecureTransport")


def renewal_dlq_plain_http(sam):
    del sam["Resources"]["RenewalDeadLetterQueuePolicy"]


def renewal_queue_unencrypted(sam):
    _resource(sam, "RenewalQueue")["SqsManagedSseEnabled"] = False


def no_renewal_dlq_alarm(sam):
    del sam["Resources"]["RenewalDeadLetterQueueAlarm"]


def no_sweep_errors_alarm(sam):
    del sam["Resources"]["RenewalSweepErrorsAlarm"]


def key_jobs_any_service(sam):
    _statement(key_doc(sam), "RenewalJobsUseKeyThroughS3").pop("Condition")


def key_jobs_encrypt(sam):
    _statement(key_doc(sam), "RenewalJobsUseKeyThroughS3")["Action"].append("kms:Encrypt")


def key_jobs_any_secret(sam):
    _statement(key_doc(sam), "RenewalJobsDecryptSlackWebhookSecret")["Condition"].pop("StringLike")


def key_jobs_no_data_keys(sam):
    _statement(key_doc(sam), "RenewalJobsUseKeyThroughS3")["Action"] = ["kms:Decrypt"]


def bucket_forgets_watch(sam):
    for sid in ("DenyObjectAccessToOtherPrincipals", "DenyListingToOtherPrincipals"):
        choice = _statement(bucket_doc(sam), sid)["Condition"]["ArnNotLike"]["aws:PrincipalArn"]
        without_admins = choice["Fn::If"][2]
        without_admins.remove({"Fn::GetAtt": ["WatchRole", "Arn"]})


def watch_interval_always(sam):
    variables = _resource(sam, "RenewalSweepFunction")["Environment"]["Variables"]
    variables["WATCH_INTERVAL_HOURS"] = "12"


def no_expiry_warning(sam):
    _resource(sam, "WatchFunction")["Environment"]["Variables"].pop("EXPIRY_WARNING_DAYS")


def no_queue_url(sam):
    _resource(sam, "RenewalSweepFunction")["Environment"]["Variables"].pop("RENEWAL_QUEUE_URL")


def sweep_rule_unconditional(sam):
    for name in ("RenewalSweepScheduleRule", "RenewalSweepSchedulePermission"):
        sam["Resources"][name].pop("Condition")


def sweep_rule_with_input(sam):
    _resource(sam, "RenewalSweepScheduleRule")["Targets"][0]["Input"] = '{"dry_run": true}'


def watch_rule_without_permission(sam):
    del sam["Resources"]["WatchSchedulePermission"]


def dlq_refuses_watch_rule(sam):
    statement = _statement(_resource(sam, "DeadLetterQueuePolicy")["PolicyDocument"],
                           "EventBridgeDeadLetters")
    statement["Condition"]["ArnEquals"]["aws:SourceArn"].pop()


# -- archived private keys
def archived_key_rule(sam):
    rules = _resource(sam, "CertBucket")["LifecycleConfiguration"]["Rules"]
    return next(r for r in rules if r["Id"] == "expire-archived-private-keys")


def no_archived_key_rule(sam):
    lifecycle = _resource(sam, "CertBucket")["LifecycleConfiguration"]
    lifecycle["Rules"] = [
        r for r in lifecycle["Rules"] if r["Id"] != "expire-archived-private-keys"
    ]


def archived_key_rule_untagged(sam):
    archived_key_rule(sam).pop("TagFilters")


def archived_key_rule_by_prefix_too(sam):
    archived_key_rule(sam)["Prefix"] = "www/"


def archived_key_rule_disabled(sam):
    archived_key_rule(sam)["Status"] = "Disabled"


def archived_key_versions_kept(sam):
    archived_key_rule(sam).pop("NoncurrentVersionExpiration")


def archived_key_retention_fixed(sam):
    archived_key_rule(sam)["ExpirationInDays"] = 100


def archived_key_expiry_date(sam):
    archived_key_rule(sam).pop("ExpirationInDays")
    archived_key_rule(sam)["ExpirationDate"] = "2030-01-01T00:00:00Z"


def issuer_tags_everything(sam):
    _statement(issuer_doc(sam), "TagArchivedPrivateKeys")["Resource"] = _sub("${CertBucket.Arn}/*")


def issuer_cannot_tag(sam):
    _drop_statement(issuer_doc(sam), "TagArchivedPrivateKeys")


def issuer_tags_versions(sam):
    _statement(issuer_doc(sam), "TagArchivedPrivateKeys")["Action"] = [
        "s3:PutObjectTagging", "s3:PutObjectVersionTagging"]


def issuer_without_retention(sam):
    _resource(sam, "IssuerFunction")["Environment"]["Variables"].pop("ARCHIVED_KEY_RETENTION_DAYS")


def watch_deletes_whole_archive(sam):
    _statement(watch_doc(sam), "DeleteExpiredArchivedKeys")["Resource"] = _sub(
        "${CertBucket.Arn}/*/archive/*")


def watch_reads_archived_keys(sam):
    _statement(watch_doc(sam), "ReadArchivedCertificates")["Resource"] = _sub(
        "${CertBucket.Arn}/*/archive/*")


def watch_cannot_delete_archived_keys(sam):
    _drop_statement(watch_doc(sam), "DeleteExpiredArchivedKeys")


def watch_destroys_versions(sam):
    _statement(watch_doc(sam), "DeleteExpiredArchivedKeys")["Action"] = [
        "s3:DeleteObject", "s3:DeleteObjectVersion"]


def sweep_deletes_archived_keys(sam):
    sweep_doc(sam)["Statement"].append({
        "Sid": "Oops", "Effect": "Allow", "Action": "s3:DeleteObject",
        "Resource": _sub("${CertBucket.Arn}/*/archive/*/privkey.pem")})


def reader_old_versions_deny_dropped(sam):
    _drop_statement(bucket_doc(sam), "DenyReaderOldKeyVersions")


def reader_reads_old_versions(sam):
    _statement(reader_doc(sam), "ReadCertificateFiles")["Action"] = [
        "s3:GetObject", "s3:GetObjectVersion"]
    reader_old_versions_deny_dropped(sam)


def reader_denied_archived_keys(sam):
    reader_doc(sam)["Statement"].append({
        "Sid": "DenyArchivedKeys", "Effect": "Deny", "Action": "s3:GetObject",
        "Resource": _sub("${CertBucket.Arn}/*/archive/*/privkey.pem")})


def issuer_events_any_source(sam):
    _statement(issuer_doc(sam), "PutOutcomeEvents").pop("Condition")


def issuer_events_team_source(sam):
    _statement(issuer_doc(sam), "PutOutcomeEvents")["Condition"] = {
        "ForAllValues:StringLike": {"events:source": "wildcert*"}}


def issuer_events_single_valued(sam):
    _statement(issuer_doc(sam), "PutOutcomeEvents")["Condition"] = {
        "StringEquals": {"events:source": "wildcert"}}


def issuer_events_without_null_check(sam):
    _statement(issuer_doc(sam), "PutOutcomeEvents")["Condition"].pop("Null")


def issuer_events_any_bus(sam):
    _statement(issuer_doc(sam), "PutOutcomeEvents")["Resource"] = "*"


def issuer_without_bus(sam):
    _resource(sam, "IssuerFunction")["Environment"]["Variables"].pop("EVENT_BUS_NAME")


def issuer_without_staging(sam):
    _resource(sam, "IssuerFunction")["Environment"]["Variables"].pop("ACME_STAGING_DIRECTORY_URL")


def issuer_reads_any_team_secret(sam):
    _statement(issuer_doc(sam), "ReadTeamSlackWebhooks")["Resource"] = _sub(
        "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:*")


def _bus_statement(sam, name):
    return _resource(sam, name)["Statement"]


def team_allow(sam):
    return _bus_statement(sam, "TeamAlphaRequests")


def team_deny(sam):
    return _bus_statement(sam, "RequestBusDenyOtherTeamsSources")


def bus_allow_any_source(sam):
    team_allow(sam).pop("Condition")


def bus_allow_like_star(sam):
    team_allow(sam)["Condition"]["ForAllValues:StringLike"] = {"events:source": "wildcert.team.*"}
    team_allow(sam)["Condition"].pop("ForAllValues:StringEquals")


def bus_allow_both_sources(sam):
    team_allow(sam)["Condition"]["ForAllValues:StringEquals"] = {
        "events:source": ["wildcert.team.alpha", "wildcert.team.beta"]}


def bus_allow_by_tag(sam):
    team_allow(sam)["Condition"]["ForAllValues:StringEquals"] = {
        "events:source": "wildcert.team.${aws:PrincipalTag/wildcert-team}"}


def bus_allow_single_valued(sam):
    condition = team_allow(sam)["Condition"]
    condition["StringEquals"]["events:source"] = ["wildcert.team.alpha"]
    condition.pop("ForAllValues:StringEquals")


def bus_allow_without_team_account_ids(sam):
    team_allow(sam)["Condition"].pop("StringEquals")


def bus_allow_anyone(sam):
    team_allow(sam)["Principal"] = "*"


def bus_deny_without_source(sam):
    team_deny(sam)["Condition"].pop("ForAnyValue:StringNotEquals")


def bus_deny_like_star(sam):
    team_deny(sam)["Condition"]["ForAnyValue:StringNotLike"] = {"events:source": "wildcert.team.*"}
    team_deny(sam)["Condition"].pop("ForAnyValue:StringNotEquals")


def bus_deny_without_tag(sam):
    team_deny(sam)["Condition"]["ForAnyValue:StringNotEquals"] = {
        "events:source": ["wildcert.team.alpha", "wildcert.team.beta"]}


def bus_deny_single_valued(sam):
    condition = team_deny(sam)["Condition"]
    condition["StringNotEquals"] = condition.pop("ForAnyValue:StringNotEquals")


def bus_deny_for_all_values(sam):
    condition = team_deny(sam)["Condition"]
    condition["ForAllValues:StringNotEquals"] = condition.pop("ForAnyValue:StringNotEquals")


def bus_untagged_deny_single_valued(sam):
    condition = _bus_statement(sam, "RequestBusDenyTeamSourcesToUntagged")["Condition"]
    condition["StringLike"] = condition.pop("ForAnyValue:StringLike")


def bus_outcome_deny_single_valued(sam):
    condition = _bus_statement(sam, "RequestBusDenyOutcomeSourceToOthers")["Condition"]
    condition["StringEquals"] = condition.pop("ForAnyValue:StringEquals")


def bus_deny_dropped(sam):
    sam["Resources"].pop("RequestBusDenyOtherTeamsSources")


def bus_untagged_deny_dropped(sam):
    sam["Resources"].pop("RequestBusDenyTeamSourcesToUntagged")


def bus_outcome_deny_dropped(sam):
    sam["Resources"].pop("RequestBusDenyOutcomeSourceToOthers")


def bus_tag_charset_deny_dropped(sam):
    sam["Resources"].pop("RequestBusDenyTeamTagsThatAreNotTeamIds")


def bus_outcome_deny_hits_issuer(sam):
    _bus_statement(sam, "RequestBusDenyOutcomeSourceToOthers")["Condition"].pop("ArnNotEquals")


def rule_any_source(sam):
    _resource(sam, "IssueRequestRule")["EventPattern"].pop("source")


def rule_hears_outcomes(sam):
    _resource(sam, "IssueRequestRule")["EventPattern"]["source"] = [{"prefix": "wildcert"}]


def team_doc(sam):
    return _resource(sam, "TeamPolicy")["PolicyDocument"]


def team_policy_reads_everything(sam):
    _statement(team_doc(sam), "ReadOwnCertificates")["Resource"] = _sub("${CertBucket.Arn}/*")


def team_policy_without_tag(sam):
    _statement(team_doc(sam), "ReadOwnCertificates")["Resource"] = _sub("${CertBucket.Arn}/*.*")


def team_prefix_deny(sam):
    return _statement(bucket_doc(sam), "DenyTeamPrincipalsOtherPrefixes")


def team_deny_any_prefix(sam):
    team_prefix_deny(sam)["NotResource"] = _sub("${CertBucket.Arn}/*")


def team_deny_without_tag(sam):
    team_prefix_deny(sam)["NotResource"] = _sub("${CertBucket.Arn}/*.*")


def team_deny_dropped(sam):
    _drop_statement(bucket_doc(sam), "DenyTeamPrincipalsOtherPrefixes")


def team_write_deny_dropped(sam):
    _drop_statement(bucket_doc(sam), "DenyTeamPrincipalsAnythingButGetObject")


def bucket_admits_team_accounts(sam):
    """What the bucket held before teams had roles of their own here: their accounts' tags."""
    bucket_doc(sam)["Statement"].append({
        "Sid": "AllowTeamAccountsOwnPrefix", "Effect": "Allow",
        "Principal": {"AWS": {"Fn::Split": [",", {"Ref": "TeamAccountIds"}]}},
        "Action": "s3:GetObject",
        "Resource": _sub("${CertBucket.Arn}/${!aws:PrincipalTag/wildcert-team}.*")})


def key_admits_team_accounts(sam):
    _statement(key_doc(sam), "TeamReadersDecryptThroughS3")["Principal"]["AWS"] = [
        {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"},
        "arn:aws:iam::444455556666:root"]


def team_role_trust(sam):
    return _resource(sam, "TeamAlphaRole")["AssumeRolePolicyDocument"]["Statement"][0]


def team_role_trusts_anyone(sam):
    team_role_trust(sam)["Principal"] = {"AWS": "*"}


def team_role_trust_unconditioned(sam):
    team_role_trust(sam).pop("Condition")


def team_role_session_tags(sam):
    team_role_trust(sam)["Action"] = ["sts:AssumeRole", "sts:TagSession"]


def reader_trusts_the_account(sam):
    trust = _resource(sam, "ReaderRole")["AssumeRolePolicyDocument"]["Statement"][0]
    trust["Principal"] = {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}
    trust.pop("Condition")


def key_team_readers_any_service(sam):
    _statement(key_doc(sam), "TeamReadersDecryptThroughS3")["Condition"]["StringEquals"].pop(
        "kms:ViaService")


def key_team_readers_untagged(sam):
    _statement(key_doc(sam), "TeamReadersDecryptThroughS3")["Condition"].pop("Null")


def renewal_queue_policy(sam):
    return _resource(sam, "RenewalQueuePolicy")["PolicyDocument"]


def renewal_senders_deny_dropped(sam):
    _drop_statement(renewal_queue_policy(sam), "DenySendingToOthersThanRenewalJobs")


def renewal_senders_include_reader(sam):
    _statement(renewal_queue_policy(sam), "DenySendingToOthersThanRenewalJobs")["Condition"][
        "ArnNotEquals"]["aws:PrincipalArn"].append({"Fn::GetAtt": ["ReaderRole", "Arn"]})


def renewal_senders_without_issuer(sam):
    _statement(renewal_queue_policy(sam), "DenySendingToOthersThanRenewalJobs")["Condition"][
        "ArnNotEquals"]["aws:PrincipalArn"].remove({"Fn::GetAtt": ["IssuerRole", "Arn"]})


def renewal_senders_like_anyone(sam):
    _statement(renewal_queue_policy(sam), "DenySendingToOthersThanRenewalJobs")["Condition"] = {
        "ArnNotLike": {"aws:PrincipalArn": _sub(
            "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*")}}


def issuer_invoked_by_any_rule(sam):
    _resource(sam, "IssueRequestRulePermission").pop("SourceArn")


def issuer_invoked_by_account(sam):
    sam["Resources"]["AnyoneInvokes"] = {
        "Type": "AWS::Lambda::Permission",
        "Properties": {"Action": "lambda:InvokeFunction",
                       "FunctionName": {"Ref": "IssuerFunction"},
                       "Principal": {"Ref": "AWS::AccountId"}}}


def team_tag_charset_deny_dropped(sam):
    _drop_statement(bucket_doc(sam), "DenyTeamTagsThatAreNotTeamIds")


def unchanged(sam):
    pass


def alarm_tells_no_one(sam: dict[str, Any]) -> None:
    del sam["Resources"]["TeamsPolicyBrokenAlarm"]["Properties"]["AlarmActions"]


MUTATIONS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "route53 record names widened": (widen_record_names, "the issuer may write www.*"),
    "route53 UPSERT allowed": (allow_upsert, "the issuer may UPSERT"),
    "route53 type/action condition dropped": (
        drop_record_type_condition,
        "the issuer may write A records",
    ),
    "route53 any zone": (any_zone, "the issuer may write a zone not in HostedZoneIds"),
    "route53:* added": (route53_star, "wildcard action"),
    "issuer gets s3:*": (issuer_s3_star, "wildcard action 's3:*'"),
    "issuer gets AdministratorAccess": (issuer_admin_managed_policy, "AdministratorAccess"),
    "new function with SAM-made role": (new_function_with_sam_role, "wildcard action"),
    "key policy root kms:*": (key_root_kms_star, "wildcard action 'kms:*'"),
    "key policy root may decrypt": (key_root_decrypt,
        "an untagged role with kms:* may decrypt via s3"),
    "key policy root may create grants": (key_root_create_grant,
        "platform-admin may kms:CreateGrant"),
    "key policy reader via any service": (key_reader_any_service,
        "<ReaderRole.Arn> may kms:Decrypt via none"),
    "key policy reader encrypts": (key_reader_encrypts, "<ReaderRole.Arn> may kms:Encrypt via s3"),
    "key policy extra principal": (key_someone_else, "role/ops may kms:Decrypt"),
    "key rotation off": (key_no_rotation, "rotation is off"),
    "TLS deny dropped": (drop_tls_deny, "without TLS (aws:SecureTransport false)"),
    "unencrypted-PUT deny weakened": (weaken_unencrypted_deny,
        "a PutObject without SSE-KMS (the key id alone)"),
    "wrong-key deny dropped": (drop_wrong_key_deny, "another KMS key"),
    "principal deny widened": (extra_bucket_principal,
        "a role with s3:* of its own may s3:GetObject"),
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
    "issuer reads every secret": (secret_any, "issuer role: may read secret"),
    "KMS_KEY_ID is an alias": (key_alias_in_env, "KMS_KEY_ID"),
    "x86_64": (x86, "arm64"),
    # the renewal queue and the issuer's invokers
    "renewal senders Deny dropped": (renewal_senders_deny_dropped, "may send renewals"),
    "reader may send renewals": (renewal_senders_include_reader,
                                 "<ReaderRole.Arn> (with sqs:* of its own) may send"),
    "issuer may not send renewals anew": (renewal_senders_without_issuer,
                                          "<IssuerRole.Arn> (with sqs:* of its own) cannot"),
    "renewal senders any role": (renewal_senders_like_anyone, "may send renewals"),
    "issuer invoked by any rule": (issuer_invoked_by_any_rule, "its resource policy admits"),
    "issuer invoked by the account": (issuer_invoked_by_account,
        "AnyoneInvokes: Lambda permission without a single principal"),
    # teams: outcome events and the teams' webhooks
    "issuer puts any source": (issuer_events_any_source, "issuer role: may put events with"),
    "issuer puts team sources": (issuer_events_team_source, "sources ['wildcert.team.alpha']"),
    "issuer source single-valued": (issuer_events_single_valued,
                                    "issuer role: cannot put events with sources ['wildcert']"),
    "issuer source without Null": (issuer_events_without_null_check,
                                   "issuer role: may put events with sources []"),
    "issuer puts on any bus": (issuer_events_any_bus,
        "may put events on a bus other than the request bus"),
    "issuer without EVENT_BUS_NAME": (issuer_without_bus, "EVENT_BUS_NAME"),
    "issuer without staging URL": (issuer_without_staging, "ACME_STAGING_DIRECTORY_URL"),
    "issuer reads every secret of the account": (issuer_reads_any_team_secret,
                                                 "issuer role: may read secret"),
    # the sweep and the watch
    "sweep may change DNS": (sweep_route53, "only the issuer may touch Route 53"),
    "watch may read Route 53": (watch_route53_read, "only the issuer may touch Route 53"),
    "sweep reads wildcert state": (sweep_reads_state, "sweep role: may s3:GetObject _wildcert/"),
    "watch's own deny dropped": (watch_own_deny_dropped, "watch role: no explicit Deny"),
    "bucket deny for the jobs dropped": (
        jobs_bucket_deny_dropped,
        "no Deny of _wildcert/ for the sweep role",
    ),
    "sweep writes every object": (
        sweep_writes_everything,
        "sweep role: may s3:PutObject example-com/privkey.pem",
    ),
    "watch may delete": (watch_deletes, "watch role: may s3:DeleteObject example-com/cert.json"),
    "nested cert.json writable": (
        nested_cert_json_writable,
        "sweep role: may s3:PutObject example-com/archive/0abc/cert.json",
    ),
    "sweep gets an uncalled action": (sweep_receives_renewals,
        "sweep role: may sqs:ReceiveMessage"),
    "watch sends to any queue": (watch_sends_anywhere,
        "watch role: may sqs:SendMessage <RenewalDeadLetterQueue.Arn>"),
    "issuer consumes any queue": (issuer_consumes_any_queue,
        "issuer role: may sqs:ReceiveMessage <DeadLetterQueue.Arn>"),
    "issuer consumes the DLQ too": (issuer_consumes_dlq_too,
        "issuer role: may sqs:ReceiveMessage <DeadLetterQueue.Arn>"),
    "issuer cannot defer": (issuer_cannot_defer, "issuer role: cannot sqs:ChangeMessageVisibility"),
    "ESM batch of ten": (esm_batch_of_ten, "BatchSize 10, expected 1"),
    "ESM without ReportBatchItemFailures": (esm_whole_batch_fails, "ReportBatchItemFailures"),
    "ESM without maximum concurrency": (esm_unbounded, "MaximumConcurrency None"),
    "renewal queue feeds the watch too": (esm_for_the_watch_too, "2 event source mappings"),
    "sweep retried": (sweep_retried, "RenewalSweepEventInvokeConfig: MaximumRetryAttempts=2"),
    "watch retried by default": (
        watch_retries_by_default,
        "WatchEventInvokeConfig: MaximumRetryAttempts=None",
    ),
    "sweep failures go nowhere": (sweep_failures_nowhere, "OnFailure goes to None"),
    "sweep timeout 900": (sweep_long_timeout, "RenewalSweepFunction: timeout 900"),
    "visibility timeout = issuer timeout": (short_visibility, "VisibilityTimeout 900 s"),
    "redrive removed": (no_redrive, "no RedrivePolicy"),
    "redrive after one receive": (redrive_after_one, "maxReceiveCount 1"),
    "renewal queue TLS deny dropped": (renewal_queue_plain_http,
        "RenewalQueue: does not deny sqs:ReceiveMessage over plain"),
    "renewal DLQ policy removed": (renewal_dlq_plain_http, "RenewalDeadLetterQueue: does not deny"),
    "renewal queue unencrypted": (renewal_queue_unencrypted, "RenewalQueue: not encrypted"),
    "renewal DLQ alarm removed": (no_renewal_dlq_alarm, "no alarm on messages in the renewal DLQ"),
    "sweep errors alarm removed": (no_sweep_errors_alarm, "no alarm on sweep errors"),
    "key policy jobs via any service": (key_jobs_any_service,
        "<RenewalSweepRole.Arn> may kms:Decrypt via none"),
    "key policy jobs encrypt": (key_jobs_encrypt, "<RenewalSweepRole.Arn> may kms:Encrypt via s3"),
    "key policy jobs decrypt any secret": (key_jobs_any_secret, "may kms:Decrypt for secret"),
    "key policy jobs without data keys": (key_jobs_no_data_keys,
        "cannot kms:GenerateDataKey via s3"),
    "bucket allow-list forgets the watch": (
        bucket_forgets_watch,
        "watch role: cannot s3:GetObject example-com/cert.json",
    ),
    "sweep without RENEWAL_QUEUE_URL": (no_queue_url, "RENEWAL_QUEUE_URL=None"),
    "watch without EXPIRY_WARNING_DAYS": (no_expiry_warning, "EXPIRY_WARNING_DAYS=None"),
    "sweep schedule with input": (sweep_rule_with_input, "needs no input"),
    "watch schedule without permission": (watch_rule_without_permission, "no Lambda permission"),
    "DLQ refuses the watch rule": (dlq_refuses_watch_rule, "may not deliver its dead letters"),
    # archived private keys
    "archived-key rule removed": (no_archived_key_rule, "no lifecycle rule expires archived"),
    "archived-key rule without its tag": (archived_key_rule_untagged, "expires current objects"),
    "archived-key rule narrowed by prefix": (
        archived_key_rule_by_prefix_too,
        "expires current objects",
    ),
    "archived-key rule disabled": (archived_key_rule_disabled, "no lifecycle rule expires"),
    "archived-key versions kept": (archived_key_versions_kept, "old versions of deleted archived"),
    "archived-key rule on a date": (archived_key_expiry_date, "expires current objects"),
    "issuer tags every object": (
        issuer_tags_everything,
        "issuer role: may s3:PutObjectTagging example-com/privkey.pem",
    ),
    "issuer cannot tag archived keys": (issuer_cannot_tag, "issuer role: cannot s3:PutObjectTag"),
    "issuer tags old versions": (issuer_tags_versions, "issuer role: may s3:PutObjectVersionTag"),
    "issuer without the retention": (issuer_without_retention, "ARCHIVED_KEY_RETENTION_DAYS=None"),
    "watch deletes the whole archive": (
        watch_deletes_whole_archive,
        "watch role: may s3:DeleteObject example-com/archive/0abc/cert.pem",
    ),
    "watch reads archived keys": (
        watch_reads_archived_keys,
        "watch role: may s3:GetObject example-com/archive/0abc/privkey.pem",
    ),
    "watch cannot delete expired keys": (
        watch_cannot_delete_archived_keys,
        "watch role: cannot s3:DeleteObject example-com/archive/0abc/privkey.pem",
    ),
    "watch destroys versions": (
        watch_destroys_versions,
        "watch role: may s3:DeleteObjectVersion example-com/archive/0abc/privkey.pem",
    ),
    "sweep deletes archived keys": (
        sweep_deletes_archived_keys,
        "sweep role: may s3:DeleteObject example-com/archive/0abc/privkey.pem",
    ),
    "reader old-version deny dropped": (
        reader_old_versions_deny_dropped,
        "no Deny of old private-key versions for the reader",
    ),
    "reader reads old key versions": (
        reader_reads_old_versions,
        "reader role: may s3:GetObjectVersion example-com/archive/0abc/privkey.pem",
    ),
    "reader denied the live archived key": (
        reader_denied_archived_keys,
        "reader role: cannot GetObject example-com/archive/0abc/privkey.pem",
    ),
    "an alarm tells no one": (alarm_tells_no_one, "alarm TeamsPolicyBroken: actions None"),
}

# Mutations that only show under particular parameters.
TEAMS = {"TeamAccountIds": TEAM_ACCOUNTS}
PARAMETER_MUTATIONS: dict[str, tuple[Callable[[dict[str, Any]], None], dict[str, Any], str]] = {
    # the ACME account key in KMS: only the issuer signs; only account objects lose versions
    "account key: root may sign": (account_key_root_signs, {"AcmeAccountKeyInKms": "true"},
                                   "platform-admin with kms:* may kms:Sign"),
    "account key: raw messages only": (account_key_signs_raw_only,
                                       {"AcmeAccountKeyInKms": "true"},
                                       "the issuer cannot sign a DIGEST message"),
    "issuer deletes any version": (issuer_deletes_any_version, {"AcmeAccountKeyInKms": "true"},
                                   "may delete versions of name/privkey.pem"),
    # the teams' readers: a role tagged alpha reads beta's
    "TeamPolicy reads every key": (team_policy_reads_everything, {},
        "TeamPolicy alone lets a role tagged alpha read"),
    "TeamPolicy without the tag": (team_policy_without_tag, {},
        "TeamPolicy alone lets a role tagged alpha read"),
    "team Deny any prefix": (team_deny_any_prefix, {}, "may read beta.web/privkey.pem"),
    "team Deny without the tag": (team_deny_without_tag, {}, "may read beta.web/privkey.pem"),
    "team Deny dropped": (team_deny_dropped, {}, "may read beta.web/privkey.pem"),
    "team write Deny dropped": (team_write_deny_dropped, {}, "may s3:PutObject its own"),
    "team tag charset Deny dropped": (team_tag_charset_deny_dropped, TEAMS,
                                      "tagged '_wildcert/acme-accounts/0123' may read"),
    "bucket admits team accounts": (bucket_admits_team_accounts, TEAMS,
                                    "a role of account 777788889999 tagged 'alpha' may "
                                    "s3:GetObject"),
    "key admits a team account": (key_admits_team_accounts, TEAMS,
                                  "a role of account 444455556666 tagged 'alpha' may decrypt"),
    "team role trusts anyone": (team_role_trusts_anyone, TEAMS,
                                "TeamAlphaRole: an administrator of account 777788889999 may"),
    "team role trust without TeamAccountIds": (
        team_role_trust_unconditioned, {"TeamAccountIds": "777788889999"},
        "TeamAlphaRole: an administrator of account 444455556666 may assume it"),
    "team role takes session tags": (team_role_session_tags, TEAMS,
                                     "TeamAlphaRole: session tags may be passed to it"),
    "reader trusts the whole account": (reader_trusts_the_account, {},
                                        "ReaderRole: another role of account"),
    "key team readers via any service": (key_team_readers_any_service, {},
                                         "TeamReadersDecryptThroughS3"),
    "key team readers untagged": (key_team_readers_untagged, TEAMS,
                                  "an untagged role with kms:* may decrypt via s3"),
    # the request bus: a role tagged alpha sends as beta
    "bus Allow without condition": (bus_allow_any_source, TEAMS, "its Allow alone lets"),
    "bus Allow StringLike *": (bus_allow_like_star, TEAMS, "its Allow alone lets"),
    "bus Allow both teams' sources": (bus_allow_both_sources, TEAMS, "its Allow alone lets"),
    "bus Allow by tag": (bus_allow_by_tag, TEAMS,
                         "444455556666:role/ci tagged None cannot put sources"),
    "bus Allow single-valued": (bus_allow_single_valued, TEAMS,
                                "tagged None cannot put sources ['wildcert.team.alpha']"),
    "bus Allow to anyone": (bus_allow_anyone, TEAMS,
                            "777788889999:role/ci tagged 'beta' may put sources "
                            "['wildcert.team.alpha']"),
    "bus Allow without TeamAccountIds": (
        bus_allow_without_team_account_ids, {"TeamAccountIds": "777788889999"},
        "444455556666:role/ci tagged None may put sources ['wildcert.team.alpha']"),
    "bus Deny without source": (bus_deny_without_source, {}, "cannot put sources"),
    "bus Deny StringNotLike *": (bus_deny_like_star, {}, "tagged 'alpha' may put sources "
                                                        "['wildcert.team.beta']"),
    "bus Deny without the tag": (bus_deny_without_tag, {}, "tagged 'beta' may put sources "
                                                           "['wildcert.team.alpha']"),
    "bus Deny single-valued": (bus_deny_single_valued, {}, "tagged 'beta' may put sources "
                                                           "['wildcert.team.alpha']"),
    "bus Deny ForAllValues": (bus_deny_for_all_values, {}, "tagged 'alpha' may put sources "
                                                           "['wildcert.team.alpha', "
                                                           "'wildcert.team.beta']"),
    "bus Deny dropped": (bus_deny_dropped, TEAMS, "tagged 'alpha' may put sources "
                                                 "['wildcert.team.beta']"),
    "bus untagged Deny dropped": (bus_untagged_deny_dropped, {}, "tagged None may put sources "
                                                                 "['wildcert.team.alpha']"),
    "bus untagged Deny single-valued": (bus_untagged_deny_single_valued, {},
                                        "tagged None may put sources ['wildcert.team.alpha']"),
    "bus outcome Deny dropped": (bus_outcome_deny_dropped, {}, "may put sources ['wildcert']"),
    "bus tag charset Deny dropped": (bus_tag_charset_deny_dropped, {},
                                     "tagged 'operators' may put sources"),
    "bus outcome Deny single-valued": (bus_outcome_deny_single_valued, {},
                                       "may put sources ['wildcert']"),
    "bus outcome Deny hits the issuer": (bus_outcome_deny_hits_issuer, {},
                                         "the issuer cannot put its outcome events"),
    "request rule hears any source": (rule_any_source, {}, "matches source 'wildcert'"),
    "request rule hears outcomes": (rule_hears_outcomes, {}, "matches source 'wildcert'"),
    "WATCH_INTERVAL_HOURS without a watch": (
        watch_interval_always,
        {"WatchSchedule": ""},
        "WATCH_INTERVAL_HOURS='12', expected ''",
    ),
    "sweep rule without its condition": (
        sweep_rule_unconditional,
        {"SweepSchedule": ""},
        "run the sweep although SweepSchedule is empty",
    ),
    "queue concurrency above reserved": (
        unchanged,
        {"IssuerReservedConcurrency": "2", "RenewalConcurrency": "3"},
        "exceeds the issuer's reserved concurrency",
    ),
    "archived-key retention fixed in the rule": (
        archived_key_retention_fixed,
        {"ArchivedKeyRetentionDays": "120"},
        "after 100 days, not ArchivedKeyRetentionDays (120)",
    ),
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


@pytest.mark.parametrize("name", PARAMETER_MUTATIONS)
def test_loosened_template_is_caught_under_parameters(sam: dict[str, Any], name: str) -> None:
    mutate, params, expected = PARAMETER_MUTATIONS[name]
    loosened = copy.deepcopy(sam)
    mutate(loosened)
    found = violations(resolved_stack(params, loosened), params)
    assert any(expected in line for line in found), (
        f"mutation {name!r} went unnoticed; violations were: {found}"
    )


@pytest.mark.parametrize(
    ("role", "policy", "sid"),
    [
        (role, policy, sid)
        for role in ("RenewalSweep", "Watch")
        for policy, sid in (
            (f"{role}Policy", "DenyWildcertStateAndNestedKeys"),
            ("CertBucketPolicy", "DenyRenewalJobsWildcertState"),
        )
    ],
)
def test_either_renewal_job_deny_alone_keeps_state_private(
    sam: dict[str, Any], role: str, policy: str, sid: str
) -> None:
    """As for the reader: the job's own Deny and the bucket's Deny each suffice alone."""
    loosened = copy.deepcopy(sam)
    _statement(_resource(loosened, f"{role}Policy")["PolicyDocument"], "ReadAndUpdateCertJson")[
        "Resource"
    ] = _sub("${CertBucket.Arn}/*")
    _drop_statement(_resource(loosened, policy)["PolicyDocument"], sid)
    found = violations(resolved_stack({}, loosened), {})
    leaks = [line for line in found if ": may s3:" in line and "_wildcert/" in line]
    assert not leaks, found


def test_archived_key_retention_cannot_undercut_lets_encrypt(sam: dict[str, Any]) -> None:
    """S3 counts from an object's creation: a retention under the longest lifetime in use
    would delete the archived key of a certificate still in use."""
    assert retention_parameter_problems(sam) == []
    loosened = copy.deepcopy(sam)
    loosened["Parameters"]["ArchivedKeyRetentionDays"]["MinValue"] = 30
    assert retention_parameter_problems(loosened) == [
        "ArchivedKeyRetentionDays may be 30 days, below Let's Encrypt's longest lifetime "
        "(90 days)"
    ]
    del loosened["Parameters"]["ArchivedKeyRetentionDays"]
    assert retention_parameter_problems(loosened) == ["no ArchivedKeyRetentionDays parameter"]


def test_archived_keys_expire_with_the_retention_given(sam: dict[str, Any]) -> None:
    resources = resolved_stack({"ArchivedKeyRetentionDays": "120"}, sam)
    rules = resources["CertBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    archived = [r for r in rules if r.get("TagFilters")]
    assert archived == [{
        "Id": "expire-archived-private-keys", "Status": "Enabled",
        "TagFilters": [{"Key": "wildcert-key", "Value": "archived"}],
        "ExpirationInDays": "120", "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
    }]
    env = resources["IssuerFunction"]["Properties"]["Environment"]["Variables"]
    assert env["ARCHIVED_KEY_RETENTION_DAYS"] == "120"


# ----------------------------------------------------------------------------- partitions
OTHER_PARTITIONS = ("aws-cn", "aws-us-gov")


def in_partition(params: dict[str, Any], partition: str) -> dict[str, Any]:
    """The parameter set (over BASE_PARAMS) with the ARNs it passes in `partition`."""

    def moved(value: Any) -> Any:
        if isinstance(value, list):
            return [moved(v) for v in value]
        return value.replace("arn:aws:", f"arn:{partition}:") if isinstance(value, str) else value

    return {name: moved(value) for name, value in {**BASE_PARAMS, **params}.items()}


@pytest.mark.parametrize("partition", OTHER_PARTITIONS)
@pytest.mark.parametrize("name", PARAMETER_SETS)
def test_no_arn_hard_codes_the_partition(sam: dict[str, Any], name: str, partition: str) -> None:
    params = in_partition(PARAMETER_SETS[name], partition)
    assert foreign_partitions(resolved_stack(params, sam, partition=partition), partition) == []


def zones_in_aws_partition(sam):
    for sid in ("ReadAllowedZones", "WriteOnlyAcmeChallengeTxtRecords"):
        _statement(issuer_doc(sam), sid)["Resource"] = {"Fn::Split": [",", {"Fn::Join": ["", [
            "arn:aws:route53:::hostedzone/",
            {"Fn::Join": [",arn:aws:route53:::hostedzone/", {"Ref": "HostedZoneIds"}]},
        ]]}]}


def change_in_aws_partition(sam):
    _statement(issuer_doc(sam), "WaitForChanges")["Resource"] = "arn:aws:route53:::change/*"


def root_partition_spelled_out(sam):
    """The same mistake through a Join, which no search for "arn:aws:" in the template finds."""
    _statement(key_doc(sam), "AccountAdministersKey")["Principal"]["AWS"] = {"Fn::Join": ["", [
        "arn:", "aws", ":iam::", {"Ref": "AWS::AccountId"}, ":root"]]}


PARTITION_MUTATIONS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "zone ARNs in arn:aws:": (
        zones_in_aws_partition, "'arn:aws:route53:::hostedzone/Z0111AAAAAAAAA' names partition"),
    "change ARN in arn:aws:": (change_in_aws_partition, "'arn:aws:route53:::change/*' names"),
    "root principal joined from 'aws'": (
        root_partition_spelled_out, "CertKey.KeyPolicy.Statement[0].Principal.AWS: 'arn:aws:iam"),
}


@pytest.mark.parametrize("name", PARTITION_MUTATIONS)
def test_hard_coded_partition_is_caught(sam: dict[str, Any], name: str) -> None:
    mutate, expected = PARTITION_MUTATIONS[name]
    loosened = copy.deepcopy(sam)
    mutate(loosened)
    params = in_partition({}, "aws-cn")
    found = foreign_partitions(resolved_stack(params, loosened, partition="aws-cn"), "aws-cn")
    assert any(expected in line for line in found), (
        f"mutation {name!r} went unnoticed; found: {found}"
    )
    # In the aws partition itself the mistake is invisible: why the check resolves elsewhere.
    assert foreign_partitions(resolved_stack({}, loosened), "aws") == []


@pytest.mark.parametrize(
    ("value", "accepted"),
    [("", True), ("444455556666", True), (TEAM_ACCOUNTS, True), ("*", False),
     ("44445555666", False), ("444455556666,", False), ("444455556666,*", False),
     ("arn:aws:iam::444455556666:root", False)],
)
def test_team_account_ids_are_account_ids_only(
    sam: dict[str, Any], value: str, accepted: bool
) -> None:
    pattern = sam["Parameters"]["TeamAccountIds"]["AllowedPattern"]
    assert (re.fullmatch(pattern, value) is not None) is accepted
