"""The bucket's file format, as wildcert-pull reads it (docs/PULL.md, "File format").

    <name>/cert.json                                  which set is current (written last)
    <name>/archive/<serial>/{privkey,cert,chain,fullchain}.pem   immutable, one per issuance

Of cert.json only `name`, `domains`, `serial`, `archive`, `sha256`, `version` and `revoked` are
read; other fields are the issuer's and are ignored, so it may add more without breaking
servers. `revoked` lists the serials of this name the issuer revoked ({"serial", "reason",
"revoked_at"}): such a set is never installed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

CERT_FILES = ("privkey.pem", "cert.pem", "chain.pem", "fullchain.pem")
FORMAT_VERSION = 1
_HEX_DIGITS = frozenset("0123456789abcdef")
SHA256_HEX_LENGTH = 64


class FormatError(ValueError):
    """cert.json is not the documented format."""


class NewerFormat(FormatError):
    """cert.json declares a format version this program does not know."""


@dataclass(frozen=True)
class CertJson:
    """The fields of `<name>/cert.json` the puller relies on."""

    name: str
    domains: tuple[str, ...]
    serial: str
    archive: str
    sha256: Mapping[str, str]
    revoked: Mapping[str, str] = field(default_factory=dict)  # serial -> reason

    def archive_key(self, filename: str) -> str:
        return self.archive + filename


def is_hex(text: str) -> bool:
    return bool(text) and set(text) <= _HEX_DIGITS


def archive_prefix(name: str, serial: str) -> str:
    return f"{name}/archive/{serial}/"


def parse_cert_json(raw: bytes) -> CertJson:
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FormatError(f"not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise FormatError(f"a JSON {type(body).__name__}, not an object")
    version = body.get("version", FORMAT_VERSION)
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise NewerFormat(f"format version {version!r}; this wildcert-pull reads version "
                          f"{FORMAT_VERSION}")
    domains = _field(body, "domains", list)
    if not domains or not all(isinstance(d, str) and d for d in domains):
        raise FormatError("'domains' is not a list of names")
    serial = _field(body, "serial", str)
    if not is_hex(serial):
        raise FormatError(f"'serial' {serial!r} is not lower-case hex")
    sha256 = _field(body, "sha256", dict)
    return CertJson(
        name=_field(body, "name", str),
        domains=tuple(domains),
        serial=serial,
        archive=_field(body, "archive", str),
        sha256={k: v for k, v in sha256.items() if isinstance(k, str) and isinstance(v, str)},
        revoked=_revoked(body.get("revoked")),
    )


def _revoked(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, list) or not all(
            isinstance(v, dict) and isinstance(v.get("serial"), str) for v in value):
        raise FormatError("'revoked' is not a list of {\"serial\", \"reason\"} objects")
    return {v["serial"]: str(v.get("reason") or "unspecified") for v in value}


def _field(body: Mapping[str, Any], key: str, kind: type) -> Any:
    if key not in body:
        raise FormatError(f"no {key!r}")
    value = body[key]
    if not isinstance(value, kind):
        raise FormatError(f"{key!r} is a JSON {type(value).__name__}")
    return value


def inconsistencies(meta: CertJson, name: str) -> list[str]:
    """cert.json must describe this name's own archive, so it cannot send us elsewhere."""
    problems = []
    if meta.name != name:
        problems.append(f"its name is {meta.name!r}")
    expected = archive_prefix(name, meta.serial)
    if meta.archive != expected:
        problems.append(f"its archive {meta.archive!r} is not {expected}")
    missing = [f for f in CERT_FILES if not _is_sha256(meta.sha256.get(f))]
    if missing:
        problems.append(f"it has no sha256 for {', '.join(missing)}")
    return problems


def _is_sha256(value: str | None) -> bool:
    return value is not None and len(value) == SHA256_HEX_LENGTH and is_hex(value)
