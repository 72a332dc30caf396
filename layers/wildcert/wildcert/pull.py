"""wildcert-pull: install one certificate from the wildcert bucket on a server (a cron job).

Reads `<name>/cert.json`, fetches the immutable archived set it names (a renewal running at
the same time cannot hand us a mixed set), verifies it completely, and only then replaces the
files in --dest: temporary files first, renames back to back, the state file last. The reload
command runs only when something changed. docs/PULL.md is the operator's guide.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import enum
import fcntl
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm

from wildcert.adapters.aws import client_config, error_code, error_text
from wildcert.adapters.bucket.certificates import CERT_FILES, StoredCertificate
from wildcert.logic.certificates import (
    CertificateError,
    IssuedSet,
    not_after,
    not_before,
    serial_hex,
    sha256_hex,
    verify_set,
)

PROG = "wildcert-pull"
STATE_FILE = ".wildcert.json"
LOCK_FILE = ".wildcert.lock"
TEMP_SUFFIX = ".wildcert-tmp"
# The key goes first and the certificates paired with it right after, so a new cert.pem or
# fullchain.pem is never on disk next to the old key; chain.pem, paired with no key, goes last.
RENAME_ORDER = ("privkey.pem", "fullchain.pem", "cert.pem", "chain.pem")
FILE_MODES = {"privkey.pem": 0o600, "fullchain.pem": 0o644, "cert.pem": 0o644, "chain.pem": 0o644}
STATE_MODE = 0o644
DIR_MODE = 0o750
LOCK_MODE = 0o600
LOCK_WAIT_SECONDS = 60.0
LOCK_POLL_SECONDS = 0.2
RELOAD_TIMEOUT_SECONDS = 300
MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
DENIED_CODES = frozenset({"AccessDenied", "403", "Forbidden", "AllAccessDisabled"})


class Exit(enum.IntEnum):
    OK = 0  # installed, or already current
    VERIFY = 1  # the bucket holds no usable, valid set (mismatch, missing, expired)
    USAGE = 2  # bad command line (argparse's own code)
    AWS = 3  # S3/KMS/credentials/network
    RELOAD = 4  # files installed, the reload command failed
    LOCAL = 5  # --dest could not be read, locked or written
    BUG = 70  # an unexpected exception (sysexits EX_SOFTWARE)


class PullError(Exception):
    """One line for the operator: what failed, which object or file, what to do."""

    def __init__(self, message: str, code: Exit):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Options:
    bucket: str
    name: str
    dest: Path
    reload: tuple[str, ...] | None = None
    region: str | None = None
    endpoint_url: str | None = None
    quiet: bool = False


# -- the bucket -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Bucket:
    """GetObject only: the reader role may read `*/cert.json` and `*.pem`, and we never list."""

    s3: Any
    name: str

    def url(self, key: str) -> str:
        return f"s3://{self.name}/{key}"

    def get(self, key: str) -> bytes | None:
        """The object's bytes, or None when S3 says it does not exist."""
        try:
            return self.s3.get_object(Bucket=self.name, Key=key)["Body"].read()
        except ClientError as exc:
            if error_code(exc) in MISSING_CODES:
                return None
            raise _client_failure(self, key, exc) from exc
        except NoCredentialsError as exc:
            raise PullError(
                f"no AWS credentials to read {self.url(key)}: attach the instance role that may "
                "assume wildcert's reader role, or set AWS_PROFILE",
                Exit.AWS,
            ) from exc
        except BotoCoreError as exc:
            raise PullError(
                f"reading {self.url(key)} failed: {exc} — check this host's network access to "
                "S3, --region and --endpoint-url, then rerun",
                Exit.AWS,
            ) from exc


def _client_failure(bucket: Bucket, key: str, exc: ClientError) -> PullError:
    code, url = error_code(exc), bucket.url(key)
    if code in DENIED_CODES:
        hint = (
            "the object may not exist (S3 says AccessDenied, not NoSuchKey, to a caller that "
            "may not list the bucket), or this host's role lacks s3:GetObject on it or "
            "kms:Decrypt on the bucket's key — check --bucket, --name and the reader role"
        )
    elif code == "NoSuchBucket":
        hint = f"there is no bucket {bucket.name!r} — check --bucket (and --region)"
    elif code.startswith("KMS") or "KMS" in error_text(exc):
        hint = "S3 could not decrypt it with the bucket's KMS key — check kms:Decrypt for the role"
    else:
        hint = "retry; if it persists, check the bucket, --region and the credentials"
    return PullError(f"reading {url} failed: {error_text(exc)} — {hint}", Exit.AWS)


