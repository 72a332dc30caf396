"""The renewal sweep end to end: real certificates in the bucket, a real SQS queue, the issuer.

Pebble issues five-year certificates, so the certificates that must be due are *copies* of a
real cert.json under other names with shifted not_before/not_after (and without ARI fields,
whose window belongs to the real certificate). That is the inventory's whole view of a
certificate, so the sweep's decisions are exercised as they would be on older certificates.
The bucket is shared with other tests: every assertion is about this test's own names.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from local_stack.lambda_runtime import sqs_event
from tests.e2e.support import (
    ISSUER,
    SWEEP,
    as_renewal_queue,
    client,
    invoke,
    s3_keys,
    slack_payloads,
    slack_texts,
    stored_set,
    unique,
)
from wildcert.adapters.bucket.inventory import Entry, ManagedCertificates
from wildcert.adapters.bucket.objects import Bucket
from wildcert.logic.certificates import StoredCertificate


@dataclass(frozen=True)
class Queued:
    name: str
    reason: str
    body: dict[str, Any]
    message: dict[str, Any]  # as ReceiveMessage returned it
    queue_arn: str

    def sqs_event(self) -> dict[str, Any]:
        """The event Lambda's SQS poller would hand the issuer for this message."""
        return sqs_event(self.message, self.queue_arn)


@pytest.fixture
def queue(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A queue of this test's own, as RENEWAL_QUEUE_URL."""
    sqs = client("sqs")
    url = sqs.create_queue(QueueName=unique("renewals-"))["QueueUrl"]
    as_renewal_queue(url, monkeypatch.setenv)
    monkeypatch.setenv("SWEEP_INTERVAL_DAYS", "30")
    monkeypatch.delenv("WATCH_INTERVAL_HOURS", raising=False)
    yield url
    sqs.delete_queue(QueueUrl=url)


@pytest.fixture
def cleanup() -> Iterator[list[str]]:
    """Prefixes this test wrote; removed afterwards so later sweeps do not see them."""
    prefixes: list[str] = []
    yield prefixes
    for prefix in prefixes:
        remove_prefix(prefix)


def remove_prefix(prefix: str) -> None:
    keys = sorted(s3_keys(prefix))
    for start in range(0, len(keys), 1000):
        client("s3").delete_objects(Bucket=os.environ["CERT_BUCKET"], Delete={
            "Objects": [{"Key": k} for k in keys[start:start + 1000]], "Quiet": True})


def receive_all(url: str) -> list[Queued]:
    sqs = client("sqs")
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"]
    found: list[Queued] = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                       MessageAttributeNames=["All"], AttributeNames=["All"],
                                       VisibilityTimeout=300).get("Messages", [])
        if not messages:
            return found
        for m in messages:
            body = json.loads(m["Body"])
            found.append(Queued(body["name"], m["MessageAttributes"]["reason"]["StringValue"],
                                body, m, arn))


def mine(queued: list[Queued], label: str) -> dict[str, Queued]:
    return {q.name: q for q in queued if q.name.startswith(label)}


def iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def put_cert_json(name: str, body: dict[str, Any] | bytes) -> None:
    raw = body if isinstance(body, bytes) else json.dumps(body, indent=2).encode()
    client("s3").put_object(Bucket=os.environ["CERT_BUCKET"], Key=f"{name}/cert.json", Body=raw,
                            ServerSideEncryption="aws:kms", SSEKMSKeyId=os.environ["KMS_KEY_ID"])


def shifted_copy(meta: dict[str, Any], name: str, *, age_days: float, days: float) -> None:
    """cert.json of `meta` under `name`, issued `age_days` ago with a `days` lifetime."""
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=age_days)
    body = {k: v for k, v in meta.items() if k not in ("ari", "ari_id", "request_id")}
    body.update(name=name, archive=f"{name}/archive/{meta['serial']}/", not_before=iso(start),
                not_after=iso(start + dt.timedelta(days=days)))
    put_cert_json(name, body)


