"""Security invariants of the deployed stack, checked on the resolved CloudFormation.

`violations(resources, params)` returns one readable line per broken invariant (empty when the
template is sound). The checks are deliberately about *effect*, not spelling: a policy evaluator
answers "may the reader GetObject _wildcert/x.pem?" by matching actions, resources and the
conditions it understands, and treats a condition it does not understand as satisfied in an
Allow and unsatisfied in a Deny, so an unfamiliar construct can only make it stricter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from .iam_sim import Principal, Stack, account_of, evaluate, permission_statement
from .infra_template import ACCOUNT, BASE_PARAMS, PARTITION, REGION

ROOT = f"arn:{PARTITION}:iam::{ACCOUNT}:root"
ISSUER_ROLE = "<IssuerRole.Arn>"
READER_ROLE = "<ReaderRole.Arn>"
SWEEP_ROLE = "<RenewalSweepRole.Arn>"
WATCH_ROLE = "<WatchRole.Arn>"
JOB_ROLES = (SWEEP_ROLE, WATCH_ROLE)
BUCKET = "<CertBucket.Arn>"
KEY = "<CertKey.Arn>"
DLQ = "<DeadLetterQueue.Arn>"
RENEWAL_QUEUE = "<RenewalQueue.Arn>"
RENEWAL_DLQ = "<RenewalDeadLetterQueue.Arn>"
SECRET = "<SlackWebhookSecret>"
STACK_NAME = "wildcert-test"
SECRETS_ARN = f"arn:{PARTITION}:secretsmanager:{REGION}:{ACCOUNT}:secret:{STACK_NAME}"
TEAM_SECRETS = f"{SECRETS_ARN}/slack/*"  # the teams' webhooks: <stack>/slack/<team>
REQUEST_BUS = "<RequestBus.Arn>"
GOOD_SSE_HEADERS = {
    "s3:x-amz-server-side-encryption": "aws:kms",
    "s3:x-amz-server-side-encryption-aws-kms-key-id": KEY,
}
OTHER_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/00000000-0000-0000-0000-000000000000"
S3_VIA = f"s3.{REGION}.amazonaws.com"
SM_VIA = f"secretsmanager.{REGION}.amazonaws.com"
EXPECTED_DIRECTORIES = {
    "production": "https://acme-v02.api.letsencrypt.org/directory",
    "staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
}

# KMS actions that use key material or hand out its use.
KMS_CRYPTO = (
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:GenerateDataKeyPair",
    "kms:GenerateDataKeyPairWithoutPlaintext",
    "kms:CreateGrant",
)

POLICY_TYPES = {
    "AWS::IAM::Policy": ("PolicyDocument",),
    "AWS::IAM::ManagedPolicy": ("PolicyDocument",),
    "AWS::IAM::RolePolicy": ("PolicyDocument",),
    "AWS::IAM::Role": ("AssumeRolePolicyDocument",),
    "AWS::KMS::Key": ("KeyPolicy",),
    "AWS::S3::BucketPolicy": ("PolicyDocument",),
    "AWS::SQS::QueuePolicy": ("PolicyDocument",),
    "AWS::SNS::TopicPolicy": ("PolicyDocument",),
    "AWS::SecretsManager::ResourcePolicy": ("ResourcePolicy",),
    "AWS::Events::EventBusPolicy": ("Statement",),
}




@dataclass(frozen=True)
class FunctionSpec:
    """One of wildcert's functions and what the template must give it."""

    label: str
    function: str  # logical ids
    role: str
    log_group: str
    invoke_config: str
    timeout: tuple[int, int]  # allowed range, seconds
    retries: int  # asynchronous retries (EventInvokeConfig.MaximumRetryAttempts)


ISSUER = FunctionSpec(
    "issuer", "IssuerFunction", "IssuerRole", "IssuerLogGroup", "IssuerEventInvokeConfig",
    (840, 900), 2,
)
# A retried sweep or watch would queue every renewal it had already queued: no retries.
SWEEP = FunctionSpec(
    "sweep", "RenewalSweepFunction", "RenewalSweepRole", "RenewalSweepLogGroup",
    "RenewalSweepEventInvokeConfig", (300, 300), 0,
)
WATCH = FunctionSpec(
    "watch", "WatchFunction", "WatchRole", "WatchLogGroup", "WatchEventInvokeConfig",
    (300, 300), 0,
)
FUNCTIONS = (ISSUER, SWEEP, WATCH)
RENEWAL_JOBS = (SWEEP, WATCH)
SCHEDULED = ((SWEEP, "SweepSchedule"), (WATCH, "WatchSchedule"))
# What the issuer's code calls on SQS, and on which queue.
ISSUER_SQS = {
    "sqs:SendMessage": {DLQ, RENEWAL_QUEUE},  # OnFailure; a waiting renewal sent anew
    "sqs:ReceiveMessage": {RENEWAL_QUEUE},  # the event source mapping
    "sqs:DeleteMessage": {RENEWAL_QUEUE},
    "sqs:GetQueueAttributes": {RENEWAL_QUEUE},
    "sqs:ChangeMessageVisibility": {RENEWAL_QUEUE},  # adapters/sqs.py come_back
}
WATCH_INTERVAL_HOURS = "12"
# Archived private keys: the tag the issuer writes and the lifecycle rule selects on.
ARCHIVED_KEY_TAG_FILTER = [{"Key": "wildcert-key", "Value": "archived"}]
LONGEST_LETS_ENCRYPT_DAYS = 90  # the classic profile; tlsserver is 45, shortlived about 6
RETENTION_DEFAULT_DAYS = 100
OLD_KEY_VERSION_DAYS = 7  # most a deleted archived key's version may outlive it
ARCHIVED_KEY = "example-com/archive/0abc/privkey.pem"
ARCHIVED_OTHERS = tuple(f"example-com/archive/0abc/{f}" for f in
                        ("cert.pem", "chain.pem", "fullchain.pem"))
RENEWAL_QUEUE_MIN_RECEIVES = 5  # "busy" and rate-limit deferrals count as receives


# ------------------------------------------------------------------------- policy plumbing
def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


@cache
def _glob(pattern: str) -> re.Pattern[str]:
    """IAM wildcards: * any run of characters (including /), ? exactly one."""
    return re.compile(
        "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern),
        re.IGNORECASE | re.DOTALL,
    )


def glob_match(pattern: str, text: str) -> bool:
    return _glob(pattern).fullmatch(text) is not None


def principals(statement: dict[str, Any]) -> list[str]:
    principal = statement.get("Principal")
    if principal is None:
        return []
    if principal == "*":
        return ["*"]
    out: list[str] = []
    for kind, values in principal.items():
        for value in as_list(values):
            out.append(f"service:{value}" if kind == "Service" else str(value))
    return out


@dataclass
class Statement:
    owner: str  # logical id of the resource holding the policy
    raw: dict[str, Any]

    @property
    def effect(self) -> str:
        return self.raw.get("Effect", "")

    @property
    def actions(self) -> list[str]:
        return [str(a) for a in as_list(self.raw.get("Action"))]

    @property
    def resources(self) -> list[str]:
        return [str(r) for r in as_list(self.raw.get("Resource"))]

    @property
    def condition(self) -> dict[str, Any]:
        return self.raw.get("Condition") or {}

    @property
    def principals(self) -> list[str]:
        return principals(self.raw)


def statements(resources: dict[str, dict[str, Any]]) -> Iterator[Statement]:
    for name, resource in resources.items():
        props = resource["Properties"]
        for key in POLICY_TYPES.get(resource["Type"], ()):
            document = props.get(key)
            if document is None:
                continue
            if key == "Statement":  # EventBusPolicy holds a bare statement
                yield Statement(name, document)
                continue
            for raw in as_list(document.get("Statement")):
                yield Statement(name, raw)
        if resource["Type"] == "AWS::IAM::Role":
            for inline in as_list(props.get("Policies")):
                for raw in as_list(inline.get("PolicyDocument", {}).get("Statement")):
                    yield Statement(name, raw)


def identity_statements(resources: dict[str, dict[str, Any]], role: str) -> list[Statement]:
    """Statements of the identity policies attached to role `role` (logical id)."""
    out: list[Statement] = []
    ref = f"<{role}>"
    for name, resource in resources.items():
        props = resource["Properties"]
        kind = resource["Type"]
        document = None
        if (
            kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
            and ref in as_list(props.get("Roles"))
        ) or (kind == "AWS::IAM::RolePolicy" and props.get("RoleName") == ref):
            document = props["PolicyDocument"]
        if document is not None:
            out.extend(Statement(name, raw) for raw in as_list(document.get("Statement")))
    role_props = resources.get(role, {}).get("Properties", {})
    for inline in as_list(role_props.get("Policies")):
        out.extend(
            Statement(role, raw)
            for raw in as_list(inline.get("PolicyDocument", {}).get("Statement"))
        )
    for arn in as_list(role_props.get("ManagedPolicyArns")):
        match = re.fullmatch(r"<(\w+)>", str(arn))
        if match and match.group(1) in resources:
            document = resources[match.group(1)]["Properties"]["PolicyDocument"]
            out.extend(Statement(match.group(1), raw) for raw in as_list(document.get("Statement")))
    return out


@dataclass
class Request:
    principal: str  # the role ARN token, e.g. READER_ROLE
    action: str
    resource: str
    context: dict[str, Any] = field(default_factory=dict)

    def full_context(self) -> dict[str, Any]:
        return {"aws:PrincipalArn": self.principal, "aws:SecureTransport": "true", **self.context}


@dataclass(frozen=True)
class Expect:
    """A request the policy simulator must decide as `allowed`; `message` if it does not.

    `identity` are the principal's identity statements, `policy` the resource's policy
    (statements of the stack, or a subset of them to check one side alone).
    """

    identity: tuple[Statement, ...]
    policy: tuple[Statement, ...]
    request: Request
    allowed: bool
    message: str


def expect(
    identity: Iterable[Statement], policy: Iterable[Statement], request: Request, allowed: bool,
    message: str,
) -> Expect:
    return Expect(tuple(identity), tuple(policy), request, allowed, message)


def _document(statements: Iterable[Statement]) -> dict[str, Any] | None:
    raw = [s.raw for s in statements]
    return {"Version": "2012-10-17", "Statement": raw} if raw else None


