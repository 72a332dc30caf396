"""What a new issuer container makes before its first request, and how it shares it.

AWS clients come from one botocore session, once per service and container, however many
threads ask at once; the Slack webhook secret is read in the background and kept.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest

from wildcert import container, runtime
from wildcert.adapters import aws, slack
from wildcert.settings import Settings

REPO = Path(__file__).resolve().parents[2]
SECRET_ID = "wildcert/slack-webhook"
WEBHOOK = "https://hooks.slack.com/services/T0AAAAAAA/B0BBBBBBB/abcdefghijklmnopqrstuvwx"


@pytest.fixture
def fresh_clients(monkeypatch: pytest.MonkeyPatch, endpoint: str,
                  fresh_container: container.Container) -> Iterator[str]:
    """No client made yet, and the next ones made against the test's moto server."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    yield endpoint


def test_threads_asking_at_once_get_one_client_per_service(
    fresh_clients: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = threading.Barrier(8)
    sessions_made: list[object] = []
    made_by_botocore = botocore.session.get_session

    def get_session() -> botocore.session.Session:
        sessions_made.append(made_by_botocore())
        return sessions_made[-1]  # type: ignore[return-value]

    monkeypatch.setattr(botocore.session, "get_session", get_session)

    def first_call(service: str) -> Any:
        start.wait()
        return aws.client(service)

    services = ["s3", "secretsmanager"] * 4
    with ThreadPoolExecutor(max_workers=8) as pool:
        made = list(pool.map(first_call, services))
    assert len({id(c) for c in made[0::2]}) == 1 and len({id(c) for c in made[1::2]}) == 1
    assert len(sessions_made) == 1  # one session made both
    assert made[0].meta.endpoint_url == fresh_clients
    assert made[0].meta.config.retries == {"mode": "standard", "total_max_attempts": 5}
    assert aws.client("route53").meta.config.retries["total_max_attempts"] == 1


def _secret_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The thread of every GetSecretValue the container's client sends."""
    seen: list[str] = []
    events = aws.client("secretsmanager").meta.events
    events.register("before-call", lambda **_: seen.append(threading.current_thread().name))
    container.current().secrets.clear()
    return seen


def _webhook_secret(endpoint: str, value: str) -> None:
    moto = boto3.client("secretsmanager", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")
    try:
        moto.create_secret(Name=SECRET_ID, SecretString=value)
    except moto.exceptions.ResourceExistsException:
        moto.put_secret_value(SecretId=SECRET_ID, SecretString=value)


def test_the_webhook_is_read_in_the_background_and_kept(
    fresh_clients: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _webhook_secret(fresh_clients, json.dumps({"url": WEBHOOK}))
    reads = _secret_reads(monkeypatch)
    settings = Settings.from_env({"CERT_BUCKET": "b", "KMS_KEY_ID": "k", "ALLOWED_ZONES": "Z1",
                                  "SLACK_WEBHOOK_SECRET": SECRET_ID})
    first = runtime.notifier(settings)
    assert first.enabled and first._url == WEBHOOK
    assert reads and reads[0].startswith("wildcert-read")
    assert runtime.redact(f"posting to {WEBHOOK}") == f"posting to {runtime.REDACTED}"

    assert runtime.notifier(settings)._url == WEBHOOK
    assert len(reads) == 1  # kept for SECRET_MAX_AGE_SECONDS
    monkeypatch.setattr(runtime, "SECRET_MAX_AGE_SECONDS", 0.0)
    container.current().secrets.clear()  # as if 5 minutes had passed
    assert runtime.webhook_url(SECRET_ID) == WEBHOOK
    assert runtime.webhook_url(SECRET_ID) == WEBHOOK  # kept for no time: read again
    assert len(reads) == 3


def test_a_missing_secret_disables_slack(fresh_clients: str,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    _secret_reads(monkeypatch)
    assert runtime.webhook_url("wildcert/no-such-secret") is None


def test_a_notifier_asks_for_its_url_once_and_only_when_used() -> None:
    asked: list[int] = []

    def url() -> str | None:
        asked.append(1)
        return None

    notifier = slack.SlackNotifier(url)
    assert asked == []
    assert notifier.post(slack.failed("a", [], "dns", "x")) is False
    assert not notifier.enabled
    assert asked == [1]
