"""Fleet renewal under the real limits: N due certificates through sweep -> queue -> issuer.

On a stack of its own (bench/work/fleet-stack), with Pebble's authorization reuse off (a
renewal 60 days on finds its authorizations expired, as at Let's Encrypt):

  1. seed    N wildcard + apex certificates over the stack's three zones, limits off
  2. due     a share of them (`ari_share`) gets an open ARI window at the CA (the front) and
             a stale `next_check` in cert.json, as the next watch or sweep would find it;
             the rest are made 62 days into a 90-day life (due by the lifetime threshold,
             carrying `replaces` but outside their window)
  3. limits  Route 53: 10 requests/s, burst 50, for the whole account (the AWS fault proxy); the CA:
             Let's Encrypt's limits at the ACME front, periods scaled down (`ca_scale`)
  4. run     the renewal queue and its dead-letter queue made on moto's SQS as template.yaml
             makes them (visibility timeout, maxReceiveCount); the template's
             RenewalConcurrency worker processes poll it with its BatchSize as Lambda's
             event source mapping would (bench/fleet_worker.py), and the sweep queues the
             due certificates
  5. check   every certificate renewed exactly once (the front's record of certificates,
             grouped by their names), none failed, none on the dead-letter queue; wall
             time against the floors the limits set

`python bench/fleet.py [--quick] [--n N] ...` runs it alone; `make bench` runs it last.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import machine  # noqa: E402
from bench.fleet_worker import queue_arn  # noqa: E402
from bench.wildcert_runner import QUIET_LOGS  # noqa: E402

WORK = BENCH / "work"
WORKER = BENCH / "fleet_worker.py"
PEBBLE_ENV = {"PEBBLE_AUTHZREUSE": "0", "PEBBLE_WFE_NONCEREJECT": "0"}
ZONES = ("example.com", "team.example.com", "example.net")
POLL_SECONDS = 2.0
WORKER_EXIT_SECONDS = 60.0


@dataclasses.dataclass(frozen=True)
class FleetConfig:
    n: int = 500
    ari_share: float = 0.2  # due by an open ARI window: exempt from every CA limit
    seed_threads: int = 8
    route53_rate: float = 10.0  # requests per second per account (Route 53's quota)
    route53_burst: float = 50.0  # requests at once before the rate applies
    # Let's Encrypt's periods shortened this many times. 80 is about how much faster the stack
    # renews than AWS (~3 s per certificate and worker here, ~4 min with Route 53's INSYNC
    # and propagation waits), so the CA refills at the pace it has against a real run:
    # 3 h of orders last 2 min 15 s, one comes back every 0.45 s.
    ca_scale: float = 80.0
    orders_per_account: int = 300
    # Let's Encrypt's documentation exempts only ARI renewals from the order limit (Boulder
    # also exempts renewals of the same names): the stricter reading by default.
    renewals_skip_orders: bool = False
    max_seconds: float = 3600.0  # the run ends here whatever it has done
    stall_seconds: float = 180.0  # ... or when nothing moved for this long
    port_base: int = 15300


QUICK = FleetConfig(n=30, max_seconds=600.0, stall_seconds=90.0)
# Stress: 24 of 30 renewals are new orders against 5 per 20 s (an order back every 4 s, the
# stack renews one every ~1 s): the order bucket stays empty, as when something else (a big
# onboarding, another client on the account) has used it up.
CA_STRESS = dataclasses.replace(QUICK, orders_per_account=5, ca_scale=540.0)
# Stress: Route 53 at 1 request/s and no burst, as when other tools on the account use 9 of
# its 10 and keep the burst spent.
ROUTE53_STRESS = dataclasses.replace(QUICK, route53_rate=1.0, route53_burst=1.0)
STRESSES = {"ca_orders": CA_STRESS, "route53": ROUTE53_STRESS}


# ---------------------------------------------------------------- template.yaml


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form tags, kept as {tag: value}."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node, deep=True)}
    return {suffix: loader.construct_mapping(node, deep=True)}


_CfnLoader.add_multi_constructor("!", _tag)


@dataclasses.dataclass(frozen=True)
class TemplateFacts:
    """What template.yaml deploys for the renewal path, with its parameters' defaults."""

    concurrency: int  # the event source mapping's MaximumConcurrency (RenewalConcurrency)
    batch_size: int
    visibility_timeout: int
    max_receive_count: int
    memory_mb: int  # IssuerMemorySize
    timeout_seconds: int
    sweep_interval_days: float
    watch_interval_hours: float

    @classmethod
    def read(cls, path: Path = ROOT / "template.yaml") -> TemplateFacts:
        template = yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 - SafeLoader
        params, resources = template["Parameters"], template["Resources"]
        issuer = resources["IssuerFunction"]["Properties"]
        mapping = issuer["Events"]["RenewalQueue"]["Properties"]
        concurrency = mapping["ScalingConfig"]["MaximumConcurrency"]
        queue = resources["RenewalQueue"]["Properties"]

        def default(value: Any) -> Any:
            return params[value["Ref"]]["Default"] if isinstance(value, dict) else value

        return cls(
            concurrency=int(default(concurrency)), batch_size=int(mapping["BatchSize"]),
            visibility_timeout=int(queue["VisibilityTimeout"]),
            max_receive_count=int(queue["RedrivePolicy"]["maxReceiveCount"]),
            memory_mb=int(default(issuer["MemorySize"])), timeout_seconds=int(issuer["Timeout"]),
            sweep_interval_days=float(params["SweepIntervalDays"]["Default"]),
            watch_interval_hours=12.0,  # WATCH_INTERVAL_HOURS with the watch scheduled
        )


