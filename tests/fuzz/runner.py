"""Generated cases through the issuer's real Lambda handler, each checked as it returns.

For every case the pure validator says beforehand what must happen to each request in the
event (the oracle: `parse_request` with the zones the handler sees, and the CAA label the fuzz
forbids). A rejected request must come back `rejected` with the validator's own problems, in
words fit for a person, and leave no trace: no AWS write (the fault proxy's counts), no ACME
request (the front's counts), and, checked every `window` cases from moto itself, no S3 object
version, Route 53 record set or SQS message that was not there before, and one Slack post per
rejection, none carrying a live Slack control sequence. An accepted one must issue (or be
skipped as already issued); those are kept to `accepted_share` of the cases and checked whole.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import re
import reprlib
import time
import tomllib
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from bench.wildcert_runner import lambda_context
from local_stack import Stack
from tests.e2e.support import assert_valid_stored
from tests.fuzz import cases as fuzz_cases
from tests.fuzz.watch import Counters, Delta, Meters, SlackLog, Snapshot, slack_problems, snapshot
from tests.unit import test_request_fuzz as unit
from wildcert.deadline import Deadline
from wildcert.jobs.issue.wiring import Services
from wildcert.logic.request import (
    CertificateRequest,
    RequestRejected,
    is_eventbridge,
    parse_request,
)
from wildcert.logic.request.envelope import unreadable_records
from wildcert.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
ISSUER_APP = ROOT / "functions" / "issuer" / "app.py"
# The EventBridge sources the stack's teams send with: the teams' policy refuses any other
# sender before it reads the request.
TEAM_SOURCES = frozenset(
    source for team in tomllib.loads((ROOT / "local_stack" / "teams.toml").read_text())[
        "teams"].values() for source in team.get("sources", ()))
MAX_MESSAGE = 50_000  # what tests/e2e/test_bad_input_stack.py allows a rejection's message
# A rejection is milliseconds of work: one taking this long points at something quadratic, not
# at a busy machine.
SLOW_SECONDS = 10.0
EXAMPLES_KEPT = 3
CAA_RECORD = '0 issue "sectigo.com"'
# A quoted value as `show` writes it; an apostrophe inside a word ("event's") opens none.
_QUOTED = re.compile(r"(?<!\w)'(?:[^'\\]|\\.)*'(?:… \(\d+ characters\))?|\"(?:[^\"\\]|\\.)*\"")
_NUMBER = re.compile(r"\d+")
_shown = reprlib.Repr()
_shown.maxstring, _shown.maxother, _shown.maxlist, _shown.maxdict, _shown.maxlevel = (
    100, 100, 4, 6, 4)


def load_handler() -> Callable[[object, object], dict[str, Any]]:
    """functions/issuer/app.py's handler, loaded by path: every function's module is `app`."""
    spec = importlib.util.spec_from_file_location("wildcert_fuzz_issuer_app", ISSUER_APP)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handler  # type: ignore[no-any-return]


def template(problem: str) -> str:
    """A problem with its quoted values and numbers blanked, to count messages by kind."""
    return _NUMBER.sub("N", _QUOTED.sub("'…'", problem))


def printable(text: str) -> str:
    """`text` with what UTF-8 cannot carry (a lone surrogate from a generated case) escaped:
    a finding must reach pytest's report (pytest-xdist sends it as UTF-8), the findings log
    and docs/FUZZ.md, whatever the handler said."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def shown(event: object) -> str:
    try:
        return _shown.repr(event)
    except RecursionError:
        return "<nested too deeply to show>"


@dataclass(frozen=True)
class Expected:
    """What the handler must do with one request of an event."""

    accepted: bool
    stage: str = "validation"  # where a rejection happens
    problems: tuple[str, ...] = ()  # a validation rejection's problems, as the validator says
    request: CertificateRequest | None = None


@dataclass
class Finding:
    what: str  # crash, write, ca, outcome, message, slack, state, issue, slow, oracle, known
    detail: str
    kind: str
    event: str
    case: int
    count: int = 1


