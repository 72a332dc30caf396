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

from .iam_sim import Principal, Stack, evaluate
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
EAB_SECRETS = f"{SECRETS_ARN}/acme-eab/*"  # the CAs' EAB credentials: <stack>/acme-eab/<ca>
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
    "kms:Sign",
    "kms:Verify",
    "kms:GenerateMac",
    "kms:VerifyMac",
    "kms:DeriveSharedSecret",
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
    "sqs:ChangeMessageVisibility": {RENEWAL_QUEUE},  # jobs/issue/entry.py come_back
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


def action_match(pattern: str, action: str) -> bool:
    return glob_match(pattern, action)  # IAM action names are case-insensitive


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

    def grants(
        self, action: str, resource: str | None = None, context: dict[str, Any] | None = None
    ) -> bool:
        if "NotAction" in self.raw:
            if any(action_match(p, action) for p in as_list(self.raw["NotAction"])):
                return False
        elif not any(action_match(p, action) for p in self.actions):
            return False
        if resource is None:
            return True
        def hit(pattern: str) -> bool:
            filled = substitute(pattern, context or {})
            return filled is not None and glob_match(filled, resource)

        if "NotResource" in self.raw:
            return not any(hit(str(p)) for p in as_list(self.raw["NotResource"]))
        return any(hit(p) for p in self.resources)


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


# --------------------------------------------------------------------- condition evaluation
UNKNOWN = None


_VARIABLE = re.compile(r"\$\{([^}]+)\}")


def substitute(text: str, context: dict[str, Any]) -> str | None:
    """Policy variables (${aws:PrincipalTag/x}) filled from the request; None if one is absent."""
    missing = False

    def one(match: re.Match[str]) -> str:
        nonlocal missing
        values = _key_values(context, match.group(1))
        if not values:
            missing = True
            return ""
        return values[0]

    filled = _VARIABLE.sub(one, text)
    return None if missing else filled


def _key_values(context: dict[str, Any], key: str) -> list[str] | None:
    for k, v in context.items():
        if k.lower() == key.lower():
            return [str(x) for x in as_list(v)]
    return None


def condition_holds(condition: dict[str, Any], context: dict[str, Any]) -> bool | None:
    """True/False when every operator is understood, UNKNOWN otherwise (or when undecidable)."""
    result: bool | None = True
    for operator, block in condition.items():
        for key, expected in block.items():
            # A value whose policy variable the request lacks matches nothing (IAM's rule).
            filled = [substitute(str(e), context) for e in as_list(expected)]
            verdict = _operator(
                operator, [f for f in filled if f is not None], _key_values(context, key)
            )
            if verdict is False:
                return False
            if verdict is UNKNOWN:
                result = UNKNOWN
    return result


def _operator(operator: str, expected: list[str], present: list[str] | None) -> bool | None:
    qualifier = ""
    if ":" in operator:
        qualifier, operator = operator.split(":", 1)
    if_exists = operator.endswith("IfExists")
    operator = operator.removesuffix("IfExists")
    if operator == "Null":
        want_absent = expected[0].lower() == "true"
        return (present is None) == want_absent
    if present is None:
        if if_exists or qualifier == "ForAllValues":
            return True
        return operator.startswith(("StringNot", "ArnNot"))
    compare = {
        "StringEquals": lambda v, e: v == e,
        "StringNotEquals": lambda v, e: v == e,
        "StringEqualsIgnoreCase": lambda v, e: v.lower() == e.lower(),
        "StringLike": lambda v, e: glob_match(e, v),
        "StringNotLike": lambda v, e: glob_match(e, v),
        "ArnEquals": lambda v, e: v == e,
        "ArnNotEquals": lambda v, e: v == e,
        "ArnLike": lambda v, e: glob_match(e, v),
        "ArnNotLike": lambda v, e: glob_match(e, v),
        "Bool": lambda v, e: v.lower() == e.lower(),
        "NumericLessThan": lambda v, e: float(v) < float(e),
    }.get(operator)
    if compare is None:
        return UNKNOWN
    negated = operator.startswith(("StringNot", "ArnNot"))

    def one(value: str) -> bool:
        hit = any(compare(value, e) for e in expected)
        return not hit if negated else hit

    if qualifier == "ForAllValues":
        return all(one(v) for v in present)
    return any(one(v) for v in present)


@dataclass
class Request:
    principal: str  # the role ARN token, e.g. READER_ROLE
    action: str
    resource: str
    context: dict[str, Any] = field(default_factory=dict)

    def full_context(self) -> dict[str, Any]:
        return {"aws:PrincipalArn": self.principal, "aws:SecureTransport": "true", **self.context}


def _principal_matches(statement: Statement, principal: str) -> bool:
    names = statement.principals
    if not names:  # identity policy: applies to its own role
        return True
    if statement.effect == "Deny" and ROOT in names:  # a Deny to the account hits everyone in it
        return True
    # An account (its id or root ARN) stands for every principal of that account.
    account = principal.split(":")[4] if principal.count(":") >= 5 else None
    return any(
        n in ("*", principal)
        or (account is not None and n in (account, f"arn:{PARTITION}:iam::{account}:root"))
        for n in names
    )