def fetch_metadata(bucket: Bucket, name: str) -> StoredCertificate:
    key = f"{name}/cert.json"
    raw = bucket.get(key)
    if raw is None:
        raise PullError(
            f"{bucket.url(key)} does not exist: there is no certificate named {name!r} in "
            f"bucket {bucket.name!r} — check --name and --bucket, or issue it first",
            Exit.VERIFY,
        )
    try:
        meta = StoredCertificate.from_json(raw)
    except (ValueError, KeyError, TypeError) as exc:
        raise PullError(
            f"{bucket.url(key)} is not a wildcert cert.json ({exc}) — re-issue {name!r} with "
            '{"force": true}',
            Exit.VERIFY,
        ) from exc
    check_metadata(bucket, name, meta)
    return meta


def check_metadata(bucket: Bucket, name: str, meta: StoredCertificate) -> None:
    """cert.json must name this certificate's own archive, so it cannot point us elsewhere."""
    problems = []
    if meta.name != name:
        problems.append(f"its name is {meta.name!r}")
    if meta.archive != f"{name}/archive/{meta.serial}/":
        problems.append(f"its archive {meta.archive!r} is not {name}/archive/{meta.serial}/")
    missing = [f for f in CERT_FILES if not isinstance(meta.sha256.get(f), str)]
    if missing:
        problems.append(f"it has no sha256 for {', '.join(missing)}")
    if problems:
        raise PullError(
            f"{bucket.url(name + '/cert.json')} is inconsistent: {'; '.join(problems)} — "
            f're-issue {name!r} with {{"force": true}}',
            Exit.VERIFY,
        )


def fetch_archived(bucket: Bucket, meta: StoredCertificate, filename: str) -> bytes:
    key = meta.archive + filename
    data = bucket.get(key)
    metadata_url = bucket.url(f"{meta.name}/cert.json")
    if data is None:
        raise PullError(
            f"{bucket.url(key)} is missing although {metadata_url} names it: the archived set "
            f'was deleted — re-issue {meta.name!r} with {{"force": true}}',
            Exit.VERIFY,
        )
    expected, actual = meta.sha256[filename], sha256_hex(data)
    if actual != expected:
        raise PullError(
            f"{bucket.url(key)} does not match its sha256 in {metadata_url} (got "
            f"{actual[:16]}…, expected {expected[:16]}…): it or cert.json was changed after "
            "issuance — do not use it; find who wrote it (CloudTrail, object versions) and "
            f're-issue {meta.name!r} with {{"force": true}}',
            Exit.VERIFY,
        )
    return data


def fetch_set(bucket: Bucket, meta: StoredCertificate) -> IssuedSet:
    files = {filename: fetch_archived(bucket, meta, filename) for filename in CERT_FILES}
    return IssuedSet(
        privkey=files["privkey.pem"],
        cert=files["cert.pem"],
        chain=files["chain.pem"],
        fullchain=files["fullchain.pem"],
    )


