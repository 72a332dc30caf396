"""Outcomes as EventBridge events, so a team's own automation hears about its certificates.

Every outcome of the issuer is put on the bus (EVENT_BUS_NAME) with source `wildcert` and
detail-type `wildcert.certificate.<issued|renewed|skipped|rejected|failed>`; docs/TEAMS.md has
the detail's schema. The request rule never matches source `wildcert`, so an outcome is never
taken for a request. Delivering an event is best effort: a failure is logged and retried
briefly, never raised, because the certificate matters more than the news of it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from wildcert.adapters.aws import error_text

logger = logging.getLogger("wildcert.adapters.events")

SOURCE = "wildcert"
DETAIL_TYPE_PREFIX = "wildcert.certificate."
KINDS = ("issued", "renewed", "skipped", "rejected", "failed", "busy")
# Every outcome event's detail has exactly these keys (null when they do not apply).
DETAIL_KEYS = ("status", "team", "name", "domains", "serial", "not_after", "location", "ca",
               "acme_ca", "fallback", "stage", "reason", "rules", "retry_after", "requester",
               "notifications")
ATTEMPTS = 3
PAUSE_SECONDS = 0.2
MAX_DETAIL_BYTES = 200_000  # PutEvents takes 256 KiB per entry, envelope included


class OutcomeEvents:
    """Puts outcome events on one bus; `put` never raises."""

    def __init__(self, client: Callable[[], Any], bus_name: str | None, *,
                 sleep: Callable[[float], None] = time.sleep):
        self._client = client  # made only when there is something to send
        self.bus_name = bus_name
        self._sleep = sleep

    def put(self, kind: str, detail: Mapping[str, Any]) -> bool:
        """Send one outcome; True once EventBridge took it."""
        if kind not in KINDS:
            raise ValueError(f"unknown outcome kind {kind!r}")
        if not self.bus_name:
            logger.debug("no event bus configured: outcome %s not sent", kind)
            return False
        body = json.dumps(detail, sort_keys=True, default=str)
        if len(body.encode()) > MAX_DETAIL_BYTES:
            body = json.dumps({**{k: detail.get(k) for k in ("team", "name", "stage")},
                               "reason": "the outcome was too large for an event"})
        entry = {"Source": SOURCE, "DetailType": DETAIL_TYPE_PREFIX + kind, "Detail": body,
                 "EventBusName": self.bus_name}
        problem = ""
        for attempt in range(ATTEMPTS):
            if attempt:
                self._sleep(PAUSE_SECONDS * attempt)
            try:
                response = self._client().put_events(Entries=[entry])
            except (ClientError, BotoCoreError) as exc:
                problem = error_text(exc)
                continue
            if not response.get("FailedEntryCount"):
                return True
            failed = (response.get("Entries") or [{}])[0]
            problem = f"{failed.get('ErrorCode', 'failed')}: {failed.get('ErrorMessage', '')}"
        logger.warning("could not put the %s event for %s on %s after %d attempts: %s",
                       kind, detail.get("name"), self.bus_name, ATTEMPTS, problem)
        return False
