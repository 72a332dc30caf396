"""wildcert-pull without AWS: an in-memory S3 filled by the real CertificateStore, local certs.

The issuer's own code writes the bucket here: what it writes is the documented file format the
puller reads, and the puller package itself imports nothing of the issuer's.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fcntl
import io
import json
import os
import shlex
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from wildcert.adapters.bucket.certificates import CERT_FILES, CertificateStore
from wildcert.adapters.bucket.objects import Bucket
from wildcert.logic import certificates as certs
from wildcert.logic.certificates import StoredCertificate
from wildcert_pull import cli, local
from wildcert_pull import run as pull_run
from wildcert_pull.checks import Leaf
from wildcert_pull.errors import Exit
from wildcert_pull.formats import parse_cert_json

BUCKET = "certs"
NAME = "example.com"
DOMAINS = ("*.example.com", "example.com")
NOW = dt.datetime.now(dt.UTC)
PEM = serialization.Encoding.PEM


# -- an in-memory S3 --------------------------------------------------------------------------
class FakeS3:
    """get_object/put_object as boto3 answers them, with failures to order."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.reads: list[str] = []
        self.failures: dict[str, Exception] = {}

    def put_object(self, **kwargs: Any) -> dict[str, Any]:
        key = kwargs["Key"]
        if kwargs.get("IfNoneMatch") == "*" and key in self.objects:
            raise _client_error("PreconditionFailed", "At least one precondition failed")
        self.objects[key] = kwargs["Body"]
        return {"ETag": f'"{len(self.objects)}"'}

    def get_object(self, **kwargs: Any) -> dict[str, Any]:
        key = kwargs["Key"]
        self.reads.append(key)
        if key in self.failures:
            raise self.failures[key]
        if key not in self.objects:
            raise _client_error("NoSuchKey", "The specified key does not exist.")
        return {"Body": io.BytesIO(self.objects[key])}


def _client_error(code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "GetObject")


# -- certificates made here -------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Ca:
    key: Any
    cert: x509.Certificate

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(PEM)


def make_ca(common_name: str = "test CA") -> Ca:
    key = certs.generate_key("ec256")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1)).not_valid_after(NOW + dt.timedelta(days=400))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return Ca(key, cert)


CA = make_ca()


def make_set(
    domains: tuple[str, ...] = DOMAINS,
    *,
    ca: Ca = CA,
    starts: dt.datetime | None = None,
    ends: dt.datetime | None = None,
) -> certs.IssuedSet:
    key = certs.generate_key("ec256")
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domains[0])]))
        .issuer_name(ca.cert.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(starts or NOW - dt.timedelta(hours=1))
        .not_valid_after(ends or NOW + dt.timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(d) for d in domains]),
                       critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    return certs.IssuedSet.from_fullchain(key, leaf.public_bytes(PEM) + ca.pem)


def publish(
    s3: FakeS3, issued: certs.IssuedSet, meta: StoredCertificate | None = None
) -> StoredCertificate:
    """Store a set exactly as the issuer does."""
    meta = meta or StoredCertificate.describe(NAME, issued, NOW)
    CertificateStore(Bucket(s3, BUCKET, "kms-key")).save(meta, issued)
    return meta


# -- running the CLI --------------------------------------------------------------------------
@dataclasses.dataclass
class Run:
    code: int
    out: str
    err: str


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> FakeS3:
    fake = FakeS3()
    monkeypatch.setattr(cli, "s3_client", lambda options: fake)
    return fake


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    return tmp_path / "etc" / "ssl" / NAME


@pytest.fixture
def reloads(tmp_path: Path) -> Path:
    return tmp_path / "reloads.log"


