"""When a certificate is due for renewal: pure date arithmetic, no servers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from wildcert.logic.certificates import StoredCertificate
from wildcert.logic.request import DEFAULT_CA, CertificateRequest, normalise_serial
from wildcert.logic.times import iso_minutes

SHORT_LIVED = dt.timedelta(days=10)
# Renewals start this long before their renewal point (the lifetime threshold, or the end of the
# CA's renewal window), so that a CA outage of 12 hours or a day of missed runs ends before the
# point, not after it: at most a third of the renewal window (6-day certificates: one day).
DISRUPTION_MARGIN = dt.timedelta(hours=36)


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
        return self.not_after - renewal_window(self.length, remaining_fraction)


def renewal_window(length: dt.timedelta, remaining_fraction: float = 1 / 3) -> dt.timedelta:
    """How much of a `length` lifetime is left at its renewal point: the time to renew in."""
    fraction = max(remaining_fraction, 0.5) if length < SHORT_LIVED else remaining_fraction
    return length * fraction


def disruption_margin(length: dt.timedelta,
                      remaining_fraction: float = 1 / 3) -> dt.timedelta:
    """How long before its renewal point a `length` certificate is renewed (DISRUPTION_MARGIN)."""
    return min(DISRUPTION_MARGIN, renewal_window(length, remaining_fraction) / 3)


def longest_run_gap(shortest_lifetime: dt.timedelta,
                    remaining_fraction: float = 1 / 3) -> dt.timedelta:
    """The longest time allowed between two runs that queue renewals: half the renewal window.

    A run queues what reaches its renewal point before the next run, so renewals start up to
    one gap early; if that run is missed, the next comes at most one gap after the renewal
    point. Two runs inside the window leave at least half of it for the renewal itself (CA
    outages, retries) even then.
    """
    return renewal_window(shortest_lifetime, remaining_fraction) / 2


def _number(value: dt.timedelta, unit: dt.timedelta) -> str:
    return f"{round(value / unit, 2):g}"


def schedule_problems(shortest_lifetime: dt.timedelta, remaining_fraction: float, *,
                      sweep: dt.timedelta, watch: dt.timedelta | None) -> list[str]:
    """Why the sweep's or the watch's interval is too long for the shortest lifetime."""
    day, hour = dt.timedelta(days=1), dt.timedelta(hours=1)
    window = renewal_window(shortest_lifetime, remaining_fraction)
    longest = longest_run_gap(shortest_lifetime, remaining_fraction)
    lifetime = (f"SHORTEST_LIFETIME_DAYS={_number(shortest_lifetime, day)}: certificates renew "
                f"with {_number(window, day)} days left, so two runs must fall in that window")
    problems = []
    if sweep > longest:
        problems.append(f"SWEEP_INTERVAL_DAYS={_number(sweep, day)} is too long for {lifetime} "
                        f"(sweeps at most {_number(longest, day)} days apart)")
    if watch is not None and watch > longest:
        problems.append(f"WATCH_INTERVAL_HOURS={_number(watch, hour)} is too long for "
                        f"{lifetime} (watches at most {_number(longest, hour)} hours apart)")
    return problems


def is_due(
    lifetime: Lifetime,
    now: dt.datetime,
    *,
    remaining_fraction: float = 1 / 3,
    next_check_in: dt.timedelta = dt.timedelta(0),
) -> bool:
    """Due when the renewal point falls before the next time anyone will look again.

    `next_check_in` is the gap to the next run that applies the threshold: nothing renews in
    between, so waiting for the threshold to be crossed *now* would renew up to a gap late.
    """
    return lifetime.renew_at(remaining_fraction) <= now + next_check_in or now >= lifetime.not_after


@dataclass(frozen=True)
class Horizons:
    """How far ahead a run must look: nobody renews anything before the next run."""

    threshold: dt.timedelta  # to the next run that applies the lifetime threshold
    ari: dt.timedelta  # to the next run that re-reads the CA's renewal window
    # False when no run is seen re-reading the CA's window often (no watch, or one that has
    # stopped refreshing it): the CA's moment cannot be followed closely then, so the lifetime
    # threshold applies as well, whichever comes first.
    ari_followed: bool = True

    def unfollowed(self) -> Horizons:
        """The horizons for a certificate whose window nobody re-reads before the next run."""
        return Horizons(threshold=self.threshold, ari=max(self.ari, self.threshold),
                        ari_followed=False)


@dataclass(frozen=True)
class Decision:
    due: bool
    reason: str  # "due" (threshold or expiry) or "ari"; "" when not due
    detail: str  # one sentence for summaries and logs
    # False when the issuer's own "is it due now" check agrees; the message must force otherwise.
    needs_force: bool = False


def _usable_window(selected: dt.datetime, end: dt.datetime, lifetime: Lifetime) -> bool:
    # A window closing after expiry is a CA error; following it could let the certificate lapse.
    return end <= lifetime.not_after and selected <= lifetime.not_after


def decide(
    lifetime: Lifetime,
    now: dt.datetime,
    *,
    horizons: Horizons,
    remaining_fraction: float = 1 / 3,
    ari_selected: dt.datetime | None = None,
    ari_end: dt.datetime | None = None,
    ari_start: dt.datetime | None = None,
) -> Decision:
    """Whether to queue a renewal now, and why.

    With the CA's renewal window (ARI), its chosen moment decides, looking ahead to the next
    ARI check, unless that moment falls within the disruption margin of the window's end: then
    the window's end less the margin (never before the window opens) does. A certificate that
    would expire before the next threshold run is renewed anyway, in case that check never
    comes. When no run follows the window closely (`horizons.ari_followed` false), the
    lifetime threshold applies too, whichever is first. Without ARI, the lifetime threshold
    less the margin decides, looking ahead to the next run.
    """
    due_now = is_due(lifetime, now, remaining_fraction=remaining_fraction)
    margin = disruption_margin(lifetime.length, remaining_fraction)
    if now >= lifetime.not_after:
        return Decision(True, "due", f"expired at {iso_minutes(lifetime.not_after)}")
    if ari_selected is not None and ari_end is not None and _usable_window(
        ari_selected, ari_end, lifetime
    ):
        latest = ari_end - margin if ari_start is None else max(ari_start, ari_end - margin)
        moment = min(ari_selected, latest)
        if moment <= now + horizons.ari:
            return Decision(True, "ari", f"the CA's renewal window says renew at "
                            f"{iso_minutes(moment)}", needs_force=not due_now)
        renew_at = lifetime.renew_at(remaining_fraction)
        if not horizons.ari_followed and is_due(lifetime, now,
                                                remaining_fraction=remaining_fraction,
                                                next_check_in=horizons.threshold + margin):
            return Decision(True, "due", f"reaches its renewal point {iso_minutes(renew_at)} "
                            "before the next run, and no watch follows the CA's window",
                            needs_force=not due_now)
        if lifetime.not_after <= now + horizons.threshold:
            return Decision(True, "due", f"expires at {iso_minutes(lifetime.not_after)}, "
                            "before the next sweep", needs_force=not due_now)
        return Decision(False, "", "the CA's renewal window says renew at "
                        f"{iso_minutes(ari_selected)}")
    renew_at = lifetime.renew_at(remaining_fraction)
    if is_due(lifetime, now, remaining_fraction=remaining_fraction,
              next_check_in=horizons.threshold + margin):
        return Decision(True, "due", f"reaches its renewal point {iso_minutes(renew_at)} "
                        f"less {_number(margin, dt.timedelta(hours=1))} hours' margin before "
                        "the next run", needs_force=not due_now)
    return Decision(False, "", f"renewal point {iso_minutes(renew_at)}")


def skip_reason(current: StoredCertificate | None, request: CertificateRequest,
                request_id: str | None, now: dt.datetime, *,
                remaining_fraction: float) -> str | None:
    """Why the stored certificate already answers this request, or None to issue.

    A duplicate delivery, a renewal of a serial already replaced, or a certificate that covers
    the same names with the same key type from the same CA and is not due: each is a reason
    not to order.
    """
    if current is None:
        return None
    if request_id and current.extra.get("request_id") == request_id:
        return "this request was already served (duplicate delivery)"
    if request.renews and normalise_serial(current.serial) != request.renews:
        return (f"serial {request.renews} was already replaced by {current.serial} "
                "(stale renewal request)")
    if request.force:
        return None
    same = (sorted(current.domains) == sorted(request.domains)
            and current.key_type == request.key_type
            and current.extra.get("ca", DEFAULT_CA) == request.ca)
    lifetime = Lifetime(current.not_before_time, current.not_after_time)
    if same and not is_due(lifetime, now, remaining_fraction=remaining_fraction):
        return "the stored certificate covers these domains and is not due"
    return None


def early_reissue(current: StoredCertificate, now: dt.datetime, *,
                  remaining_fraction: float) -> bool:
    """Would an order now come before the stored certificate is due? Then it is a reissue
    someone chose (`force`, other names, another key type or CA), not a renewal."""
    lifetime = Lifetime(current.not_before_time, current.not_after_time)
    return not is_due(lifetime, now, remaining_fraction=remaining_fraction)
