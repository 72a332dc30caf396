import datetime as dt

from wildcert.adapters.acme import parse_retry_after


def test_seconds_and_dates() -> None:
    now = dt.datetime(2026, 11, 25, 8, 0, 0, tzinfo=dt.UTC)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Wed, 25 Nov 2026 08:01:30 GMT", now) == 90.0
    assert parse_retry_after("Wed, 25 Nov 2026 07:00:00 GMT", now) == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
