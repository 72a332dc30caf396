"""KMS Sign/Verify as AWS documents them, where moto 5.2.5 differs (local stack only).

AWS (API_Sign.html, API_Verify.html): `MessageType` RAW takes a message of 1 to 4096 bytes and
KMS hashes it with the signing algorithm's hash; DIGEST takes exactly that hash's output (32
bytes for *_SHA_256) and KMS signs it as it is. moto reads MessageType but never passes it on,
so it hashes a DIGEST once more, and it signs a RAW message of any length. wildcert's account key
sends a JWS signing input over 4096 bytes as its SHA-256 DIGEST, so on raw moto such a JWS does
not verify, and a RAW message past the limit would be signed where AWS refuses it.

The design keeps the private key of every elliptic-curve SIGN_VERIFY key in this module, never
reading moto's: CreateKey still makes the key in moto (its id, ARN, metadata, aliases, policy),
and this module generates the key pair that GetPublicKey, Sign and Verify then use. Every other
key keeps moto's own Sign and Verify, behind the same MessageType checks; a DIGEST for one of them
is refused, as the stack cannot sign it honestly. `install()` patches moto's KMS classes in this
process, as route53_strict does for Route 53.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from moto.core.exceptions import JsonRESTError
from moto.kms.exceptions import ValidationException
from moto.kms.models import Key, KmsBackend
from moto.kms.responses import KmsResponse

RAW_LIMIT = 4096  # bytes of a RAW message (API_Sign.html, Message)
MESSAGE_TYPES = ("RAW", "DIGEST")
CURVES: dict[str, ec.EllipticCurve] = {
    "ECC_NIST_P256": ec.SECP256R1(),
    "ECC_SECG_P256K1": ec.SECP256K1(),
    "ECC_NIST_P384": ec.SECP384R1(),
    "ECC_NIST_P521": ec.SECP521R1(),
}
HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "SHA_256": hashes.SHA256,
    "SHA_384": hashes.SHA384,
    "SHA_512": hashes.SHA512,
}

_MARK = "_wildcert_strict"
_LOCK = threading.Lock()
_KEYS: dict[str, ec.EllipticCurvePrivateKey] = {}  # by key ARN
_originals: dict[tuple[type, str], Callable[..., Any]] = {}


class KmsInvalidSignature(JsonRESTError):
    """What KMS answers when Verify finds the signature wrong (it never says SignatureValid
    false)."""

    def __init__(self) -> None:
        super().__init__("KMSInvalidSignatureException", "")


@dataclass(frozen=True)
class _Request:
    key_id: str
    message: bytes
    message_type: str
    algorithm: str

    @classmethod
    def of(cls, response: KmsResponse) -> _Request:
        params = json.loads(response.body)
        kind = params.get("MessageType") or "RAW"
        message = base64.b64decode(params.get("Message") or "")
        request = cls(str(params.get("KeyId")), message, kind, str(params.get("SigningAlgorithm")))
        request.check()
        return request

    def check(self) -> None:
        if self.message_type not in MESSAGE_TYPES:
            raise ValidationException(
                f"1 validation error detected: Value '{self.message_type}' at 'messageType' "
                f"failed to satisfy constraint: Member must satisfy enum value set: "
                f"[{', '.join(MESSAGE_TYPES)}]")
        if not self.message:
            raise ValidationException(
                "1 validation error detected: Value at 'message' failed to satisfy constraint: "
                "Member must have length greater than or equal to 1")
        if self.message_type == "RAW" and len(self.message) > RAW_LIMIT:
            raise ValidationException(
                "1 validation error detected: Value at 'message' failed to satisfy constraint: "
                f"Member must have length less than or equal to {RAW_LIMIT}")
        if self.message_type == "DIGEST" and len(self.message) != self.hash().digest_size:
            raise ValidationException(
                f"Digest is invalid length for algorithm {self.algorithm}: it must be "
                f"{self.hash().digest_size} bytes, not {len(self.message)}")

    def hash(self) -> hashes.HashAlgorithm:
        for suffix, algorithm in HASHES.items():
            if self.algorithm.endswith(suffix):
                return algorithm()
        raise ValidationException(f"Unknown SigningAlgorithm '{self.algorithm}'")

    def ecdsa(self) -> ec.ECDSA:
        chosen = self.hash()
        return ec.ECDSA(Prehashed(chosen) if self.message_type == "DIGEST" else chosen)


def install() -> None:
    """Keep KMS's Sign/Verify contract in this process's moto. Idempotent."""
    if installed():
        return
    for owner, name, replacement in _PATCHES:
        _originals[(owner, name)] = getattr(owner, name)
        setattr(owner, name, replacement)


def uninstall() -> None:
    """Restore moto's own behaviour (tests use it to show what the patch changes)."""
    for (owner, name), original in _originals.items():
        setattr(owner, name, original)
    _originals.clear()