def decide(
    identity: Iterable[Statement], resource_policy: Iterable[Statement], request: Request
) -> bool:
    """Worst case for the defender: could this request be allowed?

    Allowed when some Allow (identity policy, or resource policy naming the principal) matches
    with conditions true-or-unknown, and no Deny matches with conditions surely true.
    """
    context = request.full_context()
    allowed = False
    for statement in [*identity, *resource_policy]:
        if not statement.grants(request.action, request.resource, context):
            continue
        if statement.principals and not _principal_matches(statement, request.principal):
            continue
        verdict = condition_holds(statement.condition, context)
        if statement.effect == "Deny" and verdict is True:
            return False
        if statement.effect == "Allow" and verdict is not False:
            allowed = True
    return allowed


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
    asks = []
    for e in expectations:
        context = stack.concrete(e.request.full_context())
        tags = tuple((k.split("/", 1)[1], v) for k, v in context.items()
                     if k.startswith(TAG_KEY_PREFIX))
        arn = stack.concrete(e.request.principal)
        identity = _document(e.identity)
        principal = Principal(arn, arn, tuple(stack.concrete([identity])) if identity else (),
                              tags)
        policy = _document(e.policy)
        asks.append(stack.ask(principal, e.request.action, stack.concrete(e.request.resource),
                              context, resource_account=ACCOUNT,
                              resource_policy=stack.concrete(policy)))
    return [e.message for e, d in zip(expectations, evaluate(asks), strict=True)
            if d.allowed != e.allowed]


TAG_KEY_PREFIX = "aws:PrincipalTag/"


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
        check_issuer_sqs,
        check_issuer_teams_wiring,
        check_request_bus,
        check_team_readers,
        check_renewal_queue_senders,
        check_issuer_invokers,
        check_key,
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


# What a Route 53 grant is judged by: which of these it reaches (the allowed zones are added).
ROUTE53_PROBES = (
    f"arn:{PARTITION}:route53:::hostedzone/Z0NOTALLOWED0000",
    f"arn:{PARTITION}:route53:::change/C0EXAMPLE00000",
    f"arn:{PARTITION}:s3:::not-route53",
)


def reach(patterns: Iterable[str], probes: Iterable[str]) -> frozenset[str]:
    """The probes the resource patterns match: a grant's effect, whatever its spelling."""
    return frozenset(p for p in probes if any(glob_match(r, p) for r in patterns))


ROUTE53_CHANGE_CONDITION = {
    "ForAllValues:StringLike": {
        "route53:ChangeResourceRecordSetsNormalizedRecordNames": ["_acme-challenge.*"],
    },
    "ForAllValues:StringEquals": {
        "route53:ChangeResourceRecordSetsRecordTypes": ["TXT"],
        "route53:ChangeResourceRecordSetsActions": ["CREATE", "DELETE"],
    },
}


def _normalised_condition(condition: dict[str, Any]) -> dict[str, dict[str, list[str]]]:
    return {
        op: {k: sorted(str(v) for v in as_list(vals)) for k, vals in block.items()}
        for op, block in condition.items()
    }


def check_route53(resources, params) -> Iterator[str]:
    zones = zone_arns(params)
    probes = (*sorted(zones), *ROUTE53_PROBES)
    change = f"arn:{PARTITION}:route53:::change/C0EXAMPLE00000"
    expected = {
        "route53:ListHostedZones": [(frozenset(probes), {})],
        "route53:GetHostedZone": [(frozenset(zones), {})],
        "route53:ListResourceRecordSets": [(frozenset(zones), {})],
        "route53:GetChange": [(frozenset({change}), {})],
        "route53:ChangeResourceRecordSets": [
            (frozenset(zones), _normalised_condition(ROUTE53_CHANGE_CONDITION))
        ],
    }
    granted: dict[str, list[tuple[frozenset[str], dict[str, Any]]]] = {}
    spelled: dict[str, list[list[str]]] = {}
    for statement in statements(resources):
        if statement.effect != "Allow":
            continue
        for action in statement.actions:
            if not action.lower().startswith(("route53:", "route53domains:")) and action != "*":
                continue
            if statement.owner not in ("IssuerPolicy",):
                yield f"{statement.owner}: grants {action}; only the issuer may touch Route 53"
            granted.setdefault(action, []).append(
                (reach(statement.resources, probes), _normalised_condition(statement.condition))
            )
            spelled.setdefault(action, []).append(statement.resources)
    for action, grants in granted.items():
        if action not in expected:
            yield f"Route 53: unexpected action {action} granted"
        elif grants != expected[action]:
            shown = [(sorted(r), c) for r, c in grants]
            want = [(sorted(r), c) for r, c in expected[action]]
            yield (
                f"Route 53: {action} granted on {spelled[action]}, reaching {shown}; "
                f"expected exactly {want}"
            )
    for action in expected:
        if action not in granted:
            yield f"Route 53: the issuer lacks {action}"


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


def _everyone(statement: Statement) -> bool:
    return statement.principals == ["*"]


def allowed_bucket_principals(params) -> set[str]:
    admins = params.get("AdminRoleArns", "")
    admins = admins.split(",") if isinstance(admins, str) else list(admins)
    return {ISSUER_ROLE, READER_ROLE, *JOB_ROLES} | {a for a in admins if a}


