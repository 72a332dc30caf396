"""Old private keys on the local stack: the issuer tags archived keys for the lifecycle rule,
and the watch deletes the archived key of a superseded certificate once it has expired, while
the live set (which the puller installs from the archive) and the audit trail stay."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from local_stack import Stack
from tests.e2e import test_renewal_sweep as sweep_e2e
from tests.e2e.support import ISSUER, WATCH, client, invoke, s3_keys, stored_set, unique
from tests.unit.test_pull import make_set
from wildcert.adapters.bucket.certificates import CertificateStore
from wildcert.adapters.bucket.inventory import ManagedCertificates
from wildcert.adapters.bucket.objects import Bucket
from wildcert.logic.certificates import StoredCertificate
from wildcert_pull import cli as pull

queue = sweep_e2e.queue  # a queue of the test's own, prefixes removed afterwards
cleanup = sweep_e2e.cleanup

TAG = [{"Key": "wildcert-key", "Value": "archived"}]
DAY = dt.timedelta(days=1)


def tags(key: str, version: str | None = None) -> list[dict[str, str]]:
    extra = {"VersionId": version} if version else {}
    return list(client("s3").get_object_tagging(Bucket=os.environ["CERT_BUCKET"], Key=key,
                                                **extra)["TagSet"])


def store_expired(name: str, domains: tuple[str, ...]) -> StoredCertificate:
    """A set that expired ten days ago, stored as the issuer stored it back then."""
    now = dt.datetime.now(dt.UTC)
    issued = make_set(domains, starts=now - 100 * DAY, ends=now - 10 * DAY)
    meta = StoredCertificate.describe(name, issued, now - 100 * DAY)
    bucket = Bucket(client("s3"), os.environ["CERT_BUCKET"], os.environ["KMS_KEY_ID"])
    CertificateStore(bucket).save(meta, issued)
    return meta


def test_the_watch_deletes_only_the_expired_superseded_key(
    stack: Stack, queue: str, cleanup: list[str], monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    label = unique("ak")
    cleanup.append(label)
    domains = (f"*.{label}.example.com", f"{label}.example.com")
    expired = store_expired(label, domains)
    serials = []
    for force in (False, True):  # the expired one renewed, then that renewal replaced
        result = invoke(ISSUER, {"domains": list(domains), "name": label, "force": force})
        assert result["status"] == "renewed", result  # both replace a stored one
        serials.append(result["serial"])
    live = stored_set(label)[0]
    archived = {k for k in s3_keys(f"{label}/archive/") if k.endswith("/privkey.pem")}
    assert len(archived) == 3 and all(tags(k) == TAG for k in archived)
    gone = f"{expired.archive}privkey.pem"
    # The watch over this name alone: other tests' certificates share the bucket.
    monkeypatch.setattr(ManagedCertificates, "names", lambda self: [label])

    planned = invoke(WATCH, {"dry_run": True})
    assert planned["archived_keys"] == {"deleted": [gone], "problems": []}
    assert gone in s3_keys(f"{label}/archive/")

    before = s3_keys(f"{label}/")
    done = invoke(WATCH, {})
    assert done["archived_keys"] == {"deleted": [gone], "problems": []}
    assert not [f for f in done["findings"] if f["kind"] == "archive"]
    assert s3_keys(f"{label}/") == before - {gone}  # cert.pem and chain.pem stay for audit
    versions = client("s3").list_object_versions(Bucket=os.environ["CERT_BUCKET"],
                                                 Prefix=gone)["Versions"]
    assert [tags(gone, v["VersionId"]) for v in versions] == [TAG]  # the lifecycle's to expire

    def archive_reads() -> list[str]:
        return [c["key"] for c in stack.aws_faults.calls(service="s3", operation="GetObject")
                if c["key"].startswith(f"{label}/archive/")]

    seen = len(archive_reads())
    assert invoke(WATCH, {})["archived_keys"] == {"deleted": [], "problems": []}
    # A set whose key is gone costs nothing more; the live one is never read: only the
    # superseded, still valid set is looked at, by its certificate alone.
    assert archive_reads()[seen:] == [f"{label}/archive/{serials[0]}/cert.pem"]

    # The puller still installs the live set, key included, from the archive.
    dest = tmp_path / "certs"
    code = pull.main(["--bucket", os.environ["CERT_BUCKET"], "--name", label, "--dest",
                      str(dest), "--quiet"])
    assert code == 0 and (dest / "privkey.pem").read_bytes() == stored_set(label)[1][
        "privkey.pem"]
    assert live["archive"] != expired.archive
