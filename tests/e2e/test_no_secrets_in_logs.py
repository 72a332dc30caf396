"""At every log level, no secret reaches a log line: not the Slack webhook URL (nor its token
path), not a certificate's private key, not the ACME account key, not AWS credentials.

The issuer runs as Lambda runs it with `LogLevel=DEBUG`: the root logger at DEBUG (Lambda's
runtime sets it from ApplicationLogLevel) and wildcert's Powertools logger at DEBUG. Every
record of every logger that reaches the root is kept whole (message, arguments, extra fields,
exception text), with the Powertools logger's own output and anything written to stdout or
stderr; a certificate is issued, Slack answers 429 (its client retries), and the final writes
fail after the CA issued; then all of it is searched.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from local_stack import Stack
from tests.e2e.faults_support import journal, moto, read_object
from tests.e2e.support import ISSUER, invoke, unique, wildcard_request
from wildcert import container, runtime
from wildcert.adapters.bucket.certificates import CertificateStore
from wildcert.jobs.issue.outcome import StageFailure
from wildcert.logic.certificates import load_key

pytestmark = pytest.mark.usefixtures("fresh_faults")

RECORD_FORMAT = logging.Formatter("%(name)s %(levelname)s %(message)s")


@pytest.fixture
def everything_logged(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> Iterator[Callable[[], str]]:
    """Log at DEBUG everywhere; return a function giving all that was logged so far."""
    caplog.set_level(logging.DEBUG)  # the root logger and the capturing handler
    wildcert_logger = logging.getLogger("wildcert")
    level = wildcert_logger.level
    runtime.logger.setLevel("DEBUG")
    powertools_handler = wildcert_logger.powertools_handler  # Powertools' JSON lines (stdout)
    powertools_out = io.StringIO()
    stream = powertools_handler.setStream(powertools_out)
    container.current().secrets.clear()  # the secret is read, and parsed, inside this test

    def everything() -> str:
        records = [
            f"{RECORD_FORMAT.format(r)}\n{r.args!r}\n{vars(r)!r}" for r in caplog.records
        ]
        out, err = capfd.readouterr()
        return "\n".join([*records, powertools_out.getvalue(), out, err])

    try:
        yield everything
    finally:
        if stream is not None:
            powertools_handler.setStream(stream)
        wildcert_logger.setLevel(level)
        container.current().secrets.clear()


def _webhook_url() -> str:
    secret = moto("secretsmanager").get_secret_value(SecretId=os.environ["SLACK_WEBHOOK_SECRET"])
    return str(secret["SecretString"])


def _private_parts(pem: str | bytes | None) -> set[str]:
    """What only the private key holds: its secret number in hex, and the base64 lines of the
    PEM body that carry it (the other lines hold the public key, which certificates show)."""
    assert pem, "no key to look for"
    data = pem.encode() if isinstance(pem, str) else pem
    key = load_key(data)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        number, size = key.private_numbers().private_value, (key.curve.key_size + 7) // 8
    else:
        number, size = key.private_numbers().d, key.key_size // 8
    secret = number.to_bytes(size, "big")
    lines = [line for line in data.decode().splitlines() if line and "-----" not in line]
    start = base64.b64decode("".join(lines)).find(secret)
    assert start >= 0, "the secret number is not in the key's DER"
    per_line = len(base64.b64decode(lines[0]))
    first, last = start // per_line, (start + size - 1) // per_line
    return {secret.hex(), *lines[first : last + 1]}


def _account_key_pem() -> str:
    key = CertificateStore.account_key(os.environ["ACME_DIRECTORY_URL"])
    raw = read_object(key)
    assert raw is not None, key
    return str(json.loads(raw)["key_pem"])


@pytest.mark.parametrize("libraries", ["quiet", "at DEBUG too"])
def test_debug_logs_hold_no_webhook_url_nor_keys(
    stack: Stack, everything_logged: Callable[[], str], monkeypatch: pytest.MonkeyPatch,
    libraries: str,
) -> None:
    """"at DEBUG too" lets botocore and slack_sdk log everything (as they would if runtime
    did not hold them at WARNING): then redaction alone must keep the secrets out."""
    if libraries != "quiet":
        for name in runtime.QUIET_LIBRARIES:
            monkeypatch.setattr(logging.getLogger(name), "level", logging.NOTSET)
    # Lambda's credentials carry a session token, and botocore signs it as a header.
    session_token = f"session-token-{unique('')}"
    monkeypatch.setenv("AWS_SESSION_TOKEN", session_token)
    url = _webhook_url()
    token_path = urlsplit(url).path.removeprefix("/services/")
    assert len(token_path) >= 8, token_path  # a part worth searching for

    issued_label, request = wildcard_request("ls")
    assert invoke(ISSUER, request)["status"] == "issued"
    privkey = read_object(f"{issued_label}/privkey.pem")

    stack.set_slack_status(429, retry_after=1)
    try:
        rejected = invoke(ISSUER, {"domains": ["*.example.org"], "name": "no such zone"})
    finally:
        stack.set_slack_status(200)
    assert rejected["status"] == "rejected", rejected

    failed_label, failing = wildcard_request("lf")
    stack.aws_faults.add(service="s3", operation="PutObject", key=f"{failed_label}/**",
                         error="KMS.DisabledException")
    with pytest.raises(StageFailure):
        invoke(ISSUER, failing)
    parked = journal(failed_label)
    assert parked is not None and parked["key_pem"], parked

    logged = everything_logged()
    assert f"issued {issued_label}" in logged  # the capture did see the run
    secret_parts = (
        _private_parts(privkey) | _private_parts(parked["key_pem"])
        | _private_parts(_account_key_pem())
    )
    found = {
        "webhook URL": url in logged,
        "webhook token path": token_path in logged,
        "PRIVATE KEY": "PRIVATE KEY" in logged,
        "key material": any(part in logged for part in secret_parts),
        "AWS session token": session_token in logged,
    }
    assert not any(found.values()), found


def test_slack_retry_at_info_does_not_log_the_webhook_url(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    """LogLevel's default: slack_sdk announces each retry at INFO with the full request URL."""
    caplog.set_level(logging.INFO)
    url = _webhook_url()
    container.current().secrets.clear()
    stack.set_slack_status(429, retry_after=1)
    try:
        rejected = invoke(ISSUER, {"domains": ["*.example.org"], "name": "no such zone"})
    finally:
        stack.set_slack_status(200)
        container.current().secrets.clear()
    assert rejected["status"] == "rejected", rejected
    logged = "\n".join(f"{RECORD_FORMAT.format(r)} {vars(r)!r}" for r in caplog.records)
    assert "slack post failed: HTTP 429" in logged
    assert url not in logged and urlsplit(url).path not in logged
