import datetime as dt
import random

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from wildcert.logic import ari
from wildcert.logic import certificates as certs

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


def window(start: str, end: str) -> dict:
    return {"suggestedWindow": {"start": start, "end": end}}


def test_cert_id_matches_rfc_9773_example_encoding() -> None:
    """AKI and serial are base64url without padding; a serial with the top bit set gains 0x00."""
    ca_key = certs.generate_key("ec256")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ca")])
    aki = x509.AuthorityKeyIdentifier(bytes(range(20)), None, None)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(ca_key.public_key()).serial_number(0x87654321)
        .not_valid_before(NOW).not_valid_after(NOW + dt.timedelta(days=1))
        .add_extension(aki, critical=False).sign(ca_key, hashes.SHA256())
    )
    assert ari.cert_id(cert) == "AAECAwQFBgcICQoLDA0ODxAREhM.AIdlQyE"


def test_window_end_before_start_is_rejected() -> None:
    with pytest.raises(ari.InvalidRenewalInfo, match="before it starts"):
        ari.parse(window("2026-12-02T00:00:00Z", "2026-12-01T00:00:00Z"),
                  retry_after_seconds=None, now=NOW)


@pytest.mark.parametrize("body", [None, {}, {"suggestedWindow": "x"},
                                  window("yesterday", "2026-12-01T00:00:00Z")])
def test_malformed_bodies(body) -> None:
    with pytest.raises(ari.InvalidRenewalInfo):
        ari.parse(body, retry_after_seconds=None, now=NOW)


@pytest.mark.parametrize(("seconds", "expected"), [
    (None, ari.DEFAULT_RETRY_AFTER), (1, ari.MIN_RETRY_AFTER), (10**9, ari.MAX_RETRY_AFTER),
    (3600, dt.timedelta(hours=1)),
])
def test_retry_after_is_clamped(seconds, expected) -> None:
    info = ari.parse(window("2026-12-01T00:00:00Z", "2026-12-02T00:00:00Z"),
                     retry_after_seconds=seconds, now=NOW)
    assert info.next_check - NOW == expected


def test_selected_time_is_inside_the_window_and_kept() -> None:
    body = window("2026-12-01T00:00:00Z", "2026-12-03T00:00:00Z")
    info = ari.parse(body, retry_after_seconds=None, now=NOW, rng=random.Random(1))
    assert info.start <= info.selected <= info.end
    again = ari.parse(body, retry_after_seconds=None, now=NOW, previous=info,
                      rng=random.Random(2))
    assert again.selected == info.selected
    moved = ari.parse(window("2026-11-26T00:00:00Z", "2026-11-27T00:00:00Z"),
                      retry_after_seconds=None, now=NOW, previous=info)
    assert moved.selected != info.selected and moved.start <= moved.selected <= moved.end


def test_past_window_means_now_and_naive_times_are_utc() -> None:
    info = ari.parse(window("2026-11-01T00:00:00", "2026-11-02T00:00:00"),
                     retry_after_seconds=None, now=NOW)
    assert info.selected == NOW


def test_json_round_trip() -> None:
    info = ari.parse({**window("2026-12-01T00:00:00Z", "2026-12-02T00:00:00Z"),
                      "explanationURL": "https://ca.example/why"},
                     retry_after_seconds=60, now=NOW)
    assert ari.RenewalInfo.from_json(info.as_json()) == info
