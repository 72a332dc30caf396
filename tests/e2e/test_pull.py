"""wildcert-pull end to end: certificates issued on the local stack, pulled by the installed CLI.

The issuer writes the bucket; the `wildcert-pull` script next to this Python (`make deps`
installs ./puller into the venv) reads it, as a server would.
"""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.support import ISSUER, client, invoke, stored_set, unique
from wildcert.logic import certificates as certs

CLI = Path(sys.executable).with_name("wildcert-pull")
TIMEOUT = 120

# Dies like a killed process right after the first rename: no cleanup, no state file.
CRASH_AFTER_FIRST_RENAME = """
import os, sys
from wildcert_pull import cli
real_replace = os.replace
def replace_then_die(src, dst):
    real_replace(src, dst)
    os._exit(9)
os.replace = replace_then_die
sys.exit(cli.main(sys.argv[1:]))
"""


def reload_command(log: Path) -> str:
    return shlex.join([sys.executable, "-c", f"open({str(log)!r}, 'a').write('reloaded\\n')"])


def arguments(name: str, dest: Path, reloads: Path) -> list[str]:
    return ["--bucket", os.environ["CERT_BUCKET"], "--name", name, "--dest", str(dest),
            "--reload", reload_command(reloads)]


def pull_cli(name: str, dest: Path, reloads: Path,
             *extra: str) -> subprocess.CompletedProcess[str]:
    assert CLI.exists(), f"{CLI} missing: make deps installs it (pip install --no-deps -e ./puller)"
    done = subprocess.run([str(CLI), *arguments(name, dest, reloads), *extra],
                          capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert "PRIVATE KEY" not in done.stdout + done.stderr
    return done


def reload_count(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def snapshot(dest: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(dest.iterdir())}


def issue(label: str, force: bool = False) -> str:
    request: dict[str, object] = {"domains": [f"*.{label}.example.com", f"{label}.example.com"],
                                  "name": label}
    if force:
        request["force"] = True
    result = invoke(ISSUER, request)
    assert result["status"] == ("renewed" if force else "issued"), result
    return str(result["serial"])


def assert_installed(dest: Path, label: str, serial: str) -> None:
    """What is on disk is the bucket's current set, and it is a usable one."""
    meta, files = stored_set(label)
    assert meta["serial"] == serial
    local = {name: (dest / name).read_bytes() for name in files}
    assert local == files
    issued = certs.IssuedSet(privkey=local["privkey.pem"], cert=local["cert.pem"],
                             chain=local["chain.pem"], fullchain=local["fullchain.pem"])
    certs.verify_set(issued, (f"*.{label}.example.com", f"{label}.example.com"))
    assert certs.serial_hex(issued.leaf) == serial
    assert stat.S_IMODE((dest / "privkey.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE((dest / "cert.pem").stat().st_mode) == 0o644
    assert not list(dest.glob(".*.wildcert-tmp"))


def test_pull_then_unchanged_then_force_renewal(tmp_path: Path) -> None:
    label, dest, reloads = unique("p"), tmp_path / "ssl" / "wildcert", tmp_path / "reloads"
    first = issue(label)
    done = pull_cli(label, dest, reloads)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\n") == 1 and "updated" in done.stdout and first in done.stdout
    assert_installed(dest, label, first)
    assert stat.S_IMODE(dest.stat().st_mode) == 0o750
    assert reload_count(reloads) == 1

    before = snapshot(dest)
    again = pull_cli(label, dest, reloads)
    assert again.returncode == 0 and "unchanged" in again.stdout, again
    assert snapshot(dest) == before
    assert reload_count(reloads) == 1

    renewed = issue(label, force=True)
    assert renewed != first
    updated = pull_cli(label, dest, reloads)
    assert updated.returncode == 0 and renewed in updated.stdout, updated
    assert_installed(dest, label, renewed)
    assert reload_count(reloads) == 2


@pytest.mark.parametrize(("filename", "damage"), [
    ("cert.pem", "replace"), ("privkey.pem", "replace"), ("chain.pem", "delete")])
def test_a_damaged_archive_is_refused(tmp_path: Path, filename: str, damage: str) -> None:
    label, dest, reloads = unique("t"), tmp_path / "dest", tmp_path / "reloads"
    issue(label)
    assert pull_cli(label, dest, reloads).returncode == 0
    _, old_files = stored_set(label)
    before = snapshot(dest)
    renewed = issue(label, force=True)
    key = f"{label}/archive/{renewed}/{filename}"
    s3, bucket = client("s3"), os.environ["CERT_BUCKET"]
    if damage == "replace":  # a valid PEM of the right kind, just not the one cert.json names
        s3.put_object(Bucket=bucket, Key=key, Body=old_files[filename],
                      ServerSideEncryption="aws:kms", SSEKMSKeyId=os.environ["KMS_KEY_ID"])
    else:
        s3.delete_object(Bucket=bucket, Key=key)

    refused = pull_cli(label, dest, reloads)
    assert refused.returncode == 1, refused
    assert refused.stdout == "" and refused.stderr.count("\n") == 1
    assert f"s3://{bucket}/{key}" in refused.stderr
    assert ("does not match its sha256" if damage == "replace" else "is missing") in refused.stderr
    assert "re-issue" in refused.stderr and f"{dest} left as it was" in refused.stderr
    assert snapshot(dest) == before
    assert reload_count(reloads) == 1


def test_an_interrupted_install_is_repaired_by_the_next_run(tmp_path: Path) -> None:
    label, dest, reloads = unique("i"), tmp_path / "dest", tmp_path / "reloads"
    first = issue(label)
    assert pull_cli(label, dest, reloads).returncode == 0
    old_cert = (dest / "cert.pem").read_bytes()
    renewed = issue(label, force=True)

    crashed = subprocess.run(
        [sys.executable, "-c", CRASH_AFTER_FIRST_RENAME, *arguments(label, dest, reloads)],
        capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )
    assert crashed.returncode == 9, crashed.stderr
    _, new_files = stored_set(label)
    assert (dest / "privkey.pem").read_bytes() == new_files["privkey.pem"]  # key went first
    assert (dest / "cert.pem").read_bytes() == old_cert
    assert list(dest.glob(".*.wildcert-tmp"))  # a killed run cleans nothing up
    assert first in (dest / ".wildcert.json").read_text()
    assert reload_count(reloads) == 1

    repaired = pull_cli(label, dest, reloads)
    assert repaired.returncode == 0 and "updated" in repaired.stdout, repaired
    assert_installed(dest, label, renewed)
    assert renewed in (dest / ".wildcert.json").read_text()
    assert reload_count(reloads) == 2


def test_a_name_never_issued(tmp_path: Path) -> None:
    label, dest = unique("n"), tmp_path / "dest"
    done = pull_cli(label, dest, tmp_path / "reloads")
    assert done.returncode == 1
    bucket = os.environ["CERT_BUCKET"]
    assert f"s3://{bucket}/{label}/cert.json does not exist" in done.stderr
    assert "check --name and --bucket, or issue it first" in done.stderr
    assert not dest.exists()
    assert not (tmp_path / "reloads").exists()


def test_a_rolled_back_cert_json_is_refused(tmp_path: Path) -> None:
    """Restoring an old cert.json (an old object version, say) points at an intact, still valid
    archive: every hash matches, and only the comparison with what is installed catches it."""
    label, dest, reloads = unique("r"), tmp_path / "dest", tmp_path / "reloads"
    s3, bucket = client("s3"), os.environ["CERT_BUCKET"]
    first = issue(label)
    old_json = s3.get_object(Bucket=bucket, Key=f"{label}/cert.json")["Body"].read()
    time.sleep(1.1)  # notBefore has one-second precision: the renewal must start later
    renewed = issue(label, force=True)
    assert pull_cli(label, dest, reloads).returncode == 0
    before = snapshot(dest)
    s3.put_object(Bucket=bucket, Key=f"{label}/cert.json", Body=old_json,
                  ServerSideEncryption="aws:kms", SSEKMSKeyId=os.environ["KMS_KEY_ID"])

    refused = pull_cli(label, dest, reloads)
    assert refused.returncode == 6, refused
    assert f"serial {first}" in refused.stderr and f"(serial {renewed}" in refused.stderr
    assert "--allow-older" in refused.stderr and f"{dest} left as it was" in refused.stderr
    assert snapshot(dest) == before
    assert reload_count(reloads) == 1

    allowed = pull_cli(label, dest, reloads, "--allow-older")
    assert allowed.returncode == 0 and first in allowed.stdout, allowed
    archived = {f: s3.get_object(Bucket=bucket, Key=f"{label}/archive/{first}/{f}")["Body"].read()
                for f in ("privkey.pem", "cert.pem", "chain.pem", "fullchain.pem")}
    assert {f: (dest / f).read_bytes() for f in archived} == archived
    assert reload_count(reloads) == 2