# ---------------------------------------------------------------- helpers


def say(text: str) -> None:
    print(f"[fleet {time.strftime('%H:%M:%S')}] {text}", flush=True)


def iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def request(label: str, zone: str) -> dict[str, Any]:
    return {"domains": [f"*.{label}.{zone}", f"{label}.{zone}"], "name": label,
            "key_type": "ec256"}


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


@dataclasses.dataclass
class Fleet:
    """One run's stack, queues, names and scratch files."""

    config: FleetConfig
    facts: TemplateFacts
    stack: Any  # local_stack.Stack
    scratch: Path
    names: list[str]
    zone_of: dict[str, str]
    queue_url: str = ""
    dlq_url: str = ""
    seeded: dict[str, str] = dataclasses.field(default_factory=dict)  # name -> serial

    def env(self) -> dict[str, str]:
        return {**os.environ, **self.stack.env, **QUIET_LOGS,
                "RENEWAL_QUEUE_URL": self.queue_url,
                # The issuer takes records of this queue only; fleet_worker names it so.
                "RENEWAL_QUEUE_ARN": queue_arn(self.queue_url),
                "SWEEP_INTERVAL_DAYS": f"{self.facts.sweep_interval_days:g}",
                "WATCH_INTERVAL_HOURS": f"{self.facts.watch_interval_hours:g}",
                "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                            os.environ.get("PYTHONPATH")]))}

    def worker(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([sys.executable, str(WORKER), *args], env=self.env(), cwd=ROOT,
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"fleet_worker {args[0]} failed ({done.returncode}):\n"
                               f"{done.stderr[-3000:]}")
        return done

    def moto(self, service: str) -> Any:
        return self.stack.client(service)

    def bucket(self) -> str:
        return str(self.stack.env["CERT_BUCKET"])


# ---------------------------------------------------------------- the steps


def make_queues(fleet: Fleet) -> None:
    """The renewal queue and its DLQ as template.yaml makes them."""
    import boto3

    from local_stack.route53_source import LOCAL_CREDENTIALS

    sqs = boto3.session.Session().client(  # through the proxy: the URLs name it, as in AWS
        "sqs", endpoint_url=fleet.stack.env["AWS_ENDPOINT_URL"], **LOCAL_CREDENTIALS)
    run = uuid.uuid4().hex[:6]
    dlq = sqs.create_queue(QueueName=f"renewals-dlq-{run}")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    queue = sqs.create_queue(QueueName=f"renewals-{run}", Attributes={
        "VisibilityTimeout": str(fleet.facts.visibility_timeout),
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn,
                                     "maxReceiveCount": fleet.facts.max_receive_count}),
    })["QueueUrl"]
    fleet.queue_url, fleet.dlq_url = queue, dlq


def seed(fleet: Fleet) -> dict[str, Any]:
    spec = fleet.scratch / "seed.json"
    spec.write_text(json.dumps({"threads": fleet.config.seed_threads, "requests": [
        request(name, fleet.zone_of[name]) for name in fleet.names]}))
    out = fleet.scratch / "seeded.json"
    fleet.worker("seed", str(spec), str(out))
    seeded = json.loads(out.read_text())
    failed = [r for r in seeded["results"] if r["status"] != "issued"]
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(fleet.names)} seed issuances failed: "
                           f"{failed[:3]}")
    fleet.seeded = {r["name"]: r["serial"] for r in seeded["results"]}
    return {"wall": seeded["wall"], "threads": fleet.config.seed_threads}


