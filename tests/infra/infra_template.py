"""The SAM template, offline: load it, transform it with samtranslator, resolve intrinsics.

`resolved_stack(params)` gives the plain CloudFormation the stack would be created from, with
parameters, pseudo parameters, conditions, mappings, Fn::If/Join/Split/Sub/Select/FindInMap
evaluated. What only exists at deploy time is left as a readable token:

    {"Ref": "CertBucket"}                    -> "<CertBucket>"
    {"Fn::GetAtt": ["CertKey", "Arn"]}       -> "<CertKey.Arn>"
    "${CertBucket.Arn}/*" in Fn::Sub         -> "<CertBucket.Arn>/*"

so policies can be compared as plain data.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import boto3
import yaml
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"

REGION = "eu-west-1"
ACCOUNT = "111122223333"
PARTITION = "aws"
STACK = "wildcert-test"

# What a team would pass: the parameters without defaults, plus a realistic zone list.
BASE_PARAMS: dict[str, Any] = {
    "HostedZoneIds": ["Z0111AAAAAAAAA", "Z0222BBBBBBBBB"],
    "ReaderPrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/cert-consumer",
}

NO_VALUE = object()  # AWS::NoValue: removed from the enclosing dict or list


# ------------------------------------------------------------------------------------ loading
class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form tags (!Ref, !GetAtt a.b, !Sub ...)."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    if suffix == "Condition":
        return {"Condition": value}
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _tag)


def load_sam(path: Path = TEMPLATE) -> dict[str, Any]:
    return parse_sam(path.read_text())


def parse_sam(text: str) -> dict[str, Any]:
    """A SAM template's text, with CloudFormation's short-form tags, as plain data."""
    return yaml.load(text, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass


# ------------------------------------------------------------------------------- transforming
def transform(
    sam: dict[str, Any], params: dict[str, Any] | None = None, *, partition: str = PARTITION
) -> dict[str, Any]:
    """SAM -> CloudFormation with samtranslator, offline.

    Local CodeUri/ContentUri paths become dummy S3 locations (as `sam package` would make
    them); no managed policy is looked up (the loader answers with an empty map, so a SAM
    policy naming an AWS managed policy fails loudly rather than silently).
    """
    sam = copy.deepcopy(sam)
    for resource in sam.get("Resources", {}).values():
        props = resource.get("Properties") or {}
        if resource.get("Type") == "AWS::Serverless::Function" and isinstance(
            props.get("CodeUri"), str
        ):
            props["CodeUri"] = "s3://wildcert-artifacts/function.zip"
        if resource.get("Type") == "AWS::Serverless::LayerVersion" and isinstance(
            props.get("ContentUri"), str
        ):
            props["ContentUri"] = "s3://wildcert-artifacts/layer.zip"
    values = _parameter_values(sam, params, partition)
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=REGION))
    return translator.translate(sam, parameter_values=values, get_managed_policy_map=lambda: {})


def _parameter_values(
    sam: dict[str, Any], params: dict[str, Any] | None, partition: str = PARTITION
) -> dict[str, Any]:
    values = dict(BASE_PARAMS)
    values.update(params or {})
    values.update(
        {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": partition,
            "AWS::StackName": STACK,
        }
    )
    return values


# -------------------------------------------------------------------------------- resolving
class Resolver:
    """Evaluates the intrinsics of one (plain CloudFormation) template for given parameters."""

    def __init__(
        self, cfn: dict[str, Any], params: dict[str, Any] | None = None, *,
        partition: str = PARTITION, account: str = ACCOUNT,
    ):
        self.cfn = cfn
        self.params = self._params(cfn, {**BASE_PARAMS, **(params or {})}, partition)
        self.params["AWS::AccountId"] = account  # a role template deployed in another account
        self.conditions: dict[str, bool] = {}
        for name in cfn.get("Conditions", {}):
            self.condition(name)

    @staticmethod
    def _params(cfn: dict[str, Any], given: dict[str, Any], partition: str) -> dict[str, Any]:
        values: dict[str, Any] = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": partition,
            "AWS::StackName": STACK,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": NO_VALUE,
        }
        for name, spec in cfn.get("Parameters", {}).items():
            if name in given:
                value = given[name]
            elif "Default" in spec:
                value = spec["Default"]
            else:
                raise KeyError(f"parameter {name} has no default and no value was given")
            kind = str(spec.get("Type", "String"))
            if kind == "CommaDelimitedList" or kind.startswith("List<"):
                if isinstance(value, str):
                    value = value.split(",")
                value = [str(v) for v in value]
            else:
                value = str(value)
            values[name] = value
        return values

    # -- conditions
    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            self.conditions[name] = bool(self.value(self.cfn["Conditions"][name]))
        return self.conditions[name]

    # -- values
    def value(self, node: Any) -> Any:
        if isinstance(node, list):
            items = [self.value(item) for item in node]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            handler = self._FUNCTIONS.get(key)
            if handler is not None:
                return handler(self, arg)
        out = {}
        for key, item in node.items():
            resolved = self.value(item)
            if resolved is not NO_VALUE:
                out[key] = resolved
        return out

    def _ref(self, name: str) -> Any:
        if name in self.params:
            return self.params[name]
        if name in self.cfn.get("Resources", {}):
            return f"<{name}>"
        raise KeyError(f"Ref to unknown name {name}")

    def _getatt(self, arg: Any) -> str:
        if isinstance(arg, str):
            arg = arg.split(".", 1)
        logical, attribute = self.value(arg[0]), self.value(arg[1])
        if logical not in self.cfn.get("Resources", {}):
            raise KeyError(f"GetAtt of unknown resource {logical}")
        return f"<{logical}.{attribute}>"

    def _sub(self, arg: Any) -> str:
        if isinstance(arg, list):
            template, variables = arg[0], {k: self.value(v) for k, v in arg[1].items()}
        else:
            template, variables = arg, {}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name:
                return self._getatt(name.split(".", 1))
            return str(self._ref(name))

        return re.sub(r"\$\{([^}]+)\}", replace, template)

    def _join(self, arg: Any) -> str:
        delimiter, items = arg
        items = self.value(items)
        return str(delimiter).join(str(item) for item in items)

    def _split(self, arg: Any) -> list[str]:
        delimiter, text = arg
        return str(self.value(text)).split(str(delimiter))

    def _select(self, arg: Any) -> Any:
        index, items = arg
        return self.value(items)[int(self.value(index))]

    def _if(self, arg: Any) -> Any:
        name, yes, no = arg
        return self.value(yes if self.condition(name) else no)

    def _find_in_map(self, arg: Any) -> Any:
        mapping, top, second = (self.value(item) for item in arg)
        return self.cfn["Mappings"][mapping][top][second]

    def _equals(self, arg: Any) -> bool:
        left, right = (self.value(item) for item in arg)
        return left == right

    _FUNCTIONS: dict[str, Any] = {
        "Ref": _ref,
        "Fn::GetAtt": _getatt,
        "Fn::Sub": _sub,
        "Fn::Join": _join,
        "Fn::Split": _split,
        "Fn::Select": _select,
        "Fn::If": _if,
        "Fn::FindInMap": _find_in_map,
        "Fn::Equals": _equals,
        "Fn::Not": lambda self, arg: not self.value(arg[0]),
        "Fn::And": lambda self, arg: all(self.value(item) for item in arg),
        "Fn::Or": lambda self, arg: any(self.value(item) for item in arg),
        "Condition": lambda self, arg: self.condition(arg),
    }

    def resources(self) -> dict[str, dict[str, Any]]:
        """Resources that exist under these parameters, with resolved properties."""
        out = {}
        for name, resource in self.cfn.get("Resources", {}).items():
            condition = resource.get("Condition")
            if condition and not self.condition(condition):
                continue
            out[name] = {
                "Type": resource["Type"],
                "Properties": self.value(resource.get("Properties", {})),
                "DependsOn": resource.get("DependsOn"),
            }
        return out


def resolved_stack(
    params: dict[str, Any] | None = None,
    sam: dict[str, Any] | None = None,
    *,
    partition: str = PARTITION,
) -> dict[str, dict[str, Any]]:
    """Resources of the transformed template, resolved for `params` (over BASE_PARAMS) in
    `partition` (AWS::Partition)."""
    sam = load_sam() if sam is None else sam
    cfn = transform(sam, params, partition=partition)
    return Resolver(cfn, params, partition=partition).resources()