@dataclass
class Tally:
    sent: Counter[str] = field(default_factory=Counter)  # by case kind
    outcomes: Counter[str] = field(default_factory=Counter)  # "rejected at validation", ...
    problems: Counter[str] = field(default_factory=Counter)  # by template
    examples: dict[str, str] = field(default_factory=dict)  # template -> one problem
    reads: Counter[str] = field(default_factory=Counter)  # AWS reads during rejected cases
    warnings: Counter[str] = field(default_factory=Counter)  # logged during rejected cases
    valid_not_sent: int = 0
    accepted_cases: int = 0
    issued: int = 0
    skipped: int = 0
    rejected_cases: int = 0
    requests: int = 0  # requests inside the events (an SQS batch holds several)
    windows: int = 0
    handler_seconds: float = 0.0
    case_seconds: float = 0.0  # in `one`: the oracle, the handler and the checks
    slowest: list[tuple[float, str, str]] = field(default_factory=list)

    @property
    def cases(self) -> int:
        return self.accepted_cases + self.rejected_cases


class WarningLog(logging.Handler):
    """wildcert's warnings and errors, counted by message template."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.seen[f"{record.levelname} {template(record.getMessage())[:200]}"] += 1


@contextmanager
def warnings_counted() -> Iterator[WarningLog]:
    handler = WarningLog()
    logger = logging.getLogger("wildcert")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def forbid_ca_under(stack: Stack, label: str) -> None:
    """A CAA record that refuses Let's Encrypt for everything under `label`.example.com."""
    stack.client("route53").change_resource_record_sets(
        HostedZoneId=stack.zone_id("example.com"),
        ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": {
            "Name": f"{label}.example.com.", "Type": "CAA", "TTL": 60,
            "ResourceRecords": [{"Value": CAA_RECORD}]}}]},
    )


