"""Helpers shared by the fault suite (tests/e2e/test_faults_*.py); this module holds no tests.

Every check here reads moto directly (WILDCERT_MOTO_URL), never through the AWS fault proxy,
so an assertion is never disturbed by the fault it checks.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import time
from collections.abc import Iterable, Iterator
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.retries import standard

from local_stack import Stack
from tests.e2e.support import assert_valid_stored, challenge_values, s3_keys, slack_texts
from wildcert import runtime
from wildcert.adapters.bucket.certificates import CertificateStore
from wildcert.adapters.bucket.leases import InFlight
from wildcert.deadline import Deadline
from wildcert.jobs.issue.pipeline import Issuer, Services, StageFailure
from wildcert.settings import Settings


def fresh_faults(stack: Stack) -> Iterator[None]:
    """Fixture body: no fault rule of another test applies, none outlives this one, and the
    proxy's counts and calls are this test's own."""
    stack.aws_faults.clear(stats=True)
    stack.acme_front.reset()
    try:
        yield
    finally:
        stack.aws_faults.clear()
        # Counts too: later tests read the front's faults_fired as their own.
        stack.acme_front.reset(stats=True)


@contextlib.contextmanager
def moto_direct() -> Iterator[None]:
    """tests.e2e.support's helpers read AWS_ENDPOINT_URL at each call: point it at moto."""
    through_proxy = os.environ["AWS_ENDPOINT_URL"]
    os.environ["AWS_ENDPOINT_URL"] = os.environ["WILDCERT_MOTO_URL"]
    try:
        yield
    finally:
        os.environ["AWS_ENDPOINT_URL"] = through_proxy


def moto(service: str) -> Any:
    return boto3.client(service, endpoint_url=os.environ["WILDCERT_MOTO_URL"])


def leftover_challenges() -> dict[str, list[str]]:
    with moto_direct():
        return challenge_values()


def archive_serials(name: str) -> set[str]:
    with moto_direct():
        return {key.split("/")[2] for key in s3_keys(f"{name}/archive/")}


def stored(name: str, domains: Iterable[str], key_type: str = "ec256") -> dict[str, Any]:
    with moto_direct():
        return assert_valid_stored(name, domains, key_type)


def read_object(key: str) -> bytes | None:
    try:
        body = moto("s3").get_object(Bucket=os.environ["CERT_BUCKET"], Key=key)["Body"]
    except moto("s3").exceptions.NoSuchKey:
        return None
    return bytes(body.read())


def journal(name: str) -> dict[str, Any] | None:
    raw = read_object(InFlight.key(name))
    return None if raw is None else dict(json.loads(raw))


def cooldown_key() -> str:
    return CertificateStore.cooldown_key(os.environ["ACME_DIRECTORY_URL"])


def issuer(seconds: float = 120.0, *, ahead: dt.timedelta | None = None) -> Issuer:
    """The issuer as the handler builds it, with its own budget and, if asked, a clock ahead."""
    settings = Settings.from_env()
    services = Services(settings, Deadline.after(seconds))
    if ahead is None:
        return Issuer(services, runtime.notifier(settings))
    return Issuer(services, runtime.notifier(settings),
                  now=lambda: dt.datetime.now(dt.UTC) + ahead)


def lambda_context(seconds: float) -> SimpleNamespace:
    """What Lambda passes the handler, as far as wildcert reads it: the time left."""
    end = time.monotonic() + seconds
    return SimpleNamespace(
        function_name="wildcert-issuer-faults", aws_request_id="faults",
        get_remaining_time_in_millis=lambda: int((end - time.monotonic()) * 1000),
    )


def slack_since(before: int) -> list[str]:
    return slack_texts()[before:]


def assert_clean_failure(failure: StageFailure, stage: str, name: str, before: int) -> str:
    """Failed at `stage`, told Slack once, left no challenge value; returns the Slack text."""
    assert failure.stage == stage, failure
    posted = [t for t in slack_since(before) if name in t]
    assert len(posted) == 1, posted
    assert stage in posted[0] and "failed" in posted[0].lower(), posted[0]
    assert "PRIVATE KEY" not in posted[0]
    assert leftover_challenges() == {}
    return posted[0]


def fast_botocore_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's standard retries wait up to 1+2+4+8+16 s; the attempts matter, not the waits."""
    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, context: 0.01)


def orders_for(stack: Stack, domains: Iterable[str]) -> list[dict[str, Any]]:
    """newOrder requests the CA accepted for exactly these identifiers."""
    wanted = sorted(domains)
    return [
        entry for entry in stack.acme_front.new_orders()
        if entry.get("status") == 201
        and sorted(i["value"] for i in (entry.get("payload") or {}).get("identifiers", []))
        == wanted
    ]
