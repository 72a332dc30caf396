"""An error nobody expected, anywhere from the order to the store, through the issuer's handler
on the local stack: whatever it is and wherever it happens, the request ends in a `failed`
outcome naming a stage (told on Slack and the bus), the name is not left held (a later
delivery is not answered `busy`), no challenge value stays in Route 53, and the next request
for the name is issued and leaves no journal.

A first domain too long for a CSR's common name once failed like this after the CA's order,
with no outcome, and left the lease and a journal holding the private key behind.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.faults_support import journal
from tests.e2e.support import ISSUER, challenge_values, invoke, unique
from tests.e2e.test_teams import OutcomeEvents
from wildcert.adapters.acme import AcmeSession
from wildcert.adapters.bucket.certificates import CertificateStore
from wildcert.adapters.bucket.leases import InFlight
from wildcert.jobs.issue import crash_safety, pipeline, wiring
from wildcert.jobs.issue.outcome import StageFailure
from wildcert.jobs.issue.pipeline import Issuer

pytestmark = pytest.mark.usefixtures("fresh_faults")

# What each step an issuance takes once its order exists (and the order itself) calls, and
# the stage a failure there is told as: the step's own, or `internal` outside every stage.
STEPS: dict[str, tuple[Any, str, str]] = {
    "order": (AcmeSession, "new_order", "acme"),
    "journal": (InFlight, "record", "storage"),
    "propagation": (wiring, "wait_for_txt", "dns"),
    "answer": (AcmeSession, "answer", "acme"),
    "csr": (pipeline, "make_csr", "acme"),
    "verify": (crash_safety, "verify_set", "acme"),
    "key": (pipeline, "generate_key", "internal"),
    "store": (CertificateStore, "save", "storage"),
    "store, unstaged": (Issuer, "_store", "internal"),
}
ERRORS = (ValueError, KeyError, TypeError, RuntimeError, AttributeError, ZeroDivisionError)


def broken(error: type[Exception]) -> Callable[..., Any]:
    def step(*args: Any, **kwargs: Any) -> Any:
        raise error("injected by the test")

    return step


@pytest.mark.parametrize("step", sorted(STEPS))
@settings(max_examples=2, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(error=st.sampled_from(ERRORS))
def test_any_error_after_the_order_ends_in_an_outcome_and_leaves_the_name_free(
        step: str, error: type[Exception]) -> None:
    owner, method, expected_stage = STEPS[step]
    label = unique("bug")
    request = {"domains": [f"{label}.example.com"], "name": label}
    events = OutcomeEvents(os.environ["WILDCERT_OUTCOME_QUEUE_URL"])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(owner, method, broken(error))
        with pytest.raises(StageFailure) as failed:
            invoke(ISSUER, request)
    failure = failed.value
    assert failure.stage == expected_stage, (step, failure)
    assert f"unexpected {error.__name__}" in failure.message
    assert failure.outcome is not None and failure.outcome["status"] == "failed"
    assert failure.outcome["stage"] == expected_stage
    told = [e for e in events.about(label) if e["detail-type"] == "wildcert.certificate.failed"]
    assert [e["detail"]["stage"] for e in told] == [expected_stage]
    left = journal(label)
    now = dt.datetime.now(dt.UTC)
    assert left is None or dt.datetime.fromisoformat(
        left["expires_at"].replace("Z", "+00:00")) <= now, left  # parked, not held
    assert not [n for n in challenge_values() if label in n]

    again = invoke(ISSUER, request)
    assert again["status"] == "issued", again
    assert journal(label) is None