# -- verification -----------------------------------------------------------------------------
def _verified(problem: str, check: Callable[[], object]) -> None:
    try:
        check()
    except (CertificateError, ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise PullError(f"{problem}: {exc}", Exit.VERIFY) from exc


def verify(bucket: Bucket, meta: StoredCertificate, issued: IssuedSet, now: dt.datetime) -> None:
    """Each check names its objects; verify_set is called per step for exactly that reason."""
    url = bucket.url(meta.archive)
    fix = f'— re-issue {meta.name!r} with {{"force": true}}'
    _verified(f"{url}cert.pem is not a PEM certificate {fix}", lambda: issued.leaf)
    key_only = IssuedSet(issued.privkey, issued.cert, b"", issued.cert)
    _verified(f"{url}privkey.pem does not match {url}cert.pem {fix}", lambda: verify_set(key_only))
    _verified(f"{url}chain.pem does not certify {url}cert.pem {fix}", lambda: verify_set(issued))
    if issued.fullchain != issued.cert + issued.chain:
        raise PullError(
            f"{url}fullchain.pem is not cert.pem followed by chain.pem {fix}", Exit.VERIFY
        )
    _verified(
        f"{url}cert.pem does not carry the domains of {bucket.url(meta.name + '/cert.json')} {fix}",
        lambda: verify_set(issued, meta.domains),
    )
    if serial_hex(issued.leaf) != meta.serial:
        raise PullError(
            f"{url}cert.pem has serial {serial_hex(issued.leaf)}, cert.json says {meta.serial} "
            f"{fix}",
            Exit.VERIFY,
        )
    check_validity(issued.leaf, now, f"{url}cert.pem", meta.name)


def check_validity(leaf: x509.Certificate, now: dt.datetime, where: str, name: str) -> None:
    if now < not_before(leaf):
        raise PullError(
            f"{where} (serial {serial_hex(leaf)}) is not valid before {_iso(not_before(leaf))} "
            "— check this host's clock (timedatectl), then rerun",
            Exit.VERIFY,
        )
    if now >= not_after(leaf):
        raise PullError(
            f"{where} (serial {serial_hex(leaf)}) expired at {_iso(not_after(leaf))} and the "
            f"bucket has no newer certificate: the issuer has not renewed {name!r} — check its "
            'alarms and logs, or re-issue with {"force": true}',
            Exit.VERIFY,
        )


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


# -- what is installed ------------------------------------------------------------------------
@dataclass(frozen=True)
class InstalledState:
    """`--dest/.wildcert.json`: the set the files were last installed from, written last."""

    name: str
    serial: str
    archive: str
    sha256: Mapping[str, str]
    not_after: str
    installed_at: str
    reload_pending: bool = False

    def to_json(self) -> bytes:
        body = dataclasses.asdict(self)
        body["sha256"] = dict(self.sha256)
        return json.dumps(body, indent=2, sort_keys=True).encode() + b"\n"

    @classmethod
    def from_json(cls, raw: bytes) -> InstalledState:
        body = json.loads(raw)
        return cls(**{f: body[f] for f in cls.__dataclass_fields__ if f in body})


class Local(enum.Enum):
    CURRENT = "current"
    RELOAD_PENDING = "reload pending"
    STALE = "stale"


def read_state(dest: Path) -> InstalledState | None:
    try:
        return InstalledState.from_json((dest / STATE_FILE).read_bytes())
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError):
        return None  # a damaged state file only means: install again


def files_match(dest: Path, sha256: Mapping[str, str]) -> bool:
    for filename in CERT_FILES:
        try:
            data = (dest / filename).read_bytes()
        except FileNotFoundError:
            return False
        if sha256_hex(data) != sha256[filename]:
            return False
    return True


def local_status(
    dest: Path, meta: StoredCertificate, state: InstalledState | None, reloading: bool
) -> Local:
    """The state file says which set was installed; the files must still hash to it."""
    wanted = {f: meta.sha256[f] for f in CERT_FILES}
    if state is None or state.serial != meta.serial or dict(state.sha256) != wanted:
        return Local.STALE
    if not files_match(dest, wanted):
        return Local.STALE
    return Local.RELOAD_PENDING if reloading and state.reload_pending else Local.CURRENT