def issue(name: str, domains: list[str], **extra: Any) -> dict[str, Any]:
    result = invoke(ISSUER, {"domains": domains, "name": name, **extra})
    assert result["status"] == "issued", result
    return stored_set(name)[0]


def certificates() -> ManagedCertificates:
    return ManagedCertificates(
        Bucket(client("s3"), os.environ["CERT_BUCKET"], os.environ["KMS_KEY_ID"]))


# -- tests -------------------------------------------------------------------------------------


def test_sweep_queues_exactly_the_due_then_the_issuer_renews_once(queue, cleanup) -> None:
    label = unique("rs")
    cleanup.append(f"{label}")
    meta = issue(label, [f"*.{label}.example.com", f"{label}.example.com"])
    lifetimes = {  # name: (age in days, lifetime in days, due before the next monthly sweep)
        f"{label}-d90-fresh": (10, 90, False),
        f"{label}-d90-due": (35, 90, True),  # renewal point day 60 < day 65
        f"{label}-d64-new": (0.5, 64, False),
        f"{label}-d45-new": (1, 45, True),  # day 30 comes before the next sweep on day 31
        f"{label}-expired": (100, 90, True),
    }
    for name, (age, days, _) in lifetimes.items():
        shifted_copy(meta, name, age_days=age, days=days)
    put_cert_json(f"{label}-broken", b'{"name": "truncated')
    client("s3").put_object(Bucket=os.environ["CERT_BUCKET"], Key=f"{label}-orphan/cert.pem",
                            Body=b"x")
    posted = len(slack_payloads())

    result = invoke(SWEEP, {})

    queued = mine(receive_all(queue), label)
    assert set(queued) == {n for n, (_, _, due) in lifetimes.items() if due}
    assert {q.reason for q in queued.values()} == {"due"}
    # due only by looking ahead: the issuer must be told to renew anyway; expired needs no force
    assert queued[f"{label}-d90-due"].body == {
        "domains": meta["domains"], "name": f"{label}-d90-due", "key_type": "ec256",
        "force": True, "renews": meta["serial"]}
    assert queued[f"{label}-expired"].body["force"] is False
    assert set(queued) <= set(result["queued"]) and result["status"] == "ok"
    (broken,) = [b for b in result["broken"] if b["name"] == f"{label}-broken"]
    assert "not a wildcert description" in broken["problem"]
    assert f"{label}-orphan" in result["unmanaged"]
    assert label not in result["due"]
    texts = slack_texts()[posted:]
    assert len(texts) == 1 and "Renewal sweep" in texts[0] and "broken" in texts[0]

    # The issuer takes the message as Lambda's SQS poller delivers it: it renews, once.
    message = queued[f"{label}-d90-due"]
    first = invoke(ISSUER, message.sqs_event())
    assert first["batchItemFailures"] == []
    (renewed,) = first["results"]
    assert renewed["status"] == "renewed" and renewed["renewal"] is True
    assert renewed["serial"] != meta["serial"]
    again = invoke(ISSUER, message.sqs_event())
    (duplicate,) = again["results"]
    assert duplicate["status"] == "skipped" and "duplicate" in duplicate["reason"]
    assert duplicate["serial"] == renewed["serial"]

    # Renewed, it is no longer due; nothing else of this test changed.
    invoke(SWEEP, {})
    assert set(mine(receive_all(queue), label)) == set(queued) - {message.name}


