"""What runtime does to logging: libraries held at WARNING, and every record redacted."""

from __future__ import annotations

import io
import json
import logging
import uuid

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from wildcert import runtime

WEBHOOK = "https://hooks.slack.com/services/T0AAAAAAA/B0BBBBBBB/abcdefghijklmnopqrstuvwx"


def _key_pem() -> str:
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _body(pem: str) -> str:
    return "".join(line for line in pem.splitlines() if "-----" not in line)


def test_libraries_stay_at_warning_whatever_the_root_level() -> None:
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.DEBUG)  # what Lambda does for LogLevel=DEBUG
    try:
        runtime.configure_logging()
        for name in ("botocore", "botocore.parsers", "urllib3.connectionpool",
                     "slack_sdk.webhook.client", "acme.client"):
            assert logging.getLogger(name).getEffectiveLevel() == logging.WARNING, name
        assert logging.getLogger("wildcert.jobs").getEffectiveLevel() <= logging.INFO
    finally:
        root.setLevel(level)


@pytest.mark.parametrize("shape", ["raw", "json", "repr", "cut short"])
def test_private_keys_are_redacted_in_any_shape(shape: str) -> None:
    pem = _key_pem()
    text = {"raw": pem, "json": json.dumps({"key_pem": pem}), "repr": repr(pem.encode()),
            "cut short": pem[:120]}[shape]
    redacted = runtime.redact(f"before {text}; after")
    assert "PRIVATE KEY" not in redacted and _body(pem)[:40] not in redacted
    assert redacted.startswith("before ") and redacted.endswith("; after")


def test_known_and_shaped_secrets_are_redacted() -> None:
    token = f"IQoJb3JpZ2luX2VjE{uuid.uuid4().hex}/+=="
    lines = {
        "webhook": f"Sending a request - url: {WEBHOOK}, body: {{}}",
        "answer": "b'{\"ARN\": \"arn:x\", \"SecretString\": \"{\\\\\"url\\\\\": \\\\\"http://x\\\\\"}\"}'",
        "parsed": "{'ARN': 'arn:x', 'SecretString': 'http://127.0.0.1:9/services/T/B/x'}",
        "canonical": f"host:s3.amazonaws.com\nx-amz-security-token:{token}\n\nhost;x-amz-date",
        "headers": f"{{'X-Amz-Date': b'20260101T000000Z', 'X-Amz-Security-Token': b'{token}'}}",
    }
    for what, line in lines.items():
        redacted = runtime.redact(line)
        assert runtime.REDACTED in redacted, what
        for secret in (WEBHOOK, token, "http://x", "services/T/B/x", "T0AAAAAAA"):
            assert secret not in redacted, (what, redacted)


def test_registered_webhook_parts_are_redacted_wherever_they_appear() -> None:
    url = f"http://127.0.0.1:24080/services/T{uuid.uuid4().hex[:8]}/B000/local"
    runtime.redact.add(*runtime.webhook_parts(url))
    path = url.split("24080", 1)[1]
    for line in (f"POST {url}", f'"POST {path} HTTP/1.1" 200', f"token {path[10:]}"):
        assert path[10:] not in runtime.redact(line), line


def test_short_values_are_never_registered() -> None:
    runtime.redact.add("testing", "a")  # the local stack's secret key is "testing"
    assert runtime.redact("testing a b") == "testing a b"


def test_ordinary_lines_are_left_alone() -> None:
    certificate = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----"
    for line in ("issued web serial 0a until 2030-01-01", certificate,
                 "s3://bucket/web/archive/0a/privkey.pem stored", "https://example.com/dir"):
        assert runtime.redact(line) == line


def test_a_library_record_reaches_every_handler_redacted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A filter on the "slack_sdk" logger would not see this record of its child."""
    pem = _key_pem()
    with caplog.at_level(logging.WARNING):
        logging.getLogger("slack_sdk.webhook.client").error(
            "Failed to send a request to %s: %s", WEBHOOK, pem)
    (record,) = caplog.records
    assert record.getMessage() == (f"Failed to send a request to {runtime.REDACTED}: "
                                   f"{runtime.REDACTED}\n")
    assert record.args == ()


def test_an_exception_text_with_a_secret_is_redacted(caplog: pytest.LogCaptureFixture) -> None:
    formatter = logging.Formatter("%(message)s")
    with caplog.at_level(logging.ERROR):
        try:
            raise ValueError(f"unknown url type: {WEBHOOK!r}")
        except ValueError:
            logging.getLogger("botocore.endpoint").exception("request failed")
    (record,) = caplog.records
    shown = formatter.format(record)
    assert WEBHOOK not in shown and "ValueError" in shown and runtime.REDACTED in shown
    assert record.exc_info is not None
    assert WEBHOOK not in str(record.exc_info[1])


def test_wildcert_json_lines_are_redacted_whole() -> None:
    """Extra keys are set on a record after it is made: the formatter's output is redacted."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(runtime.RedactingFormatter(service="wildcert"))
    log = logging.getLogger("wildcert-redaction-test")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("posting", extra={"url": WEBHOOK})
    finally:
        log.removeHandler(handler)
    line = json.loads(out.getvalue())
    assert line["message"] == "posting" and line["url"] == runtime.REDACTED
