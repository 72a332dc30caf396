"""local_stack.kms_strict makes moto's KMS Sign and Verify keep AWS's MessageType contract.

API_Sign.html: a RAW message is 1 to 4096 bytes and is hashed while signing; a DIGEST is exactly
as long as the algorithm's hash (32 bytes for ECDSA_SHA_256) and is signed as it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

from local_stack import kms_strict
from tests.kms_jws import sha256

ALGORITHM = "ECDSA_SHA_256"


@pytest.fixture(scope="module")
def strict() -> Iterator[None]:
    kms_strict.install()
    yield
    kms_strict.uninstall()


def _client(endpoint: str) -> Any:
    return boto3.client("kms", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture
def kms(endpoint: str, strict: None) -> Any:
    return _client(endpoint)


def _key(kms: Any, spec: str = "ECC_NIST_P256") -> tuple[str, Any]:
    arn = kms.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    return arn, serialization.load_der_public_key(kms.get_public_key(KeyId=arn)["PublicKey"])


def _sign(kms: Any, arn: str, message: bytes, kind: str, algorithm: str = ALGORITHM) -> bytes:
    answer = kms.sign(KeyId=arn, Message=message, MessageType=kind, SigningAlgorithm=algorithm)
    assert answer["KeyId"] == arn and answer["SigningAlgorithm"] == algorithm
    return bytes(answer["Signature"])


def _code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


@pytest.mark.parametrize("length", [1, 4096])
def test_a_raw_message_is_hashed_while_signing(kms: Any, length: int) -> None:
    arn, public = _key(kms)
    message = bytes(range(256)) * 16
    signature = _sign(kms, arn, message[:length], "RAW")
    public.verify(signature, message[:length], ec.ECDSA(hashes.SHA256()))


def test_a_digest_is_signed_as_it_is(kms: Any) -> None:
    arn, public = _key(kms)
    long_input = b"x" * 12_000
    signature = _sign(kms, arn, sha256(long_input), "DIGEST")
    public.verify(signature, long_input, ec.ECDSA(hashes.SHA256()))
    public.verify(signature, sha256(long_input), ec.ECDSA(utils.Prehashed(hashes.SHA256())))


def test_a_p384_digest_is_its_48_byte_hash(kms: Any) -> None:
    arn, public = _key(kms, "ECC_NIST_P384")
    digest = hashes.Hash(hashes.SHA384())
    digest.update(b"message")
    signature = _sign(kms, arn, digest.finalize(), "DIGEST", "ECDSA_SHA_384")
    public.verify(signature, b"message", ec.ECDSA(hashes.SHA384()))


def test_a_raw_message_over_4096_bytes_is_refused(kms: Any) -> None:
    arn, _ = _key(kms)
    with pytest.raises(ClientError) as refused:
        _sign(kms, arn, b"x" * 4097, "RAW")
    assert _code(refused) == "ValidationException"
    assert "less than or equal to 4096" in str(refused.value)


@pytest.mark.parametrize("length", [31, 33, 48])
def test_a_digest_of_the_wrong_length_is_refused(kms: Any, length: int) -> None:
    arn, _ = _key(kms)
    with pytest.raises(ClientError) as refused:
        _sign(kms, arn, b"d" * length, "DIGEST")
    assert _code(refused) == "ValidationException"
    assert "ECDSA_SHA_256" in str(refused.value) and "32 bytes" in str(refused.value)


def _verify(kms: Any, arn: str, message: bytes, kind: str, signature: bytes) -> Any:
    return kms.verify(KeyId=arn, Message=message, MessageType=kind, Signature=signature,
                      SigningAlgorithm=ALGORITHM)


def test_verify_takes_the_same_message_types(kms: Any) -> None:
    arn, _ = _key(kms)
    digest = sha256(b"y" * 5000)
    signature = _sign(kms, arn, digest, "DIGEST")
    assert _verify(kms, arn, digest, "DIGEST", signature)["SignatureValid"] is True
    with pytest.raises(ClientError) as too_long:
        _verify(kms, arn, b"y" * 5000, "RAW", signature)
    assert _code(too_long) == "ValidationException"
    with pytest.raises(ClientError) as wrong:
        _verify(kms, arn, sha256(b"other"), "DIGEST", signature)
    assert _code(wrong) == "KMSInvalidSignatureException"


def test_a_key_without_its_own_pair_is_refused_a_digest(kms: Any) -> None:
    arn = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    assert _sign(kms, arn, b"raw", "RAW", "RSASSA_PSS_SHA_256")  # moto's own signature
    with pytest.raises(ClientError) as refused:
        _sign(kms, arn, sha256(b"raw"), "DIGEST", "RSASSA_PSS_SHA_256")
    assert _code(refused) == "ValidationException" and "RSA_2048" in str(refused.value)


def test_moto_alone_hashes_a_digest_again(endpoint: str, strict: None) -> None:
    """Why the stack installs kms_strict: moto 5.2.5 drops MessageType (responses.py:651-671),
    so its signature of a DIGEST is over SHA-256(digest). If this fails after a moto upgrade,
    moto may sign digests now and kms_strict may go."""
    kms_strict.uninstall()
    try:
        kms = _client(endpoint)
        arn, public = _key(kms)
        digest = sha256(b"z" * 5000)
        signature = _sign(kms, arn, digest, "DIGEST")
        with pytest.raises(InvalidSignature):
            public.verify(signature, b"z" * 5000, ec.ECDSA(hashes.SHA256()))
        public.verify(signature, digest, ec.ECDSA(hashes.SHA256()))
        assert _sign(kms, arn, b"x" * 4097, "RAW")  # no RAW limit either
    finally:
        kms_strict.install()


def test_install_is_idempotent(strict: None) -> None:
    before = kms_strict.KmsResponse.sign
    kms_strict.install()
    assert kms_strict.installed() and kms_strict.KmsResponse.sign is before
