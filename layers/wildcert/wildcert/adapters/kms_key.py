"""An ACME account key that never leaves AWS KMS: an ECC_NIST_P256 SIGN_VERIFY key.

josepy signs ES256 through the calls of a cryptography EC private key: `sign(data,
ECDSA(SHA256()))` returning a DER signature (which josepy turns into JWS's r||s), `public_key()`
and `curve`. `KmsAccountKey` offers exactly those, so `josepy.JWKEC(key=KmsAccountKey(...))` is
an account key like any other, except that its private half stays in KMS: signing is one
`kms:Sign`. KMS takes a RAW message of at most 4096 bytes; a longer JWS signing input (an order
for many names) is sent as its SHA-256 DIGEST, which KMS signs the same way.
"""

from __future__ import annotations

from typing import Any

import josepy as jose
from botocore.exceptions import BotoCoreError, ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from wildcert.adapters.aws import error_text
from wildcert.errors import WildcertError

SIGNING_ALGORITHM = "ECDSA_SHA_256"
KEY_SPEC = "ECC_NIST_P256"
RAW_LIMIT = 4096  # bytes KMS signs as a message; beyond, it takes the digest


class KmsKeyError(WildcertError):
    """The KMS key cannot sign for the account: wrong spec or usage, or KMS refused."""


def account_jwk(kms: Any, key_id: str) -> jose.JWK:
    """The account key `josepy` signs with (a JWKEC), its private half in KMS."""
    return jose.JWKEC(key=KmsAccountKey(kms, key_id))


class KmsAccountKey:
    """The cryptography private-key calls josepy makes, answered by KMS."""

    curve = ec.SECP256R1()
    key_size = 256

    def __init__(self, kms: Any, key_id: str):
        self.kms = kms
        self.key_id = key_id
        self._public: ec.EllipticCurvePublicKey | None = None

    def _kms(self, doing: str, call: Any, **arguments: Any) -> Any:
        try:
            return call(**arguments)
        except (ClientError, BotoCoreError) as exc:
            raise KmsKeyError(
                f"{doing} the ACME account's KMS key {self.key_id} failed: {error_text(exc)}; "
                "the issuer role needs kms:Sign and kms:GetPublicKey on it (the template's "
                "AcmeAccountKey grants them)") from exc

    def public_key(self) -> ec.EllipticCurvePublicKey:
        if self._public is None:
            answer = self._kms("reading the public key of", self.kms.get_public_key,
                               KeyId=self.key_id)
            # KeySpec, or its older name that some KMS implementations still send alone.
            spec = answer.get("KeySpec") or answer.get("CustomerMasterKeySpec")
            if spec != KEY_SPEC or answer.get("KeyUsage") != "SIGN_VERIFY":
                raise KmsKeyError(
                    f"KMS key {self.key_id} is {spec} "
                    f"{answer.get('KeyUsage')}; an ACME account key must be {KEY_SPEC} "
                    "SIGN_VERIFY (the template's AcmeAccountKey)")
            public = serialization.load_der_public_key(answer["PublicKey"])
            if not isinstance(public, ec.EllipticCurvePublicKey):
                raise KmsKeyError(f"KMS key {self.key_id} is not an EC key")
            self._public = public
        return self._public

    def sign(self, data: bytes, signature_algorithm: ec.EllipticCurveSignatureAlgorithm) -> bytes:
        """A DER ECDSA signature of `data` with SHA-256, made by KMS."""
        if not (isinstance(signature_algorithm, ec.ECDSA)
                and isinstance(signature_algorithm.algorithm, hashes.SHA256)):
            raise KmsKeyError(f"KMS key {self.key_id} signs ECDSA with SHA-256 only (ES256)")
        message, kind = data, "RAW"
        if len(data) > RAW_LIMIT:
            digest = hashes.Hash(hashes.SHA256())
            digest.update(data)
            message, kind = digest.finalize(), "DIGEST"
        answer = self._kms("signing with", self.kms.sign, KeyId=self.key_id, Message=message,
                           MessageType=kind, SigningAlgorithm=SIGNING_ALGORITHM)
        return bytes(answer["Signature"])
