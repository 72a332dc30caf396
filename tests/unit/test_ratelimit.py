"""What a rateLimited answer limits, from the CA's own words, and what it makes wait."""

from __future__ import annotations

import datetime as dt

import pytest

from wildcert.logic import ratelimit
from wildcert.logic.ratelimit import Scope, retry_after_in_detail, scope_of

NOW = dt.datetime(2026, 12, 1, 0, 0, tzinfo=dt.UTC)
ORDER = ("*.web.alpha.example.com", "web.alpha.example.com")

# Let's Encrypt's wording (2025 rate limit system), and earlier wordings still seen in the wild.
PER_DOMAIN = ('too many certificates (50) already issued for "example.com" in the last '
              "168h0m0s, retry after 2026-12-01 06:30:00 UTC: see "
              "https://letsencrypt.org/docs/rate-limits/#new-certificates-per-registered-domain")
EXACT_SET = ("too many certificates (5) already issued for this exact set of identifiers in "
             "the last 168h0m0s, retry after 2026-12-03 00:00:00 UTC: see "
             "https://letsencrypt.org/docs/rate-limits/#new-certificates-per-exact-set-of-"
             "hostnames")
FAILED_AUTHZ = ('too many failed authorizations (5) for "web.alpha.example.com" in the last '
                "1h0m0s, retry after 2026-12-01 01:00:00 UTC")
NEW_ORDERS = ("too many new orders (300) from this account in the last 3h0m0s, retry after "
              "2026-12-01 00:10:00 UTC")
OLD_PER_DOMAIN = ("Error creating new order :: too many certificates already issued for: "
                  "example.com: see https://letsencrypt.org/docs/rate-limits/")
OLD_EXACT_SET = ("Error creating new order :: too many certificates already issued for exact "
                 "set of domains: web.alpha.example.com")


@pytest.mark.parametrize(("detail", "expected"), [
    (PER_DOMAIN, Scope(ratelimit.DOMAIN, "example.com")),
    (OLD_PER_DOMAIN, Scope(ratelimit.DOMAIN, "example.com")),
    (EXACT_SET, Scope(ratelimit.NAMES, "*.web.alpha.example.com,web.alpha.example.com")),
    (OLD_EXACT_SET, Scope(ratelimit.NAMES, "*.web.alpha.example.com,web.alpha.example.com")),
    (FAILED_AUTHZ, Scope(ratelimit.IDENTIFIER, "web.alpha.example.com")),
    (NEW_ORDERS, Scope(ratelimit.ACCOUNT)),
    ("the ACME front injected a rate limit", Scope(ratelimit.ACCOUNT)),
    (None, Scope(ratelimit.ACCOUNT)),
])
def test_the_scope_the_ca_names(detail: str | None, expected: Scope) -> None:
    assert scope_of(detail, ORDER) == expected


def test_a_registered_domains_limit_makes_only_its_names_wait() -> None:
    scope = scope_of(PER_DOMAIN, ORDER)
    assert scope.covers(["*.other.example.com"])
    assert scope.covers(["example.com"])
    assert not scope.covers(["*.beta.example.net"])
    assert not scope.covers(["notexample.com"])  # whole labels
    assert scope.covers(["a.example.net", "b.example.com"])  # one name counted is enough


def test_an_exact_sets_limit_makes_only_that_set_wait() -> None:
    scope = scope_of(EXACT_SET, ORDER)
    assert scope.covers(list(reversed(ORDER)))
    assert not scope.covers(["web.alpha.example.com"])
    assert not scope.covers([*ORDER, "www.alpha.example.com"])


def test_a_failed_authorization_limit_is_one_names() -> None:
    scope = scope_of(FAILED_AUTHZ, ORDER)
    assert scope.covers(["*.web.alpha.example.com"])  # its authorization is the base name's
    assert not scope.covers(["www.alpha.example.com"])


def test_the_accounts_limit_makes_everything_of_that_account_wait() -> None:
    assert Scope(ratelimit.ACCOUNT).covers(["anything.example.org"])
    beta = scope_of(NEW_ORDERS, ORDER, account="beta")
    assert beta == Scope(ratelimit.ACCOUNT, "beta") and beta.key == "account-beta"
    assert beta.covers(["anything.example.org"], account="beta")
    # Each team orders with its own account, the operators with the default one.
    assert not beta.covers(ORDER, account="alpha") and not beta.covers(ORDER)
    assert not Scope(ratelimit.ACCOUNT).covers(ORDER, account="alpha")
    assert "team beta's" in beta.describe()


