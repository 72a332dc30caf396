"""The KMS-held account key against kms:Sign as AWS documents it, signing with a local key.

A fast, in-process KMS that keeps the documented contract: a RAW message is 1 to 4096 bytes
and is hashed while signing; a DIGEST is exactly as long as the algorithm's hash and is not
hashed again. The local stack's KMS keeps it too (local_stack/kms_strict.py), where
tests/stack/test_kms_digest.py and tests/e2e/test_kms_account.py check the same against it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from acme import messages
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

from tests.kms_jws import SignedInput, sha256, sign_jws, sign_jws_of_length, verify_es256
from wildcert.adapters import kms_key
from wildcert.adapters.acme import NewOrderWithReplaces
from wildcert.adapters.kms_key import KmsKeyError, account_jwk
from wildcert.logic.certificates import generate_key, make_csr

KEY_ID = "arn:aws:kms:us-east-1:111111111111:key/5a1e0000-0000-4000-8000-000000000001"
NAMES = tuple(f"*.shop-{n:03d}.teams.example.org" for n in range(100))  # the request's maximum


def _refused(message: str) -> ClientError:
    return ClientError({"Error": {"Code": "ValidationException", "Message": message}}, "Sign")


@dataclass
class DocumentedKms:
    """kms:GetPublicKey and kms:Sign for one ECC_NIST_P256 SIGN_VERIFY key (API_Sign.html)."""

    private: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    signed: list[dict[str, Any]] = field(default_factory=list)

    def get_public_key(self, KeyId: str) -> dict[str, Any]:
        public = self.private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return {"KeyId": KeyId, "KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY",
                "PublicKey": public, "SigningAlgorithms": ["ECDSA_SHA_256"]}

    def sign(self, KeyId: str, Message: bytes, SigningAlgorithm: str,
             MessageType: str = "RAW") -> dict[str, Any]:
        self.signed.append({"Message": Message, "MessageType": MessageType})
        if SigningAlgorithm != "ECDSA_SHA_256":
            raise _refused(f"{SigningAlgorithm} is not valid for this key")
        if not 1 <= len(Message) <= 4096:
            raise _refused("Value at 'message' failed to satisfy constraint: "
                           "Member must have length less than or equal to 4096")
        if MessageType == "DIGEST":
            if len(Message) != hashes.SHA256.digest_size:
                raise _refused("Digest is invalid length for algorithm ECDSA_SHA_256.")
            algorithm = ec.ECDSA(utils.Prehashed(hashes.SHA256()))
        elif MessageType == "RAW":
            algorithm = ec.ECDSA(hashes.SHA256())
        else:
            raise _refused(f"MessageType {MessageType} is not valid")
        return {"KeyId": KeyId, "Signature": self.private.sign(Message, algorithm),
                "SigningAlgorithm": SigningAlgorithm}


@pytest.fixture
def kms() -> DocumentedKms:
    return DocumentedKms()


def _check(kms: DocumentedKms, signed: SignedInput) -> None:
    verify_es256(kms.private.public_key(), signed)


def test_a_signing_input_of_4096_bytes_is_signed_as_the_message(kms: DocumentedKms) -> None:
    signed = sign_jws_of_length(account_jwk(kms, KEY_ID), 4096)
    assert kms.signed == [{"Message": signed.signing_input, "MessageType": "RAW"}]
    _check(kms, signed)


def test_a_signing_input_of_4097_bytes_is_signed_as_its_sha256(kms: DocumentedKms) -> None:
    signed = sign_jws_of_length(account_jwk(kms, KEY_ID), 4097)
    assert kms.signed == [{"Message": sha256(signed.signing_input), "MessageType": "DIGEST"}]
    _check(kms, signed)


def _new_order() -> bytes:
    identifiers = [messages.Identifier(typ=messages.IDENTIFIER_FQDN, value=name)
                   for name in NAMES]
    return NewOrderWithReplaces(identifiers=identifiers).json_dumps().encode()


def _finalize() -> bytes:
    csr = x509.load_pem_x509_csr(make_csr(generate_key("ec256"), NAMES))
    return messages.CertificateRequest(csr=csr).json_dumps().encode()


@pytest.mark.parametrize("payload", [_new_order, _finalize], ids=["newOrder", "finalize"])
def test_an_order_for_100_names_is_signed_so_that_a_ca_verifies_it(
        kms: DocumentedKms, payload: Any) -> None:
    signed = sign_jws(account_jwk(kms, KEY_ID), payload())
    assert len(signed.signing_input) > kms_key.RAW_LIMIT
    assert [call["MessageType"] for call in kms.signed] == ["DIGEST"]
    _check(kms, signed)


def test_kms_refusing_a_long_raw_message_is_an_account_key_error(
        kms: DocumentedKms, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the digest path prevents: a RAW message past KMS's limit is refused, not signed."""
    monkeypatch.setattr(kms_key, "RAW_LIMIT", 10_000)
    with pytest.raises(KmsKeyError, match=f"signing with the ACME account's KMS key {KEY_ID}"):
        sign_jws_of_length(account_jwk(kms, KEY_ID), 4097)
    assert kms.signed[-1]["MessageType"] == "RAW"