def check_bucket_policy(resources, params) -> Iterator[str]:
    policy = bucket_statements(resources)
    if not policy:
        yield "CertBucket has no bucket policy"
        return
    objects, bucket = f"{BUCKET}/*", BUCKET

    def find(predicate) -> list[Statement]:
        return [s for s in policy if s.effect == "Deny" and _everyone(s) and predicate(s)]

    tls = find(
        lambda s: (
            "s3:*" in s.actions
            and {bucket, objects} <= set(s.resources)
            and _normalised_condition(s.condition) == {"Bool": {"aws:SecureTransport": ["false"]}}
        )
    )
    if not tls:
        yield "CertBucketPolicy: no unconditional deny of non-TLS requests (aws:SecureTransport)"
    unencrypted = find(
        lambda s: (
            s.grants("s3:PutObject", f"{BUCKET}/any/key")
            and _normalised_condition(s.condition)
            == {"StringNotEquals": {"s3:x-amz-server-side-encryption": ["aws:kms"]}}
        )
    )
    if not unencrypted:
        yield "CertBucketPolicy: no deny of PutObject without aws:kms (exactly that condition)"
    wrong_key = find(
        lambda s: (
            s.grants("s3:PutObject", f"{BUCKET}/any/key")
            and _normalised_condition(s.condition)
            == {"StringNotEquals": {"s3:x-amz-server-side-encryption-aws-kms-key-id": [KEY]}}
        )
    )
    if not wrong_key:
        yield (
            "CertBucketPolicy: no deny of PutObject naming another KMS key (exactly that condition)"
        )
    expected_principals = sorted(allowed_bucket_principals(params))
    for action, resource, label in (
        ("s3:GetObject", f"{BUCKET}/name/privkey.pem", "objects"),
        ("s3:PutObject", f"{BUCKET}/name/privkey.pem", "objects"),
        ("s3:DeleteObjectVersion", f"{BUCKET}/name/privkey.pem", "objects"),
        ("s3:ListBucket", BUCKET, "listing"),
    ):
        # The guard may spare tagged team principals: check_team_readers holds them to
        # their prefix.
        guards = find(
            lambda s, a=action, r=resource: (
                s.grants(a, r)
                and {k: v for k, v in _normalised_condition(s.condition).items()
                     if (k, v) != ("Null", {TEAM_TAG: ["true"]})}
                == {"ArnNotLike": {"aws:PrincipalArn": expected_principals}}
            )
        )
        if not guards:
            yield (
                f"CertBucketPolicy: {label} ({action}) are not denied to every principal but "
                f"{expected_principals}"
            )
    for statement in policy:
        if statement.effect == "Allow" and not _is_team_account_read(statement, params):
            yield f"CertBucketPolicy/{statement.raw.get('Sid')}: the bucket policy must not Allow"


TEAM_PREFIX = f"{BUCKET}/${{aws:PrincipalTag/wildcert-team}}.*"


def _is_team_account_read(statement: Statement, params) -> bool:
    """The one Allow the bucket policy may hold: GetObject of <team>.* for TeamAccountIds."""
    accounts = team_accounts(params)
    return (
        bool(accounts)
        and set(statement.principals) <= set(accounts)
        and statement.actions == ["s3:GetObject"]
        and statement.resources == [TEAM_PREFIX]
        and "NotResource" not in statement.raw
    )


def check_team_readers(resources, params) -> Iterator[str]:
    """A role tagged wildcert-team=alpha reads alpha.* and nothing else, here or elsewhere."""
    bucket = bucket_statements(resources)
    team_policy = [
        Statement("TeamPolicy", raw)
        for raw in as_list(resources.get("TeamPolicy", {}).get("Properties", {})
                           .get("PolicyDocument", {}).get("Statement"))
    ]
    if not team_policy:
        yield "TeamPolicy is missing (the managed policy a team's roles attach)"
    anything = [Statement("anyone", {"Effect": "Allow", "Action": "s3:*", "Resource": "*"})]
    principals = [f"arn:{PARTITION}:iam::{ACCOUNT}:role/alpha-web"]
    principals += [f"arn:{PARTITION}:iam::{a}:role/alpha-web" for a in team_accounts(params)]
    for principal in principals:
        home = _account_of(principal) == ACCOUNT
        cross = [] if home else [s for s in bucket if s.effect == "Allow"]

        def can(identity, action, key, tag="alpha", _principal=principal, _home=home,
                _cross=cross) -> bool:
            context: dict[str, Any] = {**GOOD_SSE_HEADERS}
            if tag is not None:
                context[TEAM_TAG] = tag
            request = Request(_principal, action, f"{BUCKET}/{key}", context)
            if _home:
                return decide(identity, bucket, request)
            # Another account: its own IAM and the bucket policy must both allow.
            return decide(identity, [s for s in bucket if s.effect == "Deny"], request) and \
                decide([], [*_cross, *(s for s in bucket if s.effect == "Deny")], request)

        for key in ("alpha.web/privkey.pem", f"alpha{FLEET_SUFFIX}"):  # its inventory too
            if not can(team_policy, "s3:GetObject", key):
                yield f"team reader {principal} tagged alpha cannot read {key}"
        for identity, label in ((team_policy, "TeamPolicy"), (anything, "s3:* of its own")):
            for key in ("beta.web/privkey.pem", "_wildcert/account.json", "web/privkey.pem",
                        "alpha/privkey.pem", "alphabet.web/privkey.pem",
                        f"beta{FLEET_SUFFIX}", f"operators{FLEET_SUFFIX}"):
                if can(identity, "s3:GetObject", key):
                    yield f"team reader {principal} tagged alpha ({label}) may read {key}"
            for action in ("s3:PutObject", "s3:DeleteObject", "s3:GetObjectVersion"):
                if can(identity, action, "alpha.web/privkey.pem"):
                    yield f"team reader {principal} tagged alpha ({label}) may {action} its own"
            if can(identity, "s3:GetObject", "alpha.web/privkey.pem", tag=None) and not home:
                yield f"an untagged role of {principal} may read alpha.web/privkey.pem"
        if can(anything, "s3:GetObject", "alpha.web/privkey.pem", tag=None):
            yield f"an untagged role {principal} with s3:* may read alpha.web/privkey.pem"
        # Tag values may hold . / _ : = + @: a tag that is a path must not reach a key.
        for tag, key in (("_wildcert/acme-accounts/0123", "_wildcert/acme-accounts/0123.json"),
                         ("web/privkey", "web/privkey.pem"),
                         ("beta.web/privkey", "beta.web/privkey.pem"),
                         ("_wildcert", "_wildcert.x/y")):
            if can(anything, "s3:GetObject", key, tag=tag):
                yield f"a role {principal} tagged {tag!r} may read {key}"
    stranger = f"arn:{PARTITION}:iam::{OTHER_ACCOUNT}:role/alpha-web"
    request = Request(stranger, "s3:GetObject", f"{BUCKET}/alpha.web/privkey.pem",
                      {TEAM_TAG: "alpha"})
    if decide([], bucket, request):
        yield f"the bucket policy admits {stranger}, not in TeamAccountIds"
    for statement in team_policy:
        if statement.effect == "Allow" and statement.grants("s3:GetObject") and \
                statement.resources != [TEAM_PREFIX]:
            yield f"TeamPolicy/{statement.raw.get('Sid')}: reads {statement.resources}"


