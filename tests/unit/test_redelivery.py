"""How a renewal that must wait comes back (logic/redelivery.py): hidden while it has receives
to spare, sent anew once it has spent half of them, and left to the dead-letter queue after
two days of waiting."""

from __future__ import annotations

import datetime as dt

import pytest

from wildcert.logic import redelivery
from wildcert.logic.redelivery import HIDE, MAX_WAITING, REQUEUE, comeback

NOW = dt.datetime(2027, 3, 1, 6, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(("receives", "how"), [(1, HIDE), (4, HIDE), (5, REQUEUE), (9, REQUEUE)])
def test_a_message_is_sent_anew_once_it_has_spent_half_its_receives(receives: int,
                                                                     how: str) -> None:
    plan = comeback(36, receive_count=receives, max_receives=10, waiting_since=None, now=NOW)
    assert (plan.how, plan.seconds, plan.waiting_since) == (how, 36, NOW)


def test_with_few_receives_every_wait_is_sent_anew() -> None:
    assert comeback(4, receive_count=1, max_receives=3, waiting_since=None, now=NOW).how == REQUEUE


def test_without_a_dead_letter_queue_or_a_way_to_delay_it_is_hidden() -> None:
    assert comeback(36, receive_count=9, max_receives=None, waiting_since=None, now=NOW).how == HIDE
    assert comeback(36, receive_count=9, max_receives=10, waiting_since=None, now=NOW,
                    can_requeue=False).how == HIDE


def test_sqs_bounds_the_wait_each_way_takes() -> None:
    hidden = comeback(3 * 86400, receive_count=1, max_receives=10, waiting_since=None, now=NOW)
    assert (hidden.how, hidden.seconds) == (HIDE, 12 * 3600)
    sent = comeback(3 * 3600, receive_count=5, max_receives=10, waiting_since=None, now=NOW)
    assert (sent.how, sent.seconds) == (REQUEUE, 900)
    assert comeback(0.2, receive_count=5, max_receives=10, waiting_since=None,
                    now=NOW).seconds == 1
    assert redelivery.visibility(-5) == 1


def test_the_wait_is_counted_from_the_first_message_and_ends_after_two_days() -> None:
    since = NOW - MAX_WAITING + dt.timedelta(minutes=1)
    kept = comeback(36, receive_count=5, max_receives=10, waiting_since=since, now=NOW)
    assert (kept.how, kept.waiting_since) == (REQUEUE, since)
    over = comeback(36, receive_count=5, max_receives=10,
                    waiting_since=NOW - MAX_WAITING, now=NOW)
    assert over.how == HIDE  # its receives now count: the dead-letter queue and its alarm
