"""How a queued request that must wait comes back: hidden, or sent anew. Pure.

A renewal waits when the CA said so (a rate limit, for as long as its Retry-After) or when
another run holds its certificate's lease. Nothing failed, but SQS counts every receive, and the
renewal queue moves a message to its dead-letter queue at `maxReceiveCount`. A backlog waiting
for the CA's order bucket (one order back every 36 s at Let's Encrypt) is received again and
again, so hiding each message (ChangeMessageVisibility) would walk it to the dead-letter queue.

So a waiting message is hidden while it has receives to spare (one call, up to SQS's 12 hours),
and once it has used half of them it is sent anew instead: a fresh message, receive count 0,
delayed by up to SQS's 15 minutes, and the old one is deleted. Every message sent anew carries
when it started waiting; after `MAX_WAITING` in all it is hidden like a failure, so a CA that
has refused for two days reaches the dead-letter queue and its alarm: a person must look.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

MAX_VISIBILITY_SECONDS = 12 * 3600  # ChangeMessageVisibility's limit
MAX_DELAY_SECONDS = 15 * 60  # SendMessage's DelaySeconds limit
MAX_WAITING = dt.timedelta(hours=48)

HIDE = "hide"  # ChangeMessageVisibility on this message; it comes back as the same message
REQUEUE = "requeue"  # the same request as a new message; this one is deleted


@dataclass(frozen=True)
class Comeback:
    how: str  # HIDE or REQUEUE
    seconds: int  # the visibility timeout, or the new message's DelaySeconds
    waiting_since: dt.datetime  # carried by a message sent anew


def comeback(wait_seconds: float, *, receive_count: int, max_receives: int | None,
             waiting_since: dt.datetime | None, now: dt.datetime,
             can_requeue: bool = True) -> Comeback:
    """How a message received `receive_count` times comes back after `wait_seconds`.

    `max_receives` is the queue's redrive `maxReceiveCount` (None: no dead-letter queue, so
    receives cost nothing). `can_requeue` is False where a message cannot be sent anew with a
    delay of its own (a FIFO queue) or must not be (the request did not come from the queue).
    """
    since = waiting_since or now
    hide = Comeback(HIDE, visibility(wait_seconds), since)
    if not can_requeue or max_receives is None:
        return hide
    if receive_count < max(1, max_receives // 2):
        return hide
    if now - since >= MAX_WAITING:
        return hide
    return Comeback(REQUEUE, _clamp(wait_seconds, MAX_DELAY_SECONDS), since)


def visibility(wait_seconds: float) -> int:
    """The visibility timeout that hides a message for `wait_seconds`, as SQS allows it."""
    return _clamp(wait_seconds, MAX_VISIBILITY_SECONDS)


def _clamp(seconds: float, ceiling: int) -> int:
    return int(min(max(seconds, 1), ceiling))
