"""The fleet inventory in the bucket: `<owner>._inventory.json`, one small JSON object per team
(and one for the operators' own certificates), which `wildcert-pull inventory` prints.

The key is inside the team's own prefix (`<team>.`), so the roles that read the team's
certificates read its inventory too, and no other. The issuer, the sweep and the watch update
it concurrently: every write is conditional (If-Match the ETag read, or If-None-Match for the
first), and a write that lost the race reads again and re-applies its change, so no update is
lost. Best effort: the inventory is a view, never a reason to fail an issuance or a run.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from wildcert.adapters.bucket.objects import Bucket, NotFound, PreconditionFailed, StorageError
from wildcert.logic import fleet

logger = logging.getLogger("wildcert.adapters.bucket.fleet")

ATTEMPTS = 6
PAUSE_SECONDS = 0.05
MAX_BYTES = 5_000_000


class FleetInventory:
    def __init__(self, bucket: Bucket, *, sleep: Callable[[float], None] = time.sleep):
        self.bucket = bucket
        self._sleep = sleep

    def read(self, owner: str) -> dict[str, Any] | None:
        stored = self.bucket.get(fleet.key_of(owner), limit=MAX_BYTES)
        return json.loads(stored.body) if stored is not None else None

    def owners(self) -> list[str]:
        """The owners the operators' inventory lists (none when it cannot be read)."""
        try:
            document = self.read(fleet.OPERATORS)
        except (StorageError, ValueError) as error:
            logger.warning("inventory %s not read: %s", fleet.key_of(fleet.OPERATORS), error)
            return []
        listed = document.get("owners") if isinstance(document, dict) else None
        return [o for o in listed if isinstance(o, str)] if isinstance(listed, list) else []

    def update(self, owner: str, changes: Mapping[str, fleet.Row], now: dt.datetime, *,
               only_known: bool = False, keep: Iterable[str] | None = None,
               owners: Iterable[str] | None = None) -> bool:
        """Apply `changes` to `owner`'s inventory (see `fleet.merged`); True once written.

        Never raises: a failure is logged and the next run writes the rows again.
        """
        keep = None if keep is None else tuple(keep)
        owners = None if owners is None else tuple(owners)
        key = fleet.key_of(owner)
        for attempt in range(ATTEMPTS):
            if attempt:
                self._sleep(PAUSE_SECONDS * attempt * (1 + random.random()))  # noqa: S311
            try:
                stored = self.bucket.get(key, limit=MAX_BYTES)
                document = _document(stored.body) if stored is not None else None
                if only_known and not fleet.lists_any(document, changes):
                    return True  # nothing of this owner's to change
                updated = fleet.merged(document, owner, changes, now, only_known=only_known,
                                       keep=keep, owners=owners)
                body = json.dumps(updated, indent=1, sort_keys=True).encode()
                if stored is None:
                    self.bucket.put(key, body, content_type="application/json",
                                    if_none_match=True)
                else:
                    self.bucket.put(key, body, content_type="application/json",
                                    if_match=stored.etag)
                return True
            except (PreconditionFailed, NotFound):
                continue  # another writer came first: read its version and apply ours again
            except StorageError as error:
                logger.warning("inventory %s not updated: %s", key, error)
                return False
        logger.warning("inventory %s not updated: %d writers in a row came first", key, ATTEMPTS)
        return False


def _document(body: bytes) -> dict[str, Any] | None:
    try:
        found = json.loads(body)
    except ValueError:
        return None  # unreadable: rewritten from what this writer knows
    return found if isinstance(found, dict) else None
