"""Keys, CSRs and certificates: everything wildcert does with X.509, on `cryptography`."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import NameOID

from wildcert.errors import WildcertError
from wildcert.logic.times import iso, parse_time

PrivateKey = CertificateIssuerPrivateKeyTypes
MAX_COMMON_NAME = 64  # RFC 5280's ub-common-name


class CertificateError(WildcertError):
    """A certificate set is inconsistent (key, chain or names do not match)."""


def generate_key(key_type: str) -> PrivateKey:
    if key_type == "ec256":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "ec384":
        return ec.generate_private_key(ec.SECP384R1())
    if key_type.startswith("rsa"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(key_type[3:]))
    raise ValueError(f"unknown key type {key_type!r}")


def key_type_of(key: PrivateKey) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return {"secp256r1": "ec256", "secp384r1": "ec384"}.get(key.curve.name, key.curve.name)
    if isinstance(key, rsa.RSAPrivateKey):
        return f"rsa{key.key_size}"
    return type(key).__name__


def key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_key(pem: bytes) -> PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise CertificateError(f"unsupported private key type {type(key).__name__}")
    return key


def make_csr(key: PrivateKey, domains: tuple[str, ...]) -> bytes:
    builder = x509.CertificateSigningRequestBuilder().add_extension(
        x509.SubjectAlternativeName([x509.DNSName(d) for d in domains]), critical=False
    )
    # The CN is optional for ACME; include it when it fits (64 characters), as older TLS stacks
    # still read it. Without it the subject is empty and the names are in the SANs only.
    subject = ([x509.NameAttribute(NameOID.COMMON_NAME, domains[0])]
               if len(domains[0]) <= MAX_COMMON_NAME else [])
    csr = builder.subject_name(x509.Name(subject)).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM)


def split_pem_chain(fullchain_pem: str | bytes) -> list[bytes]:
    text = fullchain_pem.decode() if isinstance(fullchain_pem, bytes) else fullchain_pem
    marker = "-----END CERTIFICATE-----"
    parts = [p.strip() + "\n" + marker + "\n" for p in text.split(marker) if p.strip()]
    return [p.encode() for p in parts]


@dataclass(frozen=True)
class IssuedSet:
    """The four PEM files a server needs, plus what wildcert records about them."""

    privkey: bytes
    cert: bytes
    chain: bytes
    fullchain: bytes

    @classmethod
    def from_fullchain(cls, key: PrivateKey, fullchain_pem: str | bytes) -> IssuedSet:
        pems = split_pem_chain(fullchain_pem)
        if not pems:
            raise CertificateError("the CA returned no certificate")
        return cls(
            privkey=key_pem(key),
            cert=pems[0],
            chain=b"".join(pems[1:]),
            fullchain=b"".join(pems),
        )

    def files(self) -> dict[str, bytes]:
        return {
            "privkey.pem": self.privkey,
            "cert.pem": self.cert,
            "chain.pem": self.chain,
            "fullchain.pem": self.fullchain,
        }

    @property
    def leaf(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def serial_hex(cert: x509.Certificate) -> str:
    return format(cert.serial_number, "x")


def san_names(cert: x509.Certificate) -> list[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return ext.value.get_values_for_type(x509.DNSName)


def not_before(cert: x509.Certificate) -> dt.datetime:
    return cert.not_valid_before_utc


def not_after(cert: x509.Certificate) -> dt.datetime:
    return cert.not_valid_after_utc


def issuer_name(cert: x509.Certificate) -> str:
    return cert.issuer.rfc4514_string()


def public_key_der(obj: PrivateKey | x509.Certificate) -> bytes:
    return obj.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def verify_set(issued: IssuedSet, domains: tuple[str, ...] | None = None) -> None:
    """Check a set before anyone installs it: key matches leaf, chain links, names match."""
    leaf = issued.leaf
    key = load_key(issued.privkey)
    if public_key_der(key) != public_key_der(leaf):
        raise CertificateError("the private key does not match the certificate")
    chain = [x509.load_pem_x509_certificate(p) for p in split_pem_chain(issued.chain)]
    child = leaf
    for parent in chain:
        try:
            child.verify_directly_issued_by(parent)
        except (InvalidSignature, ValueError, TypeError) as exc:
            raise CertificateError(
                f"{child.subject.rfc4514_string()} is not issued by "
                f"{parent.subject.rfc4514_string()}: {exc}"
            ) from exc
        child = parent
    if domains is not None and sorted(san_names(leaf)) != sorted(domains):
        raise CertificateError(
            f"the certificate names {sorted(san_names(leaf))} differ from {sorted(domains)}"
        )


METADATA_VERSION = 1


@dataclass(frozen=True)
class StoredCertificate:
    """What `<name>/cert.json` says about the live certificate."""

    name: str
    domains: tuple[str, ...]
    serial: str
    not_before: str
    not_after: str
    issuer: str
    key_type: str
    sha256: Mapping[str, str]
    archive: str
    issued_at: str
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def describe(cls, name: str, issued: IssuedSet, now: dt.datetime) -> StoredCertificate:
        leaf = issued.leaf
        serial = serial_hex(leaf)
        return cls(
            name=name,
            domains=tuple(san_names(leaf)),
            serial=serial,
            not_before=iso(not_before(leaf)),
            not_after=iso(not_after(leaf)),
            issuer=issuer_name(leaf),
            key_type=key_type_of(load_key(issued.privkey)),
            sha256={f: sha256_hex(data) for f, data in issued.files().items()},
            archive=f"{name}/archive/{serial}/",
            issued_at=iso(now),
        )

    def to_json(self) -> bytes:
        body = asdict(self)
        extra = body.pop("extra")
        body["domains"] = list(self.domains)
        body["sha256"] = dict(self.sha256)
        body.update(extra)
        body["version"] = METADATA_VERSION
        return json.dumps(body, indent=2, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes | str) -> StoredCertificate:
        body = json.loads(raw)
        body.pop("version", None)
        known = {f: body.pop(f) for f in list(cls.__dataclass_fields__) if f in body}
        known["domains"] = tuple(known["domains"])
        return cls(**known, extra=body)

    @property
    def not_before_time(self) -> dt.datetime:
        return parse_time(self.not_before)

    @property
    def not_after_time(self) -> dt.datetime:
        return parse_time(self.not_after)
