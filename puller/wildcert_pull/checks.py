"""Is a fetched set one this server may use?

Hashes only prove the files are the ones cert.json names; these checks prove the set itself
holds together (key, chain, names, serial, validity) and that it does not take the server back
to an older certificate or to other names than it had.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from wildcert_pull.errors import Exit, PullError
from wildcert_pull.formats import CertJson

_PUBLIC_DER = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
_BAD_INPUT = (ValueError, TypeError, UnsupportedAlgorithm)


def iso(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def parse_iso(text: str) -> dt.datetime:
    """The inverse of iso(); fromisoformat reads a trailing Z only from Python 3.11 on."""
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def names_of(domains: Iterable[str]) -> tuple[str, ...]:
    """DNS names compare case-insensitively and as a set."""
    return tuple(sorted({d.lower() for d in domains}))


@dataclass(frozen=True)
class Leaf:
    """What the puller weighs about a certificate: which one, for which names, from when."""

    serial: str
    names: tuple[str, ...]
    not_before: dt.datetime
    not_after: dt.datetime

    @classmethod
    def of(cls, cert: x509.Certificate) -> Leaf:
        return cls(
            serial=format(cert.serial_number, "x"),
            names=names_of(dns_names(cert)),
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
        )


def dns_names(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return list(san.value.get_values_for_type(x509.DNSName))


def load_certificate(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


# -- the set ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Urls:
    """Where the set came from, for messages: the archive's s3:// prefix and cert.json."""

    archive: str
    cert_json: str


def check_set(urls: Urls, meta: CertJson, files: Mapping[str, bytes], now: dt.datetime) -> Leaf:
    """Every check names the objects it compared."""
    fix = f'— re-issue {meta.name!r} with {{"force": true}}'
    base_url, cert_url, meta_url = urls.archive, urls.archive + "cert.pem", urls.cert_json
    try:
        cert = load_certificate(files["cert.pem"])
    except _BAD_INPUT as exc:
        raise PullError(f"{cert_url} is not a PEM certificate {fix}: {exc}", Exit.VERIFY) from exc
    if not _key_matches(files["privkey.pem"], cert):
        raise PullError(f"{base_url}privkey.pem does not match {cert_url} {fix}", Exit.VERIFY)
    broken = _chain_break(cert, files["chain.pem"])
    if broken:
        raise PullError(f"{base_url}chain.pem does not certify {cert_url} {fix}: {broken}",
                        Exit.VERIFY)
    if files["fullchain.pem"] != files["cert.pem"] + files["chain.pem"]:
        raise PullError(f"{base_url}fullchain.pem is not cert.pem followed by chain.pem {fix}",
                        Exit.VERIFY)
    leaf = Leaf.of(cert)
    if leaf.names != names_of(meta.domains):
        raise PullError(
            f"{cert_url} does not carry the domains of {meta_url} {fix}: it names "
            f"{list(leaf.names)}, cert.json {sorted(meta.domains)}",
            Exit.VERIFY,
        )
    if leaf.serial != meta.serial:
        raise PullError(f"{cert_url} has serial {leaf.serial}, cert.json says {meta.serial} {fix}",
                        Exit.VERIFY)
    check_validity(leaf, now, cert_url, meta.name)
    return leaf


def _key_matches(key_pem: bytes, cert: x509.Certificate) -> bool:
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except _BAD_INPUT:
        return False
    return bool(key.public_key().public_bytes(*_PUBLIC_DER)
                == cert.public_key().public_bytes(*_PUBLIC_DER))


def _chain_break(leaf: x509.Certificate, chain_pem: bytes) -> str:
    """Why the chain does not certify the leaf link by link, or "" when it does."""
    try:
        chain = x509.load_pem_x509_certificates(chain_pem) if chain_pem.strip() else []
    except _BAD_INPUT as exc:
        return f"it is not a list of PEM certificates ({exc})"
    child = leaf
    for parent in chain:
        try:
            child.verify_directly_issued_by(parent)
        except (InvalidSignature, *_BAD_INPUT) as exc:
            return (f"{child.subject.rfc4514_string()} is not issued by "
                    f"{parent.subject.rfc4514_string()} ({type(exc).__name__}: {exc})")
        child = parent
    return ""


def check_validity(leaf: Leaf, now: dt.datetime, where: str, name: str) -> None:
    if now < leaf.not_before:
        raise PullError(
            f"{where} (serial {leaf.serial}) is not valid before {iso(leaf.not_before)} "
            "— check this host's clock (timedatectl), then rerun",
            Exit.VERIFY,
        )
    if now >= leaf.not_after:
        raise PullError(
            f"{where} (serial {leaf.serial}) expired at {iso(leaf.not_after)} and the "
            f"bucket has no newer certificate: the issuer has not renewed {name!r} — check its "
            'alarms and logs, or re-issue with {"force": true}',
            Exit.VERIFY,
        )


# -- against what is installed ----------------------------------------------------------------
@dataclass(frozen=True)
class Succession:
    """What the operator allows a new certificate to change."""

    allow_older: bool = False
    expected_names: tuple[str, ...] | None = None  # --expect-domain, normalised by names_of


def check_expected_names(leaf: Leaf, policy: Succession, where: str) -> None:
    if policy.expected_names is not None and leaf.names != policy.expected_names:
        raise PullError(
            f"{where} names {list(leaf.names)}, not the names given with --expect-domain "
            f"{list(policy.expected_names)} — check the issuer request for this name, or "
            "change --expect-domain",
            Exit.REFUSED,
        )


def check_succession(new: Leaf, installed: Leaf | None, policy: Succession, where: str,
                     dest: Path) -> None:
    """Refuse a set that would take this server back in time or to other names.

    Anyone who can rewrite cert.json, or restore an old version of it, could otherwise make
    every server reinstall an older certificate that is still valid (one whose key leaked).
    """
    check_expected_names(new, policy, where)
    if installed is None:
        return
    if policy.expected_names is None and new.names != installed.names:
        raise PullError(
            f"{where} names {list(new.names)}, but the certificate installed in {dest} "
            f"(serial {installed.serial}) names {list(installed.names)}: wildcert-pull does not "
            "change the names it serves on its own — if the change is intended, rerun with "
            "--expect-domain for each new name",
            Exit.REFUSED,
        )
    if new.not_before < installed.not_before and not policy.allow_older:
        raise PullError(
            f"{where} (serial {new.serial}, not before {iso(new.not_before)}) is older than the "
            f"certificate installed in {dest} (serial {installed.serial}, not before "
            f"{iso(installed.not_before)}): cert.json was rolled back or an old version of it "
            "restored — find who wrote it (CloudTrail, object versions); to install the older "
            "certificate on purpose, rerun with --allow-older",
            Exit.REFUSED,
        )