def test_forced_incident_renewal_by_serial_domain_and_name(queue, cleanup) -> None:
    label = unique("fi")
    cleanup.append(label)
    names = {f"{label}-a": [f"{label}a.example.com"],
             f"{label}-b": [f"*.{label}b.example.com", f"{label}b.example.com"],
             f"{label}-c": [f"*.{label}c.example.com"]}
    endpoints = {f"{label}-b": [f"www.{label}b.example.com:443"]}
    with concurrent.futures.ThreadPoolExecutor(len(names)) as pool:
        metas = dict(zip(names, pool.map(
            lambda n: issue(n, names[n], **({"endpoints": endpoints[n]} if n in endpoints else {})),
            names), strict=True))
    serial_b = metas[f"{label}-b"]["serial"]
    # as a CA's incident report may list it: upper case, colon-separated bytes, leading zero
    padded = serial_b.zfill(len(serial_b) + len(serial_b) % 2)
    listed = "00:" + ":".join(padded[i:i + 2] for i in range(0, len(padded), 2)).upper()
    event = {"force": {"serials": [listed, "DEAD:BEEF"],
                       "domains": [f"www.{label}c.example.com"],
                       "names": [f"{label}-gone"]}}

    dry = invoke(SWEEP, {**event, "dry_run": True})
    assert receive_all(queue) == []
    assert {f"{label}-b", f"{label}-c"} <= set(dry["forced"]) and dry["queued"] == []

    result = invoke(SWEEP, event)
    queued = mine(receive_all(queue), label)
    assert set(queued) == {f"{label}-b", f"{label}-c"}
    assert {q.reason for q in queued.values()} == {"forced"}
    assert all(q.body["force"] is True for q in queued.values())
    assert queued[f"{label}-b"].body["domains"] == metas[f"{label}-b"]["domains"]
    # The renewal leaves endpoints to cert.json: one stored before a setting narrowed what the
    # validator takes must not make the renewal itself be rejected.
    assert "endpoints" not in queued[f"{label}-b"].body
    assert result["unmatched"] == {"names": [f"{label}-gone"], "domains": [],
                                   "serials": ["deadbeef"]}
    assert "Force matched nothing" in slack_texts()[-1]

    (renewed,) = invoke(ISSUER, queued[f"{label}-b"].sqs_event())["results"]
    assert renewed["status"] == "renewed" and renewed["serial"] != serial_b
    assert stored_set(f"{label}-b")[0]["endpoints"] == [f"www.{label}b.example.com:443"]


def test_rejected_event_queues_nothing_and_says_why(queue) -> None:
    posted = len(slack_payloads())
    result = invoke(SWEEP, {"force": {"serial": ["abc"]}, "dryrun": True})
    assert result["status"] == "rejected"
    assert "unknown field 'serial'" in result["message"]
    assert "unknown field 'dryrun'" in result["message"]
    assert receive_all(queue) == []
    texts = slack_texts()[posted:]
    assert len(texts) == 1 and "event rejected" in texts[0]


def test_refreshed_window_never_overwrites_a_newer_cert_json(cleanup) -> None:
    from wildcert.logic.ari import RenewalInfo

    label = unique("ow")
    cleanup.append(label)
    meta = issue(label, [f"{label}.example.com"])
    store = certificates()
    read = store.read(label)
    assert isinstance(read, Entry)
    now = dt.datetime.now(dt.UTC)
    info = RenewalInfo(start=now, end=now + dt.timedelta(days=1),
                       selected=now + dt.timedelta(hours=3), next_check=now + dt.timedelta(hours=6))

    written = store.write_renewal_info(read, info)
    assert written is not None and written.renewal_info == info
    after, _ = stored_set(label)
    assert after["ari"] == info.as_json()
    assert {k: v for k, v in after.items() if k != "ari"} == {
        k: v for k, v in meta.items() if k != "ari"}
    head = client("s3").head_object(Bucket=os.environ["CERT_BUCKET"], Key=f"{label}/cert.json")
    assert head["SSEKMSKeyId"] == os.environ["KMS_KEY_ID"]
    StoredCertificate.from_json(json.dumps(after))  # still what the issuer reads

    # An issuance rewrote cert.json since `written` was read: the stale refresh loses.
    renewed = invoke(ISSUER, {"domains": [f"{label}.example.com"], "name": label, "force": True})
    assert store.write_renewal_info(written, info) is None
    assert stored_set(label)[0]["serial"] == renewed["serial"]