def check_reader_access(resources, params) -> Iterator[str]:
    identity = identity_statements(resources, "ReaderRole")
    bucket = bucket_statements(resources)

    def can(action: str, key: str | None, **context: Any) -> bool:
        resource = BUCKET if key is None else f"{BUCKET}/{key}"
        if action.startswith("s3:Put"):  # a write that passes the bucket's encryption denies
            context = {**GOOD_SSE_HEADERS, **context}
        return decide(identity, bucket, Request(READER_ROLE, action, resource, context))

    for key in (
        "_wildcert/account/key.json",
        "_wildcert/account.pem",
        "_wildcert/name/cert.json",
        "_wildcert/leases/name.pem",
    ):
        for action in ("s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:DeleteObject"):
            if can(action, key):
                yield f"reader role: may {action} {key}"
    for prefix in ("_wildcert/", "_", "", None):
        context = {} if prefix is None else {"s3:prefix": prefix}
        if can("s3:ListBucket", None, **context):
            yield f"reader role: may list the bucket with prefix {prefix!r}"
    for key in ("example-com/privkey.pem", "example-com/cert.json"):
        for action in ("s3:PutObject", "s3:DeleteObject", "s3:PutObjectAcl"):
            if can(action, key):
                yield f"reader role: may {action} {key}"
    # The puller installs the live set from the archive cert.json names, key included: a
    # blanket Deny of archived keys would break it (expired ones are deleted instead).
    for key in ("example-com/cert.json", "example-com/fullchain.pem", "example-com/privkey.pem",
                ARCHIVED_KEY):
        if not can("s3:GetObject", key):
            yield f"reader role: cannot GetObject {key} (the reader is broken)"
    for key in ("example-com/privkey.pem", ARCHIVED_KEY):
        for action in ("s3:GetObjectVersion", "s3:GetObjectVersionAttributes"):
            if can(action, key):
                yield f"reader role: may {action} {key} (old private keys)"
    if not any(
        s.effect == "Deny" and READER_ROLE in s.principals and not s.condition
        and all(s.grants("s3:GetObjectVersion", f"{BUCKET}/{k}")
                for k in ("example-com/privkey.pem", ARCHIVED_KEY))
        for s in bucket
    ):
        yield "CertBucketPolicy: no Deny of old private-key versions for the reader"
    if not can("s3:ListBucket", None, **{"s3:prefix": "example-com/"}):
        yield "reader role: cannot list a certificate's prefix"
    for statement in identity:
        if statement.effect == "Allow" and any(
            not a.lower().startswith(("s3:get", "s3:list", "kms:decrypt"))
            for a in statement.actions
        ):
            sid = statement.raw.get("Sid")
            yield f"reader role: {statement.owner}/{sid} grants {statement.actions}"


