"""What every wildcert Lambda needs at start: logging, settings, the teams' policy, the Slack
webhooks, a deadline."""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from wildcert import container, layer_build, metrics
from wildcert.adapters import aws, slack
from wildcert.adapters.slack import Channels, SlackNotifier, Unreachable
from wildcert.deadline import Deadline
from wildcert.errors import WildcertError
from wildcert.logic.teams import NO_TEAMS, Teams, TeamsError, parse_teams
from wildcert.logic.teams import broken as broken_teams
from wildcert.settings import Settings

# Libraries whose records below WARNING carry secrets or what a secret protects: botocore logs
# request and response bodies (GetSecretValue's SecretString is the webhook URL) and the signed
# headers (Lambda's session token); slack_sdk logs the webhook URL at DEBUG and, on every retry,
# at INFO; urllib3 logs each request path; acme logs JWS payloads. Lambda sets the root logger
# to LogLevel, so without their own level they would follow it: they are held at WARNING
# whatever LogLevel says, which governs wildcert's own records only. Their warnings and errors
# (failures) are what an operator needs from them.
QUIET_LIBRARIES = ("acme", "boto3", "botocore", "josepy", "s3transfer", "slack_sdk", "urllib3")
LIBRARY_LEVEL = logging.WARNING

REDACTED = "<redacted>"
SHORTEST_SECRET = 8  # shorter values are words, and redacting them would garble every line
_PRIVATE_KEY = re.compile(  # the body may be raw or escaped (JSON, repr): stop at anything else
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?:[A-Za-z0-9+/=\s]|\\+[nr])*"
    r"(?:-----END [A-Z0-9 ]*PRIVATE KEY-----)?"
)
_SLACK_WEBHOOK = re.compile(r"https?://hooks\.slack(?:-gov)?\.com/[\w/-]*")
_SECRET_FIELD = re.compile(  # Secrets Manager's answer: JSON, a repr, or JSON in a bytes repr
    r"""(["']Secret(?:String|Binary)["']\s*:\s*)b?(["'])(?:\\+.|(?!\2).)*\2""", re.DOTALL
)
_SESSION_TOKEN = re.compile(  # a signed header, in a canonical request or a headers repr
    r"""(x-amz-security-token['"]?\s*[:=]\s*b?['"]?)[^\s'",;&]+""", re.IGNORECASE
)


class Redactor:
    """Takes secrets out of text: the values wildcert read, and anything shaped like one."""

    def __init__(self) -> None:
        self._literals: tuple[str, ...] = ()  # replaced whole, so readers in threads never race
        self._adding = threading.Lock()  # secrets are read in threads: no addition may be lost

    def add(self, *values: str) -> None:
        with self._adding:
            known = {*self._literals, *(v for v in values if len(v) >= SHORTEST_SECRET)}
            self._literals = tuple(sorted(known, key=len, reverse=True))  # longest first

    def __call__(self, text: str) -> str:
        for literal in self._literals:
            if literal in text:
                text = text.replace(literal, REDACTED)
        # Each pattern only where its marker is: most lines have none, and stay cheap.
        if "PRIVATE KEY" in text:
            text = _PRIVATE_KEY.sub(REDACTED, text)
        if "hooks.slack" in text:
            text = _SLACK_WEBHOOK.sub(REDACTED, text)
        if "Secret" in text:
            text = _SECRET_FIELD.sub(rf'\1"{REDACTED}"', text)
        if "security-token" in text.lower():
            text = _SESSION_TOKEN.sub(rf"\1{REDACTED}", text)
        return text


redact = Redactor()


class RedactedError(WildcertError):
    """Stands in for a logged exception whose text held a secret."""


def redact_record(record: logging.LogRecord) -> None:
    """Redact a record's message and exception in place, before any handler sees it."""
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: logging reports it when a handler formats it
        return
    clean = redact(message)
    if clean != message:
        record.msg, record.args = clean, ()
    error = record.exc_info[1] if record.exc_info else None
    if error is None:
        return
    shown = "".join(traceback.format_exception(error))
    if redact(shown) != shown:
        stand_in = RedactedError(redact(f"{type(error).__name__}: {error}"))
        record.exc_info = (RedactedError, stand_in, error.__traceback__)
        record.exc_text = redact(shown).rstrip("\n")


class RedactingRecordFactory:
    """Every record of every logger is made here: one place to redact, whatever the handler.

    A filter on a logger would not do: logging applies it only to records made by that very
    logger, not to those its children (botocore.parsers, slack_sdk.webhook.client) pass up.
    """

    def __init__(self, make: Callable[..., logging.LogRecord]) -> None:
        self._make = make

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self._make(*args, **kwargs)
        redact_record(record)
        return record


