"""Slack incoming-webhook notifications.

The webhook URL is a secret (anyone holding it can post to the channel): it is read from
Secrets Manager at run time and never logged, returned or put into an exception text.
A Slack outage must never fail an issuance, so `post` only ever returns False.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger("wildcert.slack")

MAX_TEXT = 2800  # Slack section blocks take 3000 characters


def escape(text: object, limit: int = 500) -> str:
    """Make user-supplied text inert in Slack mrkdwn: no links, mentions or broadcasts."""
    value = str(text)
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    # Slack's control sequences (<!channel>, <url|text>, <@user>) all start with '<'.
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def code_list(items: Sequence[str], limit: int = 20) -> str:
    shown = ", ".join(escape(i, 260) for i in items[:limit])
    if len(items) > limit:
        shown += f" and {len(items) - limit} more"
    return shown


@dataclass(frozen=True)
class Message:
    text: str  # plain fallback for notifications
    lines: tuple[str, ...]  # mrkdwn, already escaped

    def payload(self) -> dict[str, Any]:
        body = "\n".join(self.lines)
        if len(body) > MAX_TEXT:
            body = body[: MAX_TEXT - 1] + "…"
        return {
            "text": self.text,
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": body}}],
        }


class SlackNotifier:
    def __init__(self, webhook_url: str | None, *, timeout: int = 10):
        self._url = webhook_url
        self._timeout = timeout

    @property
    def enabled(self) -> bool:
        return bool(self._url)

    def post(self, message: Message) -> bool:
        if not self._url:
            logger.info("slack disabled: %s", message.text)
            return False
        from slack_sdk.http_retry.builtin_handlers import (
            ConnectionErrorRetryHandler,
            RateLimitErrorRetryHandler,
        )
        from slack_sdk.webhook import WebhookClient

        client = WebhookClient(
            self._url,
            timeout=self._timeout,
            retry_handlers=[
                ConnectionErrorRetryHandler(max_retry_count=2),
                RateLimitErrorRetryHandler(max_retry_count=2),
            ],
        )
        try:
            response = client.send_dict(message.payload())
        except Exception as exc:  # any failure of Slack is logged, never raised
            logger.warning("slack post failed: %s", self._scrub(f"{type(exc).__name__}: {exc}"))
            return False
        if response.status_code != 200:
            logger.warning(
                "slack post failed: HTTP %s %s",
                response.status_code,
                self._scrub(str(response.body)[:200]),
            )
            return False
        return True

    def _scrub(self, text: str) -> str:
        return text.replace(self._url, "<webhook>") if self._url else text


def issued(
    name: str, domains: Sequence[str], not_after: str, location: str, serial: str, *,
    renewal: bool = False,
) -> Message:
    verb = "renewed" if renewal else "issued"
    return Message(
        text=f"wildcert {verb} {name}",
        lines=(
            f":white_check_mark: Certificate *{escape(name)}* {verb}",
            f"Domains: {code_list(domains)}",
            f"Expires: {escape(not_after)}",
            f"Stored at: {escape(location)}",
            f"Serial: {escape(serial)}",
        ),
    )


def failed(name: str, domains: Sequence[str], stage: str, error: str) -> Message:
    return Message(
        text=f"wildcert failed to issue {name} at stage {stage}",
        lines=(
            f":x: Certificate *{escape(name)}* failed at stage *{escape(stage)}*",
            f"Domains: {code_list(domains)}",
            f"Error: {escape(error, 1500)}",
        ),
    )


def rejected(name: str | None, domains: Sequence[str], problems: Sequence[str]) -> Message:
    shown = [f"• {escape(p, 300)}" for p in problems[:15]]
    if len(problems) > 15:
        shown.append(f"• and {len(problems) - 15} more problems")
    return Message(
        text="wildcert rejected a certificate request",
        lines=(
            f":no_entry: Request for *{escape(name or 'unnamed')}* rejected",
            f"Domains: {code_list(domains)}" if domains else "Domains: none given",
            *shown,
        ),
    )