def check_issuer_access(resources, params) -> Iterator[str]:
    identity = identity_statements(resources, "IssuerRole")
    bucket = bucket_statements(resources)
    good = GOOD_SSE_HEADERS

    def can(principal: str, action: str, key: str, context: dict[str, Any]) -> bool:
        ident = (
            identity
            if principal == ISSUER_ROLE
            else [Statement("anyone", {"Effect": "Allow", "Action": "s3:*", "Resource": "*"})]
        )
        return decide(ident, bucket, Request(principal, action, f"{BUCKET}/{key}", context))

    if not can(ISSUER_ROLE, "s3:PutObject", "_wildcert/account.json", good):
        yield "issuer role: cannot write its state with the right encryption headers"
    if can(ISSUER_ROLE, "s3:PutObject", "name/cert.pem", {}):
        yield "issuer role: may PutObject without SSE-KMS headers"
    if can(
        ISSUER_ROLE,
        "s3:PutObject",
        "name/cert.pem",
        {
            **good,
            "s3:x-amz-server-side-encryption-aws-kms-key-id": OTHER_KEY,
        },
    ):
        yield "issuer role: may PutObject with another KMS key"
    if can(ISSUER_ROLE, "s3:PutObject", "name/cert.pem", {**good, "aws:SecureTransport": "false"}):
        yield "issuer role: may PutObject without TLS"
    # Archived keys carry the lifecycle tag: PutObject with Tagging needs PutObjectTagging too,
    # on exactly those keys, and the bucket's encryption denies still let the write through.
    tagged = {**good, "s3:RequestObjectTag/wildcert-key": "archived"}
    for action in ("s3:PutObject", "s3:PutObjectTagging"):
        if not can(ISSUER_ROLE, action, ARCHIVED_KEY, tagged):
            yield f"issuer role: cannot {action} {ARCHIVED_KEY} with its lifecycle tag"
    for key in ("example-com/privkey.pem", "example-com/cert.json", *ARCHIVED_OTHERS,
                "_wildcert/acme-accounts/0123456789abcdef.json"):
        if can(ISSUER_ROLE, "s3:PutObjectTagging", key, tagged):
            yield f"issuer role: may s3:PutObjectTagging {key}"
    for action in ("s3:PutObjectVersionTagging", "s3:DeleteObjectTagging",
                   "s3:DeleteObjectVersionTagging"):
        if can(ISSUER_ROLE, action, ARCHIVED_KEY, tagged):
            yield f"issuer role: may {action} {ARCHIVED_KEY}"
    stranger = f"arn:aws:iam::{ACCOUNT}:role/someone-with-s3-star"
    if can(stranger, "s3:GetObject", "name/privkey.pem", {}):
        yield "a role with s3:* in its own policy may read private keys"
    secrets = [
        s
        for s in identity
        if s.effect == "Allow" and any(a.lower().startswith("secretsmanager:") for a in s.actions)
    ]
    if [(s.actions, s.resources) for s in secrets] != [
        (["secretsmanager:GetSecretValue"], [SECRET]),
        (["secretsmanager:GetSecretValue"], [TEAM_SECRETS]),
        (["secretsmanager:GetSecretValue"], [EAB_SECRETS]),
    ]:
        granted = [(s.actions, s.resources) for s in secrets]
        yield f"issuer role: Secrets Manager access is {granted}"


def check_renewal_job_access(resources, params) -> Iterator[str]:
    """The sweep and the watch read and annotate <name>/cert.json, list names, queue renewals."""
    bucket = bucket_statements(resources)
    for spec in RENEWAL_JOBS:
        role = f"<{spec.role}.Arn>"
        identity = identity_statements(resources, spec.role)

        def can(action: str, key: str | None, _identity=identity, _role=role, **context) -> bool:
            resource = BUCKET if key is None else f"{BUCKET}/{key}"
            if action.startswith("s3:Put"):  # a write that passes the bucket's encryption denies
                context = {**GOOD_SSE_HEADERS, **context}
            return decide(_identity, bucket, Request(_role, action, resource, context))

        who = f"{spec.label} role"
        for key in ("example-com/cert.json", "a.b-c_d/cert.json", f"alpha{FLEET_SUFFIX}",
                    f"operators{FLEET_SUFFIX}"):
            for action in ("s3:GetObject", "s3:PutObject"):
                if not can(action, key):
                    yield f"{who}: cannot {action} {key} (the inventory is broken)"
        if not can("s3:ListBucket", None, **{"s3:delimiter": "/"}):
            yield f"{who}: cannot list the certificate names (ListObjectsV2, Delimiter='/')"
        if can("s3:PutObject", "example-com/cert.json",
               **{"s3:x-amz-server-side-encryption-aws-kms-key-id": OTHER_KEY}):
            yield f"{who}: may PutObject cert.json with another KMS key"
        for key in (
            "example-com/privkey.pem",
            "example-com/fullchain.pem",
            "example-com/archive/0abc/privkey.pem",
            "example-com/archive/0abc/cert.json",
            "_wildcert/acme-accounts/0123456789abcdef.json",
            "_wildcert/inflight/example-com.json",
            "_wildcert/example-com/cert.json",
            "_wildcert/cert.json",
            f"example-com/x{FLEET_SUFFIX}",
            f"_wildcert/alpha{FLEET_SUFFIX}",
        ):
            for action in ("s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"):
                if can(action, key):
                    yield f"{who}: may {action} {key}"
        for key in ("example-com/cert.json", "example-com/privkey.pem", *ARCHIVED_OTHERS,
                    "_wildcert/archive/0abc/privkey.pem"):
            for action in ("s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObjectAcl"):
                if can(action, key):
                    yield f"{who}: may {action} {key}"
        # Only the watch deletes expired archived keys (a delete marker: never a version).
        if can("s3:DeleteObjectVersion", ARCHIVED_KEY):
            yield f"{who}: may s3:DeleteObjectVersion {ARCHIVED_KEY}"
        if spec is WATCH:
            for action, key in (("s3:DeleteObject", ARCHIVED_KEY),
                                ("s3:GetObject", ARCHIVED_OTHERS[0])):
                if not can(action, key):
                    yield f"{who}: cannot {action} {key} (expired archived keys stay)"
        elif can("s3:DeleteObject", ARCHIVED_KEY):
            yield f"{who}: may s3:DeleteObject {ARCHIVED_KEY}"
        # Defence in depth, as for the reader: its own Deny and the bucket's each keep
        # wildcert's state out of reach of a later, wider Allow.
        state = f"{BUCKET}/_wildcert/acme-accounts/x.json"
        if not any(s.effect == "Deny" and s.grants("s3:GetObject", state)
                   and s.grants("s3:PutObject", state) and not s.condition for s in identity):
            yield f"{who}: no explicit Deny of _wildcert/ in its own policy"
        if not any(s.effect == "Deny" and role in s.principals and s.grants("s3:GetObject", state)
                   and not s.condition for s in bucket):
            yield f"CertBucketPolicy: no Deny of _wildcert/ for the {who}"
        # Exactly what the code calls, on exactly these resources.
        expected = {
            "logs:CreateLogStream": {f"<{spec.log_group}.Arn>"},
            "logs:PutLogEvents": {f"<{spec.log_group}.Arn>"},
            # cert.json, and the fleet inventory (adapters/bucket/fleet.py)
            "s3:GetObject": {f"{BUCKET}/*/cert.json", f"{BUCKET}/*{FLEET_SUFFIX}"},
            "s3:PutObject": {f"{BUCKET}/*/cert.json", f"{BUCKET}/*{FLEET_SUFFIX}"},
            "s3:ListBucket": {BUCKET},
            "sqs:SendMessage": {RENEWAL_QUEUE, DLQ},
            "secretsmanager:GetSecretValue": {SECRET},
        }
        if spec is WATCH:  # archive.ArchivedKeys
            expected["s3:GetObject"] |= {f"{BUCKET}/*/archive/*/cert.pem"}
            expected["s3:DeleteObject"] = {f"{BUCKET}/*/archive/*/privkey.pem"}
        granted: dict[str, set[str]] = {}
        for statement in identity:
            if statement.effect != "Allow":
                continue
            for action in statement.actions:
                if action.lower().startswith(("route53:", "route53domains:")):
                    yield f"{who}: grants {action}; only the issuer may touch Route 53"
                granted.setdefault(action, set()).update(statement.resources)
        for action, where in sorted(granted.items()):
            if action not in expected:
                yield f"{who}: grants {action}, which the sweep/watch code never calls"
            elif where != expected[action]:
                yield f"{who}: {action} on {sorted(where)}, expected {sorted(expected[action])}"
        for action in sorted(set(expected) - set(granted)):
            yield f"{who}: lacks {action}"