def _read_cert_json(fleet: Fleet, name: str) -> dict[str, Any]:
    body = fleet.moto("s3").get_object(Bucket=fleet.bucket(), Key=f"{name}/cert.json")["Body"]
    return dict(json.loads(body.read()))


def _write_cert_json(fleet: Fleet, name: str, meta: dict[str, Any]) -> None:
    fleet.moto("s3").put_object(
        Bucket=fleet.bucket(), Key=f"{name}/cert.json", Body=json.dumps(meta, indent=2).encode(),
        ServerSideEncryption="aws:kms", SSEKMSKeyId=fleet.stack.env["KMS_KEY_ID"])


def make_due(fleet: Fleet) -> dict[str, list[str]]:
    """ARI: the CA opens the window and cert.json's next check has come; the rest: 62 days
    into a 90-day life, with no window stored (the sweep asks the CA for one)."""
    now = dt.datetime.now(dt.UTC)
    count = round(len(fleet.names) * fleet.config.ari_share)
    by_ari, by_age = fleet.names[:count], fleet.names[count:]
    front = fleet.stack.acme_front

    def ari_due(name: str) -> None:
        meta = _read_cert_json(fleet, name)
        front.set_window(meta["ari_id"], now - dt.timedelta(hours=1), now + dt.timedelta(hours=6))
        meta["ari"] = {**meta["ari"], "next_check": iso(now - dt.timedelta(minutes=1))}
        _write_cert_json(fleet, name, meta)

    def age_due(name: str) -> None:
        meta = _read_cert_json(fleet, name)
        meta.pop("ari", None)
        meta["not_before"] = iso(now - dt.timedelta(days=62))
        meta["not_after"] = iso(now + dt.timedelta(days=28))
        _write_cert_json(fleet, name, meta)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(ari_due, by_ari))
        list(pool.map(age_due, by_age))
    return {"ari": by_ari, "age": by_age}


def switch_limits_on(fleet: Fleet) -> dict[str, Any]:
    config = fleet.config
    route53 = fleet.stack.aws_faults.limit("route53", rate=config.route53_rate,
                                           burst=config.route53_burst)
    ca = fleet.stack.acme_front.set_limits(
        scale=config.ca_scale, orders_per_account=config.orders_per_account,
        renewals_skip_orders=config.renewals_skip_orders)
    return {"route53": route53, "ca": ca["policy"]}


@dataclasses.dataclass
class Progress:
    at: float
    renewed: int
    visible: int
    in_flight: int
    dead: int

    def key(self) -> tuple[int, int, int, int]:
        return (self.renewed, self.visible, self.in_flight, self.dead)


def renewed_names(fleet: Fleet, since: dt.datetime) -> Counter[str]:
    """Certificates the CA issued since `since`, counted per fleet name (by their names)."""
    wanted = {tuple(sorted(request(n, fleet.zone_of[n])["domains"])): n for n in fleet.names}
    counts: Counter[str] = Counter()
    for seen in fleet.stack.acme_front.certificates().values():
        at = seen.get("seen_at")
        name = wanted.get(tuple(seen.get("names", ())))
        if name and at and dt.datetime.fromisoformat(at.replace("Z", "+00:00")) >= since:
            counts[name] += 1
    return counts


def _queue_counts(fleet: Fleet, url: str) -> tuple[int, int]:
    """(queued, in flight); queued counts the delayed ones: a renewal sent anew to wait."""
    attributes = fleet.moto("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed"])["Attributes"]
    return (int(attributes["ApproximateNumberOfMessages"])
            + int(attributes["ApproximateNumberOfMessagesDelayed"]),
            int(attributes["ApproximateNumberOfMessagesNotVisible"]))


def progress(fleet: Fleet, since: dt.datetime, started: float) -> Progress:
    visible, in_flight = _queue_counts(fleet, fleet.queue_url)
    dead = sum(_queue_counts(fleet, fleet.dlq_url))
    return Progress(round(time.monotonic() - started, 1), len(renewed_names(fleet, since)),
                    visible, in_flight, dead)


