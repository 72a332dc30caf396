"""Deployment settings, read from the environment the template (or the local stack) sets.

Nothing secret lives here: the Slack webhook URL and the ACME account key are fetched at
run time from Secrets Manager and the encrypted bucket.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

LETS_ENCRYPT_PRODUCTION = "https://acme-v02.api.letsencrypt.org/directory"
LETS_ENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"


class SettingsError(ValueError):
    """A deployment setting is missing or malformed: the operator must fix the stack."""


@dataclass(frozen=True)
class Settings:
    bucket: str
    kms_key_id: str
    allowed_zone_ids: tuple[str, ...]
    directory_url: str = LETS_ENCRYPT_PRODUCTION
    contact_email: str | None = None
    acme_profile: str | None = None
    acme_ca_bundle: str | None = None
    slack_webhook_secret: str | None = None
    caa_identities: tuple[str, ...] = ("letsencrypt.org",)
    renew_at_remaining_fraction: float = 1 / 3
    sweep_interval_days: float = 30.0
    dns_server_override: str | None = None
    propagation_timeout_seconds: float = 180.0
    record_ttl: int = 60
    renewal_queue_url: str | None = None
    expiry_warning_days: float = 14.0
    # Set only where the watch runs on a schedule: the sweep then leaves ARI moments further
    # away than this to the watch instead of looking a whole sweep interval ahead.
    watch_interval_hours: float | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        problems: list[str] = []

        def required(name: str) -> str:
            value = env.get(name, "").strip()
            if not value:
                problems.append(f"{name} is not set")
            return value

        def number(name: str, default: float, low: float, high: float) -> float:
            raw = env.get(name, "").strip()
            if not raw:
                return default
            try:
                value = float(raw)
            except ValueError:
                problems.append(f"{name}={raw!r} is not a number")
                return default
            if not low <= value <= high:
                problems.append(f"{name}={raw!r} must be between {low} and {high}")
            return value

        def listing(name: str) -> tuple[str, ...]:
            return tuple(v.strip() for v in env.get(name, "").split(",") if v.strip())

        bucket = required("CERT_BUCKET")
        kms_key_id = required("KMS_KEY_ID")
        zones = tuple(z.rsplit("/", 1)[-1] for z in listing("ALLOWED_ZONES"))
        if not zones:
            problems.append("ALLOWED_ZONES lists no hosted zone IDs")
        settings = cls(
            bucket=bucket,
            kms_key_id=kms_key_id,
            allowed_zone_ids=zones,
            directory_url=env.get("ACME_DIRECTORY_URL", "").strip() or LETS_ENCRYPT_PRODUCTION,
            contact_email=env.get("ACME_CONTACT_EMAIL", "").strip() or None,
            acme_profile=env.get("ACME_PROFILE", "").strip() or None,
            acme_ca_bundle=env.get("ACME_CA_BUNDLE", "").strip() or None,
            slack_webhook_secret=env.get("SLACK_WEBHOOK_SECRET", "").strip() or None,
            caa_identities=listing("CAA_IDENTITIES") or ("letsencrypt.org",),
            renew_at_remaining_fraction=number("RENEW_AT_REMAINING_FRACTION", 1 / 3, 0.05, 0.95),
            sweep_interval_days=number("SWEEP_INTERVAL_DAYS", 30.0, 0.0, 366.0),
            dns_server_override=env.get("DNS_SERVER_OVERRIDE", "").strip() or None,
            propagation_timeout_seconds=number("DNS_PROPAGATION_TIMEOUT", 180.0, 5.0, 840.0),
            record_ttl=int(number("CHALLENGE_RECORD_TTL", 60, 1, 3600)),
            renewal_queue_url=env.get("RENEWAL_QUEUE_URL", "").strip() or None,
            expiry_warning_days=number("EXPIRY_WARNING_DAYS", 14.0, 0.0, 365.0),
            watch_interval_hours=(
                number("WATCH_INTERVAL_HOURS", 12.0, 1.0, 168.0)
                if env.get("WATCH_INTERVAL_HOURS", "").strip() else None
            ),
        )
        if problems:
            raise SettingsError("wildcert is misconfigured: " + "; ".join(problems))
        return settings
