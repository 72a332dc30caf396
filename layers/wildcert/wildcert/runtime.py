"""What every wildcert Lambda needs at start: logging, settings, the Slack webhook, a deadline."""

from __future__ import annotations

import json
import logging
from typing import Any

from aws_lambda_powertools import Logger

from wildcert.adapters.slack import SlackNotifier
from wildcert.deadline import Deadline
from wildcert.settings import Settings

# The Powertools logger owns the "wildcert" logger, so every wildcert.* module logs JSON.
logger = Logger(service="wildcert", logger_handler=None)
logging.getLogger("acme").setLevel(logging.WARNING)  # its DEBUG logs carry JWS payloads


def webhook_url(secret_id: str | None) -> str | None:
    """The Slack webhook URL from Secrets Manager (plain string, or JSON with `url`)."""
    if not secret_id:
        return None
    from aws_lambda_powertools.utilities import parameters

    try:
        value = parameters.get_secret(secret_id, max_age=300)
    except Exception as exc:  # Slack is optional: a missing secret must not stop issuance
        logger.warning("cannot read Slack webhook secret %s: %s", secret_id, type(exc).__name__)
        return None
    text = value.decode() if isinstance(value, bytes) else str(value)
    text = text.strip()
    if text.startswith("{"):
        try:
            text = str(json.loads(text).get("url", ""))
        except ValueError:
            return None
    return text if text.startswith(("https://", "http://")) else None


def notifier(settings: Settings) -> SlackNotifier:
    return SlackNotifier(webhook_url(settings.slack_webhook_secret))


def deadline(context: Any) -> Deadline:
    return Deadline.from_context(context)
