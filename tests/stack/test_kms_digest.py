"""The KMS-held account key either side of kms:Sign's 4096-byte RAW limit, against the local
stack's KMS, each JWS checked with `cryptography` against the key's public key.

moto 5.2.5 alone would hash a DIGEST again (tests/unit/test_kms_strict.py shows it); the stack
runs it with local_stack/kms_strict.py, which keeps AWS's documented contract (API_Sign.html,
MessageType), so the signature of a JWS past the limit verifies here as it does on AWS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from local_stack import Stack
from local_stack.ports import HOST
from local_stack.route53_source import local_client
from tests.kms_jws import SignedInput, sha256, sign_jws_of_length, verify_es256
from wildcert.adapters.kms_key import account_jwk

pytestmark = pytest.mark.stack

@dataclass
class KmsKey:
    """A key as the template's AcmeAccountKey, and a client that records each Sign request."""

    arn: str
    client: Any
    public: ec.EllipticCurvePublicKey
    sent: list[dict[str, Any]] = field(default_factory=list)

    def record(self, params: dict[str, Any], **_: Any) -> None:
        self.sent.append({"Message": params["Message"], "MessageType": params["MessageType"]})

    def sign(self, length: int) -> SignedInput:
        return sign_jws_of_length(account_jwk(self.client, self.arn), length)


@pytest.fixture
def kms_key(stack: Stack) -> KmsKey:
    client = local_client("kms", f"http://{HOST}:{stack.ports.moto}")  # not the shared client
    arn = client.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    public = serialization.load_der_public_key(client.get_public_key(KeyId=arn)["PublicKey"])
    assert isinstance(public, ec.EllipticCurvePublicKey)
    key = KmsKey(arn, client, public)
    client.meta.events.register("provide-client-params.kms.Sign", key.record)
    return key


def test_at_4096_bytes_kms_signs_the_signing_input_itself(kms_key: KmsKey) -> None:
    signed = kms_key.sign(4096)
    assert kms_key.sent == [{"Message": signed.signing_input, "MessageType": "RAW"}]
    verify_es256(kms_key.public, signed)


@pytest.mark.parametrize("length", [4097, 12_000])
def test_past_4096_bytes_kms_is_sent_the_sha256_as_a_digest(kms_key: KmsKey, length: int) -> None:
    signed = kms_key.sign(length)
    assert kms_key.sent == [{"Message": sha256(signed.signing_input), "MessageType": "DIGEST"}]
    assert len(kms_key.sent[0]["Message"]) == hashes.SHA256.digest_size


@pytest.mark.parametrize("length", [4097, 12_000])
def test_past_4096_bytes_the_signature_verifies(kms_key: KmsKey, length: int) -> None:
    verify_es256(kms_key.public, kms_key.sign(length))