def cooldown(detail: str, domains: tuple[str, ...] = ORDER, account: str = "") -> \
        ratelimit.Cooldown:
    return ratelimit.cooldown_after(detail, 3600, domains, NOW, "limited", account=account)


def test_a_cooldown_never_holds_what_the_ca_exempts() -> None:
    """An exact-set renewal passes the per-registered-domain limit (not the exact set's, not
    the account's); an ARI renewal with `replaces` passes every limit."""
    later = NOW + dt.timedelta(minutes=1)
    domain, names, account = cooldown(PER_DOMAIN), cooldown(EXACT_SET), cooldown(NEW_ORDERS)
    assert ratelimit.holding([domain], ORDER, later) == domain
    assert ratelimit.holding([domain], ORDER, later, renewal=ratelimit.SET_RENEWAL) is None
    assert ratelimit.holding([names], ORDER, later, renewal=ratelimit.SET_RENEWAL) == names
    assert ratelimit.holding([account], ORDER, later, renewal=ratelimit.SET_RENEWAL) == account
    every = [domain, names, account, cooldown(FAILED_AUTHZ)]
    assert ratelimit.holding(every, ORDER, later, renewal=ratelimit.ARI_RENEWAL) is None
    assert ratelimit.holding(every, ORDER, later) is not None
    # One team's account-wide cooldown holds no other account's orders.
    betas = cooldown(NEW_ORDERS, account="beta")
    assert ratelimit.holding([betas], ORDER, later, account="alpha") is None
    assert ratelimit.holding([betas], ORDER, later, account="beta") == betas


def test_scopes_have_distinct_stable_keys() -> None:
    keys = {scope_of(d, ORDER).key for d in (PER_DOMAIN, EXACT_SET, FAILED_AUTHZ, NEW_ORDERS)}
    assert len(keys) == 4 and "account" in keys
    assert scope_of(PER_DOMAIN, ORDER).key == scope_of(PER_DOMAIN, ["x.example.com"]).key
    assert all("/" not in key for key in keys)


def test_the_retry_time_in_the_detail() -> None:
    assert retry_after_in_detail(PER_DOMAIN, NOW) == 6.5 * 3600
    assert retry_after_in_detail(NEW_ORDERS, NOW) == 600
    assert retry_after_in_detail("retry after 2026-11-30 00:00:00 UTC", NOW) == 0
    assert retry_after_in_detail(OLD_PER_DOMAIN, NOW) is None
    assert retry_after_in_detail("retry after 2026-13-45 00:00:00 UTC", NOW) is None


def test_what_the_ca_exempts_a_renewal_from() -> None:
    from wildcert.logic.certificates import StoredCertificate

    now = dt.datetime(2027, 3, 1, tzinfo=dt.UTC)
    window = {"window_start": "2027-02-28T00:00:00Z", "window_end": "2027-03-02T00:00:00Z",
              "selected": "2027-03-01T00:00:00Z", "next_check": "2027-03-01T06:00:00Z"}

    def stored(**extra: object) -> StoredCertificate:
        return StoredCertificate("web", ("web.example.com", "*.web.example.com"), "ab", "", "",
                                 "", "ec256", {}, "", "", extra)

    same = ["*.web.example.com", "WEB.example.com"]
    mine = {"account_url": "https://ca/acct/1", "account_team": None}
    assert ratelimit.exemption(stored(), same, now, same_ca=True, **mine) == (
        ratelimit.SET_RENEWAL)
    assert ratelimit.exemption(stored(), same, now, same_ca=False, **mine) is None
    assert ratelimit.exemption(stored(), ["web.example.com"], now, same_ca=True, **mine) is None
    ari = stored(ari_id="aa.bb", ari=window, acme_account="https://ca/acct/1")
    assert ratelimit.exemption(ari, ["web.example.com"], now, same_ca=True, **mine) == (
        ratelimit.ARI_RENEWAL)
    theirs = {"account_url": "https://ca/acct/2", "account_team": "alpha"}
    assert ratelimit.exemption(ari, ["web.example.com"], now, same_ca=True, **theirs) is None
