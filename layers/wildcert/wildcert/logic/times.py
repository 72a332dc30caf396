"""Moments as wildcert writes and reads them: UTC, RFC 3339 with a `Z`. Pure."""

from __future__ import annotations

import datetime as dt


def iso(value: dt.datetime) -> str:
    """`2027-03-01T06:00:00Z`: how cert.json, journals and renewal windows store a moment."""
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def iso_minutes(value: dt.datetime) -> str:
    """`2027-03-01T06:00Z`: a moment in a sentence people read."""
    return value.astimezone(dt.UTC).isoformat(timespec="minutes").replace("+00:00", "Z")


def parse_time(text: str) -> dt.datetime:
    """The moment `text` names; one without a zone is taken as UTC, so every moment compares.

    Raises ValueError for text that is not ISO 8601 (AttributeError for a non-string).
    """
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
