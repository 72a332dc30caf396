import datetime as dt

import pytest

from wildcert.logic.renewal import Lifetime, is_due

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def lifetime(days: float) -> Lifetime:
    return Lifetime(T0, T0 + dt.timedelta(days=days))


@pytest.mark.parametrize(
    ("days", "age", "due"),
    [
        (90, 59, False),  # 31 days left of 90: above a third
        (90, 60, True),  # exactly a third left
        (90, 89, True),
        (90, 91, True),  # expired
        (45, 29, False),
        (45, 30, True),
        (6, 2.9, False),  # short-lived: half the lifetime
        (6, 3, True),
    ],
)
def test_due_at_a_third_or_half_for_short_lived(days: float, age: float, due: bool) -> None:
    now = T0 + dt.timedelta(days=age)
    assert is_due(lifetime(days), now) is due


@pytest.mark.parametrize("days", [90, 64, 45])
def test_monthly_sweep_never_lets_a_certificate_expire(days: float) -> None:
    """Whatever day the certificate was issued, the sweep before it crosses the line renews it."""
    sweep = dt.timedelta(days=30)
    for offset in range(30):
        life = Lifetime(T0 + dt.timedelta(days=offset), T0 + dt.timedelta(days=offset + days))
        renewed_at = None
        now = T0
        while now < life.not_after:
            if is_due(life, now, next_check_in=sweep):
                renewed_at = now
                break
            now += sweep
        assert renewed_at is not None
        # renewed before a third of its life is gone past the threshold: days are left
        assert life.not_after - renewed_at >= life.length / 3


def test_custom_fraction() -> None:
    assert not is_due(lifetime(90), T0 + dt.timedelta(days=40), remaining_fraction=0.5)
    assert is_due(lifetime(90), T0 + dt.timedelta(days=45), remaining_fraction=0.5)


def test_a_certificate_from_the_other_ca_is_not_the_one_asked_for() -> None:
    from wildcert.logic.certificates import StoredCertificate
    from wildcert.logic.renewal import skip_reason
    from wildcert.logic.request import CertificateRequest

    def stored(**extra: str) -> StoredCertificate:
        return StoredCertificate("web", ("web.example.com",), "ab", "2026-01-01T00:00:00Z",
                                 "2026-04-01T00:00:00Z", "CN=CA", "ec256", {}, "web/archive/ab/",
                                 "2026-01-01T00:00:00Z", extra)

    now = T0 + dt.timedelta(days=1)
    production = CertificateRequest(("web.example.com",), "web")
    staging = CertificateRequest(("web.example.com",), "web", ca="staging")
    assert skip_reason(stored(), production, None, now, remaining_fraction=1 / 3)
    assert skip_reason(stored(), staging, None, now, remaining_fraction=1 / 3) is None
    assert skip_reason(stored(ca="staging"), staging, None, now, remaining_fraction=1 / 3)
    assert skip_reason(stored(ca="staging"), production, None, now,
                       remaining_fraction=1 / 3) is None
