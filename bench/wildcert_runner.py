"""Invoking wildcert's issuer Lambda handler (functions/issuer/app.py) and counting its work.

In-process invocations behave like a warm Lambda container (imports done, boto3 clients and
the zone list cached); `invoke_cold` runs bench/invoke_once.py in a fresh process, like the
first invocation of a new container. Counting never changes what wildcert does and lives here,
outside it: ACME requests from a response hook on each session's HTTP session (`AcmeSteps`), AWS
calls from botocore's `before-call` event on the clients wildcert uses, DNS queries from
`dns_checks.STATS`.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

from bench import process

ROOT = Path(__file__).resolve().parent.parent
LAYER = ROOT / "layers" / "wildcert"
FUNCTION = ROOT / "functions" / "issuer"
ZONE = "example.com"
QUIET_LOGS = {"POWERTOOLS_LOG_LEVEL": "WARNING"}
# What template.yaml sets in the issuer's environment that shapes the process itself (tested
# against the template): a measured issuer process runs as Lambda would run it.
ISSUER_PROCESS_ENV = {"MALLOC_ARENA_MAX": "2"}


def unique_label(prefix: str) -> str:
    """A fresh DNS label, so no run meets another's certificate, records or authorizations."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def request_event(label: str) -> dict[str, Any]:
    """A wildcard + apex request, like events/issue-wildcard.json, under a fresh label."""
    return {
        "domains": [f"*.{label}.{ZONE}", f"{label}.{ZONE}"],
        "name": label,
        "key_type": "ec256",
        "force": False,
    }


def lambda_context(name: str = "wildcert-issuer-bench", seconds: float = 900) -> SimpleNamespace:
    """What Lambda passes the handler, as far as wildcert reads it."""
    end = time.monotonic() + seconds
    return SimpleNamespace(
        function_name=name,
        function_version="$LATEST",
        invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
        memory_limit_in_mb=512,
        aws_request_id=str(uuid.uuid4()),
        log_group_name=f"/aws/lambda/{name}",
        log_stream_name="bench",
        get_remaining_time_in_millis=lambda: int((end - time.monotonic()) * 1000),
    )


def import_handler() -> Any:
    """functions/issuer/app.py with the layer's package on sys.path, as Lambda lays it out."""
    for path in (str(FUNCTION), str(LAYER)):
        if path not in sys.path:
            sys.path.insert(0, path)
    import app

    return app


# The directory's resources a client sends requests to, by the name Pebble's log gives them.
DIRECTORY_STEPS = ("newNonce", "newAccount", "newOrder", "revokeCert", "keyChange")


@dataclass
class AcmeSteps:
    """Counts one AcmeSession's ACME requests by protocol step, from a response hook on its
    HTTP session, with the step names of Pebble's log (bench/pebble_log.py) so the two counts
    compare line by line.

    A step is known by URL: the directory's own, its resources, and the URLs the CA hands
    out as it answers (a new order's Location, an order's authorizations, finalize and
    certificate, an authorization's challenges). An order fetched by a URL this session was
    never given (a previous attempt's, when it recovers) is known by its body.
    """

    session: Any  # wildcert.adapters.acme.AcmeSession
    counts: Counter[str]
    known: dict[str, str] = field(default_factory=dict)
    resources: dict[str, Any] | None = None

    def hook(self, response: Any, *args: Any, **kwargs: Any) -> None:
        body = _json_object(response)
        step = self.step(response.request.url, body)
        self.counts[f"{response.request.method} {step}"] += 1
        self.learn(step, response, body)

    def step(self, url: str, body: dict[str, Any]) -> str:
        if url == self.session.directory_url:
            return "directory"  # before anything else: the session has no directory yet
        if url in self.known:
            return self.known[url]
        if self.resources is None:
            # Every request but the directory's is sent once the session holds the directory.
            self.resources = dict(self.session.directory.to_partial_json())
        resources = self.resources
        for name in DIRECTORY_STEPS:
            if resources.get(name) == url:
                return name
        renewal_info = resources.get("renewalInfo")
        if isinstance(renewal_info, str) and url.startswith(renewal_info.rstrip("/") + "/"):
            return "renewalInfo"
        if "finalize" in body:
            return "order"
        return urlsplit(url).path

    def learn(self, step: str, response: Any, body: dict[str, Any]) -> None:
        if step == "newOrder" and response.headers.get("Location"):
            self.known[response.headers["Location"]] = "order"
        if isinstance(body.get("finalize"), str):
            self.known[body["finalize"]] = "finalize"
        for url in body.get("authorizations") or ():
            self.known[url] = "authz"
        if isinstance(body.get("certificate"), str):
            self.known[body["certificate"]] = "certificate"
        for challenge in body.get("challenges") or ():
            if isinstance(challenge, dict) and isinstance(challenge.get("url"), str):
                self.known[challenge["url"]] = "challenge"


