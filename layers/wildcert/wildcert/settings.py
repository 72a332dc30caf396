"""Deployment settings, read from the environment the template (or the local stack) sets.

Nothing secret lives here: the Slack webhook URLs and the ACME account keys are fetched at
run time from Secrets Manager and the encrypted bucket.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from wildcert.errors import WildcertError
from wildcert.logic.cas import ONE_CA_NAME, STAGING_NAME, Ca, parse_cas
from wildcert.logic.renewal import schedule_problems
from wildcert.logic.zones import OtherAccountZone, parse_other_account_zones

LETS_ENCRYPT_PRODUCTION = "https://acme-v02.api.letsencrypt.org/directory"
LETS_ENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"


class SettingsError(WildcertError, ValueError):
    """A deployment setting is missing or malformed: the operator must fix the stack."""


@dataclass(frozen=True)
class Settings:
    bucket: str
    kms_key_id: str
    allowed_zone_ids: tuple[str, ...]
    directory_url: str = LETS_ENCRYPT_PRODUCTION
    # Where a request with "ca": "staging" goes (a team's policy must allow it).
    staging_directory_url: str = LETS_ENCRYPT_STAGING
    contact_email: str | None = None
    acme_profile: str | None = None
    acme_ca_bundle: str | None = None
    slack_webhook_secret: str | None = None
    caa_identities: tuple[str, ...] = ("letsencrypt.org",)
    renew_at_remaining_fraction: float = 1 / 3
    sweep_interval_days: float = 7.0
    dns_server_override: str | None = None
    propagation_timeout_seconds: float = 180.0
    record_ttl: int = 60
    renewal_queue_url: str | None = None
    # The issuer takes SQS records from this queue only (their eventSourceARN); none: from none.
    renewal_queue_arn: str | None = None
    expiry_warning_days: float = 14.0
    # Set only where the watch runs on a schedule: the sweep then leaves ARI moments further
    # away than this to the watch instead of looking a whole sweep interval ahead.
    watch_interval_hours: float | None = None
    # Set where the sweep and the watch run: their intervals are checked against it, so a
    # schedule too sparse for the certificates it renews fails loudly instead of letting
    # them lapse.
    shortest_lifetime_days: float | None = None
    # The ports `endpoints` may name: the validator refuses others and the watch never dials them.
    endpoint_ports: tuple[int, ...] = (443,)
    # Lets the watch reach endpoints that resolve to loopback: the local stack's test servers.
    # The template never sets it.
    watch_allow_loopback: bool = False
    # The bucket's lifecycle rule for archived private keys (ArchivedKeyRetentionDays); None
    # where no rule is known (the local stack).
    archived_key_retention_days: int | None = None
    # The bus the issuer puts its outcome events on; none: outcomes are only logged and posted.
    event_bus_name: str | None = None
    # The teams' policy; unset: the copy `sam build` puts in the layer (runtime.teams).
    teams_file: str | None = None
    # The CloudWatch namespace of wildcert's metrics (one per stack, so staging and production
    # never add up); None: no metrics (a tool or a test outside a stack prints none).
    metrics_namespace: str | None = None
    # Route 53's API limit for the whole account (10/s, burst 50 since 2026-07-30), shared
    # with everything else there: it sizes the throttling backoff and is named in errors.
    route53_requests_per_second: float = 10.0
    route53_request_burst: int = 50
    # The operators' hosted zones in other accounts, each with the role the issuer assumes
    # there (docs/ZONES.md); a team's are in teams.toml.
    other_account_zones: tuple[OtherAccountZone, ...] = ()
    # ACME_CAS: the CAs in order of preference (logic/cas.py); None: the one-CA settings above.
    acme_cas: tuple[Ca, ...] | None = None
    # ACME_ACCOUNT_KMS_KEY: an ECC_NIST_P256 SIGN_VERIFY KMS key the ACME accounts sign with
    # (new accounts are made with it, existing ones roll over to it); None: keys in the bucket.
    account_kms_key: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The settings the environment names; a variable unset or blank keeps the default."""
        env = os.environ if env is None else env
        problems: list[str] = []

        def text(variable: str) -> str:
            return env.get(variable, "").strip()

        def listing(variable: str) -> tuple[str, ...]:
            return tuple(v.strip() for v in text(variable).split(",") if v.strip())

        for variable in ("CERT_BUCKET", "KMS_KEY_ID"):
            if not text(variable):
                problems.append(f"{variable} is not set")
        zones = tuple(z.rsplit("/", 1)[-1] for z in listing("ALLOWED_ZONES"))
        if not zones and not text("OTHER_ACCOUNT_ZONES"):
            problems.append("ALLOWED_ZONES lists no hosted zone IDs")
        given: dict[str, Any] = {
            setting: text(variable) for setting, variable in TEXTS.items() if text(variable)
        }
        if listing("CAA_IDENTITIES"):
            given["caa_identities"] = listing("CAA_IDENTITIES")
        for setting, limits in NUMBERS.items():
            if text(limits.variable):
                given[setting] = limits.read(text(limits.variable), problems)
        if listing("ENDPOINT_PORTS"):
            given["endpoint_ports"] = _ports("ENDPOINT_PORTS", listing("ENDPOINT_PORTS"), problems)
        if text("OTHER_ACCOUNT_ZONES"):
            given["other_account_zones"], found = parse_other_account_zones(
                text("OTHER_ACCOUNT_ZONES"))
            problems.extend(found)
        if text("ACME_CAS"):
            given["acme_cas"], found = parse_cas(text("ACME_CAS"))
            problems.extend(found)
        if text("WATCH_ALLOW_LOOPBACK"):
            given["watch_allow_loopback"] = _switch("WATCH_ALLOW_LOOPBACK",
                                                    text("WATCH_ALLOW_LOOPBACK"), problems)
        if problems:
            raise SettingsError("wildcert is misconfigured: " + "; ".join(problems))
        settings = cls(bucket=text("CERT_BUCKET"), kms_key_id=text("KMS_KEY_ID"),
                       allowed_zone_ids=zones, **given)
        problems = settings.schedule_problems()
        if problems:
            raise SettingsError("wildcert is misconfigured: " + "; ".join(problems))
        return settings

    def schedule_problems(self) -> list[str]:
        """Why the sweep's or the watch's interval is too long for the shortest lifetime."""
        if self.shortest_lifetime_days is None:
            return []
        return schedule_problems(
            dt.timedelta(days=self.shortest_lifetime_days), self.renew_at_remaining_fraction,
            sweep=dt.timedelta(days=self.sweep_interval_days),
            watch=(dt.timedelta(hours=self.watch_interval_hours)
                   if self.watch_interval_hours else None))

    def directory_for(self, ca: str) -> str:
        """The ACME directory a request's `ca` ("production" or "staging") names."""
        return self.staging_directory_url if ca == "staging" else self.directory_url

    @property
    def cas(self) -> tuple[Ca, ...]:
        """The production CAs in order of preference: ACME_CAS, or the one-CA settings."""
        if self.acme_cas:
            return self.acme_cas
        return (Ca(ONE_CA_NAME, self.directory_url, self.caa_identities,
                   profile=self.acme_profile),)

    def cas_for(self, ca: str) -> tuple[Ca, ...]:
        """The CAs a request's `ca` may use, in order: staging is the first CA's twin alone."""
        if ca == STAGING_NAME:
            first = self.cas[0]
            return (Ca(STAGING_NAME, self.staging_directory_url, first.caa_identities,
                       profile=first.profile),)
        return self.cas