def judge(resources: dict[str, dict[str, Any]], expectations: list[Expect]) -> list[str]:
    """Evaluates every expectation in one simulator run; the messages of those it refutes."""
    if not expectations:
        return []
    stack = Stack(resources)
    documents: dict[tuple[int, ...], dict[str, Any] | None] = {}

    def document(statements: tuple[Statement, ...]) -> dict[str, Any] | None:
        key = tuple(id(s) for s in statements)  # the same statements, concrete once
        if key not in documents:
            documents[key] = stack.concrete(_document(statements))
        return documents[key]

    asks = []
    for e in expectations:
        context = stack.concrete(e.request.full_context())
        arn = stack.concrete(e.request.principal)
        if e.request.action.startswith("kms:"):
            context.setdefault("kms:CallerAccount", account_of(arn))
        tags = tuple((k.split("/", 1)[1], v) for k, v in context.items()
                     if k.startswith(TAG_KEY_PREFIX))
        identity = document(e.identity)
        principal = Principal(arn, arn, (identity,) if identity else (), tags)
        resource = stack.concrete(e.request.resource)
        # An ARN without an account: S3's are the stack's; Route 53's zone is the caller's own
        # (the issuer's here, a zone account's role there).
        owner = account_of(arn) if resource.startswith(f"arn:{PARTITION}:route53:") else ACCOUNT
        asks.append(stack.ask(principal, e.request.action, resource, context,
                              resource_account=account_of(resource) if resource.count(":") > 4
                              and resource.split(":")[4] else owner,
                              resource_policy=document(e.policy)))
    return [e.message for e, d in zip(expectations, evaluate(asks), strict=True)
            if d.allowed != e.allowed]


TAG_KEY_PREFIX = "aws:PrincipalTag/"


def decide(identity: Iterable[Statement], policy: Iterable[Statement], request: Request,
           resources: dict[str, dict[str, Any]] | None = None) -> bool:
    """One request, decided by the simulator: is it allowed? (`resources` name the tokens.)"""
    return not judge(resources or {}, [expect(identity, policy, request, True, "denied")])


# ----------------------------------------------------------------------------- invariants
def violations(
    resources: dict[str, dict[str, Any]], params: dict[str, Any] | None = None
) -> list[str]:
    params = {**BASE_PARAMS, **(params or {})}
    found: list[str] = []
    pending: list[Expect] = []
    for check in (
        check_no_wildcard_allows,
        check_route53,
        check_bucket,
        check_bucket_policy,
        check_reader_access,
        check_issuer_access,
        check_renewal_job_access,
        check_issuer_teams_wiring,
        check_request_bus,
        check_team_readers,
        check_renewal_queue_senders,
        check_issuer_invokers,
        check_key,
        check_account_key,
        check_secret,
        check_function,
        check_dead_letters,
        check_renewal_queue,
        check_event_source_mapping,
        check_schedules,
    ):
        for item in check(resources, params):
            if isinstance(item, Expect):
                pending.append(item)
            else:
                found.append(item)
    return found + judge(resources, pending)


