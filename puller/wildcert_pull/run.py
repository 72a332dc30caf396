"""One pull: read cert.json, and only if the server lacks that set, fetch it, check it, install.

Nothing in --dest is written before the set is fetched and checked completely; the reload runs
only when something changed (or a reload failed before).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wildcert_pull import local
from wildcert_pull.bucket import Bucket, fetch_archive, fetch_cert_json
from wildcert_pull.checks import (
    Leaf,
    Succession,
    Urls,
    check_expected_names,
    check_set,
    check_succession,
    check_validity,
    iso,
    load_certificate,
)
from wildcert_pull.errors import Exit, PullError
from wildcert_pull.formats import CERT_FILES, CertJson
from wildcert_pull.reload import run_reload


@dataclass(frozen=True)
class Options:
    bucket: str
    name: str
    dest: Path
    reload: tuple[str, ...] | None = None
    region: str | None = None
    endpoint_url: str | None = None
    quiet: bool = False
    succession: Succession = field(default_factory=Succession)


@dataclass(frozen=True)
class Fetched:
    """A set from the bucket that passed every check of its own."""

    urls: Urls
    meta: CertJson
    files: Mapping[str, bytes]
    leaf: Leaf

    @property
    def cert_url(self) -> str:
        return self.urls.archive + "cert.pem"


def pull(options: Options, s3: Any, now: dt.datetime, warn: Callable[[str], None]) -> str:
    """Install the current set if it is not installed yet; returns the line to print."""
    dest = options.dest
    if dest.exists() and not dest.is_dir():
        raise PullError(f"{dest} is not a directory — pick another --dest", Exit.USAGE)
    if dest.is_dir():
        local.check_managed_paths(dest)  # refused before anything changes, the mode included
        tightened = local.secure_dir(dest)
        if tightened:
            warn(tightened)
    bucket = Bucket(s3, options.bucket)
    meta = fetch_cert_json(bucket, options.name)
    refuse_revoked(meta, bucket.url(f"{options.name}/cert.json"))
    reloading = options.reload is not None
    if local.local_status(dest, meta, local.read_state(dest), reloading) is local.Local.CURRENT:
        return unchanged(options, now)
    fetched = fetch_checked(bucket, meta, now)
    check_expected_names(fetched.leaf, options.succession, fetched.cert_url)
    local.ensure_dir(dest)
    with local.dest_lock(dest):
        local.check_managed_paths(dest)  # again: a link planted before the chmod shows now
        return apply(options, fetched, now)


def refuse_revoked(meta: CertJson, cert_json_url: str) -> None:
    """A revoked set is never installed, nor called current: browsers may refuse it."""
    reason = meta.revoked.get(meta.serial)
    if reason is not None:
        raise PullError(
            f"{cert_json_url} names serial {meta.serial}, which the issuer revoked ({reason}); "
            "its replacement is not stored yet — run again once the issuer has reissued it, "
            f'or reissue {meta.name!r} with {{"force": true}}', Exit.REFUSED)


def fetch_checked(bucket: Bucket, meta: CertJson, now: dt.datetime) -> Fetched:
    urls = Urls(archive=bucket.url(meta.archive), cert_json=bucket.url(f"{meta.name}/cert.json"))
    files = fetch_archive(bucket, meta)
    return Fetched(urls, meta, files, check_set(urls, meta, files, now))


def apply(options: Options, fetched: Fetched, now: dt.datetime) -> str:
    dest, meta, leaf = options.dest, fetched.meta, fetched.leaf
    state = local.read_state(dest)
    # Again under the lock: an overlapping run may have installed this set meanwhile.
    status = local.local_status(dest, meta, state, options.reload is not None)
    if status is local.Local.CURRENT:
        return unchanged(options, now)
    if status is local.Local.STALE or state is None:
        check_succession(leaf, local.installed_leaf(dest, state), options.succession,
                         fetched.cert_url, dest)
        local.remove_stale_temps(dest)
        state = state_for(meta, leaf, now, reload_pending=options.reload is not None)
        local.install(dest, fetched.files, state)
        did = f"updated {options.name} in {dest} to serial {meta.serial}"
    else:
        did = f"{options.name} serial {meta.serial} was already in {dest}, its reload had failed"
    valid = f" (valid until {iso(leaf.not_after)})"
    if options.reload is None:
        return did + valid
    run_reload(options.reload)
    local.write_state(dest, dataclasses.replace(state, reload_pending=False))
    return f"{did}{valid}; reloaded: {shlex.join(options.reload)}"


def state_for(meta: CertJson, leaf: Leaf, now: dt.datetime,
              reload_pending: bool) -> local.InstalledState:
    return local.InstalledState(
        name=meta.name,
        serial=meta.serial,
        archive=meta.archive,
        sha256={f: meta.sha256[f] for f in CERT_FILES},
        not_after=iso(leaf.not_after),
        installed_at=iso(now),
        reload_pending=reload_pending,
        not_before=iso(leaf.not_before),
        domains=leaf.names,
    )


def unchanged(options: Options, now: dt.datetime) -> str:
    """Nothing to install; still refuse to call an expired (or unexpected) certificate fine."""
    path = options.dest / "cert.pem"
    try:
        leaf = Leaf.of(load_certificate(local.read_regular(path) or b""))
    except ValueError as exc:
        raise PullError(f"{path} is not a PEM certificate: {exc}", Exit.LOCAL) from exc
    check_validity(leaf, now, str(path), options.name)
    check_expected_names(leaf, options.succession, str(path))
    return (
        f"{options.name} unchanged in {options.dest} (serial {leaf.serial}, valid until "
        f"{iso(leaf.not_after)})"
    )