def installed() -> bool:
    return bool(getattr(KmsResponse.sign, _MARK, False))


def _create_key(self: KmsBackend, *args: Any, **kwargs: Any) -> Key:
    key: Key = _originals[(KmsBackend, "create_key")](self, *args, **kwargs)
    curve = CURVES.get(key.key_spec)
    if curve is not None and key.key_usage == "SIGN_VERIFY":
        with _LOCK:
            _KEYS[key.arn] = ec.generate_private_key(curve)
    return key


def _get_public_key(self: KmsBackend, key_id: str) -> tuple[Key, bytes]:
    key, public = _originals[(KmsBackend, "get_public_key")](self, key_id)
    private = _own_key(key)
    if private is None:
        return key, public
    return key, private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _sign(self: KmsResponse) -> str:
    request = _Request.of(self)
    key, private = _signing_key(self, request, "sign")
    if private is None:
        return str(_originals[(KmsResponse, "sign")](self))
    signature = private.sign(request.message, request.ecdsa())
    return json.dumps({"KeyId": key.arn, "Signature": base64.b64encode(signature).decode(),
                       "SigningAlgorithm": request.algorithm})


def _verify(self: KmsResponse) -> str:
    request = _Request.of(self)
    key, private = _signing_key(self, request, "verify")
    if private is None:
        return str(_originals[(KmsResponse, "verify")](self))
    signature = base64.b64decode(json.loads(self.body).get("Signature") or "")
    try:
        private.public_key().verify(signature, request.message, request.ecdsa())
    except InvalidSignature as error:
        raise KmsInvalidSignature() from error
    return json.dumps({"KeyId": key.arn, "SignatureValid": True,
                       "SigningAlgorithm": request.algorithm})


def _signing_key(
    response: KmsResponse, request: _Request, action: str
) -> tuple[Key, ec.EllipticCurvePrivateKey | None]:
    """The key the request names, checked as moto checks it, and its private key if this module
    holds it."""
    key = response.kms_backend.describe_key(request.key_id)
    if key.key_usage != "SIGN_VERIFY":
        raise ValidationException(
            f"1 validation error detected: Value '{key.id}' at 'KeyId' failed to satisfy "
            "constraint: Member must point to a key with usage: 'SIGN_VERIFY'")
    if request.algorithm not in key.signing_algorithms:
        raise ValidationException(
            f"1 validation error detected: Value '{request.algorithm}' at 'SigningAlgorithm' "
            f"failed to satisfy constraint: Member must satisfy enum value set: "
            f"{key.signing_algorithms}")
    private = _own_key(key)
    if private is None and request.message_type == "DIGEST":
        raise ValidationException(
            f"The local stack cannot {action} a DIGEST with key spec {key.key_spec}: moto "
            f"would hash it again. It does so for {', '.join(CURVES)} keys.")
    return key, private


def _own_key(key: Key) -> ec.EllipticCurvePrivateKey | None:
    with _LOCK:
        return _KEYS.get(key.arn)


for _function in (_create_key, _get_public_key, _sign, _verify):
    setattr(_function, _MARK, True)

_PATCHES: tuple[tuple[type, str, Callable[..., Any]], ...] = (
    (KmsBackend, "create_key", _create_key),
    (KmsBackend, "get_public_key", _get_public_key),
    (KmsResponse, "sign", _sign),
    (KmsResponse, "verify", _verify),
)
