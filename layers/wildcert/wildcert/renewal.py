"""When a certificate is due for renewal: pure date arithmetic, no servers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

SHORT_LIVED = dt.timedelta(days=10)


@dataclass(frozen=True)
class Lifetime:
    not_before: dt.datetime
    not_after: dt.datetime

    @property
    def length(self) -> dt.timedelta:
        return self.not_after - self.not_before

    def renew_at(self, remaining_fraction: float = 1 / 3) -> dt.datetime:
        """The moment only `remaining_fraction` of the lifetime is left.

        Short-lived certificates (under ten days) renew at half their lifetime, as Let's
        Encrypt advises, so a missed run still leaves days rather than hours.
        """
        fraction = max(remaining_fraction, 0.5) if self.length < SHORT_LIVED else remaining_fraction
        return self.not_after - self.length * fraction


def is_due(
    lifetime: Lifetime,
    now: dt.datetime,
    *,
    remaining_fraction: float = 1 / 3,
    next_check_in: dt.timedelta = dt.timedelta(0),
) -> bool:
    """Due when the renewal point falls before the next time anyone will look again.

    `next_check_in` is the gap to the next scheduled sweep: with a monthly sweep and
    45-day certificates, waiting for the threshold to be crossed *now* would be too late.
    """
    return lifetime.renew_at(remaining_fraction) <= now + next_check_in or now >= lifetime.not_after