class RedactingFormatter(LambdaPowertoolsFormatter):
    """wildcert's JSON lines, redacted whole: extra keys and the logged event included."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure_logging() -> None:
    """Hold the talkative libraries at WARNING and redact every record; safe to call again."""
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(LIBRARY_LEVEL)
    if not isinstance(logging.getLogRecordFactory(), RedactingRecordFactory):
        logging.setLogRecordFactory(RedactingRecordFactory(logging.getLogRecordFactory()))
    redact.add(*(os.environ.get(n, "") for n in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")))


configure_logging()
layer_build.check()  # at INIT: a layer deployed on another Python or SDK fails here, by name

# The Powertools logger owns the "wildcert" logger, so every wildcert.* module logs JSON.
logger = Logger(service="wildcert", logger_handler=None, logger_formatter=RedactingFormatter())


# A warm container reads a secret again after this long: a rotated webhook is picked up.
SECRET_MAX_AGE_SECONDS = 300.0


def read_secret(secret_id: str) -> str | bytes:
    """A Secrets Manager secret's value (SecretString, else SecretBinary), kept per container
    for SECRET_MAX_AGE_SECONDS."""
    secrets = container.current().secrets
    kept = secrets.get(secret_id)
    if kept is not None and kept[1] > time.monotonic():
        return kept[0]
    answer = aws.client("secretsmanager").get_secret_value(SecretId=secret_id)
    value: str | bytes = answer["SecretString"] if "SecretString" in answer else answer[
        "SecretBinary"]
    secrets[secret_id] = (value, time.monotonic() + SECRET_MAX_AGE_SECONDS)
    return value


def webhook_url(secret_id: str | None) -> str | None:
    """The Slack webhook URL from Secrets Manager (plain string, or JSON with `url`); None
    when there is none or it cannot be read (logged: Slack must not stop an issuance)."""
    if not secret_id:
        return None
    try:
        return read_webhook(secret_id)
    except Unreachable as problem:
        logger.warning("Slack webhook %s", problem)
        return None


def read_webhook(secret_id: str) -> str:
    """The webhook URL the secret holds; raises Unreachable saying why not (never its value)."""
    try:
        value = read_secret(secret_id)
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code") or type(exc).__name__
        raise Unreachable(f"secret {secret_id} cannot be read ({code})") from None
    text = value.decode() if isinstance(value, bytes) else str(value)
    text = text.strip()
    redact.add(text)
    if text.startswith("{"):
        try:
            text = str(json.loads(text).get("url", ""))
        except (ValueError, AttributeError):
            text = ""
    if not text.startswith(("https://", "http://")):
        raise Unreachable(f"secret {secret_id} holds no webhook URL (a plain URL, or JSON "
                          "with \"url\")")
    redact.add(*webhook_parts(text))
    return text


def webhook_parts(url: str) -> tuple[str, ...]:
    """The URL and what gives it away alone: its path, and the token part after /services/."""
    path = urlsplit(url).path
    return url, path, path.strip("/").removeprefix("services/")


def notifier(settings: Settings) -> SlackNotifier:
    """The operators' Slack channel. Its webhook URL is read in the background: the
    invocation's first steps need no Slack, and its first post waits for the URL."""
    secret_id = settings.slack_webhook_secret
    if not secret_id:
        return SlackNotifier(None)
    outside = container.current().outside
    if outside is not None:
        told: SlackNotifier = outside.slack(secret_id)
        return told
    return SlackNotifier(container.current().reader.submit(webhook_url, secret_id).result)


def channels(settings: Settings, policy: Teams) -> Channels:
    """The operators' channel, and each team's own as teams.toml names its webhook secret."""

    def team_webhook(team_id: str) -> str | None:
        team = policy.get(team_id)
        if team is None or not team.slack_webhook_secret:
            return None
        return read_webhook(team.slack_webhook_secret)

    outside = container.current().outside
    if outside is not None:  # a team's secret id stands for its webhook URL
        return Channels(notifier(settings), _team_secret(policy), notifier=outside.slack)
    return Channels(notifier(settings), team_webhook)


def _team_secret(policy: Teams) -> Callable[[str], str | None]:
    def secret_of(team_id: str) -> str | None:
        team = policy.get(team_id)
        return team.slack_webhook_secret if team is not None else None
    return secret_of


# `sam build` copies layers/wildcert/teams.toml next to the wildcert package in the layer.
LAYER_TEAMS_FILE = Path(__file__).resolve().parent.parent / "wildcert_teams.toml"


def teams(settings: Settings) -> Teams:
    """The teams' policy: read once per container, and again only when the file changes.

    TEAMS_FILE names it (default: the layer's copy). A named file that is missing, or any
    problem in the file, makes a broken policy: no team request is taken (a wrong policy must
    not let one through), while renewals and the operators' invokes go on
    (`tell_policy_problems` raises the alarm). Without TEAMS_FILE and without the layer's copy
    there are no teams: only the operators.
    """
    path = Path(settings.teams_file) if settings.teams_file else LAYER_TEAMS_FILE
    try:
        stamp = path.stat().st_mtime_ns
    except OSError as error:
        if settings.teams_file:
            return broken_teams([f"TEAMS_FILE={settings.teams_file} cannot be read: "
                                 f"{error.strerror}"])
        return NO_TEAMS
    key = (str(path), stamp)
    kept = container.current().teams
    if key not in kept:
        kept.clear()
        try:
            kept[key] = parse_teams(path.read_text(encoding="utf-8"), str(path))
        except (TeamsError, OSError, UnicodeDecodeError) as error:
            problems = (error.problems if isinstance(error, TeamsError)
                        else [f"{path} cannot be read: {error}"])
            kept[key] = broken_teams(problems, getattr(error, "found", ()))
        logger.info("teams: %d team(s) from %s", len(kept[key]), path)
    return kept[key]


def tell_policy_problems(policy: Teams, channels: Channels, settings: Settings) -> None:
    """While the teams' policy is broken: the alarm's metric on every invocation, and one
    error log line and one operators' post per container (not one per request)."""
    if not policy.problems:
        return
    metrics.put(settings.metrics_namespace, metrics.TEAMS_POLICY_BROKEN, 1)
    where = settings.teams_file or str(LAYER_TEAMS_FILE)
    told = container.current().told
    if (where, *policy.problems) in told:
        return
    told.add((where, *policy.problems))
    logger.error("teams: %s has %d problem(s); team requests are refused until it is fixed: "
                 "%s", where, len(policy.problems), "; ".join(policy.problems))
    channels.operators.post(slack.policy_broken(where, policy.problems))


def deadline(context: Any) -> Deadline:
    return Deadline.from_context(context)