def run_renewals(fleet: Fleet) -> dict[str, Any]:
    """Workers up, then the sweep; until every name is renewed and the queue is empty."""
    stop = fleet.scratch / "stop"
    logs = [fleet.scratch / f"worker-{i}.jsonl" for i in range(fleet.facts.concurrency)]
    since = dt.datetime.now(dt.UTC)
    started = time.monotonic()
    workers = [subprocess.Popen(
        [sys.executable, str(WORKER), "poll", f"w{i}", fleet.queue_url,
         str(fleet.facts.batch_size), str(stop), str(log)],
        env=fleet.env(), cwd=ROOT, stdout=subprocess.DEVNULL,
        stderr=(fleet.scratch / f"worker-{i}.err").open("w"))
        for i, log in enumerate(logs)]
    series: list[Progress] = []
    try:
        wait_ready(logs, workers)
        sweep_out = fleet.scratch / "sweep.json"
        fleet.worker("sweep", str(sweep_out))
        swept = json.loads(sweep_out.read_text())
        say(f"  sweep queued {len(swept['result']['queued'])} in {swept['wall']:.1f} s")
        ending = watch(fleet, since, started, series)
    finally:
        stop.touch()
        deadline = time.monotonic() + WORKER_EXIT_SECONDS
        for process in workers:
            try:
                process.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.terminate()  # one of ours, by its own handle
                process.wait(timeout=10)
    records = [json.loads(line) for log in logs if log.exists()
               for line in log.read_text().splitlines() if line.strip()]
    return {"since": iso(since), "ending": ending,
            "sweep": {"began": swept["began"], "wall": swept["wall"],
                      "queued": len(swept["result"]["queued"]),
                      "due": len(swept["result"]["due"]), "status": swept["result"]["status"],
                      "ari_refreshed": swept["result"]["ari"]["refreshed"]},
            "series": [dataclasses.asdict(p) for p in series], "records": records}


def wait_ready(logs: list[Path], workers: list[subprocess.Popen[bytes]]) -> None:
    """Every worker imported the handler: the containers are there before the sweep."""
    deadline = time.monotonic() + WORKER_EXIT_SECONDS
    while not all(Path(f"{log}.ready").exists() for log in logs):
        if any(p.poll() is not None for p in workers) or time.monotonic() > deadline:
            raise RuntimeError("a fleet worker did not start; see its .err file")
        time.sleep(0.1)


def watch(fleet: Fleet, since: dt.datetime, started: float, series: list[Progress]) -> str:
    last_change = time.monotonic()
    while True:
        time.sleep(POLL_SECONDS)
        now = progress(fleet, since, started)
        if series and now.key() != series[-1].key():
            last_change = time.monotonic()
        if not series or now.key() != series[-1].key():
            say(f"  {now.at:6.0f} s: {now.renewed}/{len(fleet.names)} renewed, "
                f"{now.visible} queued, {now.in_flight} in flight, {now.dead} dead")
        series.append(now)
        if now.visible == 0 and now.in_flight == 0:
            return "queue empty"
        if time.monotonic() - started > fleet.config.max_seconds:
            return f"stopped after {fleet.config.max_seconds:.0f} s"
        if time.monotonic() - last_change > fleet.config.stall_seconds:
            return f"nothing moved for {fleet.config.stall_seconds:.0f} s"


# ---------------------------------------------------------------- what it shows


def dead_letters(fleet: Fleet) -> list[dict[str, Any]]:
    sqs = fleet.moto("sqs")
    found: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(QueueUrl=fleet.dlq_url, MaxNumberOfMessages=10,
                                  AttributeNames=["All"], VisibilityTimeout=600).get(
                                      "Messages", [])
        if not got:
            return found
        found += [{"name": json.loads(m["Body"]).get("name"),
                   "receives": int(m["Attributes"].get("ApproximateReceiveCount", 0))}
                  for m in got]


def stored_serials(fleet: Fleet) -> dict[str, str]:
    with ThreadPoolExecutor(8) as pool:
        metas = pool.map(lambda n: (n, _read_cert_json(fleet, n).get("serial", "")), fleet.names)
        return dict(metas)