class Fuzzer:
    """Runs cases on `stack` (its settings already in os.environ) and keeps what it found."""

    def __init__(self, stack: Stack, *, accepted_share: float = 0.004, window: int = 250,
                 findings_log: Path | None = None) -> None:
        self.stack = stack
        self.handler = load_handler()
        self.accepted_share = accepted_share
        self.window = window
        self.findings_log = findings_log
        self.settings = Settings.from_env()
        self.zone_names = [z.name for z in Services(self.settings, Deadline.after(60)).zones()]
        self.tally = Tally()
        self.findings: dict[tuple[str, str], Finding] = {}
        self.meters = Meters(stack)
        self.slack = SlackLog(Path(stack.env["WILDCERT_SLACK_LOG"]))
        self.slack.new_payloads()  # what earlier tests posted is theirs
        forbid_ca_under(stack, fuzz_cases.CAA_LABEL)
        self.counters: Counters = self.meters.read()
        self.window_start: Snapshot = snapshot(stack)
        self.window_cases = 0
        self.window_rejections = 0
        self.elapsed = 0.0
        self._batches = 0

    @property
    def failures(self) -> list[Finding]:
        """What was found, known bugs left out."""
        return [f for f in self.findings.values() if f.what != "known"]

    # ---- running ---------------------------------------------------------------------------

    def run(self, target: int, seed: int | None = None) -> Tally:
        """Send cases until `target` went through the handler."""
        started = time.monotonic()
        with warnings_counted() as warnings:
            self._warnings = warnings
            # First a certificate: the bucket probe and the ACME account then exist, so a
            # request the CAA precheck refuses has nothing left to set up either.
            label = f"warmup{uuid.uuid4().hex[:8]}"
            self.one(fuzz_cases.Case("valid/warm-up", {
                "domains": [f"*.{label}.example.com", f"{label}.example.com"]}))
            self._by_kind(target, seed)
            self._fill(fuzz_cases.cases(), target - self.tally.cases, seed)
            self._close_window()
        self.meters.close()
        self.elapsed = time.monotonic() - started
        return self.tally

    def _by_kind(self, target: int, seed: int | None = None) -> None:
        """The same number of cases of each kind, and a few valid ones after each kind."""
        kinds = fuzz_cases.REJECTED_KINDS
        accepted = max(1, round(target * self.accepted_share))
        share, extra = divmod(max(target - accepted - self.tally.cases, 0), len(kinds))
        valid_each = -(-accepted // len(kinds))
        for index, strategy in enumerate(kinds.values()):
            self._fill(strategy, share + (index < extra), seed)
            self._batch(fuzz_cases.valid(), valid_each, seed)  # as many as _may_accept lets by

    def _fill(self, strategy: st.SearchStrategy[fuzz_cases.Case], wanted: int,
              seed: int | None) -> None:
        """Batches until `wanted` more cases went through: valid ones over the share are not
        sent, and leave a batch short."""
        until = self.tally.cases + wanted
        while self.tally.cases < until:
            before = self.tally.cases
            self._batch(strategy, until - before, seed)
            if self.tally.cases == before:
                raise RuntimeError("a whole batch of generated cases was left unsent")

    def _batch(self, strategy: st.SearchStrategy[fuzz_cases.Case], wanted: int,
               seed: int | None) -> None:
        """One Hypothesis run of `wanted` examples."""
        if wanted <= 0:
            return

        @settings(max_examples=wanted, deadline=None, database=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck), print_blob=False)
        @given(strategy)
        def send(case: fuzz_cases.Case) -> None:
            self.one(case)

        self._batches += 1
        # Seeded, each batch its own seed: the same seed twice repeats the same valid labels.
        (send if seed is None else hypothesis_seed(seed + self._batches)(send))()

    def one(self, case: fuzz_cases.Case) -> None:
        started = time.perf_counter()
        try:
            self._one(case)
        finally:
            self.tally.case_seconds += time.perf_counter() - started

    def _one(self, case: fuzz_cases.Case) -> None:
        try:
            expected = self.expect(case.event)
        except Exception as error:  # the oracle itself: a bug in the test code, reported
            self._find("oracle", f"{type(error).__name__}: {error}", case)
            return
        accepted = any(e.accepted for e in expected)
        if accepted and not self._may_accept():
            self.tally.valid_not_sent += 1
            return
        if accepted:
            self._close_window()
        self.tally.sent[case.kind] += 1
        self.tally.requests += len(expected)
        warnings_before = self._warnings.seen.copy()
        result: dict[str, Any] | None = None
        error: Exception | None = None
        started = time.perf_counter()
        try:
            result = self.handler(case.event, lambda_context())
        except Exception as raised:
            error = raised
        took = time.perf_counter() - started
        self.tally.handler_seconds += took
        self._note_slow(took, case, accepted)
        after = self.meters.read()
        delta, self.counters = after.since(self.counters), after
        if accepted:
            self._check_accepted(case, expected, result, error)
            return
        self.tally.rejected_cases += 1
        self.tally.warnings.update(self._warnings.seen - warnings_before)
        if error is not None:
            self._find("crash", f"{type(error).__name__}: {str(error)[:300]}", case)
        self._check_rejected(case, expected, result, delta)

    # ---- the oracle ------------------------------------------------------------------------

    def expect(self, event: object) -> list[Expected]:
        payloads = requests_in(event)
        senders = senders_in(event)
        if len(senders) != len(payloads):
            senders = [None] * len(payloads)
        return [self._expect_one(payload, sender) for payload, sender in zip(payloads, senders,
                                                                          strict=True)]

    def _expect_one(self, payload: object, sender: object) -> Expected:
        try:
            request = parse_request(payload, self.zone_names,
                                    endpoint_ports=self.settings.endpoint_ports)
        except RequestRejected as rejected:
            return Expected(False, "validation", rejected.problems)
        if any(f".{fuzz_cases.CAA_LABEL}." in d for d in request.domains):
            return Expected(False, "precheck", request=request)
        if sender is not None and sender not in TEAM_SOURCES:
            return Expected(False, "policy", request=request)
        return Expected(True, request=request)

    def _may_accept(self) -> bool:
        """Accepted cases spread over the run, at most `accepted_share` of the cases so far."""
        return self.tally.accepted_cases < 1 + self.tally.cases * self.accepted_share

    # ---- checks ----------------------------------------------------------------------------

    def _check_rejected(self, case: fuzz_cases.Case, expected: list[Expected],
                        result: dict[str, Any] | None, delta: Delta) -> None:
        if delta.writes:
            self._find("write", f"AWS writes for a rejected request: {delta.writes}", case)
        if delta.ca:
            self._find("ca", f"ACME requests for a rejected request: {delta.ca}", case)
        self.tally.reads.update(delta.reads)
        self.window_cases += 1
        if result is not None:
            outcomes = self._outcomes(case, expected, result)
            self.window_rejections += len(outcomes)
            for outcome, wanted in zip(outcomes, expected, strict=False):
                self._check_rejection(case, outcome, wanted)
        if self.window_cases >= self.window:
            self._close_window()

    def _outcomes(self, case: fuzz_cases.Case, expected: list[Expected],
                  result: dict[str, Any]) -> list[dict[str, Any]]:
        outcomes = result.get("results", [result])
        if len(outcomes) != len(expected):
            self._find("outcome", f"{len(outcomes)} outcomes for {len(expected)} requests", case)
        if result.get("batchItemFailures") and not any(e.accepted for e in expected):
            self._find("outcome", "a rejected SQS message was handed back for redelivery", case)
        return list(outcomes)

    def _check_rejection(self, case: fuzz_cases.Case, outcome: dict[str, Any],
                         wanted: Expected) -> None:
        status, stage = outcome.get("status"), outcome.get("stage")
        self.tally.outcomes[f"{status} at {stage}" if stage else str(status)] += 1
        refused_earlier = wanted.stage in {"validation", "precheck", "policy"}
        if status == "rejected" and stage == "policy" and refused_earlier:
            # An EventBridge sender (also one inside a queue message) is judged by the teams'
            # policy before its request is read: an unknown source is refused there, and the
            # writes checked above are none either way.
            return
        if status != "rejected" or stage != wanted.stage:
            self._find("outcome", f"{status} at {stage}, expected rejected at {wanted.stage}",
                       case)
            return
        problems = tuple(outcome.get("problems") or ())
        if wanted.stage == "validation" and problems != wanted.problems:
            self._find("outcome", "the handler's problems differ from the validator's", case)
        try:
            unit.assert_good_rejection(RequestRejected(problems))
            assert problems, "no problem given"
            assert len(outcome.get("message", "")) < MAX_MESSAGE, "message too long"
        except AssertionError as error:
            self._find("message", str(error)[:200] or "rejection message", case)
        for problem in problems:
            kind = template(problem)
            self.tally.problems[kind] += 1
            self.tally.examples.setdefault(kind, problem)

    def _check_accepted(self, case: fuzz_cases.Case, expected: list[Expected],
                        result: dict[str, Any] | None, error: Exception | None) -> None:
        self.tally.accepted_cases += 1
        if error is not None:
            stage = getattr(error, "stage", None)
            what = "issue" if stage else "crash"
            self._find(what, f"{type(error).__name__}: {str(error)[:300]}", case)
        if result is not None:
            outcomes = self._outcomes(case, expected, result)
            for outcome, wanted in zip(outcomes, expected, strict=False):
                if wanted.accepted:
                    self._check_issued(case, outcome, wanted)
                else:
                    self._check_rejection(case, outcome, wanted)
        self.counters = self.meters.read()  # the checks above read through the proxy
        self.window_start = snapshot(self.stack)
        self.slack.new_payloads()
        left = [r for r in self.window_start.records
                if r[2] == "TXT" and r[1].startswith("_acme-challenge.")]
        if left:
            self._find("issue", f"challenge records left after the request: {left[:3]}", case)

    def _check_issued(self, case: fuzz_cases.Case, outcome: dict[str, Any],
                      wanted: Expected) -> None:
        status = outcome.get("status")
        skipped = status == "skipped"  # the same name came earlier in the run
        self.tally.outcomes[f"skipped: {outcome.get('reason')}" if skipped else str(status)] += 1
        assert wanted.request is not None
        if skipped:
            self.tally.skipped += 1
            return
        if status not in ("issued", "renewed"):  # renewed: a forced one of an earlier name
            self._find("issue", f"a valid request came back {status}: "
                       f"{str(outcome.get('message') or outcome.get('reason'))[:200]}", case)
            return
        self.tally.issued += 1
        try:
            assert_valid_stored(wanted.request.name, wanted.request.domains,
                                wanted.request.key_type)
        except Exception as error:
            self._find("issue", f"stored set not valid: {type(error).__name__}: {error}", case)

    def _close_window(self) -> None:
        """Compare the stack with the window's start; only rejected cases ran since."""
        now = snapshot(self.stack)
        posts = self.slack.new_payloads()
        if self.window_cases:
            self.tally.windows += 1
            where = f"cases {self.tally.cases - self.window_cases + 1}-{self.tally.cases}"
            for change in self.window_start.changes(now):
                self._find("state", f"{change} ({where}, all rejected)", None)
            if len(posts) != self.window_rejections:
                self._find("slack", f"{len(posts)} Slack posts for {self.window_rejections} "
                           f"rejections ({where})", None)
            for payload in posts:
                for problem in slack_problems(payload):
                    self._find("slack", problem, None, shown(payload))
        self.window_start, self.window_cases, self.window_rejections = now, 0, 0

    # ---- bookkeeping -----------------------------------------------------------------------

    def _find(self, what: str, detail: str, case: fuzz_cases.Case | None,
              event: str | None = None) -> None:
        key = (what, template(detail))
        if key in self.findings:
            self.findings[key].count += 1
            return
        text = event if event is not None else shown(case.event) if case else ""
        self.findings[key] = Finding(what, printable(detail), case.kind if case else "-",
                                     printable(text), self.tally.cases)
        if self.findings_log is not None and case is not None:
            with self.findings_log.open("a", encoding="utf-8") as log:
                log.write(json.dumps({"what": what, "detail": detail, "kind": case.kind,
                                      "event": _as_json(case.event)}) + "\n")

    def _note_slow(self, took: float, case: fuzz_cases.Case, accepted: bool) -> None:
        if accepted:
            return  # issuing takes seconds; the slow cases wanted here are rejections
        slowest = self.tally.slowest
        if len(slowest) < EXAMPLES_KEPT or took > slowest[-1][0]:
            slowest.append((took, case.kind, shown(case.event)))
            slowest.sort(key=lambda entry: entry[0], reverse=True)
            del slowest[EXAMPLES_KEPT:]
        if took > SLOW_SECONDS:
            self._find("slow", f"a rejection took over {SLOW_SECONDS:g} s", case)



def requests_in(event: object) -> list[object]:
    """The requests the entry takes out of `event`; a dict with a non-list `Records` is an SQS
    event the entry cannot read (unit.payloads_in covers every other shape)."""
    if isinstance(event, dict) and "Records" in event and not isinstance(event["Records"], list):
        return [unreadable_records(event["Records"])]
    return unit.payloads_in(event)


def senders_in(event: object) -> list[object]:
    """The EventBridge source each request of `event` came with, as `requests_in` lists them
    (None: not sent over EventBridge, e.g. a direct invoke or a renewal message)."""
    records = event.get("Records") if isinstance(event, dict) else None
    if isinstance(records, list):
        return [_source_of(_body_of(record)) for record in records]
    return [_source_of(event)]


def _body_of(record: object) -> object:
    body = record.get("body") if isinstance(record, dict) else None
    try:
        return json.loads(body) if isinstance(body, str) else None
    except (ValueError, RecursionError):  # the entry refuses such a body before any sender
        return None


def _source_of(value: object) -> object:
    if isinstance(value, dict) and is_eventbridge(value):
        return value.get("source")
    return None


def _as_json(event: object) -> object:
    try:
        return json.loads(json.dumps(event, default=repr))
    except (ValueError, RecursionError):
        return shown(event)