def check_issuer_sqs(resources, params) -> Iterator[str]:
    granted: dict[str, set[str]] = {}
    for statement in identity_statements(resources, "IssuerRole"):
        if statement.effect != "Allow":
            continue
        for action in statement.actions:
            if action.lower().startswith("sqs:"):
                granted.setdefault(action, set()).update(statement.resources)
    if granted != ISSUER_SQS:
        shown = {a: sorted(r) for a, r in sorted(granted.items())}
        yield f"issuer role: SQS access is {shown}, expected {ISSUER_SQS}"


def check_issuer_teams_wiring(resources, params) -> Iterator[str]:
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
    allows = [s for s in identity if s.effect == "Allow" and s.grants("events:PutEvents")]
    for statement in allows:
        if statement.resources != [REQUEST_BUS]:
            yield f"issuer role: events:PutEvents on {statement.resources}, not the request bus"
    # Its own policy alone (the bus's Denies are checked with the bus).
    for sources, wanted in ((["wildcert"], True), (["wildcert", "wildcert"], True),
                            (["wildcert.team.alpha"], False), (["aws.s3"], False),
                            (["wildcert", "wildcert.team.alpha"], False), ([], False)):
        context = {"events:source": sources} if sources else {}
        request = Request(ISSUER_ROLE, "events:PutEvents", REQUEST_BUS, context)
        yield expect(identity, [], request, wanted,
                     f"issuer role: {'cannot' if wanted else 'may'} put events with "
                     f"sources {sources}")


TEAM_TAG = "aws:PrincipalTag/wildcert-team"
TEAM_SOURCE = "wildcert.team.${aws:PrincipalTag/wildcert-team}"
OTHER_ACCOUNT = "999988887777"  # never a team account in the parameter sets


def team_accounts(params) -> list[str]:
    return [a for a in str(params.get("TeamAccountIds", "")).split(",") if a]


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


CATCH_RULE = "UnmatchedRequestRule"
FLEET_SUFFIX = "._inventory.json"  # logic/fleet.py: <owner>._inventory.json at the top level


