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
from tests.e2e.support import client, stored_set, unique
from tests.e2e.test_renewal_sweep import iso, issue, mine, put_cert_json, receive_all
from wildcert import handlers

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

    result = handlers.watch({}, None)

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
    (renewed,) = handlers.issue(queued[hit].sqs_event(), None)["results"]
    assert renewed["status"] == "issued" and renewed["replaces"] == metas[hit]["ari_id"]
    orders = stack.acme_front.new_orders()[orders_before:]
    assert [o["payload"].get("replaces") for o in orders] == [metas[hit]["ari_id"]]

    # Asked about everything now, the CA's word on `calm` comes through too; `hit` is renewed.
    handlers.watch({"refresh_ari": True}, None)
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

    result = handlers.sweep({}, None)
    queued = mine(receive_all(queue), label)
    assert set(queued) == {label} and queued[label].reason == "ari"
    assert label in result["due"]

    monkeypatch.delenv("WATCH_INTERVAL_HOURS")  # no watch: the next look is the next sweep
    handlers.sweep({}, None)
    assert set(mine(receive_all(queue), label)) == {label, far}
