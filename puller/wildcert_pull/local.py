"""The destination directory: what is installed, who may write there, and replacing files.

Only regular files are read or written here, never through a symlink: a link planted in
--dest could otherwise make a root cron job create or read any file on the host.
"""

from __future__ import annotations

import dataclasses
import enum
import errno
import fcntl
import hashlib
import json
import os
import stat
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wildcert_pull.checks import Leaf, load_certificate, names_of, parse_iso
from wildcert_pull.errors import Exit, PullError
from wildcert_pull.formats import CERT_FILES, CertJson

STATE_FILE = ".wildcert.json"
LOCK_FILE = ".wildcert.lock"
TEMP_SUFFIX = ".wildcert-tmp"
# The key goes first and the certificates paired with it right after, so a new cert.pem or
# fullchain.pem is never on disk next to the old key; chain.pem, paired with no key, goes last.
RENAME_ORDER = ("privkey.pem", "fullchain.pem", "cert.pem", "chain.pem")
MANAGED = (*RENAME_ORDER, STATE_FILE, LOCK_FILE)
FILE_MODES = {"privkey.pem": 0o600, "fullchain.pem": 0o644, "cert.pem": 0o644, "chain.pem": 0o644}
STATE_MODE = 0o644
DIR_MODE = 0o750
LOCK_MODE = 0o600
WRITABLE_BY_OTHERS = stat.S_IWGRP | stat.S_IWOTH
LOCK_WAIT_SECONDS = 60.0
LOCK_POLL_SECONDS = 0.2
# O_NOFOLLOW: the last path component must not be a symlink (ELOOP if it is).
_NO_LINK = os.O_NOFOLLOW | os.O_CLOEXEC


# -- reading safely ---------------------------------------------------------------------------
def _unsafe(path: Path, what: str) -> PullError:
    return PullError(
        f"{path} is {what}: wildcert-pull reads and writes only regular files in --dest and "
        "never follows a link there — remove it (and find out who put it there), then rerun; "
        "nothing was changed",
        Exit.LOCAL,
    )


def read_regular(path: Path) -> bytes | None:
    """The bytes of a regular file, None if there is none; a symlink or anything else refused."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | _NO_LINK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _unsafe(path, "a symlink") from exc
        raise
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise _unsafe(path, "not a regular file")
        return handle.read()


def check_managed_paths(dest: Path) -> None:
    """Every name wildcert-pull owns in --dest is absent or a regular file."""
    for filename in MANAGED:
        path = dest / filename
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(mode):
            raise _unsafe(path, f"a symlink (to {os.readlink(path)})")
        if not stat.S_ISREG(mode):
            raise _unsafe(path, "not a regular file")


def secure_dir(dest: Path) -> str | None:
    """Take write access to an existing --dest away from group and others.

    Whoever can write there can swap files or plant links between our checks and our renames.
    Returns what was changed, for a warning. A directory that is not ours to tighten (owned by
    another user, or sticky like /tmp, which others share by design) is refused.
    """
    info = os.stat(dest)
    mode = stat.S_IMODE(info.st_mode)
    if not mode & WRITABLE_BY_OTHERS:
        return None
    if mode & stat.S_ISVTX or info.st_uid != os.geteuid():
        raise PullError(
            f"{dest} is writable by {_who(mode)} (mode {mode:04o}) and is not this user's to "
            "tighten: whoever can write there can replace the key or plant a symlink — use a "
            "directory only this user can write, e.g. /etc/ssl/wildcert/<name>; nothing was "
            "changed",
            Exit.LOCAL,
        )
    tightened = mode & ~WRITABLE_BY_OTHERS
    os.chmod(dest, tightened)
    return (f"{dest} was writable by {_who(mode)} (mode {mode:04o}); made it {tightened:04o} "
            "so that no one else can replace the files in it")


def _who(mode: int) -> str:
    return " and ".join(w for bit, w in ((stat.S_IWGRP, "group"), (stat.S_IWOTH, "others"))
                        if mode & bit)


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
    # Older state files lack these two; the installed cert.pem says the same.
    not_before: str = ""
    domains: tuple[str, ...] = ()

    def to_json(self) -> bytes:
        body = dataclasses.asdict(self)
        body["sha256"] = dict(self.sha256)
        body["domains"] = list(self.domains)
        return json.dumps(body, indent=2, sort_keys=True).encode() + b"\n"

    @classmethod
    def from_json(cls, raw: bytes) -> InstalledState:
        body = json.loads(raw)
        if not isinstance(body, dict) or not isinstance(body.get("sha256"), dict):
            raise ValueError("not a state object")
        known: dict[str, Any] = {f: body[f] for f in cls.__dataclass_fields__ if f in body}
        domains = known.get("domains", [])
        if not isinstance(domains, list) or not all(isinstance(d, str) for d in domains):
            raise ValueError("'domains' is not a list of names")
        known["domains"] = tuple(domains)
        return cls(**known)

    def leaf(self) -> Leaf | None:
        """The installed certificate as recorded, if this state file recorded it."""
        if not self.not_before or not self.domains:
            return None
        try:
            return Leaf(serial=self.serial, names=names_of(self.domains),
                        not_before=parse_iso(self.not_before),
                        not_after=parse_iso(self.not_after))
        except (ValueError, TypeError, AttributeError):
            return None  # a damaged record is no record


class Local(enum.Enum):
    CURRENT = "current"
    RELOAD_PENDING = "reload pending"
    STALE = "stale"


def read_state(dest: Path) -> InstalledState | None:
    raw = read_regular(dest / STATE_FILE)
    if raw is None:
        return None
    try:
        return InstalledState.from_json(raw)
    except (ValueError, KeyError, TypeError):
        return None  # a damaged state file only means: install again


def files_match(dest: Path, sha256: Mapping[str, str]) -> bool:
    for filename in CERT_FILES:
        data = read_regular(dest / filename)
        if data is None or hashlib.sha256(data).hexdigest() != sha256[filename]:
            return False
    return True


def local_status(dest: Path, meta: CertJson, state: InstalledState | None,
                 reloading: bool) -> Local:
    """The state file says which set was installed; the files must still hash to it."""
    wanted = {f: meta.sha256[f] for f in CERT_FILES}
    if state is None or state.serial != meta.serial or dict(state.sha256) != wanted:
        return Local.STALE
    if not files_match(dest, wanted):
        return Local.STALE
    return Local.RELOAD_PENDING if reloading and state.reload_pending else Local.CURRENT


def installed_leaf(dest: Path, state: InstalledState | None) -> Leaf | None:
    """The certificate this server serves now: its cert.pem, else what the state file says.

    The file comes first: after a run died half-way it may already be newer than the state.
    """
    pem = read_regular(dest / "cert.pem")
    if pem is not None:
        try:
            return Leaf.of(load_certificate(pem))
        except ValueError:
            pass  # edited by hand; the state file still knows what was installed
    return state.leaf() if state is not None else None


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
    path = dest / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | _NO_LINK, LOCK_MODE)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _unsafe(path, "a symlink") from exc
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise _unsafe(path, "not a regular file")
        _wait_for(fd, path)
        yield
    finally:
        os.close(fd)


def _wait_for(fd: int, path: Path) -> None:
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise PullError(
                    f"another wildcert-pull has held {path} for {LOCK_WAIT_SECONDS:.0f}s — "
                    "check for a hung run, then rerun",
                    Exit.LOCAL,
                ) from None
            time.sleep(LOCK_POLL_SECONDS)


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
