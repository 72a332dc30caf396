"""certbot 5.8.0 + certbot-dns-route53 against the same local stack, in a venv of its own.

`certbot certonly --dns-route53` talks to Pebble (trusting the stack's TLS CA through
REQUESTS_CA_BUNDLE) and to moto's Route 53 through AWS_ENDPOINT_URL with dummy credentials;
Pebble validates against the stack's DNS server, which answers from moto, so certbot's records
are what it sees. certbot only stores locally: a --deploy-hook (s3_deploy_hook.py) copies the
new set to the bucket with SSE-KMS so that both tools end with a stored certificate.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench import process

BENCH = Path(__file__).resolve().parent
REQUIREMENTS = BENCH / "requirements-certbot.txt"
HOOK = BENCH / "s3_deploy_hook.py"
EMAIL = "bench@example.com"
ZONE = "example.com"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ensure_venv(venv: Path) -> Path:
    """The venv's python, installing requirements-certbot.txt into it when it changed."""
    stamp = venv / ".bench-requirements.sha256"
    python = venv / "bin" / "python"
    if stamp.exists() and stamp.read_text() == _digest(REQUIREMENTS) and python.exists():
        return python
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
         "-r", str(REQUIREMENTS)],
        check=True,
    )
    stamp.write_text(_digest(REQUIREMENTS))
    return python


@dataclass(frozen=True)
class CertbotSetup:
    venv: Path
    home: Path  # config, work and logs dirs live here, shared by the runs (one account)
    stack_env: dict[str, str]

    @property
    def hook_log(self) -> Path:
        return self.home / "hook.jsonl"

    def env(self) -> dict[str, str]:
        """A clean environment: only what certbot, boto3 and the hook need."""
        stack = self.stack_env
        return {
            "PATH": f"{self.venv / 'bin'}:/usr/bin:/bin",
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
            "REQUESTS_CA_BUNDLE": stack["ACME_CA_BUNDLE"],
            "AWS_ENDPOINT_URL": stack["AWS_ENDPOINT_URL"],
            "AWS_ACCESS_KEY_ID": stack["AWS_ACCESS_KEY_ID"],
            "AWS_SECRET_ACCESS_KEY": stack["AWS_SECRET_ACCESS_KEY"],
            "AWS_DEFAULT_REGION": stack["AWS_DEFAULT_REGION"],
            "BENCH_BUCKET": stack["CERT_BUCKET"],
            "BENCH_KMS_KEY_ID": stack["KMS_KEY_ID"],
            "BENCH_HOOK_LOG": str(self.hook_log),
        }

    def command(self, label: str) -> list[str]:
        hook = f"{shlex.quote(str(self.venv / 'bin' / 'python'))} {shlex.quote(str(HOOK))}"
        return [
            str(self.venv / "bin" / "certbot"), "certonly", "--dns-route53",
            "--server", self.stack_env["ACME_DIRECTORY_URL"],
            "--config-dir", str(self.home / "config"),
            "--work-dir", str(self.home / "work"),
            "--logs-dir", str(self.home / "logs"),
            "--agree-tos", "-m", EMAIL, "--no-eff-email", "--non-interactive",
            "--key-type", "ecdsa", "--elliptic-curve", "secp256r1",
            "--cert-name", label, "-d", f"*.{label}.{ZONE}", "-d", f"{label}.{ZONE}",
            "--deploy-hook", hook,
        ]


@dataclass(frozen=True)
class CertbotRun:
    wall: float  # certbot start to exit, the S3 deploy hook included
    hook_seconds: float  # the hook's share, from its first line to its last
    peak_rss_mib: float  # certbot's or the hook's (a process of its own), whichever is larger
    cpu_seconds: float  # certbot's and the hook's

    @property
    def local_only(self) -> float:
        return self.wall - self.hook_seconds


def run(setup: CertbotSetup, label: str) -> CertbotRun:
    setup.home.mkdir(parents=True, exist_ok=True)
    done = process.run(setup.command(label), env=setup.env(), cwd=setup.home)
    if done.returncode != 0:
        raise RuntimeError(
            f"certbot failed ({done.returncode}) for {label}:\n{done.stdout[-2000:]}"
            f"{done.stderr[-3000:]}"
        )
    return CertbotRun(done.wall, _hook_seconds(setup.hook_log, label), done.peak_rss_mib,
                      done.cpu_seconds)


def _hook_seconds(log: Path, label: str) -> float:
    lines = log.read_text().splitlines() if log.exists() else []
    for line in reversed(lines):
        entry = json.loads(line)
        if entry["lineage"] == label:
            return float(entry["seconds"])
    raise RuntimeError(f"the S3 deploy hook did not run for {label} (see {log})")

