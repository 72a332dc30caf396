"""template.yaml's IAM, evaluated by an independent policy simulator.

`Stack(resources)` turns the resolved CloudFormation (infra_template.resolved_stack) into what
AWS would hold once it is deployed: concrete ARNs for the stack's resources, each role's
identity policies, each resource's policy (bucket, key, bus, queues, functions, role trusts).
`Principal` is someone asking (a role of the stack, a team's role in another account, an
administrator), with tags and session tags. `Stack.ask(principal, action, resource, context)`
builds the simulator's input; `evaluate(asks)` runs npm's @cloud-copilot/iam-simulate on a whole
batch in one Node process (tests/infra/iam/evaluate.mjs) and returns its decisions.

The simulator is test-only (AGPL-3.0, installed by `make deps` into tests/infra/iam/node_modules,
never part of the layer or the functions).
"""

from __future__ import annotations

import atexit
import json
import re
import subprocess
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .infra_template import ACCOUNT, PARTITION, REGION, STACK

EVALUATOR_DIR = Path(__file__).resolve().parent / "iam"
EVALUATOR = EVALUATOR_DIR / "evaluate.mjs"
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
S3_VIA = f"s3.{REGION}.amazonaws.com"
SM_VIA = f"secretsmanager.{REGION}.amazonaws.com"
ALLOWED = "Allowed"
FULL_AWS_ACCESS = {"Version": "2012-10-17",
                   "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
THE_STACKS = object()  # Stack.ask: the resource's policy as the stack holds it

# What a Ref and a GetAtt of each resource type give once deployed (CloudFormation's rules),
# with made-up but well-formed physical names.
_Arn = str


def _physical(logical: str, kind: str, props: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """(Ref value, {attribute: value}) of one resource."""
    name = f"{STACK}-{logical}"
    arn = f"arn:{PARTITION}"
    if kind == "AWS::S3::Bucket":
        bucket = name.lower()
        return bucket, {"Arn": f"{arn}:s3:::{bucket}"}
    if kind == "AWS::KMS::Key":  # each key its own id; the certificates' key a fixed one
        key = KEY_ID if logical == "CertKey" else str(uuid.uuid5(uuid.NAMESPACE_URL, logical))
        return key, {"Arn": f"{arn}:kms:{REGION}:{ACCOUNT}:key/{key}", "KeyId": key}
    if kind == "AWS::IAM::Role":
        role = str(props.get("RoleName") or name)
        path = str(props.get("Path") or "/")
        return role, {"Arn": f"{arn}:iam::{ACCOUNT}:role{path}{role}", "RoleId": f"AROA{logical}"}
    if kind == "AWS::IAM::ManagedPolicy":
        return f"{arn}:iam::{ACCOUNT}:policy/{name}", {}
    if kind == "AWS::SQS::Queue":
        return (f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}",
                {"Arn": f"{arn}:sqs:{REGION}:{ACCOUNT}:{name}", "QueueName": name})
    if kind == "AWS::Events::EventBus":
        bus = str(props.get("Name") or name)
        return bus, {"Arn": f"{arn}:events:{REGION}:{ACCOUNT}:event-bus/{bus}", "Name": bus}
    if kind == "AWS::Events::Rule":
        bus = props.get("EventBusName")
        path = f"{bus}/{name}" if bus and bus != "default" else name
        return name, {"Arn": f"{arn}:events:{REGION}:{ACCOUNT}:rule/{path}"}
    if kind == "AWS::Lambda::Function":
        return name, {"Arn": f"{arn}:lambda:{REGION}:{ACCOUNT}:function:{name}"}
    if kind == "AWS::Logs::LogGroup":
        return name, {"Arn": f"{arn}:logs:{REGION}:{ACCOUNT}:log-group:{name}:*"}
    if kind == "AWS::SecretsManager::Secret":
        secret = f"{arn}:secretsmanager:{REGION}:{ACCOUNT}:secret:{props.get('Name', name)}-AbCdEf"
        return secret, {}
    if kind == "AWS::SNS::Topic":
        topic = f"{arn}:sns:{REGION}:{ACCOUNT}:{name}"
        return topic, {"TopicArn": topic, "TopicName": name}
    service = kind.split("::")[1].lower() if kind.count("::") == 2 else "unknown"
    return name, {"Arn": f"{arn}:{service}:{REGION}:{ACCOUNT}:{logical}"}


_TOKEN = re.compile(r"<([A-Za-z0-9]+)(?:\.([A-Za-z]+))?>")


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def account_of(arn: str) -> str:
    parts = arn.split(":")
    return parts[4] if len(parts) > 4 and parts[4] else ACCOUNT


@dataclass(frozen=True)
class Principal:
    """Someone asking: an IAM role (or user) with its identity policies and tags.

    `session_tags` are what the caller passed to sts:AssumeRole (they override the role's tags
    for aws:PrincipalTag); `scps` the organisation's service control policies over its account.
    """

    label: str
    arn: str
    policies: tuple[dict[str, Any], ...] = ()
    tags: tuple[tuple[str, str], ...] = ()
    session_tags: tuple[tuple[str, str], ...] = ()
    scps: tuple[dict[str, Any], ...] = ()

    @property
    def account(self) -> str:
        return account_of(self.arn)

    @property
    def service(self) -> bool:
        """An AWS service principal (cloudwatch.amazonaws.com), not an IAM identity."""
        return not self.arn.startswith("arn:")

    def context(self) -> dict[str, Any]:
        if self.service:
            return {"aws:SecureTransport": "true"}
        tags = {**dict(self.tags), **dict(self.session_tags)}
        context: dict[str, Any] = {
            "aws:PrincipalArn": self.arn,
            "aws:PrincipalAccount": self.account,
            "aws:SecureTransport": "true",
        }
        context.update({f"aws:PrincipalTag/{k}": v for k, v in tags.items()})
        return context


@dataclass(frozen=True)
class Ask:
    """One request and what the test expects of it (None: only recorded)."""

    principal: Principal
    action: str
    resource: str
    simulation: dict[str, Any] = field(compare=False, repr=False)

    def describe(self) -> str:
        return f"{self.principal.label} {self.action} {self.resource}"


@dataclass(frozen=True)
class Decision:
    ask: Ask
    result: str  # Allowed | ExplicitlyDenied | ImplicitlyDenied
    denied_by: tuple[str, ...]
    allowed_by: tuple[str, ...]

    @property
    def allowed(self) -> bool:
        return self.result == ALLOWED


class EvaluatorError(RuntimeError):
    pass


class _Evaluator:
    """The Node process, started on first use and kept for the test run (one per worker)."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[str] | None = None

    def run(self, payload: str) -> str:
        if self.process is None or self.process.poll() is not None:
            if not (EVALUATOR_DIR / "node_modules" / "@cloud-copilot" / "iam-simulate").is_dir():
                raise EvaluatorError(
                    f"the IAM simulator is not installed in {EVALUATOR_DIR}/node_modules: run "
                    f"`make deps` (or `make iam-sim`)")
            self.process = subprocess.Popen(
                ["node", str(EVALUATOR)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                text=True, cwd=EVALUATOR_DIR)
            atexit.register(self.close)
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(payload + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            self.close()
            raise EvaluatorError("the IAM evaluator stopped (its error is above)")
        return line

    def close(self) -> None:
        if self.process is not None:
            if self.process.stdin is not None:
                self.process.stdin.close()
            self.process.wait(timeout=30)
            self.process = None


_EVALUATOR = _Evaluator()


def run_evaluator(
    simulations: Sequence[dict[str, Any]], keys: Sequence[str] = ()
) -> dict[str, Any]:
    """One batch: a line to the evaluator, a line back."""
    out: dict[str, Any] = json.loads(
        _EVALUATOR.run(json.dumps({"simulations": list(simulations), "keys": list(keys)})))
    return out


_DECIDED: dict[str, dict[str, Any]] = {}  # a simulation's JSON -> the simulator's answer


def evaluate(asks: Sequence[Ask]) -> list[Decision]:
    """The simulator's decisions; a request already decided in this run is not asked again
    (the mutation tests change one statement: most of their requests are the same)."""
    keys = [json.dumps(a.simulation, sort_keys=True) for a in asks]
    new = sorted({k for k in keys if k not in _DECIDED})
    if new:
        out = run_evaluator([json.loads(k) for k in new])
        _DECIDED.update(zip(new, out["results"], strict=True))
    decisions = []
    for ask, result in zip(asks, (_DECIDED[k] for k in keys), strict=True):
        if result["error"]:
            raise EvaluatorError(f"{ask.describe()}: the simulator refused the request: "
                                 f"{json.dumps(result['error'])[:1500]}")
        decisions.append(Decision(ask, result["decision"], tuple(result["denied_by"]),
                                  tuple(result["allowed_by"])))
    return decisions


def key_types(keys: Iterable[str]) -> dict[str, str | None]:
    """Each condition key's type in the simulator's iam-data (ArrayOfString, String, ...)."""
    found: dict[str, str | None] = run_evaluator([], sorted(set(keys)))["key_types"]
    return found


# ----------------------------------------------------------------------------- the stack
class Stack:
    """The deployed stack's policies, with concrete ARNs."""

    def __init__(self, resources: dict[str, dict[str, Any]]):
        self.physical = {name: _physical(name, r["Type"], r["Properties"])
                         for name, r in resources.items()}
        self.resources = {name: {**r, "Properties": self.concrete(r["Properties"])}
                          for name, r in resources.items()}

    # -- names
    def concrete(self, node: Any) -> Any:
        if isinstance(node, dict):
            return {k: self.concrete(v) for k, v in node.items()}
        if isinstance(node, list):
            return [self.concrete(v) for v in node]
        if isinstance(node, str):
            return _TOKEN.sub(self._token, node)
        return node

    def _token(self, match: re.Match[str]) -> str:
        logical, attribute = match.group(1), match.group(2)
        if logical not in self.physical:
            return match.group(0)
        ref, attributes = self.physical[logical]
        return ref if attribute is None else attributes.get(attribute, match.group(0))

    def ref(self, logical: str) -> str:
        return self.physical[logical][0]

    def arn(self, logical: str) -> str:
        return self.physical[logical][1]["Arn"]

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {n: r for n, r in self.resources.items() if r["Type"] == kind}

    # -- identities
    def role_policies(self, role: str) -> tuple[dict[str, Any], ...]:
        """Identity policies attached to the stack's role `role` (logical id)."""
        name = self.ref(role)
        out: list[dict[str, Any]] = []
        for resource in self.resources.values():
            props, kind = resource["Properties"], resource["Type"]
            if (kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
                    and name in as_list(props.get("Roles"))) or (
                    kind == "AWS::IAM::RolePolicy" and props.get("RoleName") == name):
                out.append(props["PolicyDocument"])
        role_props = self.resources[role]["Properties"]
        out.extend(p["PolicyDocument"] for p in as_list(role_props.get("Policies")))
        managed = {self.ref(n): r["Properties"]["PolicyDocument"]
                   for n, r in self.of_type("AWS::IAM::ManagedPolicy").items()}
        out.extend(managed[arn] for arn in as_list(role_props.get("ManagedPolicyArns"))
                   if arn in managed)
        return tuple(out)

    def role(self, logical: str, label: str | None = None) -> Principal:
        props = self.resources[logical]["Properties"]
        tags = tuple((t["Key"], t["Value"]) for t in as_list(props.get("Tags")))
        return Principal(label or logical, self.arn(logical), self.role_policies(logical), tags)

    def document(self, logical: str) -> dict[str, Any]:
        """The PolicyDocument of a (managed) policy of the stack."""
        document: dict[str, Any] = self.resources[logical]["Properties"]["PolicyDocument"]
        return document

    # -- resource policies
    def resource_policy(self, resource_arn: str) -> dict[str, Any] | None:
        statements: list[dict[str, Any]] = []
        for name, resource in self.resources.items():
            props, kind = resource["Properties"], resource["Type"]
            if kind == "AWS::S3::BucketPolicy":
                bucket = f"arn:{PARTITION}:s3:::{props['Bucket']}"
                if resource_arn == bucket or resource_arn.startswith(bucket + "/"):
                    statements += as_list(props["PolicyDocument"]["Statement"])
            elif kind == "AWS::KMS::Key" and resource_arn == self.arn(name):
                statements += as_list(props["KeyPolicy"]["Statement"])
            elif kind == "AWS::IAM::Role" and resource_arn == self.arn(name):
                statements += as_list(props["AssumeRolePolicyDocument"]["Statement"])
            elif kind == "AWS::Events::EventBusPolicy":
                bus = props.get("EventBusName", "default")
                # The bus's policy also governs rules on it (who may read its events).
                if resource_arn.endswith(f":event-bus/{bus}") or f":rule/{bus}/" in resource_arn:
                    sid = {"Sid": props["StatementId"]} if props.get("StatementId") else {}
                    statements.append({**sid, **props["Statement"]})
            elif kind == "AWS::SQS::QueuePolicy":
                for url in as_list(props["Queues"]):
                    if resource_arn.endswith(":" + url.rsplit("/", 1)[-1]) and \
                            resource_arn.startswith(f"arn:{PARTITION}:sqs:"):
                        statements += as_list(props["PolicyDocument"]["Statement"])
            elif kind == "AWS::Lambda::Permission":
                function = props["FunctionName"]
                if resource_arn.startswith(f"arn:{PARTITION}:lambda:") and resource_arn.split(
                        ":")[6] == function.split(":")[-1]:
                    statements.append(permission_statement(name, props, resource_arn))
        if not statements:
            return None
        return {"Version": "2012-10-17", "Statement": statements}

    # -- requests
    def ask(self, principal: Principal, action: str, resource: str,
            context: dict[str, Any] | None = None, *, resource_account: str | None = None,
            resource_policy: dict[str, Any] | object | None = THE_STACKS) -> Ask:
        """`resource_policy`: the stack's for `resource` (default), or this one (None: none)."""
        policy = (self.resource_policy(resource) if resource_policy is THE_STACKS
                  else resource_policy)
        simulation: dict[str, Any] = {
            "request": {
                "principal": principal.arn,
                "action": action,
                "resource": {"resource": resource,
                             "accountId": resource_account or account_of(resource)},
                "contextVariables": {**principal.context(), **(context or {})},
            },
            "identityPolicies": [{"name": f"identity{i}", "policy": p}
                                 for i, p in enumerate(principal.policies)],
            # SCPs are allow-lists: the organisation's FullAWSAccess under the others.
            "serviceControlPolicies": (
                [{"orgIdentifier": principal.account,
                  "policies": [{"name": "FullAWSAccess", "policy": FULL_AWS_ACCESS},
                               *({"name": f"scp{i}", "policy": p}
                                 for i, p in enumerate(principal.scps))]}]
                if principal.scps else []),
            "resourceControlPolicies": [],
        }
        if isinstance(policy, dict):
            simulation["resourcePolicy"] = policy
        return Ask(principal, action, resource, simulation)


def permission_statement(name: str, props: dict[str, Any], function_arn: str) -> dict[str, Any]:
    """An AWS::Lambda::Permission as the statement Lambda adds to the function's policy."""
    principal = str(props["Principal"])
    statement: dict[str, Any] = {
        "Sid": name, "Effect": "Allow", "Action": props["Action"], "Resource": function_arn,
        "Principal": {"Service": principal} if principal.endswith(".amazonaws.com")
        else {"AWS": principal},
    }
    condition: dict[str, Any] = {}
    if "SourceArn" in props:
        condition["ArnLike"] = {"aws:SourceArn": props["SourceArn"]}
    if "SourceAccount" in props:
        condition["StringEquals"] = {"aws:SourceAccount": props["SourceAccount"]}
    if condition:
        statement["Condition"] = condition
    return statement
