"""Pebble (Let's Encrypt's test ACME server) as a child process, with its own TLS identity."""

from __future__ import annotations

import ctypes
import datetime
import ipaddress
import json
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from local_stack import files
from local_stack.ports import HOST, Ports

PEBBLE_BINARY = "/usr/bin/pebble"
DEFAULT_PEBBLE_ENV = {"PEBBLE_VA_NOSLEEP": "1"}
# The stack's own variable, not Pebble's: seconds of validity for the certificates Pebble
# issues, written into its config as `certificateValidityPeriod` (Pebble 2.4.0 reads it
# there only). Unset: Pebble's default of five years. Passed like Pebble's own variables
# (`Stack.start(pebble_env=...)`), so one stack can issue short-lived certificates.
VALIDITY_VARIABLE = "PEBBLE_CERTIFICATE_VALIDITY_PERIOD"
PR_SET_PDEATHSIG = 1


class PebbleFailed(RuntimeError):
    """Pebble exited or never answered its directory."""


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    cert: Path
    key: Path


def write_tls(directory: Path) -> TlsFiles:
    """A throwaway CA and a leaf for 127.0.0.1/localhost, so clients can verify Pebble."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "wildcert local-stack TLS CA")])
    ca_cert = (
        _builder(ca_name, ca_name, ca_key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    leaf_cert = (
        _builder(leaf_name, ca_name, leaf_key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(HOST)), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        # Strict verifiers (Python 3.13's default context) insist on key identifiers.
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    tls = TlsFiles(directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    tls.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    tls.cert.write_bytes(leaf_cert.public_bytes(serialization.Encoding.PEM))
    tls.key.write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    tls.key.chmod(0o600)
    return tls


def _builder(
    subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePublicKey, now: datetime.datetime
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
    )


@dataclass(frozen=True)
class PebbleRole:
    """Which of the stack's CAs a Pebble plays: its ports, log and what it asks of accounts.

    `eab_keys` (key id -> base64url HMAC key) makes accounts need External Account Binding.
    `env` is added to the Pebble variables the stack passes down (they still win).
    """

    name: str
    acme: int
    management: int
    http01: int
    tlsalpn01: int
    eab_keys: Mapping[str, str] | None = None
    env: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def first(cls, ports: Ports) -> PebbleRole:
        return cls("pebble", ports.acme, ports.pebble_management, ports.http01,
                   ports.tlsalpn01)

    @classmethod
    def second(cls, ports: Ports, eab_keys: Mapping[str, str]) -> PebbleRole:
        """The EAB CA. Valid authorizations are always reused: a name validated once for an
        account needs no challenge again, as a CA that pre-approves domains answers."""
        return cls("pebble-second", ports.second_acme, ports.second_pebble_management,
                   ports.second_http01, ports.second_tlsalpn01, dict(eab_keys),
                   {"PEBBLE_AUTHZREUSE": "100"})


def write_config(path: Path, role: PebbleRole, tls: TlsFiles,
                 validity_seconds: int | None = None) -> None:
    config: dict[str, dict[str, object]] = {
        "pebble": {
            "listenAddress": f"{HOST}:{role.acme}",
            "managementListenAddress": f"{HOST}:{role.management}",
            "certificate": str(tls.cert),
            "privateKey": str(tls.key),
            "httpPort": role.http01,
            "tlsPort": role.tlsalpn01,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": role.eab_keys is not None,
        }
    }
    if role.eab_keys is not None:
        config["pebble"]["externalAccountMACKeys"] = dict(role.eab_keys)
    if validity_seconds is not None:
        config["pebble"]["certificateValidityPeriod"] = validity_seconds
    path.write_text(json.dumps(config, indent=2) + "\n")
    path.chmod(0o600)  # the EAB MAC keys are secrets


def validity_seconds(env: Mapping[str, str]) -> int | None:
    raw = env.get(VALIDITY_VARIABLE, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise PebbleFailed(f"{VALIDITY_VARIABLE}={raw!r} must be a whole number of seconds")
    return int(raw)


def pebble_environment(inherited: Mapping[str, str],
                       role_env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Our defaults, overridden by any PEBBLE_* the caller set (e.g. PEBBLE_WFE_NONCEREJECT)."""
    env = {key: value for key, value in inherited.items() if not key.startswith("PEBBLE_")}
    env.update(DEFAULT_PEBBLE_ENV)
    env.update(role_env or {})
    env.update({key: value for key, value in inherited.items() if key.startswith("PEBBLE_")})
    return env


@dataclass
class Pebble:
    """One Pebble; every Pebble of a stack serves with the same TLS identity (one CA bundle
    for clients), while each makes its own issuing root."""

    directory: Path
    role: PebbleRole
    dns_port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def tls_dir(self) -> Path:
        return self.directory / "pebble-tls"

    @property
    def log_path(self) -> Path:
        return files.pebble_log(self.directory, self.role.name)

    def start(self, inherited_env: Mapping[str, str]) -> None:
        ca = self.tls_dir / "ca.pem"
        tls = (TlsFiles(ca, self.tls_dir / "cert.pem", self.tls_dir / "key.pem")
               if ca.exists() else write_tls(self.tls_dir))
        config = self.directory / f"{self.role.name}-config.json"
        write_config(config, self.role, tls, validity_seconds(inherited_env))
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [PEBBLE_BINARY, "-config", str(config), "-dnsserver", f"{HOST}:{self.dns_port}"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=pebble_environment(inherited_env, self.role.env),
                cwd=self.directory,
                # The death signal follows the spawning thread: start() runs on the main one.
                preexec_fn=_die_with_parent(),  # noqa: PLW1509
            )

    def wait_ready(self, timeout: float) -> None:
        assert self.process is not None
        context = ssl.create_default_context(cafile=str(self.tls_dir / "ca.pem"))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise PebbleFailed(
                    f"pebble exited with {self.process.returncode}: {files.tail(self.log_path)}"
                )
            if _answers(f"https://{HOST}:{self.role.acme}/dir", context):
                return
            time.sleep(0.05)
        raise PebbleFailed(
            f"pebble did not answer within {timeout:.0f} s: {files.tail(self.log_path)}"
        )

    def stop(self, timeout: float = 5.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


def https_opener(context: ssl.SSLContext) -> urllib.request.OpenerDirector:
    """No proxies: every request of the stack stays on loopback whatever the environment says."""
    return urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
    )


def _answers(url: str, context: ssl.SSLContext) -> bool:
    try:
        with https_opener(context).open(url, timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError, ssl.SSLError):
        return False


def _die_with_parent() -> Callable[[], None] | None:
    """Linux: Pebble gets SIGTERM if the serve process dies, even by SIGKILL."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)  # loaded before fork: the child only calls it
    except OSError:
        return None
    prctl = libc.prctl

    def set_death_signal() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)

    return set_death_signal