# -- writing ----------------------------------------------------------------------------------
def ensure_dir(dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.mkdir(dest, DIR_MODE)
    except FileExistsError:
        return
    os.chmod(dest, DIR_MODE)  # mkdir's mode is filtered by the umask


@contextmanager
def dest_lock(dest: Path) -> Iterator[None]:
    """Two overlapping cron runs must not interleave their renames."""
    fd = os.open(dest / LOCK_FILE, os.O_RDWR | os.O_CREAT, LOCK_MODE)
    try:
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise PullError(
                        f"another wildcert-pull has held {dest / LOCK_FILE} for "
                        f"{LOCK_WAIT_SECONDS:.0f}s — check for a hung run, then rerun",
                        Exit.LOCAL,
                    ) from None
                time.sleep(LOCK_POLL_SECONDS)
        yield
    finally:
        os.close(fd)


def write_temp(dest: Path, filename: str, data: bytes, mode: int) -> Path:
    """mkstemp creates the file 0600 with O_EXCL, so a key is never readable by others."""
    fd, name = tempfile.mkstemp(dir=dest, prefix=f".{filename}.", suffix=TEMP_SUFFIX)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def fsync_dir(dest: Path) -> None:
    fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_temps(dest: Path) -> None:
    """Temporary files left by a run that was killed; only our own names, under the lock."""
    for path in dest.glob(f".*{TEMP_SUFFIX}"):
        path.unlink(missing_ok=True)


def write_state(dest: Path, state: InstalledState) -> None:
    temp = write_temp(dest, STATE_FILE, state.to_json(), STATE_MODE)
    os.replace(temp, dest / STATE_FILE)
    fsync_dir(dest)


def install(dest: Path, files: Mapping[str, bytes], state: InstalledState) -> None:
    """Temp files first, then the renames back to back in RENAME_ORDER, the state file last."""
    temps: dict[str, Path] = {}
    try:
        for filename in RENAME_ORDER:
            temps[filename] = write_temp(dest, filename, files[filename], FILE_MODES[filename])
        temps[STATE_FILE] = write_temp(dest, STATE_FILE, state.to_json(), STATE_MODE)
        _rename_all(dest, temps)
    finally:
        for path in temps.values():
            path.unlink(missing_ok=True)


def _rename_all(dest: Path, temps: dict[str, Path]) -> None:
    try:
        for filename in RENAME_ORDER:
            _rename(temps, filename, dest)
        # The state file must never reach the disk before the files it describes.
        fsync_dir(dest)
        _rename(temps, STATE_FILE, dest)
        fsync_dir(dest)
    except OSError as exc:
        raise PullError(
            f"installing into {dest} stopped half-way: {exc} — fix the cause and rerun "
            f"wildcert-pull; until then the files there may mix two sets ({STATE_FILE} still "
            "names the old one, so the next run installs the whole set again)",
            Exit.LOCAL,
        ) from exc


def _rename(temps: dict[str, Path], filename: str, dest: Path) -> None:
    os.replace(temps[filename], dest / filename)
    del temps[filename]  # only once renamed: install() removes whatever is left in temps


# -- reload -----------------------------------------------------------------------------------
def run_reload(command: tuple[str, ...]) -> None:
    shown = shlex.join(command)
    after = (
        "the new files are installed and valid, but the service may still use the old ones — "
        "fix it and rerun wildcert-pull, which retries the reload"
    )
    try:
        done = subprocess.run(
            command, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False,
            timeout=RELOAD_TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired as exc:
        raise PullError(
            f"the reload command {shown!r} ran longer than {RELOAD_TIMEOUT_SECONDS}s: {after}",
            Exit.RELOAD,
        ) from exc
    except OSError as exc:
        raise PullError(f"the reload command {shown!r} could not start ({exc}): {after}",
                        Exit.RELOAD) from exc
    if done.returncode != 0:
        said = _last_line(done.stderr) or _last_line(done.stdout)
        raise PullError(
            f"the reload command {shown!r} exited with {done.returncode}"
            f"{f' ({said})' if said else ''}: {after}",
            Exit.RELOAD,
        )


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


# -- the run ----------------------------------------------------------------------------------
def pull(options: Options, s3: Any, now: dt.datetime) -> str:
    """Install the current set if it is not installed yet; returns the line to print."""
    if options.dest.exists() and not options.dest.is_dir():
        raise PullError(f"{options.dest} is not a directory — pick another --dest", Exit.USAGE)
    bucket = Bucket(s3, options.bucket)
    meta = fetch_metadata(bucket, options.name)
    reloading = options.reload is not None
    if local_status(options.dest, meta, read_state(options.dest), reloading) is Local.CURRENT:
        return unchanged(options, now)
    issued = fetch_checked(bucket, meta, now)
    ensure_dir(options.dest)
    with dest_lock(options.dest):
        return apply(options, bucket, meta, issued, now)


def fetch_checked(bucket: Bucket, meta: StoredCertificate, now: dt.datetime) -> IssuedSet:
    issued = fetch_set(bucket, meta)
    verify(bucket, meta, issued, now)
    return issued


def apply(
    options: Options, bucket: Bucket, meta: StoredCertificate, issued: IssuedSet,
    now: dt.datetime,
) -> str:
    dest = options.dest
    state = read_state(dest)
    # Again under the lock: an overlapping run may have installed this set meanwhile.
    status = local_status(dest, meta, state, options.reload is not None)
    if status is Local.CURRENT:
        return unchanged(options, now)
    if status is Local.STALE or state is None:
        remove_stale_temps(dest)
        state = state_for(meta, issued, now, reload_pending=options.reload is not None)
        install(dest, issued.files(), state)
        did = f"updated {options.name} in {dest} to serial {meta.serial}"
    else:
        did = f"{options.name} serial {meta.serial} was already in {dest}, its reload had failed"
    valid = f" (valid until {_iso(not_after(issued.leaf))})"
    if options.reload is None:
        return did + valid
    run_reload(options.reload)
    write_state(dest, dataclasses.replace(state, reload_pending=False))
    return f"{did}{valid}; reloaded: {shlex.join(options.reload)}"


def state_for(
    meta: StoredCertificate, issued: IssuedSet, now: dt.datetime, reload_pending: bool
) -> InstalledState:
    return InstalledState(
        name=meta.name,
        serial=meta.serial,
        archive=meta.archive,
        sha256={f: meta.sha256[f] for f in CERT_FILES},
        not_after=_iso(not_after(issued.leaf)),
        installed_at=_iso(now),
        reload_pending=reload_pending,
    )


def unchanged(options: Options, now: dt.datetime) -> str:
    """Nothing to install; still refuse to call an expired certificate fine."""
    where = str(options.dest / "cert.pem")
    try:
        leaf = x509.load_pem_x509_certificate((options.dest / "cert.pem").read_bytes())
    except ValueError as exc:
        raise PullError(f"{where} is not a PEM certificate: {exc}", Exit.LOCAL) from exc
    check_validity(leaf, now, where, options.name)
    return (
        f"{options.name} unchanged in {options.dest} (serial {serial_hex(leaf)}, valid until "
        f"{_iso(not_after(leaf))})"
    )


# -- command line -----------------------------------------------------------------------------
def _command(text: str) -> tuple[str, ...]:
    try:
        argv = tuple(shlex.split(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"cannot split {text!r}: {exc}") from exc
    if not argv:
        raise argparse.ArgumentTypeError("the reload command is empty")
    return argv


def _cert_name(text: str) -> str:
    if not text or "/" in text or text.startswith(("_", ".")):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a certificate name (no '/', not starting with '_' or '.')"
        )
    return text


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Install the current wildcert certificate from S3 into a directory, "
        "verified and atomically; reload a service only when it changed.",
        epilog="exit codes: 0 updated or unchanged, 1 verification failed (nothing installed), "
        "2 usage, 3 AWS/network error (nothing installed), 4 reload failed (files installed), "
        "5 local file error. See docs/PULL.md.",
    )
    p.add_argument("--bucket", required=True, help="the wildcert certificate bucket")
    p.add_argument("--name", required=True, type=_cert_name, help="certificate name")
    p.add_argument("--dest", required=True, type=Path,
                   help="directory to install into, e.g. /etc/ssl/wildcert/NAME")
    p.add_argument("--reload", type=_command, metavar="COMMAND",
                   help="run (without a shell) when the files changed, "
                   "e.g. 'systemctl reload nginx'")
    p.add_argument("--region", help="the bucket's AWS region (default: the AWS configuration)")
    p.add_argument("--endpoint-url", help="S3 endpoint (default: AWS_ENDPOINT_URL or AWS)")
    p.add_argument("--quiet", action="store_true", help="print nothing unless something fails")
    return p


def parse_args(argv: Sequence[str] | None) -> Options:
    args = parser().parse_args(argv)
    return Options(
        bucket=args.bucket, name=args.name, dest=args.dest, reload=args.reload,
        region=args.region, endpoint_url=args.endpoint_url, quiet=args.quiet,
    )


def s3_client(options: Options) -> Any:
    session = boto3.session.Session(region_name=options.region)
    try:
        return session.client("s3", endpoint_url=options.endpoint_url, config=client_config())
    except ValueError as exc:
        raise PullError(f"--endpoint-url: {exc}", Exit.USAGE) from exc
    except BotoCoreError as exc:
        raise PullError(f"cannot create an S3 client: {exc}", Exit.AWS) from exc


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    try:
        message = pull(options, s3_client(options), dt.datetime.now(dt.UTC))
    except PullError as exc:
        before_any_write = exc.code in {Exit.VERIFY, Exit.AWS}
        untouched = f"; {options.dest} left as it was" if before_any_write else ""
        return _fail(f"{exc}{untouched}", exc.code)
    except OSError as exc:
        return _fail(
            f"{exc} — check that this user may create and write {options.dest}", Exit.LOCAL
        )
    except Exception as exc:
        return _fail(f"unexpected {type(exc).__name__}: {exc} (a bug: please report it)", Exit.BUG)
    if not options.quiet:
        print(f"{PROG}: {message}")
    return Exit.OK


def _fail(message: str, code: Exit) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
