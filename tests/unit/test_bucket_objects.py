"""The bucket adapter against moto's S3 (in process): what S3 answers becomes one of three
errors, and the views built on it (store, leases, inventory) keep their promises."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import socket
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto import mock_aws

from wildcert import container
from wildcert.adapters.bucket import certificates
from wildcert.adapters.bucket.certificates import AccountRecord, CertificateStore
from wildcert.adapters.bucket.inventory import Entry, ManagedCertificates
from wildcert.adapters.bucket.leases import Busy, InFlight, Journal, LeaseLost
from wildcert.adapters.bucket.objects import (
    Bucket,
    NotFound,
    ObjectHead,
    PreconditionFailed,
    StorageError,
)
from wildcert.adapters.bucket.teams import TeamLedger
from wildcert.logic import ari, ratelimit
from wildcert.logic.ratelimit import Cooldown, Scope
from wildcert.logic.times import iso

NAME = "certs-unit"
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
NOW = dt.datetime(2027, 3, 1, 6, 0, tzinfo=dt.UTC)


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """An S3 client talking to moto in this process, never to a stack or to AWS."""
    for variable in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=NAME)
        yield client


@pytest.fixture
def bucket(s3: Any) -> Bucket:
    return Bucket(s3, NAME, KEY_ARN)


def refuse(s3: Any, operation: str, code: str, status: int = 403) -> None:
    """S3 answers `operation` with this error from now on, as a denying policy would."""
    answer = {"Error": {"Code": code, "Message": "refused by the test"},
              "ResponseMetadata": {"HTTPStatusCode": status}}
    s3.meta.events.register(f"before-call.s3.{operation}",
                            lambda **_: (SimpleNamespace(status_code=status), answer))


# -- the adapter -------------------------------------------------------------------------------


def test_put_encrypts_with_our_key_and_get_returns_the_etag(s3: Any, bucket: Bucket) -> None:
    etag = bucket.put("a/cert.json", b"{}", content_type="application/json")
    found = bucket.get("a/cert.json")
    assert found is not None and found.body == b"{}" and found.etag == etag
    head = s3.head_object(Bucket=NAME, Key="a/cert.json")
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == KEY_ARN
    assert bucket.head("a/cert.json").encrypted_with(KEY_ARN)
    assert bucket.get("a/cert.json", limit=1) is not None
    assert bucket.get("a/cert.json", limit=1).body == b"{"  # type: ignore[union-attr]


def test_a_missing_object_reads_as_none_and_heads_as_not_found(bucket: Bucket) -> None:
    assert bucket.get("nothing/cert.json") is None
    with pytest.raises(NotFound) as raised:
        bucket.head("nothing/cert.json")
    assert f"s3://{NAME}/nothing/cert.json" in str(raised.value)


def test_create_only_loses_to_an_existing_object(bucket: Bucket) -> None:
    bucket.put("k", b"first", content_type="text/plain", if_none_match=True)
    with pytest.raises(PreconditionFailed) as raised:
        bucket.put("k", b"second", content_type="text/plain", if_none_match=True)
    assert isinstance(raised.value, StorageError) and raised.value.code == "PreconditionFailed"
    assert f"writing s3://{NAME}/k failed" in str(raised.value)
    assert bucket.get("k").body == b"first"  # type: ignore[union-attr]


def test_if_match_writes_only_over_the_etag_it_names(bucket: Bucket) -> None:
    first = bucket.put("k", b"1", content_type="text/plain")
    second = bucket.put("k", b"2", content_type="text/plain", if_match=first)
    with pytest.raises(PreconditionFailed):
        bucket.put("k", b"3", content_type="text/plain", if_match=first)
    assert bucket.get("k") == type(bucket.get("k"))(b"2", second)
    with pytest.raises(NotFound):
        bucket.put("gone", b"x", content_type="text/plain", if_match=first)


def test_conditional_delete(bucket: Bucket) -> None:
    etag = bucket.put("k", b"1", content_type="text/plain")
    with pytest.raises(PreconditionFailed):
        bucket.delete("k", if_match='"not-the-etag"')
    assert bucket.get("k") is not None
    bucket.delete("k", if_match=etag)
    assert bucket.get("k") is None
    with pytest.raises(NotFound):
        bucket.delete("k", if_match=etag)
    bucket.delete("k")  # unconditional: nothing to delete is not an error


def test_folders_are_the_top_level_prefixes_only(bucket: Bucket) -> None:
    for key in ("a/cert.json", "a/archive/01/cert.pem", "b/cert.pem", "_wildcert/x", "loose"):
        bucket.put(key, b"x", content_type="text/plain")
    assert sorted(bucket.folders()) == ["_wildcert", "a", "b"]


def test_a_missing_bucket_is_a_storage_error_not_a_missing_object(s3: Any) -> None:
    absent = Bucket(s3, "no-such-bucket", KEY_ARN)
    for call in (lambda: absent.get("k"), absent.folders,
                 lambda: absent.put("k", b"x", content_type="text/plain")):
        with pytest.raises(StorageError) as raised:
            call()
        assert type(raised.value) is StorageError and raised.value.code == "NoSuchBucket"
        assert "check CERT_BUCKET" in str(raised.value)


@pytest.mark.parametrize(("operation", "call", "needs"), [
    ("GetObject", lambda b: b.get("k"), "s3:GetObject on the bucket and kms:Decrypt"),
    ("PutObject", lambda b: b.put("k", b"x", content_type="text/plain"),
     "s3:PutObject on the bucket and kms:GenerateDataKey"),
    ("DeleteObject", lambda b: b.delete("k"), "s3:DeleteObject"),
    ("ListObjectsV2", lambda b: b.folders(), "s3:ListBucket"),
])
def test_refusals_name_the_permission_the_request_needs(
    s3: Any, bucket: Bucket, operation: str, call: Any, needs: str
) -> None:
    refuse(s3, operation, "AccessDenied")
    with pytest.raises(StorageError) as raised:
        call(bucket)
    assert type(raised.value) is StorageError and raised.value.code == "AccessDenied"
    assert f"s3://{NAME}/" in str(raised.value)
    assert f"the function role needs {needs}" in str(raised.value)


def test_kms_refusals_relayed_by_s3_are_storage_errors(s3: Any, bucket: Bucket) -> None:
    refuse(s3, "PutObject", "KMS.DisabledException", status=400)
    with pytest.raises(StorageError) as raised:
        bucket.put("k", b"x", content_type="text/plain")
    assert raised.value.code == "KMS.DisabledException"
    assert "KMS.DisabledException" in str(raised.value) and "retry" in str(raised.value)


def test_no_answer_at_all_is_a_storage_error() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    client = boto3.client(
        "s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=2),
    )
    with pytest.raises(StorageError) as raised:
        Bucket(client, NAME, KEY_ARN).get("k")
    assert raised.value.code == "" and f"reading s3://{NAME}/k failed" in str(raised.value)


@pytest.mark.parametrize(("configured", "same"), [
    (KEY_ARN, True),
    ("0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0", True),  # the key id
    ("arn:aws:kms:us-east-1:123456789012:key/ffffffff-4f50-6172-8394-a5b6c7d8e9f0", False),
    ("", False),
])
def test_encrypted_with_accepts_the_key_by_arn_or_id(configured: str, same: bool) -> None:
    assert ObjectHead('"e"', "aws:kms", KEY_ARN).encrypted_with(configured) is same
    assert not ObjectHead('"e"', "AES256", KEY_ARN).encrypted_with(KEY_ARN)


# -- the certificate store ---------------------------------------------------------------------


def test_probe_refuses_a_bucket_that_stores_with_another_key(
    s3: Any, bucket: Bucket, fresh_container: container.Container
) -> None:
    other = KEY_ARN.replace("0b1c2d3e", "99999999")

    def another_key(params: dict[str, Any], **_: Any) -> None:
        params["SSEKMSKeyId"] = other

    s3.meta.events.register("before-parameter-build.s3.PutObject", another_key)
    with pytest.raises(StorageError) as raised:
        CertificateStore(bucket).probe()
    assert "without our KMS key" in str(raised.value) and other in str(raised.value)
    assert s3.list_objects_v2(Bucket=NAME).get("KeyCount") == 0  # the probe cleaned up


def test_probe_passes_once_and_is_remembered(
    s3: Any, bucket: Bucket, fresh_container: container.Container
) -> None:
    CertificateStore(bucket).probe()
    refuse(s3, "PutObject", "AccessDenied")
    CertificateStore(bucket).probe()  # within the hour: no request at all


def test_an_archive_written_again_must_be_the_same(bucket: Bucket) -> None:
    store = CertificateStore(bucket)
    store._save_archive_file("a/archive/01/cert.pem", b"pem")
    store._save_archive_file("a/archive/01/cert.pem", b"pem")  # a retry of the same attempt
    with pytest.raises(StorageError, match="already exists with other content"):
        store._save_archive_file("a/archive/01/cert.pem", b"other")


def test_the_first_account_stored_wins(bucket: Bucket) -> None:
    store = CertificateStore(bucket)
    first = store.create_account(AccountRecord("https://ca/dir", "key one"))
    second = store.create_account(AccountRecord("https://ca/dir", "key two"))
    assert second == first and store.load_account("https://ca/dir") == first
    store.update_account(dataclasses.replace(first, account_url="https://ca/acct/1"))
    assert store.load_account("https://ca/dir").account_url == "https://ca/acct/1"  # type: ignore[union-attr]


def test_each_team_has_an_account_of_its_own_per_directory(bucket: Bucket) -> None:
    store = CertificateStore(bucket)
    operators = store.create_account(AccountRecord("https://ca/dir", "default key"))
    alpha = store.create_account(AccountRecord("https://ca/dir", "alpha key", team="alpha"))
    beta = store.create_account(AccountRecord("https://ca/dir", "beta key", team="beta"))
    assert store.load_account("https://ca/dir") == operators
    assert store.load_account("https://ca/dir", "alpha") == alpha
    assert store.load_account("https://ca/dir", "beta") == beta
    assert store.load_account("https://ca/other", "alpha") is None
    store.update_account(dataclasses.replace(alpha, account_url="https://ca/acct/7"))
    assert store.load_account("https://ca/dir", "alpha") == dataclasses.replace(
        alpha, account_url="https://ca/acct/7")
    assert store.load_account("https://ca/dir").account_url is None  # type: ignore[union-attr]
    prefix = CertificateStore.accounts_prefix("https://ca/dir")
    assert CertificateStore.account_key("https://ca/dir", "alpha") == f"{prefix}alpha.json"


def test_ca_cooldowns_round_trip_one_object_per_scope(bucket: Bucket) -> None:
    store = CertificateStore(bucket)
    assert store.ca_cooldowns("https://ca/dir") == []
    account = Cooldown(Scope(ratelimit.ACCOUNT), NOW, "rateLimited")
    domain = Cooldown(Scope(ratelimit.DOMAIN, "example.net"), NOW, "50 for example.net")
    store.set_ca_cooldown("https://ca/dir", account)
    store.set_ca_cooldown("https://ca/dir", domain)
    store.set_ca_cooldown("https://ca/dir", domain)  # the same scope again: one object
    assert sorted(store.ca_cooldowns("https://ca/dir"), key=lambda c: c.scope.kind) == [
        account, domain]
    assert store.ca_cooldowns("https://other/dir") == []


def test_only_the_run_that_starts_a_cooldown_is_told_it_started(bucket: Bucket) -> None:
    store = CertificateStore(bucket)
    scope = Scope(ratelimit.ACCOUNT)
    later = NOW + dt.timedelta(seconds=36)
    assert store.start_ca_cooldown("https://ca/dir", Cooldown(scope, later, "first"), NOW)
    # A run that ordered before the cooldown existed meets the limit too: not a new wait.
    assert not store.start_ca_cooldown(
        "https://ca/dir", Cooldown(scope, later + dt.timedelta(seconds=1), "second"), NOW)
    assert store.ca_cooldowns("https://ca/dir")[0].until == later + dt.timedelta(seconds=1)
    # A shorter answer never shortens the wait in force.
    store.start_ca_cooldown("https://ca/dir", Cooldown(scope, NOW, "shorter"), NOW)
    assert store.ca_cooldowns("https://ca/dir")[0].reason == "second"
    # Met again soon after it ran out (the CA's bucket refilled and emptied): the same wait.
    after = later + dt.timedelta(seconds=2)
    assert not store.start_ca_cooldown("https://ca/dir", Cooldown(scope, after + dt.timedelta(
        seconds=36), "third"), after)
    # An hour after the last wait ended, the next limit is news again.
    much_later = after + dt.timedelta(seconds=36) + certificates.COOLDOWN_QUIET
    assert store.start_ca_cooldown("https://ca/dir", Cooldown(scope, much_later + dt.timedelta(
        seconds=36), "fourth"), much_later)


def test_the_one_cooldown_of_earlier_versions_is_the_whole_accounts(bucket: Bucket) -> None:
    store = CertificateStore(bucket)
    legacy = store.cooldown_prefix("https://ca/dir") + ".json"
    bucket.put(legacy, json.dumps({"until": iso(NOW), "reason": "old"}).encode(),
               content_type="application/json")
    assert store.ca_cooldowns("https://ca/dir") == [Cooldown(Scope(ratelimit.ACCOUNT), NOW,
                                                             "old")]


def test_an_unreadable_cert_json_is_a_storage_error(bucket: Bucket) -> None:
    bucket.put("a/cert.json", b"{", content_type="application/json")
    with pytest.raises(StorageError, match=r"is not a wildcert cert\.json"):
        CertificateStore(bucket).current("a")
    assert CertificateStore(bucket).current("b") is None


# -- leases ------------------------------------------------------------------------------------


def journal(holder: str, until: dt.datetime) -> Journal:
    return Journal(name="a", holder=holder, expires_at=iso(until), domains=("a.example",))


def test_a_live_lease_keeps_others_out_and_an_expired_one_is_taken_over(bucket: Bucket) -> None:
    inflight = InFlight(bucket)
    lease, previous = inflight.acquire(journal("one", NOW + dt.timedelta(minutes=5)), NOW)
    assert previous is None
    with pytest.raises(Busy):
        inflight.acquire(journal("two", NOW + dt.timedelta(minutes=5)), NOW)
    later = NOW + dt.timedelta(minutes=6)
    taken, previous = inflight.acquire(journal("two", later + dt.timedelta(minutes=5)), later)
    assert previous is not None and previous.holder == "one"
    with pytest.raises(LeaseLost):
        inflight.record(lease, order_url="https://ca/order/1")
    inflight.release(lease)  # no longer ours: the new holder's lease stays
    kept = bucket.get(InFlight.key("a"))
    assert kept is not None and json.loads(kept.body)["holder"] == "two"
    inflight.record(taken, order_url="https://ca/order/2")
    inflight.release(taken)
    assert bucket.get(InFlight.key("a")) is None


def test_a_lost_answer_to_our_own_create_leaves_the_lease_ours(bucket: Bucket) -> None:
    inflight = InFlight(bucket)
    mine = journal("one", NOW + dt.timedelta(minutes=5))
    inflight.acquire(mine, NOW)
    again, previous = inflight.acquire(mine, NOW)  # as botocore's resend would find it
    assert previous is None and again.journal.holder == "one"
    inflight.park(again, NOW, records=[("Z1", "example.", "_acme-challenge.a", "v")])
    parked = Journal.from_json(bucket.get(InFlight.key("a")).body)  # type: ignore[union-attr]
    assert parked.expired(NOW) and parked.records == (("Z1", "example.", "_acme-challenge.a", "v"),)


# -- the inventory -----------------------------------------------------------------------------


def cert_json(name: str, serial: str = "abc123") -> bytes:
    return json.dumps({
        "name": name, "domains": [f"{name}.example"], "serial": serial,
        "not_before": iso(NOW - dt.timedelta(days=10)),
        "not_after": iso(NOW + dt.timedelta(days=80)), "issuer": "CN=test",
        "key_type": "ec256", "sha256": {}, "archive": f"{name}/archive/{serial}/",
        "issued_at": iso(NOW), "version": 1,
    }).encode()


def test_inventory_sorts_entries_broken_and_unmanaged(s3: Any, bucket: Bucket) -> None:
    bucket.put("good/cert.json", cert_json("good"), content_type="application/json")
    bucket.put("bad/cert.json", b"[]", content_type="application/json")
    bucket.put("bare/cert.pem", b"x", content_type="text/plain")
    bucket.put("_wildcert/inflight/good.json", b"{}", content_type="application/json")
    inventory = ManagedCertificates(bucket).load()
    assert [e.name for e in inventory.entries] == ["good"]
    assert [b.name for b in inventory.broken] == ["bad"] and inventory.unmanaged == ("bare",)
    refuse(s3, "ListObjectsV2", "AccessDenied")
    with pytest.raises(StorageError, match="s3:ListBucket"):
        ManagedCertificates(bucket).load()


def test_an_unreadable_cert_json_is_broken_not_fatal(s3: Any, bucket: Bucket) -> None:
    bucket.put("good/cert.json", cert_json("good"), content_type="application/json")
    refuse(s3, "GetObject", "AccessDenied")
    found = ManagedCertificates(bucket).read("good")
    assert not isinstance(found, Entry) and found is not None
    assert "reading s3://" in found.problem and "AccessDenied" in found.problem


def test_a_refreshed_window_never_overwrites_a_newer_cert_json(bucket: Bucket) -> None:
    bucket.put("a/cert.json", cert_json("a"), content_type="application/json")
    certs = ManagedCertificates(bucket)
    read = certs.read("a")
    assert isinstance(read, Entry)
    info = ari.RenewalInfo(start=NOW, end=NOW + dt.timedelta(days=1),
                           selected=NOW + dt.timedelta(hours=3),
                           next_check=NOW + dt.timedelta(hours=6))
    written = certs.write_renewal_info(read, info)
    assert written is not None and written.renewal_info == info
    assert bucket.head("a/cert.json").encrypted_with(KEY_ARN)
    bucket.put("a/cert.json", cert_json("a", serial="beef"), content_type="application/json")
    assert certs.write_renewal_info(written, info) is None
    assert json.loads(bucket.get("a/cert.json").body)["serial"] == "beef"  # type: ignore[union-attr]
    bucket.delete("a/cert.json")
    assert certs.write_renewal_info(written, info) is None


# -- what a team's caps count ------------------------------------------------------------------


def test_forced_reissues_are_counted_to_the_limit_and_no_further(bucket: Bucket) -> None:
    ledger = TeamLedger(bucket)
    assert [ledger.take_forced("alpha", "2027-03-01", 2) for _ in range(3)] == [1, 2, None]
    assert ledger.take_forced("alpha", "2027-03-02", 2) == 1  # a new day
    assert ledger.take_forced("beta", "2027-03-01", 2) == 1  # another team
    stored = bucket.get(TeamLedger.forced_key("alpha", "2027-03-01"))
    assert stored is not None and json.loads(stored.body)["forced"] == 2


def test_a_forced_request_delivered_again_is_counted_once(bucket: Bucket) -> None:
    ledger = TeamLedger(bucket)
    assert ledger.take_forced("alpha", "2027-03-01", 2, "event-1") == 1
    assert ledger.take_forced("alpha", "2027-03-01", 2, "event-1") == 1
    assert ledger.take_forced("alpha", "2027-03-01", 2, "event-2") == 2
    assert ledger.take_forced("alpha", "2027-03-01", 2, "event-2") == 2  # at the cap, yet its own
    assert ledger.take_forced("alpha", "2027-03-01", 2, "event-3") is None


def test_an_unreadable_counter_counts_as_full(bucket: Bucket) -> None:
    bucket.put(TeamLedger.forced_key("alpha", "2027-03-01"), b"{", content_type="text/plain")
    assert TeamLedger(bucket).take_forced("alpha", "2027-03-01", 5) is None


def test_a_forced_reissue_counted_by_another_request_first_is_counted_again(
        bucket: Bucket, monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = TeamLedger(bucket)
    ledger.take_forced("alpha", "2027-03-01", 5)
    real_get = bucket.get
    raced: list[bool] = []

    def get_then_race(key: str, **kwargs: Any) -> Any:
        found = real_get(key, **kwargs)
        if not raced:  # another request counts between our read and our write
            raced.append(True)
            TeamLedger(Bucket(bucket.s3, bucket.name, bucket.kms_key_id)).take_forced(
                "alpha", "2027-03-01", 5)
        return found

    monkeypatch.setattr(bucket, "get", get_then_race)
    assert ledger.take_forced("alpha", "2027-03-01", 5) == 3


def test_new_names_are_reserved_within_the_cap_and_released(bucket: Bucket) -> None:
    """Requests on their way count as owned: the cap holds however many arrive at once."""
    ledger = TeamLedger(bucket)
    later = iso(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=15))
    assert ledger.reserve("alpha", "alpha.a", cap=2, until=later) == (0, True)
    assert ledger.reserve("alpha", "alpha.a", cap=2, until=later) == (0, False)  # held already
    assert ledger.reserve("alpha", "alpha.b", cap=2, until=later) == (1, True)
    assert ledger.reserve("alpha", "alpha.c", cap=2, until=later) == (2, False)  # full
    assert ledger.reserve("beta", "beta.a", cap=2, until=later) == (0, True)  # its own cap
    ledger.release("alpha", "alpha.a")
    ledger.release("alpha", "alpha.a")  # twice is once
    assert ledger.reserve("alpha", "alpha.c", cap=2, until=later) == (1, True)
    # A reservation its request never released lapses at its `until`.
    ledger.release("alpha", "alpha.b")
    ledger.release("alpha", "alpha.c")
    lapsed = iso(dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    assert ledger.reserve("alpha", "alpha.d", cap=1, until=lapsed) == (0, True)
    assert ledger.reserve("alpha", "alpha.e", cap=1, until=later) == (0, True)


def test_a_team_owns_the_certificates_that_name_it(bucket: Bucket) -> None:
    def cert_json(name: str, **extra: str) -> None:
        body = {"name": name, "domains": [f"{name}.example.com"], "serial": "ab",
                "not_before": iso(NOW), "not_after": iso(NOW + dt.timedelta(days=90)),
                "issuer": "CN=t", "key_type": "ec256", "sha256": {}, "archive": "x/",
                "issued_at": iso(NOW), **extra}
        bucket.put(f"{name}/cert.json", json.dumps(body).encode(),
                   content_type="application/json")

    cert_json("alpha.one", team="alpha")
    cert_json("alpha.two", team="alpha")
    cert_json("alpha.legacy")  # the operators' certificate, in alpha's namespace
    cert_json("alphabet", team="alpha")  # not in the namespace: not listed
    cert_json("beta.one", team="beta")
    assert TeamLedger(bucket).owned("alpha") == 2
    assert TeamLedger(bucket).owned("beta") == 1
    assert TeamLedger(bucket).owned("gamma") == 0
    # Under the cap, the names in the namespace are enough; at it, each one is read.
    assert TeamLedger(bucket).owned("alpha", cap=4) == 3
    assert TeamLedger(bucket).owned("alpha", cap=3) == 2
