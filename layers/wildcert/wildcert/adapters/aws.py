"""AWS clients shared by one Lambda container, with bounded retries.

botocore's standard retry mode retries throttling, 5xx and connection errors with capped
exponential backoff; `AWS_ENDPOINT_URL` (read by botocore itself) points them at the local stack.

The clients come from one botocore session, made on first use (`botocore.session.get_session`,
`Session.create_client`: botocore's public API, with its own loader and data), so every client
shares the endpoint data and the models the session loaded once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from botocore.session import Session

from wildcert import container
from wildcert.errors import WildcertError

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



class AwsError(WildcertError):
    """An AWS call failed, in AWS's own words (`error_text`); `code` is AWS's error code."""

    def __init__(self, message: str, code: str = ""):
        super().__init__(message)
        self.code = code




def client_config(service: str | None = None) -> Config:
    """The botocore Config of `service`'s client (CLIENT_SETTINGS, then the service's own)."""
    return Config(**{**CLIENT_SETTINGS, **OWN_RETRIES.get(service or "", {})})


def client(service: str) -> Any:
    """The container's client for `service`, made on first use."""
    state = container.current()
    made = state.clients.get(service)
    if made is not None:
        return made
    with state.lock:
        if service not in state.clients:
            try:
                state.clients[service] = session().create_client(
                    service, config=client_config(service))
            except BotoCoreError as exc:  # no region, a bad endpoint: a setting to fix
                raise AwsError(f"could not make the AWS {service} client: "
                               f"{error_text(exc)}") from exc
        return state.clients[service]


def regional_client(service: str, region: str) -> Any:
    """The container's client for `service` in `region` (ACM imports are regional)."""
    state = container.current()
    key = f"{service}@{region}"
    made = state.clients.get(key)
    if made is not None:
        return made
    with state.lock:
        if key not in state.clients:
            state.clients[key] = session().create_client(service, region_name=region,
                                                         config=client_config(service))
        return state.clients[key]


def session() -> Session:
    """The container's botocore session, made on first use."""
    state = container.current()
    with state.lock:
        if state.aws_session is None:
            state.aws_session = botocore.session.get_session()
        return state.aws_session


# An assumed role's credentials are used until this long before they expire.
CREDENTIALS_MARGIN_SECONDS = 300.0
ASSUMED_ROLE_SECONDS = 900  # STS's minimum: a request's few zone calls need no more


class AssumeRoleFailed(WildcertError):
    """STS refused a role a zone or a team names; the message says which role and what to
    check."""


log = logging.getLogger(__name__)


ZONE_ROLE_HINT = ("Check that the zone's owner deployed deploy/zone-access-role.yaml with this "
                  "issuer's role ARN and the zone's external id, and that the role name starts "
                  "with wildcert-zone-access.")


def assumed_client(service: str, role_arn: str, external_id: str, session_name: str,
                   *, region: str | None = None, hint: str = ZONE_ROLE_HINT,
                   now: Callable[[], float] = time.time) -> Any:
    """A client for `service` (in `region`, else the default one) acting as `role_arn` (a role
    in another account), made once per container and session name and remade before its
    credentials expire. `hint` says what to check when STS refuses the role."""
    state = container.current()
    key = (f"{service}@{region}" if region else service, role_arn, external_id, session_name)
    with state.lock:
        cached = state.assumed.get(key)
    if cached is not None and cached[1] - CREDENTIALS_MARGIN_SECONDS > now():
        return cached[0]
    try:
        credentials = client("sts").assume_role(
            RoleArn=role_arn, RoleSessionName=session_name, ExternalId=external_id,
            DurationSeconds=ASSUMED_ROLE_SECONDS)["Credentials"]
    except (ClientError, BotoCoreError) as error:
        raise AssumeRoleFailed(
            f"could not assume {role_arn} (session {session_name}): {error_text(error)}. "
            + hint) from error
    made = session().create_client(
        service, region_name=region, config=client_config(service),
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"])
    expiry = float(credentials["Expiration"].timestamp())
    log.info("assumed %s as session %s for %s", role_arn, session_name, service)
    with state.lock:
        state.assumed[key] = (made, expiry)
    return made


def secret_string(secrets: Any, secret_id: str) -> str:
    """A Secrets Manager secret's SecretString, read through the `secrets` client; AwsError
    (with AWS's error code) when it cannot be read."""
    try:
        return str(secrets.get_secret_value(SecretId=secret_id)["SecretString"])
    except (ClientError, BotoCoreError) as exc:
        raise AwsError(f"reading the secret {secret_id} failed: {error_text(exc)}",
                       error_code(exc)) from exc
    except KeyError:
        raise AwsError(f"the secret {secret_id} holds no SecretString") from None


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
