"""boto3 clients shared by one Lambda container, with bounded retries.

botocore's standard retry mode retries throttling, 5xx and connection errors with capped
exponential backoff; `AWS_ENDPOINT_URL` (read by boto3 itself) points them at the local stack.
"""

from __future__ import annotations

import functools
from typing import Any

import boto3
from botocore.config import Config

# total_max_attempts counts the first attempt too (botocore's max_attempts counts retries).
# AWS answers these APIs in well under a second: a short read timeout keeps one stuck call
# from outliving the invocation's deadline.
CLIENT_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 5},
    connect_timeout=3,
    read_timeout=10,
    user_agent_extra="wildcert",
)


# wildcert.adapters.route53 retries Route 53 itself (throttling shares one 5 requests/s budget per
# account, and a conflicting change must be re-read, not resent); botocore retrying underneath
# would multiply the attempts.
# wildcert.adapters.events retries PutEvents a little itself: an outcome event must never hold
# up the issuance it reports.
OWN_RETRIES = {
    "route53": Config(retries={"mode": "standard", "total_max_attempts": 1}),
    "events": Config(retries={"mode": "standard", "total_max_attempts": 1}, read_timeout=5),
}


@functools.cache
def client(service: str) -> Any:
    config = CLIENT_CONFIG.merge(OWN_RETRIES[service]) if service in OWN_RETRIES else CLIENT_CONFIG
    return boto3.session.Session().client(service, config=config)


def error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def error_text(exc: BaseException) -> str:
    """AWS's own words for an error, without request ids or other noise."""
    response = getattr(exc, "response", None) or {}
    err = response.get("Error", {})
    if err:
        return f"{err.get('Code', 'Error')}: {err.get('Message', '')}".rstrip(": ")
    return f"{type(exc).__name__}: {exc}"
