"""The watch's pure parts: expiry findings, comparing served with stored (endpoint parsing and
reaching: test_endpoints)."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from tests.unit.fakes import FakeTime
from tests.unit.test_sweep import NOW, entry
from wildcert.adapters import slack
from wildcert.jobs.over_inventory import EventRejected
from wildcert.jobs.watch.job import (
    ENDPOINT_SECONDS,
    PROBE_RESERVE_SECONDS,
    Finding,
    Prober,
    check_endpoint,
    check_endpoints,
    compare_served,
    expiry_finding,
    parse_watch_event,
    sni_for,
)
from wildcert.logic import certificates as certs
from wildcert.logic.request.endpoints import Endpoint

WARN = dt.timedelta(days=14)
KEY = certs.generate_key("ec256")


def leaf(serial: int, not_before: dt.datetime, days: float = 90,
         names: tuple[str, ...] = ("*.example.com", "example.com")) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    return (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(KEY.public_key()).serial_number(serial)
        .not_valid_before(not_before).not_valid_after(not_before + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .sign(KEY, hashes.SHA256())
    )


@pytest.mark.parametrize(("age", "days", "kind"), [
    (10, 90, None), (77, 90, "expiring"), (75.9, 90, None), (91, 90, "expired"), (3, 6, "expiring"),
])
def test_expiry_findings(age: float, days: float, kind: str | None) -> None:
    found = expiry_finding(entry("web", age_days=age, days=days), NOW, WARN)
    assert (found.kind if found else None) == kind
    if found:
        assert ("ago" if kind == "expired" else "in ") in found.text


def test_sni_is_a_plain_name_or_a_label_under_the_wildcard() -> None:
    assert sni_for(("*.example.com", "example.com")) == "example.com"
    assert sni_for(("*.example.com", "*.example.net")) == "www.example.com"


def test_same_serial_is_fine_unless_expiring() -> None:
    stored = entry("web", age_days=10, serial="1f")
    served = leaf(0x1F, stored.meta.not_before_time)
    assert compare_served(stored, Endpoint("h", 443), "example.com", served, now=NOW,
                          warning=WARN) is None
    old = entry("web", age_days=80, serial="1f")
    served = leaf(0x1F, old.meta.not_before_time)
    found = compare_served(old, Endpoint("h", 443), "example.com", served, now=NOW, warning=WARN)
    assert found is not None and found.kind == "served-expiring"


def test_older_serial_is_stale_and_names_both_serials() -> None:
    stored = entry("web", age_days=5, serial="beef")
    served = leaf(0xABC, NOW - dt.timedelta(days=70))
    found = compare_served(stored, Endpoint("www.example.com", 443), "example.com", served,
                           now=NOW, warning=WARN)
    assert found is not None and found.kind == "stale"
    assert found.text.startswith("www.example.com:443 serves serial abc (expires ")
    assert "bucket has beef" in found.text and "not installed the renewal" in found.text


def test_a_reissue_in_the_same_second_not_installed_is_stale() -> None:
    # make test found it: an issuance and its forced reissue one second apart at most.
    stored = entry("web", age_days=0, serial="beef")
    served = leaf(0xABC, stored.meta.not_before_time)
    found = compare_served(stored, Endpoint("h", 443), "example.com", served, now=NOW,
                           warning=WARN)
    assert found is not None and found.kind == "stale"


def test_newer_unknown_certificate_is_reported_as_other() -> None:
    stored = entry("web", age_days=30, serial="beef")
    served = leaf(0x123, NOW - dt.timedelta(days=1))
    found = compare_served(stored, Endpoint("h", 443), "example.com", served, now=NOW,
                           warning=WARN)
    assert found is not None and found.kind == "other" and "did not store" in found.text


def test_unreachable_and_malformed_endpoints_are_findings() -> None:
    def refused(endpoint: Endpoint, sni: str) -> x509.Certificate:
        raise ConnectionRefusedError(111, "Connection refused")

    stored = entry("web", endpoints=["www.example.com:443", "nonsense:port"])
    found = check_endpoints([stored], NOW, WARN, probe=refused).findings
    assert [f.kind for f in found] == ["unreachable", "refused"]
    assert found[0].text == "could not get a certificate from www.example.com:443 (SNI example.com)"
    assert "not host:port" in found[1].text


def test_probe_gets_the_sni() -> None:
    seen: list[tuple[Endpoint, str]] = []

    def probe(endpoint: Endpoint, sni: str) -> x509.Certificate:
        seen.append((endpoint, sni))
        return leaf(0xABC123, NOW - dt.timedelta(days=10))

    stored = entry("web", serial="abc123", domains=("*.example.net",))
    assert check_endpoint(stored, "web.example.net:8443", NOW, WARN, probe, ports=(8443,)) is None
    assert seen == [(Endpoint("web.example.net", 8443), "www.example.net")]


def test_watch_event() -> None:
    assert parse_watch_event(None).dry_run is False
    assert parse_watch_event({"refresh_ari": True}).refresh_ari is True
    scheduled = {"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}
    assert parse_watch_event(scheduled).refresh_ari is False
    with pytest.raises(EventRejected) as rejected:
        parse_watch_event({"force": {"names": ["x"]}, "dry_run": 1})
    assert "unknown field 'force'; the fields are dry_run, refresh_ari" in str(rejected.value)
    assert "dry_run must be true or false" in str(rejected.value)


def test_watch_message_lists_every_finding() -> None:
    findings = [Finding(f"c{i}", "expiring", f"expires in {i} days") for i in range(30)]
    message = slack.watch_findings(checked=50, findings=[(f.name, f.text) for f in findings],
                                   queued=["c1"], failed=[("c2", "AccessDenied")])
    body = message.payload()["blocks"][0]["text"]["text"]
    assert body.startswith(":rotating_light: Certificate watch: 30 findings across 50")
    assert "• *c0*: expires in 0 days" in body and "• and 5 more" in body
    assert "Queued for renewal: c1" in body and "*c2*: AccessDenied" in body


def test_time_is_shared_between_teams_and_what_was_not_checked_is_reported() -> None:
    """Alpha at its cap (50 certificates) with endpoints that each take 6.25 s needs 312 s,
    more than the watch's 300 s: checked in turn between teams, beta's endpoint is checked,
    the probing ends inside the deadline with time to spare, and the report names what was not
    checked for whom."""
    clock = FakeTime()
    deadline = clock.deadline(300)

    def slow(endpoint: Endpoint, sni: str) -> x509.Certificate:
        clock.sleep(6.25)
        if endpoint.host.endswith("beta.example.net"):  # an old serial: a stale host
            return leaf(0xABC000, NOW - dt.timedelta(days=40))
        raise TimeoutError("timed out")

    alpha = [entry(f"alpha.w{i}", team="alpha", endpoints=[f"w{i}.alpha.example.com:443"])
             for i in range(50)]
    beta = [entry("beta.web", team="beta", endpoints=["web.beta.example.net:443"])]
    done = check_endpoints(alpha + beta, NOW, WARN, probe=slow, workers=1, deadline=deadline)
    assert clock.now <= 300 - PROBE_RESERVE_SECONDS
    assert [f.name for f in done.findings if f.kind == "stale"] == ["beta.web"]
    assert done.checked == {"alpha": done.checked["alpha"], "beta": 1}
    assert done.unchecked == {"alpha": 50 - done.checked["alpha"]} and done.unchecked["alpha"] > 0
    (summary,) = [f for f in done.findings if f.kind == "unchecked"]
    assert summary.name == "team alpha"
    assert f"{done.unchecked['alpha']} of 50 endpoint(s) not checked" in summary.text


def test_an_endpoint_has_a_deadline_of_its_own_across_its_addresses() -> None:
    clock = FakeTime()
    tried: list[float] = []

    def hangs(address: str, port: int, sni: str, timeout: float) -> x509.Certificate:
        tried.append(timeout)
        clock.sleep(timeout)
        raise TimeoutError("timed out")

    prober = Prober(resolve=lambda host: ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"],
                    allow_loopback=True, fetch=hangs, clock=clock.clock)
    with pytest.raises(OSError):
        prober(Endpoint("www.example.com", 443), "www.example.com")
    assert clock.now <= ENDPOINT_SECONDS and len(tried) >= 2
