"""ES256 JWSs of a chosen signing-input length, and their check with `cryptography` alone.

KMS signs a RAW message of at most 4096 bytes; the account key sends a longer JWS signing input
as its SHA-256 digest. These helpers make JWSs just either side of that limit and verify them
the way an ACME server does: ECDSA P-256 with SHA-256 over the signing input, against the
public key only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import josepy as jose
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


@dataclass(frozen=True)
class SignedInput:
    """A JWS reduced to what a verifier checks: the signing input and the r||s signature."""

    signing_input: bytes
    signature: bytes


def sign_jws(key: jose.JWK, payload: bytes, kid: str = "k") -> SignedInput:
    """`payload` signed ES256 by josepy, as a CA receives it (protected alg and kid)."""
    jws = jose.JWS.sign(payload, key=key, alg=jose.ES256, include_jwk=False, kid=kid,
                        protect=frozenset({"alg", "kid"}))
    protected = jws.signature.protected.encode()
    return SignedInput(jose.b64encode(protected) + b"." + jose.b64encode(payload),
                       jws.signature.signature)


def sign_jws_of_length(key: jose.JWK, length: int) -> SignedInput:
    """A JWS whose signing input is exactly `length` bytes, its payload random.

    Unpadded base64url never has a length of 1 modulo 4, so the kid's length is varied until
    the payload can fill the rest exactly."""
    for kid in ("k", "kk", "kkk", "kkkk"):
        protected = jose.b64encode(jose.Header(alg=jose.ES256, kid=kid).json_dumps().encode())
        encoded = length - len(protected) - 1  # base64url characters the payload must take
        size = encoded * 3 // 4
        if len(jose.b64encode(bytes(size))) == encoded:
            signed = sign_jws(key, os.urandom(size), kid)
            assert len(signed.signing_input) == length
            return signed
    raise AssertionError(f"no JWS has a signing input of {length} bytes")


def verify_es256(public: ec.EllipticCurvePublicKey, signed: SignedInput) -> None:
    """Raises InvalidSignature unless `signed` is an ES256 signature of its signing input."""
    assert len(signed.signature) == 64  # JWS's r||s for P-256
    r = int.from_bytes(signed.signature[:32], "big")
    s = int.from_bytes(signed.signature[32:], "big")
    public.verify(encode_dss_signature(r, s), signed.signing_input, ec.ECDSA(hashes.SHA256()))


def sha256(data: bytes) -> bytes:
    digest = hashes.Hash(hashes.SHA256())
    digest.update(data)
    return digest.finalize()
