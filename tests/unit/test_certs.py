import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from wildcert.logic import certificates as certs


def _ca_and_leaf(domains: tuple[str, ...], key_type: str = "ec256"):
    ca_key = certs.generate_key("ec256")
    now = dt.datetime.now(dt.UTC)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(1)
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = certs.generate_key(key_type)
    csr = x509.load_pem_x509_csr(certs.make_csr(key, domains))
    leaf = (
        x509.CertificateBuilder().subject_name(csr.subject).issuer_name(ca_name)
        .public_key(csr.public_key()).serial_number(0xABCDEF)
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=90))
        .add_extension(csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value,
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return key, leaf.public_bytes(pem) + ca.public_bytes(pem)


@pytest.mark.parametrize("key_type", ["ec256", "ec384", "rsa2048"])
def test_key_types(key_type: str) -> None:
    assert certs.key_type_of(certs.generate_key(key_type)) == key_type


def test_csr_carries_all_names() -> None:
    key = certs.generate_key("ec256")
    csr = x509.load_pem_x509_csr(certs.make_csr(key, ("*.example.com", "example.com")))
    sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["*.example.com", "example.com"]
    assert csr.is_signature_valid


@pytest.mark.parametrize("length", [64, 65, 200])
def test_a_first_name_too_long_for_a_common_name_is_in_the_sans_only(length: int) -> None:
    labels = ["a" * 50] * 4
    first = ".".join(labels) + ".example.com"
    first = first[len(first) - length:].lstrip(".").rjust(length, "x")
    assert len(first) == length
    key = certs.generate_key("ec256")
    csr = x509.load_pem_x509_csr(certs.make_csr(key, (first, "example.com")))
    common = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    assert [a.value for a in common] == ([first] if length <= 64 else [])
    sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == [first, "example.com"]
    assert csr.is_signature_valid


def test_issued_set_splits_and_verifies() -> None:
    domains = ("*.example.com", "example.com")
    key, fullchain = _ca_and_leaf(domains)
    issued = certs.IssuedSet.from_fullchain(key, fullchain)
    assert issued.fullchain == issued.cert + issued.chain
    certs.verify_set(issued, domains)
    assert certs.serial_hex(issued.leaf) == "abcdef"


def test_verify_rejects_wrong_key_and_names() -> None:
    domains = ("example.com",)
    key, fullchain = _ca_and_leaf(domains)
    other = certs.generate_key("ec256")
    with pytest.raises(certs.CertificateError, match="does not match"):
        certs.verify_set(certs.IssuedSet.from_fullchain(other, fullchain), domains)
    with pytest.raises(certs.CertificateError, match="differ"):
        certs.verify_set(certs.IssuedSet.from_fullchain(key, fullchain), ("other.example.com",))


def test_verify_rejects_broken_chain() -> None:
    key, fullchain = _ca_and_leaf(("example.com",))
    _, other_chain = _ca_and_leaf(("example.com",))
    leaf = certs.split_pem_chain(fullchain)[0]
    foreign_ca = certs.split_pem_chain(other_chain)[1]
    with pytest.raises(certs.CertificateError, match="not issued by"):
        certs.verify_set(certs.IssuedSet.from_fullchain(key, leaf + foreign_ca))