def summarize(fleet: Fleet, run: dict[str, Any], due: dict[str, list[str]],
              limits: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    records: list[dict[str, Any]] = run["records"]
    since = dt.datetime.fromisoformat(run["since"].replace("Z", "+00:00"))
    issued_counts = renewed_names(fleet, since)
    stored = stored_serials(fleet)
    issued = [r for r in records if r.get("status") in ("issued", "renewed")]
    # From the sweep's first step to the last certificate stored.
    wall = max(r["end"] for r in issued) - run["sweep"]["began"] if issued else float("nan")
    stats = fleet.stack.aws_faults.stats()
    by_op = {k: v - before["aws"].get(k, 0) for k, v in stats["by_operation"].items()
             if v - before["aws"].get(k, 0)}
    route53_limit = fleet.stack.aws_faults.limits().get("route53", {})
    ca = fleet.stack.acme_front.limits()
    slack = fleet.stack.slack_messages()[before["slack"]:]
    statuses = Counter(r.get("status", "?") for r in records)
    failures = [r for r in records if r.get("status") == "failed"]
    # A wait is a deferred failure (the message hidden) or a message sent anew to wait.
    sent_anew = [r for r in records if r.get("sent_as")]
    deferred = [r for r in failures if r.get("deferred")] + [
        r for r in sent_anew if r.get("status") == "deferred"]
    renewed = len(fleet.names) - sum(1 for n in fleet.names if issued_counts[n] == 0)
    n = max(renewed, 1)
    route53_calls = {k.split(" ", 1)[1]: v for k, v in by_op.items() if k.startswith("route53 ")}
    throttled = int(route53_limit.get("throttled", 0))
    admitted = int(route53_limit.get("allowed", 0))
    policy = limits["ca"]
    orders_period = policy["orders_period"] / policy["scale"]
    floors = {
        "route53": (max(0.0, admitted - fleet.config.route53_burst)
                    / fleet.config.route53_rate),
        "ca_orders": max(0, ca.get("orders_spent", 0) - policy["orders_per_account"])
        * orders_period / policy["orders_per_account"],
        "workers": sum(r["end"] - r["start"] for r in records) / fleet.facts.concurrency,
    }
    durations = [r["end"] - r["start"] for r in issued]
    receives = [int(r.get("receives") or 0) for r in records]
    return {
        "config": dataclasses.asdict(fleet.config), "template": dataclasses.asdict(fleet.facts),
        "limits": limits, "due": {"ari": len(due["ari"]), "age": len(due["age"])},
        "sweep": run["sweep"], "ending": run["ending"],
        "wall": wall, "renewed": renewed, "n": len(fleet.names),
        "double_issuance": sorted(n for n, c in issued_counts.items() if c > 1),
        "not_renewed": sorted(n for n in fleet.names if issued_counts[n] == 0),
        "stored_unchanged": sorted(n for n in fleet.names if stored.get(n) == fleet.seeded[n]),
        "dead_letters": dead_letters(fleet),
        "invocations": len({r.get("invocation") for r in records}),
        "outcomes": dict(statuses),
        "failed_not_deferred": len([r for r in failures if not r.get("deferred")]),
        "deferred": len(deferred),
        "sent_anew": len(sent_anew),
        "failure_samples": sorted({(r.get("stage") or "") + ": " + (r.get("error") or "")[:160]
                                   for r in failures})[:6],
        "receives_max": max(receives, default=0),
        "receives_histogram": dict(sorted(Counter(receives).items())),
        "latency_issued": {"median": statistics.median(durations) if durations else None,
                           "p95": percentile(durations, 0.95)},
        "route53": {"calls": route53_calls, "admitted": admitted, "throttled": throttled,
                    "admitted_per_certificate": admitted / n,
                    "attempts_per_certificate": sum(route53_calls.values()) / n},
        "aws_per_certificate": {k: round(v / n, 2) for k, v in sorted(by_op.items())},
        "ca": {k: ca.get(k) for k in ("allowed", "exempt", "refused", "orders_spent", "issued")},
        "slack_failures": sum(1 for m in slack if str(m.get("payload", {}).get("text", ""))
                              .startswith("wildcert failed")),
        "slack_posts": len(slack),
        "slack_failure_samples": sorted({_slack_error(m) for m in slack
                                         if _slack_error(m)})[:6],
        "floors": floors,
        "series": run["series"][:: max(1, len(run["series"]) // 200)],
    }


def _slack_error(message: dict[str, Any]) -> str:
    """The error line of a failure message, shortened; "" for other messages."""
    text = json.dumps(message.get("payload", {}))
    if "failed at stage" not in text:
        return ""
    at = text.find("Error: ")
    return text[at + 7:at + 160] if at >= 0 else "failure"


# ---------------------------------------------------------------- orchestration


def start_stack(port_base: int) -> Any:
    from local_stack import Stack, free_port_base

    directory = WORK / "fleet-stack"
    leftover = Stack.attach(directory)
    if leftover is not None:  # an interrupted run's stack: ours, in our directory
        leftover.stop()
    return Stack.start(directory, free_port_base(port_base), pebble_env=PEBBLE_ENV)


def run(config: FleetConfig) -> dict[str, Any]:
    facts = TemplateFacts.read()
    WORK.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="fleet-", dir=WORK))
    stack = start_stack(config.port_base)
    tag = uuid.uuid4().hex[:4]
    names = [f"fl{tag}{i:04d}" for i in range(config.n)]
    fleet = Fleet(config, facts, stack, scratch, names,
                  {name: ZONES[i % len(ZONES)] for i, name in enumerate(names)})
    try:
        make_queues(fleet)
        say(f"stack on port base {stack.ports.base}; seeding {config.n} certificates "
            f"({config.seed_threads} threads, no limits)")
        seeded = seed(fleet)
        say(f"  seeded in {seeded['wall']:.0f} s")
        stack.aws_faults.clear(stats=True)
        stack.acme_front.reset(recorded=True, stats=True)
        due = make_due(fleet)
        limits = switch_limits_on(fleet)
        say(f"{len(due['ari'])} due by ARI, {len(due['age'])} by age; Route 53 "
            f"{config.route53_rate:g}/s (burst {config.route53_burst:g}), "
            f"CA periods / {config.ca_scale:g}; "
            f"{facts.concurrency} workers, batch {facts.batch_size}")
        before = {"aws": stack.aws_faults.stats()["by_operation"],
                  "slack": len(stack.slack_messages())}
        load = [machine.load_average()]
        renewals = run_renewals(fleet)
        summary = summarize(fleet, renewals, due, limits, before)
        summary["seed"] = seeded
        summary["load"] = [*load, machine.load_average()]
        say(f"  {summary['renewed']}/{summary['n']} renewed in {summary['wall']:.0f} s "
            f"({summary['ending']}); {len(summary['dead_letters'])} dead, "
            f"{len(summary['double_issuance'])} issued twice, "
            f"{summary['failed_not_deferred']} failed")
        return summary
    finally:
        stack.stop()
        shutil.rmtree(scratch, ignore_errors=True)


def parse_args(argv: list[str] | None) -> tuple[FleetConfig, Path]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK.n} certificates")
    parser.add_argument("--stress", choices=sorted(STRESSES),
                        help="a small run where one limit binds hard")
    parser.add_argument("--n", type=int, help="certificates to renew")
    parser.add_argument("--ari-share", type=float, help="share due by an open ARI window")
    parser.add_argument("--ca-scale", type=float, help="Let's Encrypt's periods / this")
    parser.add_argument("--orders", type=int, help="new orders per account per period")
    parser.add_argument("--route53-rate", type=float, help="Route 53 requests/s (10)")
    parser.add_argument("--route53-burst", type=float, help="Route 53 burst (50)")
    parser.add_argument("--renewals-skip-orders", action="store_true",
                        help="Boulder's rule: renewals of the same names skip the order limit")
    parser.add_argument("--out", type=Path, help="write the summary here (JSON)")
    args = parser.parse_args(argv)
    config = STRESSES[args.stress] if args.stress else QUICK if args.quick else FleetConfig()
    overrides = {"n": args.n, "ari_share": args.ari_share, "ca_scale": args.ca_scale,
                 "route53_rate": args.route53_rate, "route53_burst": args.route53_burst,
                 "orders_per_account": args.orders,
                 "renewals_skip_orders": True if args.renewals_skip_orders else None}
    config = dataclasses.replace(config, **{k: v for k, v in overrides.items() if v is not None})
    return config, args.out or WORK / "fleet.json"


def problems(summary: dict[str, Any]) -> list[str]:
    """What makes a fleet run a failure: the bench's pass criteria."""
    found = []
    for key, what in (("not_renewed", "not renewed"), ("double_issuance", "issued twice"),
                      ("dead_letters", "on the dead-letter queue"),
                      ("stored_unchanged", "still stored with the old serial")):
        if summary[key]:
            found.append(f"{len(summary[key])} {what}")
    if summary["failed_not_deferred"]:
        found.append(f"{summary['failed_not_deferred']} invocations failed (not deferred)")
    return found


def main(argv: list[str] | None = None) -> int:
    config, out = parse_args(argv)
    summary = run(config)
    out.write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps({k: summary[k] for k in ("n", "renewed", "wall", "floors", "route53", "ca",
                                               "outcomes", "receives_max")}, indent=1))
    found = problems(summary)
    for problem in found:
        print(f"FLEET PROBLEM: {problem}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
