"""ACME Renewal Information (RFC 9773): the CA's word on when to renew. Pure, no servers.

`acme`'s `ClientV2.renewal_time` does part of this; wildcert needs all of it: a window whose
end is not after its start is ignored, Retry-After is clamped to a sane range, and the chosen
moment and the next check are kept in cert.json, so the sweep and the watch agree.
"""

from __future__ import annotations

import base64
import datetime as dt
import random
from dataclasses import dataclass

from cryptography import x509

from wildcert.errors import WildcertError
from wildcert.logic.times import iso, parse_time

# RFC 9773 §4.3: clients clamp Retry-After to a reasonable range; Let's Encrypt asks for a
# check at least twice a day, so never wait longer than that.
MIN_RETRY_AFTER = dt.timedelta(minutes=1)
MAX_RETRY_AFTER = dt.timedelta(hours=12)
DEFAULT_RETRY_AFTER = dt.timedelta(hours=6)


class InvalidRenewalInfo(WildcertError, ValueError):
    """The CA sent something that is not a usable renewal window."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def cert_id(cert: x509.Certificate) -> str:
    """The ARI CertID: base64url(AKI keyIdentifier) "." base64url(serial as DER INTEGER bytes)."""
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    if aki.key_identifier is None:
        raise InvalidRenewalInfo("the certificate's AKI has no key identifier")
    serial = cert.serial_number
    # DER INTEGER content: big-endian two's complement, minimal, so a set top bit gains 0x00.
    serial_bytes = serial.to_bytes(serial.bit_length() // 8 + 1, "big")
    return f"{_b64(aki.key_identifier)}.{_b64(serial_bytes)}"


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _parse_time(text: object) -> dt.datetime:
    if not isinstance(text, str):
        raise InvalidRenewalInfo(f"window time {text!r} is not a string")
    try:
        return parse_time(text)
    except ValueError as exc:
        raise InvalidRenewalInfo(f"window time {text!r} is not RFC 3339") from exc


@dataclass(frozen=True)
class RenewalInfo:
    start: dt.datetime
    end: dt.datetime
    selected: dt.datetime  # the moment picked inside the window, kept so checks agree
    next_check: dt.datetime
    explanation_url: str | None = None

    def as_json(self) -> dict[str, str]:
        out = {
            "window_start": iso(self.start),
            "window_end": iso(self.end),
            "selected": iso(self.selected),
            "next_check": iso(self.next_check),
        }
        if self.explanation_url:
            out["explanation_url"] = self.explanation_url
        return out

    @classmethod
    def from_json(cls, body: dict[str, str]) -> RenewalInfo:
        return cls(
            start=_parse_time(body["window_start"]),
            end=_parse_time(body["window_end"]),
            selected=_parse_time(body["selected"]),
            next_check=_parse_time(body["next_check"]),
            explanation_url=body.get("explanation_url"),
        )


def clamp_retry_after(seconds: float | None) -> dt.timedelta:
    if seconds is None:
        return DEFAULT_RETRY_AFTER
    return min(max(dt.timedelta(seconds=seconds), MIN_RETRY_AFTER), MAX_RETRY_AFTER)


def parse(
    body: object,
    *,
    retry_after_seconds: float | None,
    now: dt.datetime,
    previous: RenewalInfo | None = None,
    rng: random.Random | None = None,
) -> RenewalInfo:
    """Validate a renewalInfo response and pick the renewal moment.

    The moment is drawn uniformly inside the window (spreading a fleet's renewals, as the RFC
    asks) and kept while the CA's window stays the same, so repeated checks do not re-draw it.
    A window that has already ended means "renew now".
    """
    if not isinstance(body, dict) or not isinstance(body.get("suggestedWindow"), dict):
        raise InvalidRenewalInfo("the response has no suggestedWindow object")
    window = body["suggestedWindow"]
    start, end = _parse_time(window.get("start")), _parse_time(window.get("end"))
    if end <= start:
        raise InvalidRenewalInfo(f"the window ends ({iso(end)}) before it starts ({iso(start)})")
    now = _aware(now)
    if previous is not None and (previous.start, previous.end) == (start, end):
        selected = previous.selected
    elif end <= now:
        selected = now
    else:
        rng = rng or random.Random()  # noqa: S311 - spreading load, not secrecy
        low = max(start, now)
        selected = low + (end - low) * rng.random()
    explanation = body.get("explanationURL")
    return RenewalInfo(
        start=start,
        end=end,
        selected=selected,
        next_check=now + clamp_retry_after(retry_after_seconds),
        explanation_url=explanation if isinstance(explanation, str) else None,
    )
