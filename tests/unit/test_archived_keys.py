"""Old private keys do not stay forever: the store tags archived keys for the bucket's lifecycle
rule, and the watch's clean-up deletes those of expired, superseded certificates. Against
moto's S3 in this process, with certificates made here."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import Any

import pytest

from tests.unit import test_bucket_objects as objects_tests
from tests.unit.test_bucket_objects import NAME, refuse
from tests.unit.test_pull import NOW, make_set
from wildcert.adapters.bucket.archive import ArchivedKeys, ArchivedSet, archived_sets
from wildcert.adapters.bucket.certificates import CERT_FILES, CertificateStore
from wildcert.adapters.bucket.objects import Bucket, StorageError
from wildcert.logic.certificates import IssuedSet, StoredCertificate

s3 = objects_tests.s3  # moto in this process, and the adapter on it
bucket = objects_tests.bucket

RETENTION = dt.timedelta(days=100)
TAG = [{"Key": "wildcert-key", "Value": "archived"}]
DAY = dt.timedelta(days=1)


def tags(s3: Any, key: str) -> list[dict[str, str]]:
    return list(s3.get_object_tagging(Bucket=NAME, Key=key)["TagSet"])


def save(bucket: Bucket, name: str, issued: IssuedSet, *,
         retention: dt.timedelta | None = RETENTION) -> StoredCertificate:
    """Store a set exactly as the issuer does: archive, live copies, then cert.json."""
    meta = StoredCertificate.describe(name, issued, NOW)
    CertificateStore(bucket, retention).save(meta, issued)
    return meta


def keys(bucket: Bucket, name: str) -> set[str]:
    return set(bucket.keys(f"{name}/"))


# -- the adapter ---------------------------------------------------------------------------------


def test_tags_are_set_by_the_write_itself(s3: Any, bucket: Bucket) -> None:
    bucket.put("a/archive/01/privkey.pem", b"k", content_type="text/plain", if_none_match=True,
               tags={"wildcert-key": "archived", "note": "a b=c+d"})
    assert sorted(tags(s3, "a/archive/01/privkey.pem"), key=lambda t: t["Key"]) == [
        {"Key": "note", "Value": "a b=c+d"}, *TAG]
    bucket.put("a/cert.pem", b"c", content_type="text/plain")
    assert tags(s3, "a/cert.pem") == []


def test_a_refused_tagged_write_names_the_tagging_permission(s3: Any, bucket: Bucket) -> None:
    refuse(s3, "PutObject", "AccessDenied")
    with pytest.raises(StorageError) as raised:
        bucket.put("a/archive/01/privkey.pem", b"k", content_type="text/plain",
                   tags={"wildcert-key": "archived"})
    assert "s3:PutObject and s3:PutObjectTagging on the object" in str(raised.value)


def test_keys_lists_every_key_under_a_prefix(bucket: Bucket) -> None:
    for key in ("a/archive/01/cert.pem", "a/archive/02/privkey.pem", "a/cert.json", "ab/x"):
        bucket.put(key, b"x", content_type="text/plain")
    assert sorted(bucket.keys("a/archive/")) == ["a/archive/01/cert.pem",
                                                 "a/archive/02/privkey.pem"]
    assert bucket.keys("none/") == []


# -- the store's tag -----------------------------------------------------------------------------


def test_only_the_archived_private_key_carries_the_lifecycle_tag(s3: Any, bucket: Bucket) -> None:
    meta = save(bucket, "web", make_set())
    for key in sorted(keys(bucket, "web")):
        expected = TAG if key == f"{meta.archive}privkey.pem" else []
        assert tags(s3, key) == expected, key
    assert {f"{meta.archive}{f}" for f in CERT_FILES} | {"web/cert.json"} <= keys(bucket, "web")


@pytest.mark.parametrize(("lifetime", "retention", "tagged"), [
    (dt.timedelta(days=90), RETENTION, True),  # Let's Encrypt's classic profile
    (dt.timedelta(days=6), RETENTION, True),  # shortlived
    (dt.timedelta(days=100), RETENTION, True),  # expires the day the rule may delete it
    (dt.timedelta(days=398), RETENTION, False),  # another CA's year-long certificate
    (dt.timedelta(days=398), None, True),  # no rule known: nothing can outrun the certificate
])
def test_the_tag_is_left_off_a_key_whose_certificate_outlives_the_retention(
    bucket: Bucket, caplog: pytest.LogCaptureFixture,
    lifetime: dt.timedelta, retention: dt.timedelta | None, tagged: bool,
) -> None:
    issued = make_set(starts=NOW - dt.timedelta(hours=1), ends=NOW + lifetime)
    with caplog.at_level(logging.WARNING, logger="wildcert.adapters.bucket.certificates"):
        meta = save(bucket, "web", issued, retention=retention)
    assert tags(bucket.s3, f"{meta.archive}privkey.pem") == (TAG if tagged else [])
    warned = [r.getMessage() for r in caplog.records]
    if tagged:
        assert warned == []
    else:
        assert len(warned) == 1 and meta.serial in warned[0] and "100 days" in warned[0]
        assert "ArchivedKeyRetentionDays" in warned[0] and "PRIVATE KEY" not in warned[0]


def test_a_retried_archive_write_keeps_the_first_tagged_copy(s3: Any, bucket: Bucket) -> None:
    issued = make_set()
    meta = save(bucket, "web", issued)
    save(bucket, "web", issued)  # an attempt that stored the archive once already
    assert tags(s3, f"{meta.archive}privkey.pem") == TAG


# -- the watch's clean-up ------------------------------------------------------------------------


def test_archived_sets_are_grouped_by_serial_and_nothing_else_counts() -> None:
    found = archived_sets("web", [
        "web/archive/01/privkey.pem", "web/archive/01/cert.pem", "web/archive/02/cert.pem",
        "web/archive/03/deeper/privkey.pem", "web/archive//privkey.pem", "web/privkey.pem",
        "webx/archive/04/privkey.pem",
    ])
    assert found == [ArchivedSet("web", "01", frozenset({"privkey.pem", "cert.pem"})),
                     ArchivedSet("web", "02", frozenset({"cert.pem"}))]
    assert found[0].prefix == "web/archive/01/"


@dataclasses.dataclass
class History:
    """One name with every kind of archived set the clean-up must tell apart."""

    expired: StoredCertificate  # superseded, past not_after: its key goes
    valid: StoredCertificate  # superseded, still valid: kept
    live: StoredCertificate  # named by cert.json: kept
    unfinished: str  # a key without its cert.pem (a write in progress): kept


def history(bucket: Bucket, name: str = "web") -> History:
    expired = save(bucket, name, make_set(starts=NOW - 100 * DAY, ends=NOW - 10 * DAY))
    valid = save(bucket, name, make_set(starts=NOW - 60 * DAY, ends=NOW + 30 * DAY))
    live = save(bucket, name, make_set())
    unfinished = f"{name}/archive/0feed/privkey.pem"
    bucket.put(unfinished, b"key", content_type="application/x-pem-file")
    return History(expired, valid, live, unfinished)


def test_only_expired_superseded_keys_are_deleted(s3: Any, bucket: Bucket) -> None:
    s3.put_bucket_versioning(Bucket=NAME, VersioningConfiguration={"Status": "Enabled"})
    seen = history(bucket)
    before = keys(bucket, "web")
    done = ArchivedKeys(bucket).clean({"web": seen.live.archive}, dt.datetime.now(dt.UTC))
    gone = f"{seen.expired.archive}privkey.pem"
    assert done.deleted == (gone,) and done.problems == ()
    assert keys(bucket, "web") == before - {gone}  # its cert.pem and chain.pem stay
    # The version the delete left behind keeps the tag the lifecycle rule expires it by.
    versions = s3.list_object_versions(Bucket=NAME, Prefix=gone)["Versions"]
    assert [tags_of(s3, gone, v["VersionId"]) for v in versions] == [TAG]
    again = ArchivedKeys(bucket).clean({"web": seen.live.archive}, dt.datetime.now(dt.UTC))
    assert again.deleted == () and again.problems == ()


def tags_of(s3: Any, key: str, version: str) -> list[dict[str, str]]:
    return list(s3.get_object_tagging(Bucket=NAME, Key=key, VersionId=version)["TagSet"])


def test_the_live_set_is_kept_even_when_expired(bucket: Bucket) -> None:
    meta = save(bucket, "old", make_set(starts=NOW - 100 * DAY, ends=NOW - 10 * DAY))
    done = ArchivedKeys(bucket).clean({"old": meta.archive}, dt.datetime.now(dt.UTC))
    assert done.deleted == () and f"{meta.archive}privkey.pem" in keys(bucket, "old")


def test_a_name_without_cert_json_has_no_live_set(bucket: Bucket) -> None:
    seen = history(bucket, "gone")
    bucket.delete("gone/cert.json")
    done = ArchivedKeys(bucket).clean({"gone": None}, dt.datetime.now(dt.UTC))
    assert done.deleted == (f"{seen.expired.archive}privkey.pem",)
    assert f"{seen.live.archive}privkey.pem" in keys(bucket, "gone")


def test_a_dry_run_reports_without_deleting(bucket: Bucket) -> None:
    seen = history(bucket)
    before = keys(bucket, "web")
    done = ArchivedKeys(bucket).clean({"web": seen.live.archive}, dt.datetime.now(dt.UTC),
                                      dry_run=True)
    assert done.deleted == (f"{seen.expired.archive}privkey.pem",)
    assert keys(bucket, "web") == before


def test_an_unreadable_certificate_keeps_its_key_and_is_reported(bucket: Bucket) -> None:
    seen = history(bucket)
    bucket.put(f"{seen.expired.archive}cert.pem", b"not a certificate", content_type="text/plain")
    done = ArchivedKeys(bucket).clean({"web": seen.live.archive}, dt.datetime.now(dt.UTC))
    assert done.deleted == ()
    [(name, problem)] = done.problems
    assert name == "web" and f"{seen.expired.archive}cert.pem is not a PEM certificate" in problem
    assert f"{seen.expired.archive}privkey.pem" in keys(bucket, "web")


def test_refusals_are_reported_and_other_names_still_cleaned(s3: Any, bucket: Bucket) -> None:
    web, api = history(bucket, "web"), history(bucket, "api")
    refuse(s3, "DeleteObject", "AccessDenied")
    done = ArchivedKeys(bucket).clean({"web": web.live.archive, "api": api.live.archive},
                                      dt.datetime.now(dt.UTC))
    assert done.deleted == ()
    assert sorted(n for n, _ in done.problems) == ["api", "web"]
    assert all("expired archived key not deleted" in p and "s3:DeleteObject" in p
               for _, p in done.problems)


def test_a_name_that_cannot_be_listed_is_reported(s3: Any, bucket: Bucket) -> None:
    seen = history(bucket)
    refuse(s3, "ListObjectsV2", "AccessDenied")
    done = ArchivedKeys(bucket).clean({"web": seen.live.archive}, dt.datetime.now(dt.UTC))
    assert done.deleted == () and len(done.problems) == 1
    assert "archived keys not checked" in done.problems[0][1]
    assert "s3:ListBucket" in done.problems[0][1]
