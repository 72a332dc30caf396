"""AWS clients shared by one Lambda container, with bounded retries.

botocore's standard retry mode retries throttling, 5xx and connection errors with capped
exponential backoff; `AWS_ENDPOINT_URL` (read by botocore itself) points them at the local stack.

The clients come from one botocore session, made on first use (`botocore.session.get_session`,
`Session.create_client`: botocore's public API, with its own loader and data), so every client
shares the endpoint data and the models the session loaded once.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from botocore.config import Config
    from botocore.session import Session

# total_max_attempts counts the first attempt too (botocore's max_attempts counts retries).
# AWS answers these APIs in well under a second: a short read timeout keeps one stuck call
# from outliving the invocation's deadline.
CLIENT_SETTINGS: dict[str, Any] = {
    "retries": {"mode": "standard", "total_max_attempts": 5},
    "connect_timeout": 3,
    "read_timeout": 10,
    "user_agent_extra": "wildcert",
}

# wildcert.adapters.route53 retries Route 53 itself (throttling shares one request budget per
# account, and a conflicting change must be re-read, not resent); botocore retrying underneath
# would multiply the attempts.
OWN_RETRIES: dict[str, dict[str, Any]] = {
    "route53": {"retries": {"mode": "standard", "total_max_attempts": 1}},
    # wildcert.adapters.events retries PutEvents a little itself: an outcome event must never
    # hold up the issuance it reports.
    "events": {"retries": {"mode": "standard", "total_max_attempts": 1}, "read_timeout": 5},
}

_CLIENTS: dict[str, Any] = {}
# botocore clients are thread-safe, making them is not: the issuance's set-up threads and the
# Slack secret's reader may ask for their first client at the same time.
_LOCK = threading.Lock()


def client_config(service: str | None = None) -> Config:
    """The botocore Config of `service`'s client (CLIENT_SETTINGS, then the service's own)."""
    from botocore.config import Config

    return Config(**{**CLIENT_SETTINGS, **OWN_RETRIES.get(service or "", {})})


def client(service: str) -> Any:
    """The container's client for `service`, made on first use."""
    made = _CLIENTS.get(service)
    if made is not None:
        return made
    with _LOCK:
        if service not in _CLIENTS:
            _CLIENTS[service] = _session().create_client(service, config=client_config(service))
        return _CLIENTS[service]


def forget_clients() -> None:
    """Drop the container's clients: the next call makes new ones (a changed endpoint, say)."""
    with _LOCK:
        _CLIENTS.clear()
        _ASSUMED.clear()


# An assumed role's credentials are used until this long before they expire.
CREDENTIALS_MARGIN_SECONDS = 300.0
ASSUMED_ROLE_SECONDS = 900  # STS's minimum: a request's few zone calls need no more


class AssumeRoleFailed(RuntimeError):
    """STS refused a role a zone names; the message says which role and what to check."""


_ASSUMED: dict[tuple[str, str, str, str], tuple[Any, float]] = {}
log = logging.getLogger(__name__)


def assumed_client(service: str, role_arn: str, external_id: str, session_name: str,
                   *, now: Callable[[], float] | None = None) -> Any:
    """A client for `service` acting as `role_arn` (a role in another account), made once per
    container and session name and remade before its credentials expire."""
    import time

    clock = now or time.time
    key = (service, role_arn, external_id, session_name)
    with _LOCK:
        cached = _ASSUMED.get(key)
    if cached is not None and cached[1] - CREDENTIALS_MARGIN_SECONDS > clock():
        return cached[0]
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        credentials = client("sts").assume_role(
            RoleArn=role_arn, RoleSessionName=session_name, ExternalId=external_id,
            DurationSeconds=ASSUMED_ROLE_SECONDS)["Credentials"]
    except (ClientError, BotoCoreError) as error:
        raise AssumeRoleFailed(
            f"could not assume {role_arn} (session {session_name}): {error_text(error)}. "
            "Check that the zone's owner deployed deploy/zone-access-role.yaml with this "
            "issuer's role ARN and the zone's external id, and that the role name starts "
            "with wildcert-zone-access."
        ) from error
    made = _session().create_client(
        service, config=client_config(service),
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"])
    expiry = float(credentials["Expiration"].timestamp())
    log.info("assumed %s as session %s for %s", role_arn, session_name, service)
    with _LOCK:
        _ASSUMED[key] = (made, expiry)
    return made


@functools.cache
def _session() -> Session:
    from botocore.session import get_session

    return get_session()


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