def _resources_of(resources: dict[str, dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {n: r for n, r in resources.items() if r["Type"] == kind}


def check_no_wildcard_allows(resources, params) -> Iterator[str]:
    defined_policies = {f"<{n}>" for n in _resources_of(resources, "AWS::IAM::ManagedPolicy")}
    for statement in statements(resources):
        if statement.effect != "Allow":
            continue
        where = f"{statement.owner}/{statement.raw.get('Sid', '?')}"
        if "NotAction" in statement.raw or "NotResource" in statement.raw:
            yield f"{where}: Allow with NotAction/NotResource"
        for action in statement.actions:
            if "*" in action or "?" in action:
                yield f"{where}: wildcard action {action!r} in an Allow"
        if "*" in statement.principals:
            yield f"{where}: Allow to any principal ('*')"
    for name, role in _resources_of(resources, "AWS::IAM::Role").items():
        for arn in as_list(role["Properties"].get("ManagedPolicyArns")):
            if arn not in defined_policies:
                yield f"{name}: attaches managed policy {arn} not defined in this template"
    for name, permission in _resources_of(resources, "AWS::Lambda::Permission").items():
        props = permission["Properties"]
        if props.get("Principal") == "*" or "SourceArn" not in props:
            yield f"{name}: Lambda permission without a single principal and SourceArn"


def zone_arns(params) -> set[str]:
    zones = params["HostedZoneIds"]
    zones = zones.split(",") if isinstance(zones, str) else zones
    return {f"arn:{PARTITION}:route53:::hostedzone/{z}" for z in zones}


def check_bucket(resources, params) -> Iterator[str]:
    bucket = resources.get("CertBucket", {}).get("Properties")
    if bucket is None:
        yield "CertBucket is missing"
        return
    block = bucket.get("PublicAccessBlockConfiguration", {})
    for flag in (
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ):
        if block.get(flag) is not True:
            yield f"CertBucket: PublicAccessBlockConfiguration.{flag} is not true"
    rules = bucket.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
    if len(rules) != 1:
        yield "CertBucket: expected exactly one default encryption rule"
    for rule in rules:
        default = rule.get("ServerSideEncryptionByDefault", {})
        if default.get("SSEAlgorithm") != "aws:kms" or default.get("KMSMasterKeyID") != KEY:
            yield f"CertBucket: default encryption is {default}, not SSE-KMS with CertKey"
        if rule.get("BucketKeyEnabled") is not True:
            yield "CertBucket: BucketKeyEnabled is not true"
    if bucket.get("VersioningConfiguration", {}).get("Status") != "Enabled":
        yield "CertBucket: versioning is not enabled"
    ownership = [
        r.get("ObjectOwnership") for r in bucket.get("OwnershipControls", {}).get("Rules", [])
    ]
    if ownership != ["BucketOwnerEnforced"]:
        yield f"CertBucket: object ownership is {ownership}, not BucketOwnerEnforced"
    lifecycle = bucket.get("LifecycleConfiguration", {}).get("Rules", [])
    enabled = [r for r in lifecycle if r.get("Status") == "Enabled"]
    if not any("NoncurrentVersionExpiration" in r for r in enabled):
        yield "CertBucket: no lifecycle rule expires noncurrent versions"
    if not any("AbortIncompleteMultipartUpload" in r for r in enabled):
        yield "CertBucket: no lifecycle rule aborts incomplete multipart uploads"
    archived = [r for r in enabled if _selects_only_archived_keys(r)]
    for rule in enabled:
        if "ExpirationDate" in rule or ("ExpirationInDays" in rule and rule not in archived):
            yield f"CertBucket: lifecycle rule {rule.get('Id')} expires current objects"
    yield from _archived_key_rule_problems(archived, params)


def _selects_only_archived_keys(rule: dict[str, Any]) -> bool:
    """A rule whose filter is exactly the archived-key tag (no prefix, no size bounds)."""
    filters = {"Prefix", "TagFilters", "ObjectSizeGreaterThan", "ObjectSizeLessThan"}
    return (rule.get("TagFilters") == ARCHIVED_KEY_TAG_FILTER
            and not {k for k in filters if rule.get(k)} - {"TagFilters"})


def _archived_key_rule_problems(archived: list[dict[str, Any]], params) -> Iterator[str]:
    """Old private keys must not stay forever: tagged archived keys expire after the
    retention parameter, and the versions their deletion leaves go soon after."""
    expiring = [r for r in archived if "ExpirationInDays" in r]
    if not expiring:
        yield (
            "CertBucket: no lifecycle rule expires archived private keys "
            f"(tag {ARCHIVED_KEY_TAG_FILTER})"
        )
    retention = str(params.get("ArchivedKeyRetentionDays", RETENTION_DEFAULT_DAYS))
    for rule in expiring:
        if str(rule["ExpirationInDays"]) != retention:
            yield (
                f"CertBucket: lifecycle rule {rule.get('Id')} expires archived keys after "
                f"{rule['ExpirationInDays']!r} days, not ArchivedKeyRetentionDays ({retention})"
            )
    if not any(
        int(r.get("NoncurrentVersionExpiration", {}).get("NoncurrentDays", 10**6))
        <= OLD_KEY_VERSION_DAYS
        for r in archived
    ):
        yield (
            "CertBucket: old versions of deleted archived keys are kept longer than "
            f"{OLD_KEY_VERSION_DAYS} days (no NoncurrentVersionExpiration on the tag)"
        )


def retention_parameter_problems(sam: dict[str, Any]) -> list[str]:
    """ArchivedKeyRetentionDays may never be below the longest lifetime a deployment with
    Let's Encrypt sees, or S3 would delete archived keys of certificates still in use."""
    spec = sam.get("Parameters", {}).get("ArchivedKeyRetentionDays")
    if spec is None:
        return ["no ArchivedKeyRetentionDays parameter"]
    problems = []
    if spec.get("Type") != "Number":
        problems.append(f"ArchivedKeyRetentionDays is a {spec.get('Type')}, not a Number")
    low = int(spec.get("MinValue", 0))
    if low < LONGEST_LETS_ENCRYPT_DAYS:
        problems.append(
            f"ArchivedKeyRetentionDays may be {low} days, below Let's Encrypt's longest "
            f"lifetime ({LONGEST_LETS_ENCRYPT_DAYS} days)"
        )
    if int(spec.get("Default", 0)) != RETENTION_DEFAULT_DAYS:
        problems.append(f"ArchivedKeyRetentionDays defaults to {spec.get('Default')}, "
                        f"not {RETENTION_DEFAULT_DAYS}")
    return problems


def bucket_statements(resources) -> list[Statement]:
    policies = [
        r
        for r in _resources_of(resources, "AWS::S3::BucketPolicy").values()
        if r["Properties"].get("Bucket") == "<CertBucket>"
    ]
    return [
        Statement("CertBucketPolicy", raw)
        for policy in policies
        for raw in as_list(policy["Properties"]["PolicyDocument"].get("Statement"))
    ]


def check_issuer_teams_wiring(resources, params) -> Iterator[Expect | str]:
    """Outcome events on the request bus as `wildcert` only; the staging directory is known."""
    env = (resources.get(ISSUER.function, {}).get("Properties", {})
           .get("Environment", {}).get("Variables", {}))
    if env.get("EVENT_BUS_NAME") != "<RequestBus>":
        yield f"issuer: EVENT_BUS_NAME is {env.get('EVENT_BUS_NAME')!r}, not the request bus"
    if env.get("ACME_STAGING_DIRECTORY_URL") != EXPECTED_DIRECTORIES["staging"]:
        yield (f"issuer: ACME_STAGING_DIRECTORY_URL is {env.get('ACME_STAGING_DIRECTORY_URL')!r},"
               " not Let's Encrypt staging")
    if env.get("TEAMS_FILE"):
        yield f"issuer: TEAMS_FILE={env['TEAMS_FILE']!r} (the layer's copy is the policy)"
    identity = identity_statements(resources, "IssuerRole")
    other_bus = f"arn:{PARTITION}:events:{REGION}:{ACCOUNT}:event-bus/default"
    yield expect(identity, [], Request(ISSUER_ROLE, "events:PutEvents", other_bus,
                                       {"events:source": ["wildcert"]}), False,
                 "issuer role: may put events on a bus other than the request bus")
    # Its own policy alone (the bus's Denies are checked with the bus).
    for sources, wanted in ((["wildcert"], True), (["wildcert", "wildcert"], True),
                            (["wildcert.team.alpha"], False), (["aws.s3"], False),
                            (["wildcert", "wildcert.team.alpha"], False), ([], False)):
        context = {"events:source": sources} if sources else {}
        request = Request(ISSUER_ROLE, "events:PutEvents", REQUEST_BUS, context)
        yield expect(identity, [], request, wanted,
                     f"issuer role: {'cannot' if wanted else 'may'} put events with "
                     f"sources {sources}")


def bus_statements(resources) -> list[Statement]:
    return [
        Statement(name, resource["Properties"]["Statement"])
        for name, resource in _resources_of(resources, "AWS::Events::EventBusPolicy").items()
        if resource["Properties"].get("EventBusName") == "<RequestBus>"
    ]


def _account_of(arn: str) -> str:
    return arn.split(":")[4]


def _pattern_matches(values: list[Any], text: str) -> bool:
    for value in values:
        if isinstance(value, str) and value == text:
            return True
        prefix = value.get("prefix") if isinstance(value, dict) else None
        if isinstance(prefix, str) and text.startswith(prefix):
            return True
        if isinstance(value, dict) and not set(value) <= {"prefix"}:
            return True  # an operator this check does not know: assume it matches
    return False


# ------------------------------------------------------------------- evaluated access rules
# Each check below yields Expect requests; `violations` has the policy simulator decide them
# all at once (`judge`). A principal's "own policy" is the worst case its administrators could
# attach: the stack's resource policies must hold the line whatever it says.
TEAM_TAG = "aws:PrincipalTag/wildcert-team"
OTHER_ACCOUNT = "999988887777"  # never a team account in the parameter sets
ALPHA_ACCOUNT, BETA_ACCOUNT = "444455556666", "777788889999"  # alpha's and beta's (teams.toml)
TEAM_HOMES = {"alpha": ALPHA_ACCOUNT, "beta": BETA_ACCOUNT}


def own_policy(*actions: str) -> list[Statement]:
    """An identity policy allowing `actions` (or everything) on everything."""
    return [Statement("its own policy", {"Effect": "Allow", "Action": list(actions) or "*",
                                         "Resource": "*"})]


def probe(  # noqa: PLR0917 - reads as the request it builds
    identity: Iterable[Statement], policy: Iterable[Statement], principal: str,
          action: str, resource: str, allowed: bool, message: str, **context: Any) -> Expect:
    return expect(identity, policy, Request(principal, action, resource, context), allowed,
                  message)


def team_accounts(params) -> list[str]:
    return [a for a in str(params.get("TeamAccountIds", "")).split(",") if a]


def role_of(account: str, name: str) -> str:
    return f"arn:{PARTITION}:iam::{account}:role/{name}"


def admin_examples(params) -> list[str]:
    """A role ARN each AdminRoleArns entry stands for (its wildcards filled in)."""
    admins = params.get("AdminRoleArns", "")
    admins = admins.split(",") if isinstance(admins, str) else list(admins)
    return [a.replace("*", "x").replace("?", "y") for a in admins if a]


def check_bucket_policy(resources, params) -> Iterator[Expect | str]:
    policy = bucket_statements(resources)
    if not policy:
        yield "CertBucket has no bucket policy"
        return
    issuer = identity_statements(resources, "IssuerRole")
    obj = f"{BUCKET}/name/privkey.pem"

    def issuer_put(allowed: bool, message: str, **context: Any) -> Expect:
        return probe(issuer, policy, ISSUER_ROLE, "s3:PutObject", obj, allowed, message,
                     **context)

    yield issuer_put(True, "issuer role: cannot PutObject with SSE-KMS and the stack's key",
                     **GOOD_SSE_HEADERS)
    yield issuer_put(False, "CertBucketPolicy: a PutObject without SSE-KMS is not denied")
    yield issuer_put(False, "CertBucketPolicy: a PutObject naming aws:kms without a key id is "
                     "not denied", **{"s3:x-amz-server-side-encryption": "aws:kms"})
    yield issuer_put(False, "CertBucketPolicy: a PutObject naming another KMS key is not "
                     "denied", **{**GOOD_SSE_HEADERS,
                                  "s3:x-amz-server-side-encryption-aws-kms-key-id": OTHER_KEY})
    yield issuer_put(False, "CertBucketPolicy: a PutObject without SSE-KMS (the key id alone) "
                     "is not denied", **{"s3:x-amz-server-side-encryption-aws-kms-key-id": KEY})
    yield issuer_put(False, "CertBucketPolicy: a PutObject with SSE-S3 is not denied",
                     **{"s3:x-amz-server-side-encryption": "AES256"})
    for who, identity in ((ISSUER_ROLE, issuer),
                          (READER_ROLE, identity_statements(resources, "ReaderRole"))):
        for action, resource in (("s3:GetObject", obj), ("s3:ListBucket", BUCKET)):
            yield probe(identity, policy, who, action, resource, False,
                        f"CertBucketPolicy: {who} may {action} without TLS "
                        "(aws:SecureTransport false)", **{"aws:SecureTransport": "false"})
            yield probe(identity, policy, who, action, resource, False,
                        f"CertBucketPolicy: {who} may {action} over TLS 1.1",
                        **{"s3:TlsVersion": "1.1"})
    # Objects and listings: the functions, the reader and the named administrators only,
    # whatever anyone else's own policy grants (a team's tagged roles: check_team_readers).
    stranger = role_of(ACCOUNT, "someone-with-s3-star")
    for action, resource in (("s3:GetObject", obj), ("s3:PutObject", obj),
                             ("s3:DeleteObject", obj), ("s3:DeleteObjectVersion", obj),
                             ("s3:PutObjectAcl", obj), ("s3:ListBucket", BUCKET),
                             ("s3:ListBucketVersions", BUCKET)):
        yield probe(own_policy("s3:*"), policy, stranger, action, resource, False,
                    f"CertBucketPolicy: a role with s3:* of its own may {action} "
                    f"({'objects' if resource == obj else 'listing'})", **GOOD_SSE_HEADERS)
        for admin in admin_examples(params):
            yield probe(own_policy("s3:*"), policy, admin, action, resource, True,
                        f"CertBucketPolicy: administrator {admin} cannot {action}",
                        **GOOD_SSE_HEADERS)
    # No other account, whatever it is or its roles' tags.
    for account in (*team_accounts(params), OTHER_ACCOUNT):
        for tag in (None, "alpha"):
            for action, resource in (("s3:GetObject", f"{BUCKET}/alpha.web/privkey.pem"),
                                     ("s3:ListBucket", BUCKET)):
                context = {TEAM_TAG: tag} if tag else {}
                yield probe(own_policy(), policy, role_of(account, "alpha-web"), action,
                            resource, False, f"CertBucketPolicy: a role of account {account} "
                            f"tagged {tag!r} may {action} {resource}", **context)


def check_team_readers(resources, params) -> Iterator[Expect | str]:
    """A role of this account tagged wildcert-team=alpha reads alpha.* and nothing else;
    a role of another account nothing, whatever its tags."""
    bucket = bucket_statements(resources)
    key = key_statements(resources)
    team_policy = [
        Statement("TeamPolicy", raw)
        for raw in as_list(resources.get("TeamPolicy", {}).get("Properties", {})
                           .get("PolicyDocument", {}).get("Statement"))
    ]
    if not team_policy:
        yield "TeamPolicy is missing (the managed policy a team's roles attach)"
    home = role_of(ACCOUNT, "alpha-web")

    def read(  # noqa: PLR0917 - reads as the request it builds
        identity, key_name: str, allowed: bool, message: str, tag: str | None = "alpha",
             action: str = "s3:GetObject", principal: str = home) -> Expect:
        context: dict[str, Any] = {**GOOD_SSE_HEADERS}
        if tag is not None:
            context[TEAM_TAG] = tag
        return probe(identity, bucket, principal, action, f"{BUCKET}/{key_name}", allowed,
                     message, **context)

    for key_name in ("alpha.web/privkey.pem", f"alpha{FLEET_SUFFIX}"):  # its inventory too
        yield read(team_policy, key_name, True,
                   f"team reader {home} tagged alpha cannot read {key_name}")
    yield probe(team_policy, key, home, "kms:Decrypt", KEY, True,
                f"team reader {home} tagged alpha cannot decrypt through S3",
                **{TEAM_TAG: "alpha", "kms:ViaService": S3_VIA})
    for identity, label in ((team_policy, "TeamPolicy"), (own_policy("s3:*"), "s3:* of its own")):
        for key_name in ("beta.web/privkey.pem", "_wildcert/account.json", "web/privkey.pem",
                         "alpha/privkey.pem", "alphabet.web/privkey.pem",
                         f"beta{FLEET_SUFFIX}", f"operators{FLEET_SUFFIX}"):
            yield read(identity, key_name, False,
                       f"team reader {home} tagged alpha ({label}) may read {key_name}")
        for action in ("s3:PutObject", "s3:DeleteObject", "s3:GetObjectVersion"):
            yield read(identity, "alpha.web/privkey.pem", False,
                       f"team reader {home} tagged alpha ({label}) may {action} its own",
                       action=action)
    yield read(own_policy("s3:*"), "alpha.web/privkey.pem", False,
               f"an untagged role {home} with s3:* may read alpha.web/privkey.pem", tag=None)
    # TeamPolicy alone, without the bucket's Denies, keeps a team to its prefix too.
    for key_name in ("beta.web/privkey.pem", "_wildcert/account.json", "web/privkey.pem"):
        yield probe(team_policy, [], home, "s3:GetObject", f"{BUCKET}/{key_name}", False,
                    f"TeamPolicy alone lets a role tagged alpha read {key_name}",
                    **{TEAM_TAG: "alpha"})
    for via, allowed in ((S3_VIA, False), (SM_VIA, False), ("none", False)):
        yield probe(own_policy("kms:*"), key, home, "kms:Decrypt", KEY, allowed,
                    f"CertKey: an untagged role with kms:* may decrypt via {via}",
                    **{"kms:ViaService": via})
    yield probe(own_policy("kms:*"), key, home, "kms:Decrypt", KEY, False,
                "CertKey/TeamReadersDecryptThroughS3: a tagged role may decrypt directly",
                **{TEAM_TAG: "alpha", "kms:ViaService": "none"})
    # Tag values may hold . / _ : = + @: a tag that is a path must not reach a key.
    for tag, key_name in (("_wildcert/acme-accounts/0123", "_wildcert/acme-accounts/0123.json"),
                          ("web/privkey", "web/privkey.pem"),
                          ("beta.web/privkey", "beta.web/privkey.pem"),
                          ("_wildcert", "_wildcert.x/y")):
        yield read(own_policy(), key_name, False,
                   f"a role {home} tagged {tag!r} may read {key_name}", tag=tag)
    # Another account: nothing, whatever it tags (it reads through its team's role here).
    for account in (*team_accounts(params), OTHER_ACCOUNT):
        away = role_of(account, "alpha-web")
        for tag in ("alpha", None):
            yield read(own_policy(), "alpha.web/privkey.pem", False,
                       f"a role of account {account} tagged {tag!r} may read "
                       "alpha.web/privkey.pem", tag=tag, principal=away)
            context = {"kms:ViaService": S3_VIA, **({TEAM_TAG: tag} if tag else {})}
            yield probe(own_policy(), key, away, "kms:Decrypt", KEY, False,
                        f"CertKey: a role of account {account} tagged {tag!r} may decrypt "
                        "through S3", **context)
    for name, resource in sorted(resources.items()):
        if resource["Type"] != "AWS::IAM::Role" or not name.startswith("Team"):
            continue
        yield from _team_role(resources, name, params)


def _team_role(resources, name: str, params) -> Iterator[Expect | str]:
    """A generated Team<Id>Role: its team's prefix through S3, assumed from its accounts."""
    props = resources[name]["Properties"]
    tags = {t["Key"]: t["Value"] for t in as_list(props.get("Tags"))}
    team = tags.get("wildcert-team")
    if team is None:
        yield f"{name}: not tagged wildcert-team"
        return
    role = f"<{name}.Arn>"
    identity = identity_statements(resources, name)
    bucket = bucket_statements(resources)
    context = {TEAM_TAG: team}
    yield probe(identity, bucket, role, "s3:GetObject", f"{BUCKET}/{team}.web/privkey.pem",
                True, f"{name}: cannot read {team}.web/privkey.pem", **context)
    yield probe(identity, key_statements(resources), role, "kms:Decrypt", KEY, True,
                f"{name}: cannot decrypt through S3", **context, **{"kms:ViaService": S3_VIA})
    for other in ("other.web/privkey.pem", "_wildcert/account.json"):
        yield probe(identity, bucket, role, "s3:GetObject", f"{BUCKET}/{other}", False,
                    f"{name}: may read {other}", **context)
    trust = [Statement(name, raw) for raw in
             as_list(props["AssumeRolePolicyDocument"].get("Statement"))]
    home = TEAM_HOMES.get(team)
    listed = team_accounts(params)
    for account in sorted({*listed, *TEAM_HOMES.values(), OTHER_ACCOUNT, ACCOUNT}):
        allowed = account == home and account in listed
        yield probe(own_policy(), trust, role_of(account, "admin"), "sts:AssumeRole", role,
                    allowed, f"{name}: an administrator of account {account} "
                    f"{'cannot' if allowed else 'may'} assume it")
        if allowed:
            yield probe(own_policy(), trust, role_of(account, "admin"), "sts:TagSession", role,
                        False, f"{name}: session tags may be passed to it",
                        **{"aws:TagKeys": ["wildcert-team"], "aws:RequestTag/wildcert-team":
                           "beta" if team == "alpha" else "alpha"})


def key_statements(resources) -> list[Statement]:
    key = resources.get("CertKey", {}).get("Properties", {})
    return [Statement("CertKey", raw) for raw in
            as_list(key.get("KeyPolicy", {}).get("Statement"))]


def check_reader_access(resources, params) -> Iterator[Expect | str]:
    identity = identity_statements(resources, "ReaderRole")
    bucket = bucket_statements(resources)

    def can(action: str, key: str | None, allowed: bool, message: str,
            who: list[Statement] = identity, **context: Any) -> Expect:
        resource = BUCKET if key is None else f"{BUCKET}/{key}"
        if action.startswith("s3:Put"):  # a write that passes the bucket's encryption denies
            context = {**GOOD_SSE_HEADERS, **context}
        return probe(who, bucket, READER_ROLE, action, resource, allowed, message, **context)

    for key in ("_wildcert/account/key.json", "_wildcert/account.pem",
                "_wildcert/name/cert.json", "_wildcert/leases/name.pem"):
        for action in ("s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:DeleteObject"):
            yield can(action, key, False, f"reader role: may {action} {key}")
    for prefix in ("_wildcert/", "_", "", None):
        context = {} if prefix is None else {"s3:prefix": prefix}
        yield can("s3:ListBucket", None, False,
                  f"reader role: may list the bucket with prefix {prefix!r}", **context)
    for key in ("example-com/privkey.pem", "example-com/cert.json"):
        for action in ("s3:PutObject", "s3:DeleteObject", "s3:PutObjectAcl"):
            yield can(action, key, False, f"reader role: may {action} {key}")
    # The puller installs the live set from the archive cert.json names, key included: a
    # blanket Deny of archived keys would break it (expired ones are deleted instead).
    for key in ("example-com/cert.json", "example-com/fullchain.pem", "example-com/privkey.pem",
                ARCHIVED_KEY, f"operators{FLEET_SUFFIX}", f"alpha{FLEET_SUFFIX}"):
        yield can("s3:GetObject", key, True, f"reader role: cannot GetObject {key} "
                  "(the reader is broken)")
    yield can("s3:PutObject", f"alpha{FLEET_SUFFIX}", False,
              f"reader role: may PutObject alpha{FLEET_SUFFIX}")
    for key in ("example-com/privkey.pem", ARCHIVED_KEY):
        for action in ("s3:GetObjectVersion", "s3:GetObjectVersionAttributes"):
            yield can(action, key, False, f"reader role: may {action} {key} (old private keys)")
            yield can(action, key, False, "CertBucketPolicy: no Deny of old private-key "
                      "versions for the reader", who=own_policy("s3:*"))
    yield can("s3:ListBucket", None, True, "reader role: cannot list a certificate's prefix",
              **{"s3:prefix": "example-com/"})
    for action, resource in (("kms:Encrypt", KEY), ("kms:GenerateDataKey", KEY),
                             ("kms:CreateGrant", KEY), ("sqs:SendMessage", RENEWAL_QUEUE),
                             ("events:PutEvents", REQUEST_BUS),
                             ("secretsmanager:GetSecretValue", SECRET),
                             ("s3:PutBucketPolicy", BUCKET)):
        yield probe(identity, [], READER_ROLE, action, resource, False,
                    f"reader role: its policy grants {action}",
                    **{"kms:ViaService": S3_VIA})
    # Its trust: ReaderPrincipalArn, no one else of that account.
    trust = [Statement("ReaderRole", raw) for raw in as_list(
        resources["ReaderRole"]["Properties"]["AssumeRolePolicyDocument"].get("Statement"))]
    reader = str(params.get("ReaderPrincipalArn"))
    account = reader.split(":")[4]
    yield probe(own_policy(), trust, reader, "sts:AssumeRole", READER_ROLE, True,
                f"ReaderRole: {reader} cannot assume it")
    yield probe(own_policy(), trust, role_of(account, "anyone-else"), "sts:AssumeRole",
                READER_ROLE, False, f"ReaderRole: another role of account {account} with "
                "sts:AssumeRole on * may assume it")
    yield probe(own_policy(), trust, reader, "sts:TagSession", READER_ROLE, False,
                "ReaderRole: session tags may be passed to it",
                **{"aws:TagKeys": ["wildcert-team"]})


def check_issuer_access(resources, params) -> Iterator[Expect | str]:
    identity = identity_statements(resources, "IssuerRole")
    bucket = bucket_statements(resources)
    good = GOOD_SSE_HEADERS

    def can(action: str, key: str, allowed: bool, message: str, **context: Any) -> Expect:
        return probe(identity, bucket, ISSUER_ROLE, action, f"{BUCKET}/{key}", allowed,
                     message, **context)

    yield can("s3:PutObject", "_wildcert/account.json", True,
              "issuer role: cannot write its state with the right encryption headers", **good)
    yield can("s3:GetObject", "_wildcert/account.json", True, "issuer role: cannot read its state")
    yield can("s3:PutObject", "name/cert.pem", False, "issuer role: may PutObject without "
              "SSE-KMS headers")
    yield can("s3:PutObject", "name/cert.pem", False, "issuer role: may PutObject with another "
              "KMS key", **{**good, "s3:x-amz-server-side-encryption-aws-kms-key-id": OTHER_KEY})
    yield can("s3:PutObject", "name/cert.pem", False, "issuer role: may PutObject without TLS",
              **{**good, "aws:SecureTransport": "false"})
    # Archived keys carry the lifecycle tag: PutObject with Tagging needs PutObjectTagging too,
    # on exactly those keys, and the bucket's encryption denies still let the write through.
    tagged = {**good, "s3:RequestObjectTag/wildcert-key": "archived"}
    for action in ("s3:PutObject", "s3:PutObjectTagging"):
        yield can(action, ARCHIVED_KEY, True,
                  f"issuer role: cannot {action} {ARCHIVED_KEY} with its lifecycle tag", **tagged)
    for key in ("example-com/privkey.pem", "example-com/cert.json", *ARCHIVED_OTHERS,
                "_wildcert/acme-accounts/0123456789abcdef.json"):
        yield can("s3:PutObjectTagging", key, False,
                  f"issuer role: may s3:PutObjectTagging {key}", **tagged)
    for action in ("s3:PutObjectVersionTagging", "s3:DeleteObjectTagging",
                   "s3:DeleteObjectVersionTagging"):
        yield can(action, ARCHIVED_KEY, False, f"issuer role: may {action} {ARCHIVED_KEY}",
                  **tagged)
    for secret, allowed in ((SECRET, True), (f"{SECRETS_ARN}/slack/alpha-AbCdEf", True),
                            (f"{SECRETS_ARN}/acme-eab/second-ca-AbCdEf", True),
                            (f"{SECRETS_ARN}/other-AbCdEf", False),
                            (f"arn:{PARTITION}:secretsmanager:{REGION}:{ACCOUNT}:secret:x-AbCdEf",
                             False)):
        yield probe(identity, [], ISSUER_ROLE, "secretsmanager:GetSecretValue", secret, allowed,
                    f"issuer role: {'cannot' if allowed else 'may'} read secret {secret}")
    for action in ("secretsmanager:PutSecretValue", "secretsmanager:DeleteSecret"):
        yield probe(identity, [], ISSUER_ROLE, action, SECRET, False,
                    f"issuer role: may {action} the Slack secret")
    # Not a team: it assumes no role and reads no queue of a team's.
    yield probe(identity, [], ISSUER_ROLE, "sts:AssumeRole", role_of(ALPHA_ACCOUNT, "x"), False,
                "issuer role: may assume roles")
    for action, queue in (("sqs:ReceiveMessage", f"arn:{PARTITION}:sqs:{REGION}:"
                                                 f"{ALPHA_ACCOUNT}:team-queue"),
                          ("sqs:ReceiveMessage", DLQ), ("sqs:ReceiveMessage", RENEWAL_DLQ)):
        yield probe(identity, [], ISSUER_ROLE, action, queue, False,
                    f"issuer role: may {action} {queue}")
    for action, queues in ISSUER_SQS.items():
        for queue in queues:
            yield probe(identity, [], ISSUER_ROLE, action, queue, True,
                        f"issuer role: cannot {action} {queue}")


def check_renewal_job_access(resources, params) -> Iterator[Expect | str]:
    """The sweep and the watch read and annotate <name>/cert.json, list names, queue renewals."""
    bucket = bucket_statements(resources)
    for spec in RENEWAL_JOBS:
        role = f"<{spec.role}.Arn>"
        identity = identity_statements(resources, spec.role)
        who = f"{spec.label} role"

        def can(action: str, key: str | None, allowed: bool, message: str,
                _identity=identity, _role=role, _bucket=bucket, **context) -> Expect:
            resource = BUCKET if key is None else f"{BUCKET}/{key}"
            if action.startswith("s3:Put"):  # passes the bucket's encryption denies
                context = {**GOOD_SSE_HEADERS, **context}
            return probe(_identity, _bucket, _role, action, resource, allowed, message,
                         **context)

        for key in ("example-com/cert.json", "a.b-c_d/cert.json", f"alpha{FLEET_SUFFIX}",
                    f"operators{FLEET_SUFFIX}"):
            for action in ("s3:GetObject", "s3:PutObject"):
                yield can(action, key, True, f"{who}: cannot {action} {key} "
                          "(the inventory is broken)")
        yield can("s3:ListBucket", None, True, f"{who}: cannot list the certificate names "
                  "(ListObjectsV2, Delimiter='/')", **{"s3:delimiter": "/"})
        yield can("s3:PutObject", "example-com/cert.json", False,
                  f"{who}: may PutObject cert.json with another KMS key",
                  **{"s3:x-amz-server-side-encryption-aws-kms-key-id": OTHER_KEY})
        for key in ("example-com/privkey.pem", "example-com/fullchain.pem",
                    "example-com/archive/0abc/privkey.pem", "example-com/archive/0abc/cert.json",
                    "_wildcert/acme-accounts/0123456789abcdef.json",
                    "_wildcert/inflight/example-com.json", "_wildcert/example-com/cert.json",
                    "_wildcert/cert.json", f"example-com/x{FLEET_SUFFIX}",
                    f"_wildcert/alpha{FLEET_SUFFIX}"):
            for action in ("s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"):
                yield can(action, key, False, f"{who}: may {action} {key}")
        for key in ("example-com/cert.json", "example-com/privkey.pem", *ARCHIVED_OTHERS,
                    "_wildcert/archive/0abc/privkey.pem"):
            for action in ("s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObjectAcl"):
                yield can(action, key, False, f"{who}: may {action} {key}")
        # Only the watch deletes expired archived keys (a delete marker: never a version).
        yield can("s3:DeleteObjectVersion", ARCHIVED_KEY, False,
                  f"{who}: may s3:DeleteObjectVersion {ARCHIVED_KEY}")
        if spec is WATCH:
            for action, key in (("s3:DeleteObject", ARCHIVED_KEY),
                                ("s3:GetObject", ARCHIVED_OTHERS[0])):
                yield can(action, key, True, f"{who}: cannot {action} {key} "
                          "(expired archived keys stay)")
        else:
            yield can("s3:DeleteObject", ARCHIVED_KEY, False,
                      f"{who}: may s3:DeleteObject {ARCHIVED_KEY}")
        # Defence in depth, as for the reader: its own Deny and the bucket's each keep
        # wildcert's state out of reach of a later, wider Allow.
        state = "_wildcert/acme-accounts/x.json"
        own_denies = [s for s in identity if s.effect == "Deny"]
        for action in ("s3:GetObject", "s3:PutObject"):
            yield can(action, state, False, f"{who}: no explicit Deny of _wildcert/ in its "
                      "own policy", _identity=[*own_denies, *own_policy("s3:*")], _bucket=[])
            yield can(action, state, False, f"CertBucketPolicy: no Deny of _wildcert/ for the "
                      f"{who}", _identity=own_policy("s3:*"))
        for action, resource in (("sqs:SendMessage", RENEWAL_QUEUE),
                                 ("sqs:SendMessage", DLQ),
                                 ("secretsmanager:GetSecretValue", SECRET)):
            yield probe(identity, [], role, action, resource, True,
                        f"{who}: cannot {action} {resource}")
        for action, resource in (("sqs:ReceiveMessage", RENEWAL_QUEUE),
                                 ("sqs:DeleteMessage", RENEWAL_QUEUE),
                                 ("sqs:SendMessage", RENEWAL_DLQ),
                                 ("events:PutEvents", REQUEST_BUS),
                                 ("lambda:InvokeFunction", f"<{ISSUER.function}.Arn>"),
                                 ("secretsmanager:GetSecretValue",
                                  f"{SECRETS_ARN}/slack/alpha-AbCdEf"),
                                 ("s3:PutBucketPolicy", BUCKET)):
            yield probe(identity, [], role, action, resource, False,
                        f"{who}: may {action} {resource}")


def check_route53(resources, params) -> Iterator[Expect | str]:
    """Only the issuer touches Route 53: _acme-challenge TXT in the allowed zones, nothing else."""
    zones = sorted(zone_arns(params))
    other_zone = f"arn:{PARTITION}:route53:::hostedzone/Z0NOTALLOWED0000"
    issuer = identity_statements(resources, "IssuerRole")

    def change(  # noqa: PLR0917 - reads as the request it builds
        zone: str, allowed: bool, message: str, names=("_acme-challenge.a.example.com",),
               types=("TXT",), actions=("CREATE",), role: str = ISSUER_ROLE,
               identity: list[Statement] = issuer) -> Expect:
        return probe(identity, [], role, "route53:ChangeResourceRecordSets", zone, allowed,
                     message, **{
                         "route53:ChangeResourceRecordSetsNormalizedRecordNames": list(names),
                         "route53:ChangeResourceRecordSetsRecordTypes": list(types),
                         "route53:ChangeResourceRecordSetsActions": list(actions)})

    for zone in zones:
        yield change(zone, True, f"Route 53: the issuer cannot create challenge TXT in {zone}")
        yield change(zone, True, f"Route 53: the issuer cannot delete challenge TXT in {zone}",
                     actions=("DELETE",))
        yield change(zone, False, f"Route 53: the issuer may UPSERT in {zone}",
                     actions=("UPSERT",))
        yield change(zone, False, f"Route 53: the issuer may write A records in {zone}",
                     types=("A",))
        yield change(zone, False, f"Route 53: the issuer may write TXT and A in {zone}",
                     types=("TXT", "A"))
        yield change(zone, False, f"Route 53: the issuer may write www.* in {zone}",
                     names=("www.a.example.com",))
        yield change(zone, False, f"Route 53: the issuer may write a name beside the "
                     f"challenge in {zone}", names=("_acme-challenge.a.example.com",
                                                    "a.example.com"))
        for action in ("route53:GetHostedZone", "route53:ListResourceRecordSets"):
            yield probe(issuer, [], ISSUER_ROLE, action, zone, True,
                        f"Route 53: the issuer lacks {action} on {zone}")
        for action in ("route53:DeleteHostedZone", "route53:UpdateHostedZoneComment",
                       "route53:ChangeTagsForResource", "route53:CreateKeySigningKey"):
            yield probe(issuer, [], ISSUER_ROLE, action, zone, False,
                        f"Route 53: the issuer may {action} on {zone}")
        for spec in (SWEEP, WATCH):
            identity = identity_statements(resources, spec.role)
            role = f"<{spec.role}.Arn>"
            yield change(zone, False, f"{spec.role}: may change records; only the issuer may "
                         "touch Route 53", role=role, identity=identity)
            yield probe(identity, [], role, "route53:ListResourceRecordSets", zone, False,
                        f"{spec.role}: may read records; only the issuer may touch Route 53")
            yield probe(identity, [], role, "route53:ListHostedZones", "*", False,
                        f"{spec.role}: may list zones; only the issuer may touch Route 53")
    yield change(other_zone, False, "Route 53: the issuer may write a zone not in "
                 "HostedZoneIds")
    yield probe(issuer, [], ISSUER_ROLE, "route53:ListResourceRecordSets", other_zone, False,
                "Route 53: the issuer may read a zone not in HostedZoneIds")
    yield probe(issuer, [], ISSUER_ROLE, "route53:ListHostedZones", "*", True,
                "Route 53: the issuer lacks route53:ListHostedZones")
    yield probe(issuer, [], ISSUER_ROLE, "route53:GetChange",
                f"arn:{PARTITION}:route53:::change/C0EXAMPLE00000", True,
                "Route 53: the issuer lacks route53:GetChange")
    yield probe(issuer, [], ISSUER_ROLE, "route53domains:UpdateDomainNameservers", "*", False,
                "Route 53: the issuer may change a domain's name servers")


CATCH_RULE = "UnmatchedRequestRule"
FLEET_SUFFIX = "._inventory.json"  # logic/fleet.py: <owner>._inventory.json at the top level


def check_request_bus(resources, params) -> Iterator[Expect | str]:
    """Teams put only their own source; the request rule hears teams, never outcomes."""
    rules = [
        (name, rule["Properties"])
        for name, rule in _resources_of(resources, "AWS::Events::Rule").items()
        if any(t.get("Arn") == f"<{ISSUER.function}.Arn>"
               for t in rule["Properties"].get("Targets", []))
        and rule["Properties"].get("EventBusName") == "<RequestBus>"
    ]
    # The request rule, and the catch rule that brings the rest to be answered (which rule
    # takes which event is evaluated by EventBridge's matcher in test_infra_request_routing).
    catch = [(n, r) for n, r in rules if n == CATCH_RULE]
    rules = [(n, r) for n, r in rules if n != CATCH_RULE]
    if len(rules) != 1:
        yield f"request bus: {len(rules)} request rules target the issuer, expected 1"
    for name, rule in catch:
        if rule.get("EventPattern", {}).get("source") != [{"anything-but": "wildcert"}]:
            yield f"{name}: may catch the issuer's own outcomes (source 'wildcert'): a loop"
    for name, rule in rules:
        sources = rule.get("EventPattern", {}).get("source")
        for source, wanted in (("wildcert.team.alpha", True), ("wildcert", False),
                               ("wildcert.teamster", False), ("aws.events", False)):
            heard = sources is None or _pattern_matches(as_list(sources), source)
            if heard != wanted:
                yield (f"{name}: the request rule {'ignores' if wanted else 'matches'} "
                       f"source {source!r} (pattern {sources})")
    policy = bus_statements(resources)
    accounts = team_accounts(params)
    teams = {t["Value"] for r in _resources_of(resources, "AWS::IAM::Role").values()
             for t in as_list(r["Properties"].get("Tags")) if t.get("Key") == "wildcert-team"}
    allows = [s for s in policy if s.effect == "Allow"]
    # Worst case: the sender's own IAM policy allows events:PutEvents on everything. Within
    # the account that is enough unless the bus policy denies; from another account the bus
    # policy must also allow it. Each side alone must hold the line: the Denies in this
    # account, the Allows for the other accounts. One PutEvents call carries one source per
    # entry. Tags set in another account mean nothing.
    home = f"arn:{PARTITION}:iam::{ACCOUNT}:role/alpha-ci"
    alpha, beta = "wildcert.team.alpha", "wildcert.team.beta"
    cases: list[tuple[str, list[str], str | None, bool]] = [
        (home, [alpha], "alpha", True),
        (home, [alpha, alpha], "alpha", True),
        (home, [beta], "alpha", False),
        (home, [alpha, beta], "alpha", False),
        (home, [alpha], None, False),
        (home, [alpha], "beta", False),
        (home, ["wildcert"], "alpha", False),
        (home, [alpha, "wildcert"], "alpha", False),
        (home, ["wildcert"], None, False),
        (home, ["aws.s3", "wildcert"], None, False),
        (f"arn:{PARTITION}:iam::{ACCOUNT}:role/x", ["wildcert"], None, False),
        # A tag that is no team's id (the reserved operators, a dot) fills in no source.
        (home, ["wildcert.team.operators"], "operators", False),
        (home, ["wildcert.team.a.b"], "a.b", False),
    ]
    for team, account in TEAM_HOMES.items():
        other = beta if team == "alpha" else alpha
        mine = f"wildcert.team.{team}"
        away = f"arn:{PARTITION}:iam::{account}:role/ci"
        admitted = account in accounts and team in teams
        cases += [(away, [mine], None, admitted),
                  (away, [mine], "beta" if team == "alpha" else "alpha", admitted),
                  (away, [other], team, False),
                  (away, [mine, other], None, False),
                  (away, ["wildcert"], team, False),
                  (away, ["wildcert.team.gamma"], "gamma", False)]
    stranger = f"arn:{PARTITION}:iam::{OTHER_ACCOUNT}:role/alpha-ci"
    cases += [(stranger, [alpha], "alpha", False), (stranger, [alpha], None, False)]
    for principal, sources, tag, wanted in cases:
        context: dict[str, Any] = {"events:source": sources}
        if tag is not None:
            context[TEAM_TAG] = tag
        request = Request(principal, "events:PutEvents", REQUEST_BUS, context)
        yield expect(own_policy("events:PutEvents"), policy, request, wanted,
                     f"request bus: a role {principal} tagged {tag!r} "
                     f"{'cannot' if wanted else 'may'} put sources {sources}")
        if _account_of(principal) != ACCOUNT and not wanted:
            yield expect(own_policy("events:PutEvents"), allows, request, False,
                         f"request bus: its Allow alone lets {principal} tagged {tag!r} "
                         f"put sources {sources}")
    issuer = identity_statements(resources, "IssuerRole")
    yield expect(issuer, policy, Request(ISSUER_ROLE, "events:PutEvents", REQUEST_BUS,
                                         {"events:source": ["wildcert"]}),
                 True, "request bus: the issuer cannot put its outcome events")


ACCOUNT_KEY = "<AcmeAccountKey.Arn>"


def check_account_key(resources, params) -> Iterator[str | Expect]:
    """AcmeAccountKeyInKms: an ES256 signing key only the issuer signs with; the issuer may
    delete earlier versions of the account objects (which held the PEM), nothing else."""
    key = resources.get("AcmeAccountKey", {}).get("Properties")
    wanted = params.get("AcmeAccountKeyInKms") == "true"
    if key is None:
        if wanted:
            yield "AcmeAccountKeyInKms=true but AcmeAccountKey is missing"
        return
    if (key.get("KeySpec"), key.get("KeyUsage")) != ("ECC_NIST_P256", "SIGN_VERIFY"):
        yield f"AcmeAccountKey is {key.get('KeySpec')} {key.get('KeyUsage')}, not ES256 signing"
    policy = [Statement("AcmeAccountKey", raw) for raw in as_list(key["KeyPolicy"]["Statement"])]
    anything = [Statement("anyone", {"Effect": "Allow", "Action": "kms:*", "Resource": "*"})]
    issuer = identity_statements(resources, "IssuerRole")
    # A JWS signing input over 4096 bytes (an order for many names) is signed as its digest.
    for message_type in ("RAW", "DIGEST"):
        signing = {"kms:MessageType": message_type, "kms:SigningAlgorithm": "ECDSA_SHA_256"}
        yield expect(issuer, policy, Request(ISSUER_ROLE, "kms:Sign", ACCOUNT_KEY, signing), True,
                     f"AcmeAccountKey: the issuer cannot sign a {message_type} message")
    admin = f"arn:{PARTITION}:iam::{ACCOUNT}:role/platform-admin"
    for principal in (READER_ROLE, *JOB_ROLES, admin):
        for action in ("kms:Sign", "kms:CreateGrant", "kms:ReplicateKey"):
            yield expect(anything, policy, Request(principal, action, ACCOUNT_KEY), False,
                         f"AcmeAccountKey: {principal} with kms:* may {action}")
    bucket = bucket_statements(resources)
    for key_name, allowed in (("_wildcert/acme-accounts/0123456789abcdef.json", True),
                              ("name/privkey.pem", False), (ARCHIVED_KEY, False),
                              ("_wildcert/leases/name.json", False)):
        yield expect(issuer, bucket, Request(ISSUER_ROLE, "s3:DeleteObjectVersion",
                                             f"{BUCKET}/{key_name}"), allowed,
                     f"issuer role: {'cannot' if allowed else 'may'} delete versions of "
                     f"{key_name}")


def check_key(resources, params) -> Iterator[Expect | str]:
    """Who may use the key, for what, through which service: decided by the key policy and
    the principals' own policies (anyone else's worst case: kms:* of its own)."""
    key = resources.get("CertKey", {}).get("Properties")
    if key is None:
        yield "CertKey is missing"
        return
    if key.get("EnableKeyRotation") is not True:
        yield "CertKey: rotation is off"
    policy = key_statements(resources)
    slack = f"{SECRETS_ARN}/slack-webhook-AbCdEf"
    team_secret = f"{SECRETS_ARN}/slack/alpha-AbCdEf"
    other_secret = f"arn:{PARTITION}:secretsmanager:{REGION}:{ACCOUNT}:secret:other-AbCdEf"
    crypto = KMS_CRYPTO
    # (who, own policy, tag, {(action, via, secret): allowed}) -- everything unlisted: denied.
    issuer = identity_statements(resources, "IssuerRole")
    allowed_uses = {
        ISSUER_ROLE: (issuer, None, {(a, v) for a in ("kms:Encrypt", "kms:Decrypt",
                                                      "kms:GenerateDataKey")
                                     for v in (S3_VIA, SM_VIA)}),
        READER_ROLE: (identity_statements(resources, "ReaderRole"), None,
                      {("kms:Decrypt", S3_VIA)}),
        SWEEP_ROLE: (identity_statements(resources, "RenewalSweepRole"), None,
                     {("kms:Decrypt", S3_VIA), ("kms:GenerateDataKey", S3_VIA),
                      ("kms:Decrypt", SM_VIA)}),
        WATCH_ROLE: (identity_statements(resources, "WatchRole"), None,
                     {("kms:Decrypt", S3_VIA), ("kms:GenerateDataKey", S3_VIA),
                      ("kms:Decrypt", SM_VIA)}),
        # This account's principals (their IAM decides): writing the Slack secrets, and a
        # team's role decrypting through S3.
        role_of(ACCOUNT, "alpha-web"): (own_policy("kms:*"), "alpha", {
            ("kms:Decrypt", S3_VIA), ("kms:GenerateDataKey", SM_VIA)}),
        role_of(ACCOUNT, "platform-admin"): (own_policy("kms:*"), None,
                                             {("kms:GenerateDataKey", SM_VIA)}),
    }
    account_writers = {role_of(ACCOUNT, "alpha-web"), role_of(ACCOUNT, "platform-admin")}
    for account in (*team_accounts(params), OTHER_ACCOUNT):
        allowed_uses[role_of(account, "alpha-web")] = (own_policy("kms:*"), "alpha", set())
    # Anyone else the key policy names gets nothing (only root, issuer, reader, sweep and
    # watch may appear there).
    known = {ROOT, ISSUER_ROLE, READER_ROLE, *JOB_ROLES}
    for statement in policy:
        for named in statement.principals:
            if named not in known and named.startswith("arn:") and named not in allowed_uses:
                allowed_uses[named] = (own_policy("kms:*"), None, set())
    for who, (identity, tag, uses) in allowed_uses.items():
        for action in crypto:
            for via in (S3_VIA, SM_VIA, f"ec2.{REGION}.amazonaws.com", "none"):
                # Through Secrets Manager the secret is named in the encryption context: the
                # jobs' Decrypt and the account's GenerateDataKey hold for the Slack secrets.
                secret = slack if via == SM_VIA else None
                allowed = (action, via) in uses
                context: dict[str, Any] = {"kms:ViaService": via}
                if secret:
                    context["kms:EncryptionContext:SecretARN"] = secret
                if tag:
                    context[TEAM_TAG] = tag
                yield probe(identity, policy, who, action, KEY, allowed,
                            f"CertKey: {who} {'cannot' if allowed else 'may'} {action} via "
                            f"{via}", **context)
                if via == SM_VIA and allowed and who != ISSUER_ROLE:
                    for narrower, ok in ((team_secret, who in account_writers),
                                         (other_secret, False)):
                        yield probe(identity, policy, who, action, KEY, ok,
                                    f"CertKey: {who} {'cannot' if ok else 'may'} {action} "
                                    f"for secret {narrower}", **{**context,
                                    "kms:EncryptionContext:SecretARN": narrower})


def check_renewal_queue_senders(resources, params) -> Iterator[Expect | str]:
    """Only the sweep and the watch write renewals, and the issuer sends anew one it received:
    a message there is acted on unchecked."""
    policy = _queue_policy(resources, "RenewalQueue")
    for principal, wanted in ((SWEEP_ROLE, True), (WATCH_ROLE, True), (ISSUER_ROLE, True),
                              (role_of(ACCOUNT, "alpha-ci"), False), (READER_ROLE, False),
                              (role_of(ALPHA_ACCOUNT, "alpha-ci"), False)):
        yield probe(own_policy("sqs:*"), policy, principal, "sqs:SendMessage", RENEWAL_QUEUE,
                    wanted, f"RenewalQueue: {principal} (with sqs:* of its own) "
                    f"{'cannot' if wanted else 'may'} send renewals")


def check_issuer_invokers(resources, params) -> Iterator[Expect | str]:
    """Only the request rule and the catch rule may invoke the issuer through its resource
    policy (the queue is polled with the issuer's own role); a direct Invoke is an operator's
    IAM action, in this account only."""
    function = f"<{ISSUER.function}.Arn>"
    policy = [Statement(name, permission_statement(name, p["Properties"], function))
              for name, p in _resources_of(resources, "AWS::Lambda::Permission").items()
              if p["Properties"].get("FunctionName") in (f"<{ISSUER.function}>", function)]
    rule = "<IssueRequestRule.Arn>"
    other_rule = f"arn:{PARTITION}:events:{REGION}:{ACCOUNT}:rule/someone-elses"
    catch = f"<{CATCH_RULE}.Arn>"
    for principal, context, wanted in (
        ("events.amazonaws.com", {"aws:SourceArn": rule, "aws:SourceAccount": ACCOUNT}, True),
        ("events.amazonaws.com", {"aws:SourceArn": catch, "aws:SourceAccount": ACCOUNT}, True),
        ("events.amazonaws.com", {"aws:SourceArn": other_rule, "aws:SourceAccount": ACCOUNT},
         False),
        ("events.amazonaws.com", {}, False),
        ("sqs.amazonaws.com", {"aws:SourceArn": RENEWAL_QUEUE}, False),
        ("s3.amazonaws.com", {"aws:SourceArn": BUCKET}, False),
    ):
        yield probe([], policy, principal, "lambda:InvokeFunction", function, wanted,
                    f"issuer: its resource policy {'refuses' if wanted else 'admits'} "
                    f"{principal} with {context}", **context)
    for account in (*team_accounts(params), OTHER_ACCOUNT):
        yield probe(own_policy(), policy, role_of(account, "admin"), "lambda:InvokeFunction",
                    function, False, f"issuer: an administrator of account {account} may "
                    "invoke it")


def _denies_plain_http(resources, queue: str) -> Iterator[Expect]:
    """An administrator of this account with sqs:* of its own reaches the queue over TLS only."""
    policy = _queue_policy(resources, queue)
    admin = role_of(ACCOUNT, "platform-admin")
    for action in ("sqs:ReceiveMessage", "sqs:SendMessage"):
        yield probe(own_policy("sqs:*"), policy, admin, action, f"<{queue}.Arn>", False,
                    f"{queue}: does not deny {action} over plain HTTP",
                    **{"aws:SecureTransport": "false"})


def check_secret(resources, params) -> Iterator[str]:
    secret = resources.get("SlackWebhookSecret", {}).get("Properties")
    if secret is None:
        yield "SlackWebhookSecret is missing"
        return
    if secret.get("KmsKeyId") != KEY:
        yield f"SlackWebhookSecret: encrypted with {secret.get('KmsKeyId')!r}, not CertKey"
    if str(secret.get("SecretString", "")).startswith(("https://", "http://")):
        yield "SlackWebhookSecret: a real webhook URL is in the template"


def check_function(resources, params) -> Iterator[str]:
    zones = params["HostedZoneIds"]
    zones = zones if isinstance(zones, str) else ",".join(zones)
    directory = (
        params.get("DirectoryUrlOverride")
        or EXPECTED_DIRECTORIES[params.get("AcmeCa", "production")]
    )
    watch_scheduled = params.get("WatchSchedule") != ""  # absent: the default schedule
    shared_env = {
        "CERT_BUCKET": "<CertBucket>",
        "KMS_KEY_ID": KEY,  # the ARN: the bucket policy compares it with the key-id header
        "ALLOWED_ZONES": zones,
        "ACME_DIRECTORY_URL": directory,
        "SLACK_WEBHOOK_SECRET": SECRET,
        "SWEEP_INTERVAL_DAYS": str(params.get("SweepIntervalDays", 7)),
    }
    job_env = {
        "RENEWAL_QUEUE_URL": "<RenewalQueue>",
        # Only where the watch runs: the sweep then leaves ARI windows to it.
        "WATCH_INTERVAL_HOURS": WATCH_INTERVAL_HOURS if watch_scheduled else "",
        # The sweep and the watch check their schedules against it; the issuer never sees it.
        "SHORTEST_LIFETIME_DAYS": str(params.get("ShortestLifetimeDays", 45)),
    }
    expected_env = {
        ISSUER.function: {
            **shared_env,
            # The store's check that the lifecycle rule cannot outrun a certificate.
            "ARCHIVED_KEY_RETENTION_DAYS": str(
                params.get("ArchivedKeyRetentionDays", RETENTION_DEFAULT_DAYS)
            ),
        },
        SWEEP.function: {**shared_env, **job_env},
        WATCH.function: {
            **shared_env,
            **job_env,
            "EXPIRY_WARNING_DAYS": str(params.get("ExpiryWarningDays", 14)),
        },
    }
    for spec in FUNCTIONS:
        name = spec.function
        function = resources.get(name, {}).get("Properties")
        if function is None:
            yield f"{name} is missing"
            continue
        if function.get("Runtime") != "python3.13" or function.get("Architectures") != ["arm64"]:
            yield f"{name}: not python3.13 on arm64"
        low, high = spec.timeout
        if not low <= int(function.get("Timeout", 0)) <= high:
            yield f"{name}: timeout {function.get('Timeout')} is not within {low}-{high} s"
        if function.get("Role") != f"<{spec.role}.Arn>":
            yield f"{name}: runs as {function.get('Role')}, not {spec.role}"
        logging = function.get("LoggingConfig", {})
        if logging.get("LogFormat") != "JSON" or logging.get("LogGroup") != f"<{spec.log_group}>":
            yield f"{name}: logging is {logging}"
        group = resources.get(spec.log_group, {}).get("Properties", {})
        if not group.get("RetentionInDays"):
            yield f"{spec.log_group}: no retention"
        env = function.get("Environment", {}).get("Variables", {})
        for variable, value in expected_env[name].items():
            if env.get(variable) != value:
                yield f"{name}: {variable}={env.get(variable)!r}, expected {value!r}"
        if name == ISSUER.function and "RENEWAL_QUEUE_URL" in env:
            yield f"{name}: RENEWAL_QUEUE_URL is for the sweep and the watch"
        for variable in ("ACME_CA_BUNDLE", "DNS_SERVER_OVERRIDE", "WATCH_ALLOW_LOOPBACK"):
            if variable in env:
                yield f"{name}: {variable} is for the local stack only"
        layers = function.get("Layers", [])
        if len(layers) != 1:
            yield f"{name}: layers {layers}"


def _alarms(resources) -> list[dict[str, Any]]:
    return [a["Properties"] for a in _resources_of(resources, "AWS::CloudWatch::Alarm").values()]


def _queue_depth_alarm(resources, queue: str) -> bool:
    return any(
        a.get("MetricName") == "ApproximateNumberOfMessagesVisible"
        and {"Name": "QueueName", "Value": f"<{queue}.QueueName>"} in a.get("Dimensions", [])
        and float(a.get("Threshold", -1)) == 0
        and a.get("ComparisonOperator") == "GreaterThanThreshold"
        for a in _alarms(resources)
    )


def _queue_policy(resources, queue: str) -> list[Statement]:
    return [
        Statement(name, raw)
        for name, r in _resources_of(resources, "AWS::SQS::QueuePolicy").items()
        if f"<{queue}>" in as_list(r["Properties"].get("Queues"))
        for raw in as_list(r["Properties"]["PolicyDocument"].get("Statement"))
    ]


def check_dead_letters(resources, params) -> Iterator[Expect | str]:
    configs = _resources_of(resources, "AWS::Lambda::EventInvokeConfig")
    for spec in FUNCTIONS:
        mine = {
            n: r["Properties"]
            for n, r in configs.items()
            if r["Properties"].get("FunctionName") == f"<{spec.function}>"
        }
        if len(mine) != 1:
            yield f"{spec.function}: {len(mine)} EventInvokeConfigs, expected 1"
        for name, config in mine.items():
            destination = (
                config.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
            )
            if destination != DLQ:
                yield f"{name}: OnFailure goes to {destination!r}, not the DLQ"
            retries = config.get("MaximumRetryAttempts")
            if retries != spec.retries:
                yield f"{name}: MaximumRetryAttempts={retries}, expected {spec.retries}"
            if not config.get("MaximumEventAgeInSeconds"):
                yield f"{name}: no MaximumEventAgeInSeconds"
        yield expect(identity_statements(resources, spec.role), _queue_policy(
            resources, "DeadLetterQueue"), Request(f"<{spec.role}.Arn>", "sqs:SendMessage", DLQ),
            True, f"{spec.role}: cannot send to the DLQ (Lambda rejects the destination)")
        if not any(
            a.get("MetricName") == "Errors"
            and {"Name": "FunctionName", "Value": f"<{spec.function}>"} in a.get("Dimensions", [])
            for a in _alarms(resources)
        ):
            yield f"no alarm on {spec.label} errors"
    queue = resources.get("DeadLetterQueue", {}).get("Properties")
    if queue is None:
        yield "DeadLetterQueue is missing"
        return
    if not (queue.get("SqsManagedSseEnabled") is True or queue.get("KmsMasterKeyId")):
        yield "DeadLetterQueue: not encrypted"
    if not _queue_depth_alarm(resources, "DeadLetterQueue"):
        yield "no alarm on messages in the DLQ"
    # Every alarm tells someone: the topic given, else the stack's own.
    topic = params.get("AlarmTopicArn") or "<AlarmTopic>"
    for alarm in _alarms(resources):
        actions = alarm.get("AlarmActions")
        if actions != [topic]:
            yield f"alarm {alarm.get('MetricName')}: actions {actions}, not {topic}"
    dlq_policy = _queue_policy(resources, "DeadLetterQueue")
    functions = {f"<{spec.function}.Arn>" for spec in FUNCTIONS}
    for name, rule in _resources_of(resources, "AWS::Events::Rule").items():
        for target in rule["Properties"].get("Targets", []):
            if target.get("Arn") not in functions:
                continue
            if target.get("DeadLetterConfig", {}).get("Arn") != DLQ:
                yield f"{name}: undeliverable events do not go to the DLQ"
                continue
            context = {"aws:SourceArn": f"<{name}.Arn>", "aws:SourceAccount": ACCOUNT}
            yield probe([], dlq_policy, "events.amazonaws.com", "sqs:SendMessage", DLQ, True,
                        f"{name}: EventBridge may not deliver its dead letters to the DLQ",
                        **context)
    other_rule = f"arn:{PARTITION}:events:{REGION}:{OTHER_ACCOUNT}:rule/r"
    yield probe([], dlq_policy, "events.amazonaws.com", "sqs:SendMessage", DLQ, False,
                "DeadLetterQueue: EventBridge delivers another account's rules' dead letters",
                **{"aws:SourceArn": other_rule, "aws:SourceAccount": OTHER_ACCOUNT})
    yield from _denies_plain_http(resources, "DeadLetterQueue")


def check_renewal_queue(resources, params) -> Iterator[Expect | str]:
    queue = resources.get("RenewalQueue", {}).get("Properties")
    dead = resources.get("RenewalDeadLetterQueue", {}).get("Properties")
    if queue is None or dead is None:
        yield "RenewalQueue or RenewalDeadLetterQueue is missing"
        return
    for name, props in (("RenewalQueue", queue), ("RenewalDeadLetterQueue", dead)):
        if not (props.get("SqsManagedSseEnabled") is True or props.get("KmsMasterKeyId")):
            yield f"{name}: not encrypted"
        if props.get("FifoQueue"):
            yield f"{name}: FIFO (the issuer's deduplication expects a standard queue)"
        if int(props.get("MessageRetentionPeriod", 345600)) != 1209600:
            yield f"{name}: retention {props.get('MessageRetentionPeriod')} s, expected 14 days"
        yield from _denies_plain_http(resources, name)
        yield probe([], _queue_policy(resources, name), role_of(OTHER_ACCOUNT, "x"),
                    "sqs:SendMessage", f"<{name}.Arn>", False,
                    f"{name}: its queue policy admits another account")
    issuer_timeout = int(
        resources.get(ISSUER.function, {}).get("Properties", {}).get("Timeout", 900)
    )
    visibility = int(queue.get("VisibilityTimeout", 30))
    if visibility < 6 * issuer_timeout:
        yield (
            f"RenewalQueue: VisibilityTimeout {visibility} s is under six times the issuer's "
            f"timeout ({6 * issuer_timeout} s)"
        )
    redrive = queue.get("RedrivePolicy")
    if not redrive:
        yield "RenewalQueue: no RedrivePolicy (failed renewals would circle for 14 days)"
    else:
        if redrive.get("deadLetterTargetArn") != RENEWAL_DLQ:
            yield f"RenewalQueue: RedrivePolicy targets {redrive.get('deadLetterTargetArn')!r}"
        receives = int(redrive.get("maxReceiveCount", 0))
        if receives < RENEWAL_QUEUE_MIN_RECEIVES:
            yield (
                f"RenewalQueue: RedrivePolicy maxReceiveCount {receives} < "
                f"{RENEWAL_QUEUE_MIN_RECEIVES}: deferrals would send live renewals to the DLQ"
            )
    if not _queue_depth_alarm(resources, "RenewalDeadLetterQueue"):
        yield "no alarm on messages in the renewal DLQ"


def check_event_source_mapping(resources, params) -> Iterator[str]:
    mappings = {
        n: r["Properties"]
        for n, r in _resources_of(resources, "AWS::Lambda::EventSourceMapping").items()
    }
    from_queue = {n: m for n, m in mappings.items() if m.get("EventSourceArn") == RENEWAL_QUEUE}
    if len(from_queue) != 1:
        yield f"RenewalQueue: {len(from_queue)} event source mappings, expected 1 (the issuer)"
    concurrency = str(params.get("RenewalConcurrency", 3))
    for name, mapping in from_queue.items():
        if mapping.get("FunctionName") != f"<{ISSUER.function}>":
            yield f"{name}: the renewal queue feeds {mapping.get('FunctionName')}, not the issuer"
        if int(mapping.get("BatchSize", 10)) != 1:
            yield f"{name}: BatchSize {mapping.get('BatchSize')}, expected 1"
        if mapping.get("FunctionResponseTypes") != ["ReportBatchItemFailures"]:
            yield (
                f"{name}: FunctionResponseTypes {mapping.get('FunctionResponseTypes')}, "
                "expected [ReportBatchItemFailures]"
            )
        if mapping.get("Enabled") is False:
            yield f"{name}: disabled"
        maximum = mapping.get("ScalingConfig", {}).get("MaximumConcurrency")
        if str(maximum) != concurrency or not 2 <= int(maximum or 0) <= 10:
            yield f"{name}: ScalingConfig.MaximumConcurrency {maximum!r}, expected {concurrency}"
        # Lambda's advice: a queue's maximum concurrency above the function's reserved
        # concurrency throttles messages, and each throttled delivery counts as a receive.
        reserved = (
            resources.get(ISSUER.function, {}).get("Properties", {})
            .get("ReservedConcurrentExecutions")
        )
        if reserved is not None and maximum is not None and int(maximum) > int(reserved):
            yield (
                f"{name}: MaximumConcurrency {maximum} exceeds the issuer's reserved "
                f"concurrency {reserved}"
            )
    for name, mapping in mappings.items():
        if mapping.get("EventSourceArn") != RENEWAL_QUEUE:
            yield f"{name}: unexpected event source {mapping.get('EventSourceArn')}"


def check_schedules(resources, params) -> Iterator[str]:
    rules = _resources_of(resources, "AWS::Events::Rule")
    permissions = _resources_of(resources, "AWS::Lambda::Permission")
    for spec, parameter in SCHEDULED:
        expression = params.get(parameter)  # None: the template's default schedule
        arn = f"<{spec.function}.Arn>"
        targeting = {
            name: (rule["Properties"], target)
            for name, rule in rules.items()
            for target in rule["Properties"].get("Targets", [])
            if target.get("Arn") == arn
        }
        if expression == "":
            if targeting:
                yield f"{sorted(targeting)}: run the {spec.label} although {parameter} is empty"
            continue
        if len(targeting) != 1:
            yield f"{spec.label}: {len(targeting)} schedule rules, expected 1 ({parameter})"
        for name, (rule, target) in targeting.items():
            scheduled = rule.get("ScheduleExpression")
            if not scheduled or (expression is not None and scheduled != expression):
                yield f"{name}: schedule {rule.get('ScheduleExpression')!r}, not {parameter}"
            if rule.get("State") != "ENABLED":
                yield f"{name}: state {rule.get('State')!r}"
            extra = sorted({"Input", "InputPath", "InputTransformer"} & set(target))
            if extra:
                yield f"{name}: the scheduled event needs no input, but the target sets {extra}"
            if not any(
                p["Properties"].get("FunctionName") == f"<{spec.function}>"
                and p["Properties"].get("Principal") == "events.amazonaws.com"
                and p["Properties"].get("SourceArn") == f"<{name}.Arn>"
                for p in permissions.values()
            ):
                yield f"{name}: no Lambda permission for this rule to invoke the {spec.label}"


# ------------------------------------------------------------------------------ partition
ARN = re.compile(r"\barn:([^:\s]*):")


def _strings(node: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _strings(value, f"{path}[{index}]")


def foreign_partitions(resources: dict[str, dict[str, Any]], partition: str) -> list[str]:
    """ARNs outside the stack's partition, for a stack resolved with AWS::Partition=`partition`.

    In the `aws` partition a hard-coded `arn:aws:` is indistinguishable from
    ${AWS::Partition}; resolved for another partition it is an ARN that names the wrong one
    (a partition wildcard such as `arn:*:` matches every partition and passes).
    """
    found: list[str] = []
    for name, resource in resources.items():
        for path, text in _strings(resource["Properties"], name):
            for match in ARN.finditer(text):
                if not glob_match(match.group(1), partition):
                    found.append(
                        f"{path}: {text!r} names partition {match.group(1)!r} in a stack in "
                        f"{partition!r}: use ${{AWS::Partition}}"
                    )
    return found