@dataclass(frozen=True)
class Number:
    """A numeric setting's variable and range."""

    variable: str
    low: float
    high: float
    whole: bool = False

    def read(self, raw: str, problems: list[str]) -> float:
        try:
            value = float(raw)
        except ValueError:
            problems.append(f"{self.variable}={raw!r} is not a number")
            return self.low
        if not self.low <= value <= self.high:  # NaN too
            problems.append(f"{self.variable}={raw!r} must be between {self.low} and {self.high}")
            return self.low
        return int(value) if self.whole else value


MAX_ENDPOINT_PORTS = 10


def _ports(variable: str, values: tuple[str, ...], problems: list[str]) -> tuple[int, ...]:
    raw = ",".join(values)
    if not all(v.isascii() and v.isdigit() and 1 <= int(v) <= 65535 for v in values):
        problems.append(f"{variable}={raw!r} must list port numbers from 1 to 65535, "
                        "separated by commas")
        return (443,)
    ports = tuple(sorted({int(v) for v in values}))
    if len(ports) > MAX_ENDPOINT_PORTS:
        problems.append(f"{variable}={raw!r} lists {len(ports)} ports; at most "
                        f"{MAX_ENDPOINT_PORTS} ports keep the watch from probing a range")
        return (443,)
    return ports


def _switch(variable: str, raw: str, problems: list[str]) -> bool:
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    problems.append(f"{variable}={raw!r} must be true or false")
    return False


# setting: the variable that sets it (the defaults are Settings' own)
TEXTS = {
    "directory_url": "ACME_DIRECTORY_URL",
    "staging_directory_url": "ACME_STAGING_DIRECTORY_URL",
    "contact_email": "ACME_CONTACT_EMAIL",
    "acme_profile": "ACME_PROFILE",
    "acme_ca_bundle": "ACME_CA_BUNDLE",
    "slack_webhook_secret": "SLACK_WEBHOOK_SECRET",
    "dns_server_override": "DNS_SERVER_OVERRIDE",
    "renewal_queue_url": "RENEWAL_QUEUE_URL",
    "renewal_queue_arn": "RENEWAL_QUEUE_ARN",
    "event_bus_name": "EVENT_BUS_NAME",
    "teams_file": "TEAMS_FILE",
    "account_kms_key": "ACME_ACCOUNT_KMS_KEY",
    "metrics_namespace": "METRICS_NAMESPACE",
}
NUMBERS = {
    "renew_at_remaining_fraction": Number("RENEW_AT_REMAINING_FRACTION", 0.05, 0.95),
    "sweep_interval_days": Number("SWEEP_INTERVAL_DAYS", 0.0, 366.0),
    "propagation_timeout_seconds": Number("DNS_PROPAGATION_TIMEOUT", 5.0, 840.0),
    "record_ttl": Number("CHALLENGE_RECORD_TTL", 1, 3600, whole=True),
    "expiry_warning_days": Number("EXPIRY_WARNING_DAYS", 0.0, 365.0),
    "watch_interval_hours": Number("WATCH_INTERVAL_HOURS", 1.0, 168.0),
    "shortest_lifetime_days": Number("SHORTEST_LIFETIME_DAYS", 1.0, 3650.0),
    "archived_key_retention_days": Number("ARCHIVED_KEY_RETENTION_DAYS", 1, 36500, whole=True),
    "route53_requests_per_second": Number("ROUTE53_REQUESTS_PER_SECOND", 1.0, 1000.0),
    "route53_request_burst": Number("ROUTE53_REQUEST_BURST", 1, 10000, whole=True),
}