def check_request_bus(resources, params) -> Iterator[str]:
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
    allows = [s for s in policy if s.effect == "Allow"]
    # Worst case: the sender's own IAM policy allows events:PutEvents on everything. Within
    # the account that is enough unless the bus policy denies; from another account the bus
    # policy must also allow it. Each side alone must hold the line: the Denies for every
    # principal, the Allow for the other accounts (a Deny loosened later must not leave the
    # Allow as the only guard). One PutEvents call carries one source per entry.
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
        (f"arn:{PARTITION}:iam::{OTHER_ACCOUNT}:role/alpha-ci", [alpha], "alpha", False),
    ]
    for account in accounts:
        away = f"arn:{PARTITION}:iam::{account}:role/alpha-ci"
        cases += [(away, [alpha], "alpha", True),
                  (away, [beta], "alpha", False),
                  (away, [alpha, beta], "alpha", False),
                  (away, [alpha], None, False),
                  (away, ["wildcert"], "alpha", False)]
    anything = [Statement("anyone", {"Effect": "Allow", "Action": "events:PutEvents",
                                     "Resource": "*"})]
    for principal, sources, tag, wanted in cases:
        context: dict[str, Any] = {"events:source": sources}
        if tag is not None:
            context[TEAM_TAG] = tag
        request = Request(principal, "events:PutEvents", REQUEST_BUS, context)
        yield expect(anything, policy, request, wanted,
                     f"request bus: a role {principal} tagged {tag!r} "
                     f"{'cannot' if wanted else 'may'} put sources {sources}")
        if _account_of(principal) != ACCOUNT and not wanted:
            yield expect(anything, allows, request, False,
                         f"request bus: its Allow alone lets {principal} tagged {tag!r} "
                         f"put sources {sources}")
    issuer = identity_statements(resources, "IssuerRole")
    yield expect(issuer, policy, Request(ISSUER_ROLE, "events:PutEvents", REQUEST_BUS,
                                         {"events:source": ["wildcert"]}),
                 True, "request bus: the issuer cannot put its outcome events")


def _job_key_statement_problem(statement: Statement) -> str | None:
    """Why a key-policy statement for the sweep/watch roles grants too much, or None."""
    via = set(as_list(statement.condition.get("StringEquals", {}).get("kms:ViaService")))
    actions = set(statement.actions)
    if via == {S3_VIA} and actions <= {"kms:Decrypt", "kms:GenerateDataKey"}:
        return None
    secret_context = statement.condition.get("StringLike", {}).get(
        "kms:EncryptionContext:SecretARN", ""
    )
    if (
        via == {SM_VIA}
        and actions == {"kms:Decrypt"}
        and str(secret_context).endswith("/slack-webhook-??????")
    ):
        return None
    return (
        f"sweep/watch get {statement.actions} via {via or 'any service'}; expected Decrypt and "
        "GenerateDataKey via S3, and Decrypt via Secrets Manager for the Slack secret only"
    )


def check_key(resources, params) -> Iterator[str]:
    key = resources.get("CertKey", {}).get("Properties")
    if key is None:
        yield "CertKey is missing"
        return
    if key.get("EnableKeyRotation") is not True:
        yield "CertKey: rotation is off"
    policy = [Statement("CertKey", raw) for raw in as_list(key["KeyPolicy"].get("Statement"))]
    known = {ROOT, ISSUER_ROLE, READER_ROLE, *JOB_ROLES}
    team_readers = [s for s in policy if s.raw.get("Sid") == "TeamReadersDecryptThroughS3"]
    expected_readers = {ACCOUNT, *team_accounts(params)}
    for statement in team_readers:
        if set(statement.principals) != expected_readers or statement.actions != ["kms:Decrypt"] \
                or _normalised_condition(statement.condition) != {
                    "StringEquals": {"kms:ViaService": [S3_VIA]},
                    "Null": {TEAM_TAG: ["false"]}}:
            yield (f"CertKey/TeamReadersDecryptThroughS3: {statement.principals} get "
                   f"{statement.actions} under {statement.condition}; expected Decrypt through "
                   f"S3 by roles tagged wildcert-team of {sorted(expected_readers)}")
    if len(team_readers) != 1:
        yield f"CertKey: {len(team_readers)} statements for the teams' readers, expected 1"
    policy = [s for s in policy if s not in team_readers]
    for statement in policy:
        if statement.effect != "Allow":
            continue
        where = f"CertKey/{statement.raw.get('Sid')}"
        for principal in statement.principals:
            if principal not in known:
                yield (
                    f"{where}: key policy allows {principal}; "
                    "only root, issuer, reader, sweep and watch may appear"
                )
        crypto = [a for a in KMS_CRYPTO if statement.grants(a)]
        via = set(as_list(statement.condition.get("StringEquals", {}).get("kms:ViaService")))
        if "kms:CreateGrant" in crypto or any(a.startswith("kms:ReEncrypt") for a in crypto):
            yield f"{where}: grants {crypto}: nobody may re-encrypt or create grants"
        if statement.principals == [ROOT]:
            secret_context = statement.condition.get("StringLike", {}).get(
                "kms:EncryptionContext:SecretARN", ""
            )
            if crypto and not (
                crypto == ["kms:GenerateDataKey"]
                and via == {SM_VIA}
                and {str(c) for c in as_list(secret_context)}
                <= {f"{SECRETS_ARN}/slack-webhook-??????", TEAM_SECRETS, EAB_SECRETS}
            ):
                yield (
                    f"{where}: the account may use the key ({crypto}); only GenerateDataKey "
                    "for the Slack secret through Secrets Manager is allowed"
                )
        elif statement.principals == [READER_ROLE]:
            if statement.actions != ["kms:Decrypt"] or via != {S3_VIA}:
                yield (
                    f"{where}: reader gets {statement.actions} via {via or 'any service'}; "
                    "expected Decrypt via S3"
                )
        elif statement.principals == [ISSUER_ROLE]:
            if not via or not via <= {S3_VIA, SM_VIA}:
                yield (
                    f"{where}: issuer uses the key via {via or 'any service'}; "
                    "expected S3/Secrets Manager"
                )
            if set(statement.actions) - {"kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"}:
                yield f"{where}: issuer gets {statement.actions}"
        elif statement.principals and set(statement.principals) <= set(JOB_ROLES):
            problem = _job_key_statement_problem(statement)
            if problem:
                yield f"{where}: {problem}"
        elif crypto:
            yield f"{where}: {statement.principals} may use the key ({crypto})"
    decrypters = {
        p for s in policy if s.effect == "Allow" and s.grants("kms:Decrypt") for p in s.principals
    }
    if decrypters != {ISSUER_ROLE, READER_ROLE, *JOB_ROLES}:
        yield (
            f"CertKey: kms:Decrypt is granted to {sorted(decrypters)}, "
            "expected issuer, reader, sweep and watch only"
        )
    encrypters = {
        p
        for s in policy
        if s.effect == "Allow" and (s.grants("kms:Encrypt") or s.grants("kms:GenerateDataKey"))
        for p in s.principals
    }
    if not encrypters <= {ISSUER_ROLE, ROOT, *JOB_ROLES} or ISSUER_ROLE not in encrypters:
        yield f"CertKey: Encrypt/GenerateDataKey granted to {sorted(encrypters)}"
    # What the jobs need, or the ARI write-back and Slack fail at run time.
    for role in JOB_ROLES:
        for action, service in (
            ("kms:Decrypt", S3_VIA),
            ("kms:GenerateDataKey", S3_VIA),
            ("kms:Decrypt", SM_VIA),
        ):
            if not any(
                s.effect == "Allow"
                and role in s.principals
                and s.grants(action)
                and service in as_list(s.condition.get("StringEquals", {}).get("kms:ViaService"))
                for s in policy
            ):
                yield f"CertKey: {role} lacks {action} through {service}"


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