@pytest.fixture(autouse=True)
def _permissive_umask() -> Iterator[None]:
    """A 000 umask, so the modes checked below come from the code, not from the umask."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def reload_command(log: Path, exit_code: int = 0) -> str:
    script = f"open({str(log)!r}, 'a').write('reloaded\\n'); raise SystemExit({exit_code})"
    return shlex.join([sys.executable, "-c", script])


def run(
    capsys: pytest.CaptureFixture[str], dest: Path, *extra: str, name: str = NAME
) -> Run:
    code = cli.main(["--bucket", BUCKET, "--name", name, "--dest", str(dest), *extra])
    captured = capsys.readouterr()
    assert "PRIVATE KEY" not in captured.out + captured.err
    return Run(int(code), captured.out, captured.err)


def reload_count(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def snapshot(dest: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(dest.iterdir())}


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def assert_installed(dest: Path, issued: certs.IssuedSet) -> None:
    for filename, body in issued.files().items():
        assert (dest / filename).read_bytes() == body, filename
    state = json.loads((dest / local.STATE_FILE).read_text())
    assert state["serial"] == certs.serial_hex(issued.leaf)
    assert not list(dest.glob(f"*{local.TEMP_SUFFIX}"))


# -- installing -------------------------------------------------------------------------------
def test_first_pull_installs_with_modes_and_reloads(s3, dest, reloads, capsys) -> None:
    issued = make_set()
    meta = publish(s3, issued)
    result = run(capsys, dest, "--reload", reload_command(reloads))
    assert result.code == 0, result.err
    assert_installed(dest, issued)
    assert mode(dest) == 0o750
    assert mode(dest / "privkey.pem") == 0o600
    for filename in ("cert.pem", "chain.pem", "fullchain.pem", local.STATE_FILE):
        assert mode(dest / filename) == 0o644, filename
    assert reload_count(reloads) == 1
    assert result.out.count("\n") == 1
    assert f"updated {NAME}" in result.out and meta.serial in result.out
    assert "reloaded" in result.out and result.err == ""
    state = local.read_state(dest)
    assert state is not None and not state.reload_pending


def test_the_key_is_0600_from_its_creation(monkeypatch, tmp_path) -> None:
    seen: list[int] = []
    real_fchmod = os.fchmod

    def watch(fd: int, new_mode: int) -> None:
        seen.append(stat.S_IMODE(os.fstat(fd).st_mode))
        real_fchmod(fd, new_mode)

    monkeypatch.setattr(os, "fchmod", watch)
    path = local.write_temp(tmp_path, "privkey.pem", b"secret", 0o600)
    assert seen == [0o600]  # before any byte is written, even with a 000 umask
    assert mode(path) == 0o600 and path.read_bytes() == b"secret"
    assert path.parent == tmp_path and path.name.endswith(local.TEMP_SUFFIX)


def test_an_existing_directory_keeps_its_mode(s3, dest, capsys) -> None:
    dest.mkdir(parents=True, mode=0o755)
    publish(s3, make_set())
    assert run(capsys, dest).code == 0
    assert mode(dest) == 0o755


def test_second_pull_is_unchanged_reads_only_cert_json(s3, dest, reloads, capsys) -> None:
    publish(s3, make_set())
    assert run(capsys, dest, "--reload", reload_command(reloads)).code == 0
    before = snapshot(dest)
    s3.reads.clear()
    result = run(capsys, dest, "--reload", reload_command(reloads))
    assert result.code == 0
    assert "unchanged" in result.out
    assert s3.reads == [f"{NAME}/cert.json"]
    assert reload_count(reloads) == 1
    assert snapshot(dest) == before


def test_a_new_issue_updates_and_reloads(s3, dest, reloads, capsys) -> None:
    publish(s3, make_set())
    assert run(capsys, dest, "--reload", reload_command(reloads)).code == 0
    renewed = make_set()
    publish(s3, renewed)
    result = run(capsys, dest, "--reload", reload_command(reloads))
    assert result.code == 0 and "updated" in result.out
    assert_installed(dest, renewed)
    assert reload_count(reloads) == 2


def test_reads_the_archive_not_the_live_copies(s3, dest, capsys) -> None:
    issued = make_set()
    publish(s3, issued)
    s3.objects[f"{NAME}/cert.pem"] = b"half-way through a renewal"
    assert run(capsys, dest).code == 0
    assert_installed(dest, issued)
    assert not any(k.startswith(f"{NAME}/") and k.count("/") == 1 and k.endswith(".pem")
                   for k in s3.reads)


def test_quiet_prints_nothing(s3, dest, capsys) -> None:
    publish(s3, make_set())
    result = run(capsys, dest, "--quiet")
    assert result.code == 0 and result.out == "" and result.err == ""


# -- "unchanged" ------------------------------------------------------------------------------
def test_local_status(tmp_path) -> None:
    issued = make_set()
    meta = parse_cert_json(StoredCertificate.describe(NAME, issued, NOW).to_json())
    for filename, body in issued.files().items():
        (tmp_path / filename).write_bytes(body)
    state = pull_run.state_for(meta, Leaf.of(issued.leaf), NOW, reload_pending=False)
    assert local.local_status(tmp_path, meta, None, False) is local.Local.STALE
    assert local.local_status(tmp_path, meta, state, False) is local.Local.CURRENT
    other = dataclasses.replace(state, serial="1234")
    assert local.local_status(tmp_path, meta, other, False) is local.Local.STALE
    pending = dataclasses.replace(state, reload_pending=True)
    assert local.local_status(tmp_path, meta, pending, True) is local.Local.RELOAD_PENDING
    assert local.local_status(tmp_path, meta, pending, False) is local.Local.CURRENT
    (tmp_path / "chain.pem").write_bytes(b"edited by hand")
    assert local.local_status(tmp_path, meta, state, False) is local.Local.STALE
    (tmp_path / "chain.pem").unlink()
    assert local.local_status(tmp_path, meta, state, False) is local.Local.STALE


def test_a_hand_edited_file_is_repaired(s3, dest, reloads, capsys) -> None:
    issued = make_set()
    publish(s3, issued)
    assert run(capsys, dest, "--reload", reload_command(reloads)).code == 0
    (dest / "fullchain.pem").write_bytes(issued.cert)
    result = run(capsys, dest, "--reload", reload_command(reloads))
    assert result.code == 0 and "updated" in result.out
    assert_installed(dest, issued)
    assert reload_count(reloads) == 2


def test_a_damaged_state_file_means_install_again(s3, dest, capsys) -> None:
    issued = make_set()
    publish(s3, issued)
    assert run(capsys, dest).code == 0
    (dest / local.STATE_FILE).write_text("{not json")
    assert "updated" in run(capsys, dest).out
    assert_installed(dest, issued)


def test_unchanged_but_expired_fails(s3, dest, capsys, monkeypatch) -> None:
    issued = make_set()
    publish(s3, issued)
    assert run(capsys, dest).code == 0
    later = certs.not_after(issued.leaf) + dt.timedelta(seconds=1)
    monkeypatch.setattr(cli, "now", lambda: later)
    result = run(capsys, dest)
    assert result.code == Exit.VERIFY
    assert "expired at" in result.err and str(dest / "cert.pem") in result.err
    assert "has not renewed" in result.err


# -- the rename order and interruptions -------------------------------------------------------
def test_all_temp_files_exist_before_the_first_rename_and_order(s3, dest, capsys,
                                                                 monkeypatch) -> None:
    publish(s3, make_set())
    renamed: list[str] = []
    temps_at_first_rename: list[str] = []
    real_replace = os.replace

    def record(src: Any, dst: Any) -> None:
        if not renamed:
            temps_at_first_rename.extend(sorted(p.name for p in dest.glob(f"*{local.TEMP_SUFFIX}")))
        renamed.append(Path(dst).name)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", record)
    assert run(capsys, dest).code == 0
    assert renamed == ["privkey.pem", "fullchain.pem", "cert.pem", "chain.pem", local.STATE_FILE]
    assert len(temps_at_first_rename) == 5
    for filename in (*local.RENAME_ORDER, local.STATE_FILE):
        assert sum(t.startswith(f".{filename}.") for t in temps_at_first_rename) == 1, filename


def test_a_failed_rename_leaves_no_temps_and_the_next_run_repairs(s3, dest, reloads, capsys,
                                                                   monkeypatch) -> None:
    first = make_set()
    publish(s3, first)
    assert run(capsys, dest, "--reload", reload_command(reloads)).code == 0
    renewed = make_set()
    publish(s3, renewed)
    real_replace = os.replace
    calls: list[str] = []

    def fail_after_first(src: Any, dst: Any) -> None:
        calls.append(Path(dst).name)
        if len(calls) > 1:
            raise OSError(5, "Input/output error")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", fail_after_first)
    result = run(capsys, dest, "--reload", reload_command(reloads))
    assert result.code == Exit.LOCAL
    assert "stopped half-way" in result.err and "rerun" in result.err
    assert (dest / "privkey.pem").read_bytes() == renewed.privkey  # the crash left a mix
    assert (dest / "cert.pem").read_bytes() == first.cert
    assert not list(dest.glob(f"*{local.TEMP_SUFFIX}"))
    assert reload_count(reloads) == 1
    monkeypatch.setattr(os, "replace", real_replace)
    repaired = run(capsys, dest, "--reload", reload_command(reloads))
    assert repaired.code == 0 and "updated" in repaired.out
    assert_installed(dest, renewed)
    assert reload_count(reloads) == 2


def test_temps_left_by_a_killed_run_are_removed(s3, dest, capsys) -> None:
    dest.mkdir(parents=True)
    leftover = dest / f".privkey.pem.abc123{local.TEMP_SUFFIX}"
    leftover.write_bytes(b"from a killed run")
    mine = dest / "notes.txt"
    mine.write_text("not ours")
    issued = make_set()
    publish(s3, issued)
    assert run(capsys, dest).code == 0
    assert not leftover.exists() and mine.exists()
    assert_installed(dest, issued)


# -- verification failures leave everything as it was ----------------------------------------
@dataclasses.dataclass
class Installed:
    """A set already pulled into dest (with one reload); the next pull is expected to fail."""

    s3: FakeS3
    dest: Path
    reloads: Path
    capsys: pytest.CaptureFixture[str]
    before: dict[str, tuple[bytes, int]]

    def pull(self) -> Run:
        return run(self.capsys, self.dest, "--reload", reload_command(self.reloads))

    def assert_untouched(self) -> None:
        assert snapshot(self.dest) == self.before
        assert reload_count(self.reloads) == 1

    def assert_refused(self, *needles: str) -> None:
        result = self.pull()
        assert result.code == Exit.VERIFY, result
        assert result.out == "" and result.err.count("\n") == 1
        for needle in (*needles, f"{self.dest} left as it was"):
            assert needle in result.err, (needle, result.err)
        self.assert_untouched()


@pytest.fixture
def installed(s3, dest, reloads, capsys) -> Installed:
    publish(s3, make_set())
    assert run(capsys, dest, "--reload", reload_command(reloads)).code == 0
    return Installed(s3, dest, reloads, capsys, snapshot(dest))


@pytest.mark.parametrize("filename", CERT_FILES)
def test_a_tampered_archive_object(installed, filename) -> None:
    meta = publish(installed.s3, make_set())
    other = make_set(ca=make_ca("another CA"))  # its own chain.pem too
    installed.s3.objects[meta.archive + filename] = other.files()[filename]
    installed.assert_refused(f"s3://{BUCKET}/{meta.archive}{filename}",
                             "does not match its sha256", "re-issue")


def test_a_key_that_does_not_match(installed) -> None:
    good = make_set()
    meta = publish(installed.s3, dataclasses.replace(good, privkey=make_set().privkey))
    installed.assert_refused(f"{meta.archive}privkey.pem does not match",
                             f"{meta.archive}cert.pem")


def test_a_chain_that_does_not_certify(installed) -> None:
    good = make_set()
    chain = make_ca("other CA").pem
    meta = publish(installed.s3, dataclasses.replace(good, chain=chain,
                                                     fullchain=good.cert + chain))
    installed.assert_refused(f"{meta.archive}chain.pem does not certify")


def test_a_fullchain_that_is_not_cert_plus_chain(installed) -> None:
    good = make_set()
    meta = publish(installed.s3, dataclasses.replace(good, fullchain=good.cert))
    installed.assert_refused(f"{meta.archive}fullchain.pem")


def test_names_that_differ_from_cert_json(installed) -> None:
    issued = make_set()
    meta = StoredCertificate.describe(NAME, issued, NOW)
    publish(installed.s3, issued, dataclasses.replace(meta, domains=("other.example.com",)))
    installed.assert_refused(f"{meta.archive}cert.pem does not carry", "other.example.com")


def test_an_expired_certificate(installed) -> None:
    old = make_set(starts=NOW - dt.timedelta(days=100), ends=NOW - dt.timedelta(days=10))
    meta = publish(installed.s3, old)
    installed.assert_refused(f"{meta.archive}cert.pem", "expired at")


def test_a_certificate_not_valid_yet(installed) -> None:
    publish(installed.s3, make_set(starts=NOW + dt.timedelta(days=1)))
    installed.assert_refused("is not valid before", "clock")


def test_a_missing_archive_object(installed) -> None:
    meta = publish(installed.s3, make_set())
    del installed.s3.objects[meta.archive + "chain.pem"]
    installed.assert_refused(f"{meta.archive}chain.pem is missing")


def test_cert_json_pointing_at_another_archive(installed) -> None:
    issued = make_set()
    meta = StoredCertificate.describe(NAME, issued, NOW)
    publish(installed.s3, issued, dataclasses.replace(meta, archive="other/archive/1/"))
    installed.assert_refused("cert.json is inconsistent", "other/archive")


def test_cert_json_that_is_not_json(installed) -> None:
    installed.s3.objects[f"{NAME}/cert.json"] = b"<html>"
    installed.assert_refused("is not a wildcert cert.json")


def rewrite_cert_json(s3: FakeS3, change: Any) -> None:
    key = f"{NAME}/cert.json"
    body = json.loads(s3.objects[key])
    change(body)
    s3.objects[key] = json.dumps(body).encode()


def test_a_newer_format_version_asks_for_an_upgrade(installed) -> None:
    publish(installed.s3, make_set())
    rewrite_cert_json(installed.s3, lambda body: body.update(version=2))
    installed.assert_refused("format version 2", "upgrade wildcert-pull")


@pytest.mark.parametrize(("change", "needle"), [
    (lambda body: body.update(domains="example.com"), "'domains' is a JSON str"),
    (lambda body: body.update(domains=[]), "'domains' is not a list of names"),
    (lambda body: body.pop("serial"), "no 'serial'"),
    (lambda body: body.update(serial="0xAB"), "is not lower-case hex"),
    (lambda body: body.update(sha256=["x"]), "'sha256' is a JSON list"),
])
def test_cert_json_fields_of_the_wrong_shape(installed, change, needle) -> None:
    publish(installed.s3, make_set())
    rewrite_cert_json(installed.s3, change)
    installed.assert_refused("is not a wildcert cert.json", needle)


def test_a_sha256_that_is_not_a_digest(installed) -> None:
    publish(installed.s3, make_set())
    rewrite_cert_json(installed.s3, lambda body: body["sha256"].update({"chain.pem": "abc"}))
    installed.assert_refused("is inconsistent", "no sha256 for chain.pem")


def test_fields_the_puller_does_not_know_are_ignored(s3, dest, capsys) -> None:
    issued = make_set()
    publish(s3, issued)
    rewrite_cert_json(s3, lambda body: body.update(added_later={"x": 1}, not_before="garbage"))
    assert run(capsys, dest).code == 0
    assert_installed(dest, issued)


def test_a_missing_cert_json(s3, dest, capsys) -> None:
    result = run(capsys, dest, name="nothing-here")
    assert result.code == Exit.VERIFY
    assert f"s3://{BUCKET}/nothing-here/cert.json does not exist" in result.err
    assert "check --name and --bucket" in result.err
    assert not dest.exists()


# -- AWS errors -------------------------------------------------------------------------------
@pytest.mark.parametrize(("error", "needles"), [
    (_client_error("AccessDenied", "Access Denied"), ("AccessDenied", "s3:GetObject",
                                                      "kms:Decrypt")),
    (_client_error("NoSuchBucket", "no bucket"), ("check --bucket",)),
    (_client_error("KMS.DisabledException", "key disabled"), ("KMS",)),
    (_client_error("InternalError", "oops"), ("retry",)),
    (EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), ("network access",)),
    (NoCredentialsError(), ("no AWS credentials", "instance role")),
])
def test_aws_errors(installed, error, needles) -> None:
    meta = publish(installed.s3, make_set())
    installed.s3.failures[meta.archive + "privkey.pem"] = error
    result = installed.pull()
    assert result.code == Exit.AWS, result
    assert "privkey.pem" in result.err and result.err.count("\n") == 1
    for needle in (*needles, f"{installed.dest} left as it was"):
        assert needle in result.err, (needle, result.err)
    installed.assert_untouched()


# -- reload -----------------------------------------------------------------------------------
def test_a_failed_reload_is_retried_until_it_works(s3, dest, reloads, capsys) -> None:
    issued = make_set()
    publish(s3, issued)
    failed = run(capsys, dest, "--reload", reload_command(reloads, exit_code=3))
    assert failed.code == Exit.RELOAD
    assert "exited with 3" in failed.err and "installed and valid" in failed.err
    assert_installed(dest, issued)
    state = local.read_state(dest)
    assert state is not None and state.reload_pending
    retried = run(capsys, dest, "--reload", reload_command(reloads))
    assert retried.code == 0 and "reload had failed" in retried.out and "reloaded" in retried.out
    assert reload_count(reloads) == 2
    calm = run(capsys, dest, "--reload", reload_command(reloads))
    assert calm.code == 0 and "unchanged" in calm.out
    assert reload_count(reloads) == 2


def test_a_reload_command_that_does_not_exist(s3, dest, capsys) -> None:
    publish(s3, make_set())
    result = run(capsys, dest, "--reload", "/nonexistent/reloader --now")
    assert result.code == Exit.RELOAD
    assert "could not start" in result.err and "/nonexistent/reloader" in result.err


def test_the_reload_runs_without_a_shell(s3, dest, tmp_path, capsys) -> None:
    publish(s3, make_set())
    marker = tmp_path / "marker"
    script = f"import sys; open({str(marker)!r}, 'w').write(sys.argv[1])"
    command = shlex.join([sys.executable, "-c", script, "$HOME; touch /tmp/x"])
    assert run(capsys, dest, "--reload", command).code == 0
    assert marker.read_text() == "$HOME; touch /tmp/x"


# -- usage and local errors -------------------------------------------------------------------
@pytest.mark.parametrize("argv", [
    [],
    ["--bucket", BUCKET, "--name", NAME],
    ["--bucket", BUCKET, "--name", "_wildcert", "--dest", "/tmp/d"],
    ["--bucket", BUCKET, "--name", "a/b", "--dest", "/tmp/d"],
    ["--bucket", BUCKET, "--name", NAME, "--dest", "/tmp/d", "--reload", "'unbalanced"],
    ["--bucket", BUCKET, "--name", NAME, "--dest", "/tmp/d", "--reload", ""],
])
def test_usage_errors_exit_2(argv, capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(argv)
    assert exited.value.code == Exit.USAGE
    assert "usage:" in capsys.readouterr().err


def test_a_run_holding_the_lock_makes_the_next_one_give_up(s3, dest, capsys,
                                                           monkeypatch) -> None:
    publish(s3, make_set())
    dest.mkdir(parents=True)
    monkeypatch.setattr(local, "LOCK_WAIT_SECONDS", 0.3)
    with open(dest / local.LOCK_FILE, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        result = run(capsys, dest)
    assert result.code == Exit.LOCAL and "another wildcert-pull" in result.err
    assert sorted(p.name for p in dest.iterdir()) == [local.LOCK_FILE]
    assert run(capsys, dest).code == 0


def test_runs_as_a_module() -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "puller")}
    done = subprocess.run([sys.executable, "-m", "wildcert_pull", "--help"], capture_output=True,
                          text=True, timeout=60, check=False, env=env)
    assert done.returncode == 0
    assert "--reload" in done.stdout and "4 reload failed" in done.stdout


def test_dest_that_is_a_file(s3, tmp_path, capsys) -> None:
    publish(s3, make_set())
    target = tmp_path / "file"
    target.write_text("x")
    result = run(capsys, target)
    assert result.code == Exit.USAGE and "not a directory" in result.err
    assert target.read_text() == "x"


def test_dest_that_cannot_be_created(s3, tmp_path, capsys) -> None:
    publish(s3, make_set())
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a directory should be")
    result = run(capsys, blocker / "ssl" / NAME)
    assert result.code == Exit.LOCAL and "may create and write" in result.err


# -- never older, never other names ----------------------------------------------------------
def rolled_back(s3: FakeS3, dest: Path, reloads: Path,
                capsys: pytest.CaptureFixture[str]) -> tuple[certs.IssuedSet, Installed]:
    """An older set, then a newer one, both pulled; then cert.json rolled back to the older one
    (as restoring an old object version does): its archive is intact and still valid."""
    older = make_set(starts=NOW - dt.timedelta(days=30))
    older_meta = publish(s3, older)
    assert run(capsys, dest, "--reload", reload_command(reloads)).code == 0
    publish(s3, make_set(starts=NOW - dt.timedelta(days=1)))
    assert run(capsys, dest, "--reload", reload_command(reloads)).code == 0
    s3.objects[f"{NAME}/cert.json"] = older_meta.to_json()
    reloads.unlink()
    return older, Installed(s3, dest, reloads, capsys, snapshot(dest))


def test_a_rolled_back_cert_json_is_refused(s3, dest, reloads, capsys) -> None:
    older, installed = rolled_back(s3, dest, reloads, capsys)
    result = installed.pull()
    assert result.code == 6, result
    assert result.out == "" and result.err.count("\n") == 1
    for needle in (f"serial {certs.serial_hex(older.leaf)}", "is older than the certificate "
                   f"installed in {dest}", "rolled back", "--allow-older",
                   f"{dest} left as it was"):
        assert needle in result.err, (needle, result.err)
    assert snapshot(dest) == installed.before
    assert reload_count(reloads) == 0


def test_allow_older_installs_a_deliberate_rollback(s3, dest, reloads, capsys) -> None:
    older, _ = rolled_back(s3, dest, reloads, capsys)
    result = run(capsys, dest, "--allow-older", "--reload", reload_command(reloads))
    assert result.code == 0, result.err
    assert_installed(dest, older)
    assert reload_count(reloads) == 1
    assert "unchanged" in run(capsys, dest).out  # the rollback is now what is installed


def test_a_rollback_is_refused_even_without_a_state_file(s3, dest, reloads, capsys) -> None:
    """The installed cert.pem is the reference: deleting the state file does not unlock it."""
    _, installed = rolled_back(s3, dest, reloads, capsys)
    (dest / local.STATE_FILE).unlink()
    assert installed.pull().code == 6


def test_a_hand_damaged_cert_pem_still_has_the_state_file_as_reference(s3, dest, reloads,
                                                                        capsys) -> None:
    _, installed = rolled_back(s3, dest, reloads, capsys)
    (dest / "cert.pem").write_bytes(b"edited by hand")
    assert installed.pull().code == 6


def test_other_names_are_refused(installed) -> None:
    publish(installed.s3, make_set(("*.example.org", "example.org")))
    result = installed.pull()
    assert result.code == 6, result
    for needle in ("'*.example.org', 'example.org'", "'*.example.com', 'example.com'",
                   "--expect-domain", f"{installed.dest} left as it was"):
        assert needle in result.err, (needle, result.err)
    installed.assert_untouched()


def test_expect_domain_accepts_the_new_names(installed) -> None:
    renamed = make_set(("*.example.org", "example.org"))
    publish(installed.s3, renamed)
    result = run(installed.capsys, installed.dest, "--expect-domain", "example.org",
                 "--expect-domain", "*.EXAMPLE.org")
    assert result.code == 0, result.err
    assert_installed(installed.dest, renamed)


def test_expect_domain_pins_the_first_install(s3, dest, capsys) -> None:
    publish(s3, make_set())
    result = run(capsys, dest, "--expect-domain", "*.example.com")
    assert result.code == 6, result
    assert "--expect-domain ['*.example.com']" in result.err
    assert not dest.exists()


def test_expect_domain_holds_for_an_unchanged_certificate(installed) -> None:
    result = run(installed.capsys, installed.dest, "--expect-domain", "www.example.com")
    assert result.code == 6 and "--expect-domain" in result.err, result
    installed.assert_untouched()


# -- links and loose modes in --dest ---------------------------------------------------------
MANAGED = ("privkey.pem", "cert.pem", "chain.pem", "fullchain.pem", ".wildcert.json",
           ".wildcert.lock")


def test_a_planted_lock_symlink_creates_nothing(s3, dest, tmp_path, capsys) -> None:
    publish(s3, make_set())
    dest.mkdir(parents=True, mode=0o700)
    target = tmp_path / "created-through-the-link"
    (dest / ".wildcert.lock").symlink_to(target)
    result = run(capsys, dest)
    assert result.code == Exit.LOCAL, result
    assert "is a symlink" in result.err and "nothing was changed" in result.err
    assert not target.exists()
    assert sorted(p.name for p in dest.iterdir()) == [".wildcert.lock"]


@pytest.mark.parametrize("filename", MANAGED)
def test_a_symlinked_file_in_dest_is_refused(s3, dest, tmp_path, capsys, filename) -> None:
    publish(s3, make_set())
    assert run(capsys, dest).code == 0
    publish(s3, make_set())  # a renewal, so the next run would write every file
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_bytes(b"not yours")
    (dest / filename).unlink()
    (dest / filename).symlink_to(elsewhere)
    before = snapshot_links(dest)
    result = run(capsys, dest)
    assert result.code == Exit.LOCAL, result
    assert f"{dest / filename} is a symlink (to {elsewhere})" in result.err
    assert snapshot_links(dest) == before
    assert elsewhere.read_bytes() == b"not yours"


def snapshot_links(dest: Path) -> dict[str, str | bytes]:
    return {p.name: str(p.readlink()) if p.is_symlink() else p.read_bytes()
            for p in sorted(dest.iterdir())}


def test_a_fifo_in_place_of_the_state_file_is_refused(s3, dest, capsys) -> None:
    publish(s3, make_set())
    dest.mkdir(parents=True, mode=0o700)
    os.mkfifo(dest / ".wildcert.json")
    result = run(capsys, dest)
    assert result.code == Exit.LOCAL and "not a regular file" in result.err, result


def test_a_dest_others_can_write_is_tightened(s3, dest, capsys) -> None:
    dest.mkdir(parents=True)
    os.chmod(dest, 0o777)  # noqa: S103 (the loose mode under test)
    publish(s3, make_set())
    result = run(capsys, dest)
    assert result.code == 0, result.err
    assert mode(dest) == 0o755
    assert result.err == (f"wildcert-pull: warning: {dest} was writable by group and others "
                          "(mode 0777); made it 0755 so that no one else can replace the "
                          "files in it\n")
    assert run(capsys, dest).err == ""  # once


def test_a_sticky_shared_dest_is_refused(s3, dest, capsys) -> None:
    dest.mkdir(parents=True)
    os.chmod(dest, 0o1777)  # noqa: S103 (the loose mode under test)
    publish(s3, make_set())
    result = run(capsys, dest)
    assert result.code == Exit.LOCAL, result
    assert "writable by group and others (mode 1777)" in result.err
    assert "nothing was changed" in result.err
    assert mode(dest) == 0o1777 and not list(dest.iterdir())


def test_a_refused_link_leaves_even_a_loose_mode_as_it_was(s3, dest, tmp_path, capsys) -> None:
    dest.mkdir(parents=True)
    os.chmod(dest, 0o777)  # noqa: S103 (the loose mode under test)
    (dest / "privkey.pem").symlink_to(tmp_path / "elsewhere")
    publish(s3, make_set())
    result = run(capsys, dest)
    assert result.code == Exit.LOCAL and "nothing was changed" in result.err, result
    assert "warning" not in result.err
    assert mode(dest) == 0o777 and s3.reads == []


def test_a_damaged_record_and_cert_pem_mean_no_reference(s3, dest, reloads, capsys) -> None:
    """Both copies of what was installed damaged by hand: nothing to compare with, so the
    bucket's set is installed (as on a first install), not a crash."""
    older, _ = rolled_back(s3, dest, reloads, capsys)
    (dest / "cert.pem").write_bytes(b"edited by hand")
    state = json.loads((dest / local.STATE_FILE).read_text())
    (dest / local.STATE_FILE).write_text(json.dumps({**state, "not_before": 17}))
    result = run(capsys, dest)
    assert result.code == 0, result.err
    assert_installed(dest, older)
