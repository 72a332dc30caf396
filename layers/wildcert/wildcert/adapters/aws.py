"""AWS clients shared by one Lambda container, with bounded retries.

botocore's standard retry mode retries throttling, 5xx and connection errors with capped
exponential backoff; `AWS_ENDPOINT_URL` (read by botocore itself) points them at the local stack.

The clients come from one botocore session, made on first use: a session loads the endpoint
data (about 7 MiB of Python objects) once for every client it makes, and importing it costs
a Lambda's INIT a third of a second, which a request that needs no AWS call need not pay.
boto3 adds nothing the issuer uses (no resources, no managed transfers), so it is not loaded.

botocore's own loader reads its JSON files (the service models, the endpoint data) into
OrderedDicts, and keeps every model's API documentation: the session's loader reads them into
plain dicts (ordered too) and leaves the documentation out of the service models, which
halves what the S3 model and the endpoint data hold in memory and parses them three times
faster (`LeanModels`). The endpoint data (1.2 MB of JSON, every service in every
partition) keeps only the services wildcert's clients and botocore's credential providers use
(`SERVICES`): the rest would stay in memory for the container's life, unread.
"""

from __future__ import annotations

import functools
import gzip
import json
import logging
import os
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

# The services of the endpoint data the session keeps: those `client` makes, and those
# botocore's credential providers call for an assumed role or an SSO profile.
SERVICES = frozenset({"events", "route53", "s3", "secretsmanager", "sqs", "sts"})
CREDENTIAL_SERVICES = frozenset({"sso", "sso-oidc", "sts"})
ENDPOINTS = "endpoints"

_CLIENTS: dict[str, Any] = {}
# botocore clients are thread-safe, making them is not: the issuance's set-up threads and the
# Slack secret's reader may ask for their first client at the same time.
_LOCK = threading.Lock()


def client_config(service: str | None = None) -> Config:
    """The botocore Config of `service`'s client (CLIENT_SETTINGS, then the service's own)."""
    from botocore.config import Config

    return Config(**{**CLIENT_SETTINGS, **OWN_RETRIES.get(service or "", {})})


def client(service: str) -> Any:
    """The container's client for `service` (one of SERVICES), made on first use."""
    made = _CLIENTS.get(service)
    if made is not None:
        return made
    if service not in SERVICES:
        raise ValueError(f"no endpoint data kept for {service!r}: add it to aws.SERVICES")
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

    session = get_session()
    session.get_component("data_loader").file_loader = LeanModels()
    return session


# What botocore's JSONFileLoader opens, in its order: its data ships gzipped since 1.32.
_OPENERS: tuple[tuple[str, Callable[..., Any]], ...] = ((".json", open), (".json.gz", gzip.open))
SERVICE_MODEL = "service-2"
# A model's parts that carry documentation: botocore reads it with .get() (for docstrings and
# the generated docs), never to make a request.
DOCUMENTED = ("operations", "shapes")


class LeanModels:
    """botocore's file loader (`exists`, `load_file`), with plain dicts and no documentation.

    Only the text of service models' operations, shapes and members goes: other parts read
    `documentation` as a required key (the client context parameters).
    """

    def exists(self, file_path: str) -> bool:
        return any(os.path.isfile(file_path + ext) for ext, _ in _OPENERS)

    def load_file(self, file_path: str) -> Any:
        for ext, opener in _OPENERS:
            if os.path.isfile(file_path + ext):
                with opener(file_path + ext, "rb") as source:
                    data = json.loads(source.read().decode("utf-8"))
                name = os.path.basename(file_path)
                if name == SERVICE_MODEL and isinstance(data, dict):
                    drop_documentation(data)
                elif name == ENDPOINTS and isinstance(data, dict):
                    keep_services(data, SERVICES | CREDENTIAL_SERVICES)
                return data
        return None


def drop_documentation(model: dict[str, Any]) -> None:
    """Remove the documentation text of a service model's operations, shapes and members."""
    for part in DOCUMENTED:
        for entry in (model.get(part) or {}).values():
            if not isinstance(entry, dict):
                continue
            _drop_text(entry)
            for member in (entry.get("members") or {}).values():
                if isinstance(member, dict):
                    _drop_text(member)


def keep_services(endpoints: dict[str, Any], services: frozenset[str]) -> None:
    """Keep only `services` in each partition of botocore's endpoint data; the partitions'
    own defaults and regions stay whole."""
    for partition in endpoints.get("partitions") or ():
        listed = partition.get("services") if isinstance(partition, dict) else None
        if isinstance(listed, dict):
            partition["services"] = {k: v for k, v in listed.items() if k in services}


def _drop_text(entry: dict[str, Any]) -> None:
    if isinstance(entry.get("documentation"), str):
        del entry["documentation"]


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
