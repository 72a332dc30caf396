"""Pebble validates DNS-01 by asking the stack's DNS server, which reads moto's zones."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import josepy as jose
import pytest
import requests
from acme import challenges, client, messages
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from local_stack import Stack

pytestmark = pytest.mark.stack


class _PatientNetwork(client.ClientNetwork):
    """Pebble rejects 5% of good nonces and `acme` retries only once: two in a row happen."""

    def post(self, *args: Any, **kwargs: Any) -> requests.Response:
        for _ in range(4):
            try:
                return super().post(*args, **kwargs)
            except messages.Error as error:
                if error.code != "badNonce":
                    raise
        return super().post(*args, **kwargs)


def _acme_client(stack: Stack, key: jose.JWK) -> client.ClientV2:
    network = _PatientNetwork(
        key, alg=jose.ES256, verify_ssl=stack.env["ACME_CA_BUNDLE"], user_agent="local-stack-test"
    )
    directory = messages.Directory.from_json(network.get(stack.env["ACME_DIRECTORY_URL"]).json())
    acme = client.ClientV2(directory, network)
    acme.new_account(messages.NewRegistration.from_data(terms_of_service_agreed=True))
    return acme


def _csr(names: list[str]) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)


def test_wildcard_and_apex_validate_through_our_dns(
    stack: Stack, records, label: Callable[[str], str]
) -> None:
    domain = f"{label('dns01')}.team.example.com"
    key = jose.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
    acme = _acme_client(stack, key)
    order = acme.new_order(_csr([f"*.{domain}", domain]))
    answers = []
    for authz in order.authorizations:
        (challenge,) = [c for c in authz.body.challenges if isinstance(c.chall, challenges.DNS01)]
        response, validation = challenge.response_and_validation(key)
        answers.append((challenge, response, validation))
    # Wildcard and apex share one `_acme-challenge` name: one record set, two values.
    values = sorted({f'"{validation}"' for _, _, validation in answers})
    records.put("team.example.com", f"_acme-challenge.{domain}", "TXT", values)
    before = stack.stats()["dns"]["by_qtype"].get("TXT", 0)

    for challenge, response, _ in answers:
        acme.answer_challenge(challenge, response)
    finished = acme.poll_and_finalize(order)

    leaf = x509.load_pem_x509_certificate(finished.fullchain_pem.encode())
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(sans.get_values_for_type(x509.DNSName)) == sorted([f"*.{domain}", domain])
    assert stack.stats()["dns"]["by_qtype"]["TXT"] > before
