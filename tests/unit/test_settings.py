"""Settings from the environment: the dataclass's defaults, overridden only by what is set."""

from __future__ import annotations

import dataclasses

import pytest

from wildcert.settings import LETS_ENCRYPT_PRODUCTION, NUMBERS, TEXTS, Settings, SettingsError

REQUIRED = {"CERT_BUCKET": "certs", "KMS_KEY_ID": "key", "ALLOWED_ZONES": "/hostedzone/Z1, Z2"}


def test_unset_and_blank_variables_keep_the_dataclass_defaults() -> None:
    blank = {**REQUIRED, **{v: "  " for v in TEXTS.values()},
             **{n.variable: "" for n in NUMBERS.values()}, "CAA_IDENTITIES": " , "}
    for env in (REQUIRED, blank):
        settings = Settings.from_env(env)
        assert settings == Settings(bucket="certs", kms_key_id="key",
                                    allowed_zone_ids=("Z1", "Z2"))
    assert settings.directory_url == LETS_ENCRYPT_PRODUCTION
    assert settings.record_ttl == 60 and settings.watch_interval_hours is None


def test_every_variable_overrides_its_setting() -> None:
    env = {**REQUIRED, "CAA_IDENTITIES": "letsencrypt.org, example.net",
           **{variable: f" value-{setting} " for setting, variable in TEXTS.items()},
           "RENEW_AT_REMAINING_FRACTION": "0.5", "SWEEP_INTERVAL_DAYS": "3",
           "DNS_PROPAGATION_TIMEOUT": "60", "CHALLENGE_RECORD_TTL": "30.9",
           "EXPIRY_WARNING_DAYS": "3", "WATCH_INTERVAL_HOURS": "6",
           "SHORTEST_LIFETIME_DAYS": "45",
           "ENDPOINT_PORTS": " 8443, 443 ,", "WATCH_ALLOW_LOOPBACK": "TRUE",
           "ARCHIVED_KEY_RETENTION_DAYS": "100", "ROUTE53_REQUESTS_PER_SECOND": "5",
           "ROUTE53_REQUEST_BURST": "5"}
    settings = Settings.from_env(env)
    defaults = Settings(bucket="certs", kms_key_id="key", allowed_zone_ids=("Z1", "Z2"))
    changed = {f.name for f in dataclasses.fields(Settings)
               if getattr(settings, f.name) != getattr(defaults, f.name)}
    assert changed == set(TEXTS) | set(NUMBERS) | {
        "caa_identities", "endpoint_ports", "watch_allow_loopback"}
    assert settings.endpoint_ports == (443, 8443) and settings.watch_allow_loopback is True
    assert all(getattr(settings, s) == f"value-{s}" for s in TEXTS)
    assert settings.caa_identities == ("letsencrypt.org", "example.net")
    assert settings.record_ttl == 30 and isinstance(settings.record_ttl, int)
    assert settings.watch_interval_hours == 6.0 and settings.renew_at_remaining_fraction == 0.5
    assert settings.archived_key_retention_days == 100
    assert (settings.route53_requests_per_second, settings.route53_request_burst) == (5.0, 5)


def test_every_problem_is_named_at_once() -> None:
    env = {"KMS_KEY_ID": "key", "SWEEP_INTERVAL_DAYS": "monthly", "CHALLENGE_RECORD_TTL": "0",
           "WATCH_INTERVAL_HOURS": "nan"}
    with pytest.raises(SettingsError) as raised:
        Settings.from_env(env)
    assert str(raised.value) == (
        "wildcert is misconfigured: CERT_BUCKET is not set; ALLOWED_ZONES lists no hosted zone "
        "IDs; SWEEP_INTERVAL_DAYS='monthly' is not a number; CHALLENGE_RECORD_TTL='0' must be "
        "between 1 and 3600; WATCH_INTERVAL_HOURS='nan' must be between 1.0 and 168.0")


def test_endpoint_ports_default_to_443_and_loopback_stays_refused() -> None:
    settings = Settings.from_env({**REQUIRED, "ENDPOINT_PORTS": " ", "WATCH_ALLOW_LOOPBACK": ""})
    assert settings.endpoint_ports == (443,)
    assert settings.watch_allow_loopback is False
    assert Settings.from_env({**REQUIRED, "WATCH_ALLOW_LOOPBACK": "false"}).watch_allow_loopback \
        is False


@pytest.mark.parametrize(("env", "problem"), [
    ({"ENDPOINT_PORTS": "443,https"}, "ENDPOINT_PORTS='443,https' must list port numbers"),
    ({"ENDPOINT_PORTS": "0"}, "ENDPOINT_PORTS='0' must list port numbers from 1 to 65535"),
    ({"ENDPOINT_PORTS": "65536"}, "from 1 to 65535"),
    ({"ENDPOINT_PORTS": ",".join(str(p) for p in range(1, 12))}, "at most 10 ports"),
    ({"WATCH_ALLOW_LOOPBACK": "yes"}, "WATCH_ALLOW_LOOPBACK='yes' must be true or false"),
])
def test_endpoint_settings_are_checked(env: dict[str, str], problem: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({**REQUIRED, **env})
    assert problem in str(raised.value)
