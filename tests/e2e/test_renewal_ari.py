"""ARI end to end: the CA says "renew now" for one certificate, and the watch queues just that one.

The stack's ACME front serves renewalInfo (a window two thirds into each certificate's life
unless a test sets one), so issued certificates carry an `ari` block whose next check is six
hours away. Moving that next check into the past stands for those hours having passed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import Any

from tests.e2e import test_renewal_sweep as sweep_e2e
from tests.e2e.support import ISSUER, SWEEP, WATCH, client, invoke, stored_set, unique
from tests.e2e.test_renewal_sweep import iso, issue, mine, put_cert_json, receive_all

queue = sweep_e2e.queue
cleanup = sweep_e2e.cleanup


def cert_json(name: str) -> dict[str, Any]:
    response = client("s3").get_object(Bucket=os.environ["CERT_BUCKET"], Key=f"{name}/cert.json")
    return dict(json.loads(response["Body"].read()))


def check_is_due(name: str) -> None:
    """As if the CA's Retry-After had run out: the next run asks again."""
    meta = cert_json(name)
    past = iso(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5))
    put_cert_json(name, {**meta, "ari": {**meta["ari"], "next_check": past}})


def renew_now(stack: Any, cert_id: str) -> tuple[dt.datetime, dt.datetime]:
    """The CA's incident answer: a window that opened an hour ago and closes within the hour."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    start, end = now - dt.timedelta(hours=1), now + dt.timedelta(minutes=30)
    stack.acme_front.set_window(cert_id, start, end, retry_after=3600)
    return start, end


def test_ca_renew_now_is_queued_by_the_watch_and_renewed_with_replaces(
        stack, queue, cleanup, monkeypatch) -> None:
    monkeypatch.setenv("WATCH_INTERVAL_HOURS", "12")
    label = unique("ari")
    cleanup.append(label)
    hit, calm = f"{label}-hit", f"{label}-calm"
    metas = {name: issue(name, [f"*.{name}.example.com"]) for name in (hit, calm)}
    for meta in metas.values():
        assert meta["ari_id"] and meta["ari"]["window_start"] > iso(dt.datetime.now(dt.UTC))
    start, end = renew_now(stack, metas[hit]["ari_id"])
    renew_now(stack, metas[calm]["ari_id"])
    check_is_due(hit)  # `calm` was asked about a moment ago: its next check is hours away

    result = invoke(WATCH, {})

    queued = mine(receive_all(queue), label)
    assert set(queued) == {hit}
    assert queued[hit].reason == "ari" and queued[hit].body["force"] is True
    refreshed, _ = stored_set(hit)
    assert (refreshed["ari"]["window_start"], refreshed["ari"]["window_end"]) == (
        iso(start), iso(end))
    assert refreshed["ari"]["selected"] <= iso(end)
    assert refreshed["serial"] == metas[hit]["serial"]
    assert stored_set(calm)[0]["ari"] == metas[calm]["ari"]  # not asked, not rewritten
    assert result["ari"]["refreshed"] >= 1
    (planned,) = [r for r in result["renewals"] if r["name"] == hit]
    assert "renewal window" in planned["detail"]

    # The issuer renews it, telling the CA which certificate this replaces (RFC 9773 §5).
    orders_before = len(stack.acme_front.new_orders())
    (renewed,) = invoke(ISSUER, queued[hit].sqs_event())["results"]
    assert renewed["status"] == "renewed" and renewed["replaces"] == metas[hit]["ari_id"]
    # (Pebble refuses 5% of nonces: count the order it accepted, not the retried attempts)
    orders = [o for o in stack.acme_front.new_orders()[orders_before:] if o["status"] < 300]
    assert [o["payload"].get("replaces") for o in orders] == [metas[hit]["ari_id"]]

    # Asked about everything now, the CA's word on `calm` comes through too; `hit` is renewed.
    invoke(WATCH, {"refresh_ari": True})
    assert set(mine(receive_all(queue), label)) == {calm}


def test_sweep_follows_the_window_over_the_threshold(stack, queue, cleanup, monkeypatch) -> None:
    """With the watch scheduled, a window after the threshold waits for it; "now" goes now."""
    monkeypatch.setenv("WATCH_INTERVAL_HOURS", "12")
    label = unique("ars")
    cleanup.append(label)
    meta = issue(label, [f"{label}.example.com"])
    renew_now(stack, meta["ari_id"])
    check_is_due(label)
    # A 90-day copy 35 days old: by the threshold due before the next sweep (day 60 < day 65),
    # but its stored window, days 62-63, is the watch's to act on.
    far = f"{label}-far"
    born = dt.datetime.now(dt.UTC) - dt.timedelta(days=35)
    sweep_e2e.shifted_copy(meta, far, age_days=35, days=90)
    window = {"window_start": iso(born + dt.timedelta(days=62)),
              "window_end": iso(born + dt.timedelta(days=63)),
              "selected": iso(born + dt.timedelta(days=62, hours=7)),
              "next_check": iso(dt.datetime.now(dt.UTC) + dt.timedelta(hours=6))}
    put_cert_json(far, {**cert_json(far), "ari": window})

    result = invoke(SWEEP, {})
    queued = mine(receive_all(queue), label)
    assert set(queued) == {label} and queued[label].reason == "ari"
    assert label in result["due"]

    monkeypatch.delenv("WATCH_INTERVAL_HOURS")  # no watch: the next look is the next sweep
    invoke(SWEEP, {})
    assert set(mine(receive_all(queue), label)) == {label, far}


def test_reader_without_ari_and_for_unknown_certificates(stack) -> None:
    from wildcert.adapters.acme import AcmeError, RenewalInfoReader
    from wildcert.deadline import Deadline

    bundle = os.environ["ACME_CA_BUNDLE"]
    front = RenewalInfoReader(os.environ["ACME_DIRECTORY_URL"], deadline=Deadline.after(30),
                              ca_bundle=bundle)
    assert front.url is not None
    try:
        front.fetch("AAAA.AAAA")
    except AcmeError as error:
        assert error.code == "notFound" and "HTTP 404" in str(error)
    else:
        raise AssertionError("an unknown CertID was answered")
    pebble = RenewalInfoReader(f"https://127.0.0.1:{stack.ports.acme}/dir",
                               deadline=Deadline.after(30), ca_bundle=bundle)
    assert pebble.url is None  # Pebble 2.4.0 itself has no renewalInfo


def test_ca_error_keeps_the_threshold_in_charge(queue, cleanup) -> None:
    """A certificate the CA does not know (404) is decided by its lifetime, and reported."""
    label = unique("are")
    cleanup.append(label)
    now = dt.datetime.now(dt.UTC)
    meta = {"name": label, "domains": [f"{label}.example.com"], "serial": "1a2b",
            "not_before": iso(now), "not_after": iso(now + dt.timedelta(days=90)),
            "issuer": "CN=elsewhere", "key_type": "ec256", "sha256": {},
            "archive": f"{label}/archive/1a2b/", "issued_at": iso(now), "version": 1,
            "ari_id": "AAAA.Gis"}
    sweep_e2e.shifted_copy(meta, f"{label}-old", age_days=70, days=90)
    put_cert_json(f"{label}-old", {**cert_json(f"{label}-old"), "ari_id": "AAAA.Gis"})
    result = invoke(SWEEP, {})
    queued = mine(receive_all(queue), label)
    assert set(queued) == {f"{label}-old"} and queued[f"{label}-old"].reason == "due"
    (problem,) = [p for p in result["ari"]["problems"] if p["name"] == f"{label}-old"]
    assert "404" in problem["problem"]