def _denies_plain_http(policy: list[Statement], queue: str) -> bool:
    return any(
        s.effect == "Deny"
        and _everyone(s)
        and s.grants("sqs:ReceiveMessage", f"<{queue}.Arn>")
        and s.grants("sqs:SendMessage", f"<{queue}.Arn>")
        and _normalised_condition(s.condition) == {"Bool": {"aws:SecureTransport": ["false"]}}
        for s in policy
    )


def check_dead_letters(resources, params) -> Iterator[str]:
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
        identity = identity_statements(resources, spec.role)
        if not any(s.effect == "Allow" and s.grants("sqs:SendMessage", DLQ) for s in identity):
            yield f"{spec.role}: cannot send to the DLQ (Lambda rejects the destination)"
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
            context = {"aws:SourceArn": f"<{name}.Arn>"}
            if not any(
                s.effect == "Allow"
                and "service:events.amazonaws.com" in s.principals
                and s.grants("sqs:SendMessage", DLQ)
                and condition_holds(s.condition, context) is True
                for s in dlq_policy
            ):
                yield f"{name}: EventBridge may not deliver its dead letters to the DLQ"


def check_renewal_queue(resources, params) -> Iterator[str]:
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
        if not _denies_plain_http(_queue_policy(resources, name), name):
            yield f"{name}: no queue policy denying non-TLS requests (aws:SecureTransport)"
        for statement in _queue_policy(resources, name):
            if statement.effect == "Allow":
                yield f"{name}: its queue policy Allows {statement.actions} (IAM decides)"
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


def check_renewal_queue_senders(resources, params) -> Iterator[str]:
    """Only the sweep and the watch write renewals, and the issuer sends anew one it received:
    a message there is acted on unchecked."""
    policy = _queue_policy(resources, "RenewalQueue")
    anything = [Statement("anyone", {"Effect": "Allow", "Action": "sqs:*", "Resource": "*"})]
    stranger = f"arn:{PARTITION}:iam::{ACCOUNT}:role/alpha-ci"
    for principal, wanted in ((SWEEP_ROLE, True), (WATCH_ROLE, True), (ISSUER_ROLE, True),
                              (stranger, False), (READER_ROLE, False)):
        request = Request(principal, "sqs:SendMessage", RENEWAL_QUEUE)
        if decide(anything, policy, request) != wanted:
            yield (f"RenewalQueue: {principal} (with sqs:* of its own) "
                   f"{'cannot' if wanted else 'may'} send renewals")


def check_issuer_invokers(resources, params) -> Iterator[str]:
    """Only the request rule and the catch rule may invoke the issuer through its resource
    policy (the queue is polled with the issuer's own role); a direct Invoke is an operator's
    IAM action."""
    permissions = [
        (name, p["Properties"])
        for name, p in _resources_of(resources, "AWS::Lambda::Permission").items()
        if p["Properties"].get("FunctionName") in (f"<{ISSUER.function}>",
                                                    f"<{ISSUER.function}.Arn>")
    ]
    expected = [("lambda:InvokeFunction", "events.amazonaws.com", f"<{rule}.Arn>")
                for rule in ("IssueRequestRule", CATCH_RULE)]
    found = [(p.get("Action"), p.get("Principal"), p.get("SourceArn")) for _, p in permissions]
    if sorted(found, key=str) != sorted(expected, key=str):
        yield f"issuer: its resource policy admits {found}, expected only {expected}"
    for _, props in permissions:
        extra = sorted(set(props) - {"Action", "FunctionName", "Principal", "SourceArn",
                                     "SourceAccount"})
        if extra:
            yield f"issuer: a Lambda permission sets {extra}"


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