def _json_object(response: Any) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:  # a nonce, a certificate chain
        return {}
    return body if isinstance(body, dict) else {}


@dataclass
class WorkCounters:
    """Requests wildcert sent, and the time spent waiting on each outside system, since the
    last `reset()` (sequential invocations only). `install` wraps without changing behaviour;
    `uninstall` puts everything back."""

    acme: Counter[str] = field(default_factory=Counter)
    aws: Counter[str] = field(default_factory=Counter)
    spent: Counter[str] = field(default_factory=Counter)
    _restore: list[tuple[Any, str, Any]] = field(default_factory=list)
    _handlers: list[tuple[Any, str, Any]] = field(default_factory=list)

    def install(self) -> None:
        from wildcert import deadline
        from wildcert.adapters import acme as acme_client
        from wildcert.adapters import aws
        from wildcert.adapters import dns as dns_checks

        counts = self.acme

        class CountedSession(acme_client.AcmeSession):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                self.net.session.hooks["response"].append(AcmeSteps(self, counts).hook)

        # The issuance makes its sessions from the adapter module when it needs one
        # (wildcert.jobs.issue.head_start), so they are counted ones while installed.
        self._replace(acme_client, "AcmeSession", CountedSession)
        self._time(acme_client.DeadlineTransport, "send", "ACME HTTP requests")
        self._time(dns_checks, "_query", "DNS queries")
        self._time(deadline.Deadline, "sleep", "poll and backoff sleeps")
        for service in ("route53", "s3"):
            events = aws.client(service).meta.events
            for event, handler in (("before-call", self._before_call),
                                   ("after-call", self._after_call)):
                events.register(event, handler)
                self._handlers.append((events, event, handler))

    def uninstall(self) -> None:
        for owner, name, original in reversed(self._restore):
            setattr(owner, name, original)
        for events, event, handler in self._handlers:
            events.unregister(event, handler)
        self._restore.clear()
        self._handlers.clear()

    def _replace(self, owner: Any, name: str, value: Any) -> None:
        self._restore.append((owner, name, getattr(owner, name)))
        setattr(owner, name, value)

    def _time(self, owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)
        spent = self.spent

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent[label] += time.perf_counter() - started

        self._replace(owner, name, timed)

    def _before_call(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        self.aws[f"{model.service_model.endpoint_prefix} {model.name}"] += 1
        context["bench_started"] = time.perf_counter()

    def _after_call(self, context: dict[str, Any], **_: Any) -> None:
        started = context.get("bench_started")
        if started is not None:
            self.spent["AWS API calls (Route 53, S3)"] += time.perf_counter() - started

    def reset(self) -> None:
        from wildcert.adapters import dns as dns_checks

        self.acme.clear()
        self.aws.clear()
        self.spent.clear()
        dns_checks.STATS.reset()

    def snapshot(self) -> dict[str, dict[str, Any]]:
        from wildcert.adapters import dns as dns_checks

        stats = dns_checks.STATS
        return {
            "acme": dict(self.acme),
            "aws": dict(self.aws),
            "dns": {"CAA": stats.caa, "TXT": stats.txt},
            "spent": {k: round(v, 4) for k, v in self.spent.items()},
        }


def invoke(app: Any, label: str) -> tuple[float, dict[str, Any]]:
    """Seconds the handler took for one fresh wildcard + apex request, and its answer."""
    started = time.perf_counter()
    result = app.handler(request_event(label), lambda_context())
    elapsed = time.perf_counter() - started
    if result.get("status") != "issued":
        raise RuntimeError(f"wildcert did not issue {label}: {json.dumps(result)[:2000]}")
    return elapsed, result


@dataclass(frozen=True)
class ColdRun:
    wall: float  # process spawn to exit, as the parent saw it
    to_return: float  # process spawn to the handler's return: a Lambda cold start's share
    import_seconds: float
    handler_seconds: float
    work: dict[str, dict[str, int]]
    peak_rss_mib: float  # the whole process's
    cpu_seconds: float  # the whole process's, teardown included


def invoke_cold(stack_env: dict[str, str], label: str, out: Path,
                count: bool = False) -> ColdRun:
    """One invocation in a fresh Python process (a new container's first request); `count`
    installs the in-process counters."""
    env = {**os.environ, **stack_env, **QUIET_LOGS, **ISSUER_PROCESS_ENV}
    script = Path(__file__).with_name("invoke_once.py")
    command = [sys.executable, str(script), label, str(out), *(["--count"] if count else [])]
    done = process.run(command, env=env, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"cold wildcert run failed ({done.returncode}):\n{done.stderr[-3000:]}")
    answer = json.loads(out.read_text())
    return ColdRun(done.wall, answer["returned_epoch"] - done.spawned_epoch,
                   answer["import_seconds"],
                   answer["handler_seconds"], answer["work"], done.peak_rss_mib,
                   done.cpu_seconds)
