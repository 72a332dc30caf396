"""wildcert uses botocore, boto3, acme, josepy and Powertools through their public API only.

A library's `_private` names and the internals behind public-looking hooks change in any
release without notice: botocore's file loader replaced through the session's components once
made every AWS client fail after a change of botocore's data format, and a requests session
swapped into acme's client counted on how acme sends. The layer now ships the SDK it was
tested with, but a private name would still break silently on the next pin bump.

The check reads the source (layers/ and puller/) and fails on:
- importing a private module or name of one of these libraries (`acme._internal`, `_x`);
- a `_private` attribute of anything but the code's own `self`/`cls` (a library object's,
  reached through a module, a class or a call's result);
- `getattr`/`setattr`/`hasattr`/`delattr` with a `_private` name;
- botocore's component registry (`get_component`, `register_component`, ...), the session's
  internals;
- a subclass of one of their classes that reads a `self._name` it does not set itself (the
  library's own), or any subclass of `acme.client`'s classes.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SOURCES = (REPO / "layers", REPO / "puller")
LIBRARIES = frozenset({"acme", "josepy", "botocore", "boto3", "s3transfer",
                       "aws_lambda_powertools"})
SESSION_INTERNALS = frozenset({"get_component", "register_component",
                               "lazy_register_component", "_get_internal_component",
                               "_register_internal_component"})
NAME_BY_STRING = frozenset({"getattr", "setattr", "hasattr", "delattr"})


def private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def python_files() -> Iterator[Path]:
    for root in SOURCES:
        for path in sorted(root.rglob("*.py")):
            if not {"build", ".aws-sam", "__pycache__"} & set(path.parts):
                yield path


def library_bindings(tree: ast.Module) -> dict[str, str]:
    """Local name -> the library module path it was imported from."""
    bound: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in LIBRARIES:
                    local = alias.asname or alias.name.split(".")[0]
                    bound[local] = alias.name if alias.asname else alias.name.split(".")[0]
        elif (isinstance(node, ast.ImportFrom) and node.module and node.level == 0
              and node.module.split(".")[0] in LIBRARIES):
            for alias in node.names:
                bound[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return bound


def root_name(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute | ast.Call | ast.Subscript):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def findings(path: Path, root: Path = REPO) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    bound = library_bindings(tree)
    found: list[str] = []

    def note(node: ast.AST, what: str) -> None:
        found.append(f"{path.relative_to(root)}:{getattr(node, 'lineno', '?')}: {what}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            module = node.module if isinstance(node, ast.ImportFrom) else None
            paths = [module] if module else [a.name for a in node.names]
            for dotted in filter(None, paths):
                parts = dotted.split(".")
                if parts[0] in LIBRARIES and any(private(p) for p in parts):
                    note(node, f"private module {dotted}")
            if isinstance(node, ast.ImportFrom) and module and module.split(".")[0] in LIBRARIES:
                for name in (a.name for a in node.names if private(a.name)):
                    note(node, f"private name {module}.{name}")
        elif isinstance(node, ast.Attribute):
            if node.attr in SESSION_INTERNALS:
                note(node, f"botocore session internals .{node.attr}")
            elif private(node.attr) and not (
                isinstance(node.value, ast.Name) and node.value.id in {"self", "cls"}
            ):
                note(node, f".{node.attr} of {ast.unparse(node.value)}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in NAME_BY_STRING and len(node.args) >= 2:
                name = node.args[1]
                if isinstance(name, ast.Constant) and isinstance(name.value, str) and private(
                    name.value
                ):
                    note(node, f"{node.func.id}(..., {name.value!r})")
        elif isinstance(node, ast.ClassDef):
            found += [f"{path.relative_to(root)}:{line}" for line in subclass_findings(node, bound)]
    return found


def subclass_findings(cls: ast.ClassDef, bound: dict[str, str]) -> list[str]:
    origins = [bound[r] for b in cls.bases if (r := root_name(b)) in bound]
    if not origins:
        return []
    found: list[str] = []
    label = f"class {cls.name}({', '.join(ast.unparse(b) for b in cls.bases)})"
    if any(o.startswith("acme.client") for o in origins):
        found.append(f"{cls.lineno}: {label} subclasses acme.client")
    own = {n.name for n in cls.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    for node in ast.walk(cls):
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, ast.AnnAssign | ast.AugAssign) else [])
        for target in targets:
            if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and \
                    target.value.id == "self":
                own.add(target.attr)
    for node in ast.walk(cls):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and \
                node.value.id in {"self", "cls"} and private(node.attr) and node.attr not in own:
            found.append(f"{node.lineno}: {label} reads the library's self.{node.attr}")
    return found


@pytest.mark.parametrize("path", list(python_files()), ids=lambda p: str(p.relative_to(REPO)))
def test_no_private_name_of_a_library(path: Path) -> None:
    assert findings(path) == []


@pytest.mark.parametrize("source, expected", [
    ("from acme._internal import x", "private module acme._internal"),
    ("from botocore.loaders import _parse", "private name botocore.loaders._parse"),
    ("import josepy as jose\njose._x", "._x of jose"),
    ("from acme import client\nclient.ClientNetwork._send_request", "._send_request of"),
    ("def f(c):\n    return c._request_signer", "._request_signer of c"),
    ("def f(s):\n    s.get_component('data_loader')", "botocore session internals"),
    ("def f(c):\n    getattr(c, '_endpoint')", "getattr(..., '_endpoint')"),
    ("from acme import client\nclass N(client.ClientNetwork):\n    pass", "subclasses acme.client"),
    ("from aws_lambda_powertools import Logger\nclass L(Logger):\n"
     "    def f(self):\n        return self._logger", "reads the library's self._logger"),
])
def test_each_kind_of_internal_is_caught(source: str, expected: str, tmp_path: Path) -> None:
    module = tmp_path / "probe.py"
    module.write_text(source + "\n")
    found = findings(module, tmp_path)
    assert any(expected in f for f in found), found


def test_own_privates_and_public_library_use_pass(tmp_path: Path) -> None:
    module = tmp_path / "probe.py"
    module.write_text(
        "from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter\n"
        "class F(LambdaPowertoolsFormatter):\n"
        "    def __init__(self):\n        self._mine = 1\n"
        "    def format(self, record):\n        return self._mine\n"
        "import botocore.session\n"
        "botocore.session.get_session().create_client('s3').__class__\n"
    )
    assert findings(module, tmp_path) == []
