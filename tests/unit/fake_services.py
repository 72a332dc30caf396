"""In-process stand-ins for every outside system an issuance talks to, for unit tests of
`Issuer.issue` (the end-to-end tests run the same flow against the local stack).

The adapters over the bucket (the certificate store, the leases, the team ledger) stay real:
only the bucket under them is a dict. Route 53 is the values each name holds, the CA signs
whatever CSR it is sent with a key of its own, DNS answers what the test says, and Slack and
the event bus record what they were told.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from wildcert.adapters import slack
from wildcert.adapters.acme import AcmeError, AcmeSession, DnsChallenge, Order, OrderState
from wildcert.adapters.bucket.certificates import AccountRecord
from wildcert.adapters.bucket.objects import (
    Bucket,
    NotFound,
    ObjectHead,
    PreconditionFailed,
    StorageError,
    StoredObject,
)
from wildcert.adapters.events import OutcomeEvents
from wildcert.adapters.route53 import (
    ChallengeRecord,
    ChallengeRecords,
    ChallengeSite,
    HostedZone,
)
from wildcert.deadline import Deadline
from wildcert.jobs.issue.wiring import Services
from wildcert.logic.teams import NO_TEAMS, Teams
from wildcert.settings import Settings

KMS_KEY = "arn:aws:kms:us-east-1:111111111111:key/0b1c2d3e-0000-4000-8000-000000000000"
ZONE = HostedZone("ZEXAMPLE", "example.com")
SETTINGS = {"CERT_BUCKET": "certs", "KMS_KEY_ID": KMS_KEY, "ALLOWED_ZONES": ZONE.id,
            "EVENT_BUS_NAME": "bus"}


class MemoryBucket(Bucket):
    """The bucket as a dict, with S3's conditional writes; `failing` makes writes under a
    key prefix fail as S3 would."""

    def __init__(self) -> None:
        super().__init__(None, SETTINGS["CERT_BUCKET"], KMS_KEY)
        self.objects: dict[str, StoredObject] = {}
        self.failing: dict[str, str] = {}  # key prefix -> S3 error code, for writes
        self._etags = itertools.count(1)

    def get(self, key: str, *, limit: int | None = None) -> StoredObject | None:
        found = self.objects.get(key)
        if found is None or limit is None:
            return found
        return StoredObject(found.body[:limit], found.etag)

    def put(self, key: str, body: bytes, *, content_type: str, if_none_match: bool = False,
            if_match: str | None = None, tags: Mapping[str, str] | None = None) -> str:
        self._fail_if_asked("writing", key)
        current = self.objects.get(key)
        if if_none_match and current is not None:
            raise PreconditionFailed(f"writing {self.url(key)}: it exists", "PreconditionFailed")
        if if_match is not None and (current is None or current.etag != if_match):
            raise PreconditionFailed(f"writing {self.url(key)}: it changed", "PreconditionFailed")
        etag = f'"{next(self._etags)}"'
        self.objects[key] = StoredObject(body, etag)
        return etag

    def delete(self, key: str, *, if_match: str | None = None) -> None:
        self._fail_if_asked("deleting", key)
        current = self.objects.get(key)
        if if_match is not None and current is not None and current.etag != if_match:
            raise PreconditionFailed(f"deleting {self.url(key)}: it changed",
                                     "PreconditionFailed")
        self.objects.pop(key, None)

    def head(self, key: str) -> ObjectHead:
        found = self.objects.get(key)
        if found is None:
            raise NotFound(f"reading {self.url(key)}: no such object", "NoSuchKey")
        return ObjectHead(found.etag, "aws:kms", self.kms_key_id)

    def keys(self, prefix: str) -> list[str]:
        return sorted(k for k in self.objects if k.startswith(prefix))

    def folders(self, prefix: str = "") -> list[str]:
        return sorted({k.split("/", 1)[0] for k in self.objects
                       if k.startswith(prefix) and "/" in k})

    def _fail_if_asked(self, doing: str, key: str) -> None:
        for prefix, code in self.failing.items():
            if key.startswith(prefix):
                raise StorageError(f"{doing} {self.url(key)} failed: {code}", code)


class MemoryRecords(ChallengeRecords):
    """Route 53 as the TXT values each name holds."""

    def __init__(self, zones: Sequence[HostedZone]) -> None:
        self.zones = list(zones)
        self.held: dict[str, set[str]] = {}
        self.changes: list[tuple[str, str, str]] = []  # (UPSERT | DELETE, name, value)

    def listed_zones(self, zone_ids: Sequence[str]) -> list[HostedZone]:
        return [z for z in self.zones if z.id in zone_ids]

    def name_servers(self, zone: HostedZone) -> list[str]:
        return ["127.0.0.1"]

    def add(self, records: Sequence[ChallengeRecord]) -> None:
        for record in records:
            self.held.setdefault(record.name, set()).add(record.value)
            self.changes.append(("UPSERT", record.name, record.value))

    def remove(self, records: Sequence[ChallengeRecord]) -> None:
        for record in records:
            self.held.get(record.name, set()).discard(record.value)
            self.changes.append(("DELETE", record.name, record.value))

    def values(self, zone: HostedZone, name: str) -> set[str]:
        return set(self.held.get(name, set()))


class RecordedEvents(OutcomeEvents):
    def __init__(self) -> None:
        super().__init__(lambda: None, "bus")
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.copies: list[tuple[str, str, dict[str, Any]]] = []  # (team's bus, kind, detail)

    def put(self, kind: str, detail: Mapping[str, Any], also_to: str | None = None) -> bool:
        self.sent.append((kind, dict(detail)))
        if also_to:
            self.copies.append((also_to, kind, dict(detail)))
        return True


class RecordedSlack(slack.SlackNotifier):
    def __init__(self) -> None:
        super().__init__("https://hooks.slack.com/services/T0/B0/x")
        self.posted: list[str] = []

    def send(self, message: slack.Message) -> str:
        self.posted.append(message.text)
        return slack.POSTED


@dataclass
class FakeCa:
    """A CA that validates what is published and signs any CSR with a key of its own.

    `orders` is every order made, `states` what `fetch_order` answers for an order URL.
    """

    records: MemoryRecords
    directory_url: str = "https://ca.test/dir"
    refuse: str | None = None  # an ACME error code for every new order
    refuse_finalize: str | None = None  # an ACME error code for every finalization
    orders: list[str] = field(default_factory=list)
    states: dict[str, OrderState] = field(default_factory=dict)
    issued: dict[str, str] = field(default_factory=dict)  # certificate URL -> fullchain
    revoked: dict[int, int] = field(default_factory=dict)  # serial -> RFC 5280 reason code
    _key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))

    def __post_init__(self) -> None:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Fake CA")])
        now = dt.datetime.now(dt.UTC)
        self.root = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                     .public_key(self._key.public_key()).serial_number(1)
                     .not_valid_before(now - dt.timedelta(days=1))
                     .not_valid_after(now + dt.timedelta(days=3650))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
                     .sign(self._key, hashes.SHA256()))

    def sign(self, csr_pem: bytes, days: int = 90) -> str:
        csr = x509.load_pem_x509_csr(csr_pem)
        now = dt.datetime.now(dt.UTC)
        names = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        leaf = (x509.CertificateBuilder().subject_name(csr.subject)
                .issuer_name(self.root.subject).public_key(csr.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=1))
                .not_valid_after(now + dt.timedelta(days=days))
                .add_extension(names, critical=False)
                # What names the issuer in the certificate's ARI CertID, as a real CA's does.
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self._key.public_key()), critical=False)
                .sign(self._key, hashes.SHA256()))
        return "".join(c.public_bytes(serialization.Encoding.PEM).decode()
                       for c in (leaf, self.root))


class NoRenewalInfo:
    """A session's `RenewalInfoReader` for a CA that offers no ARI."""

    url: str | None = None

    def fetch(self, cert_id: str) -> tuple[dict[str, Any], float | None]:
        raise AcmeError("no renewal information here")


class FakeSession:
    """What the flow asks of an AcmeSession, answered by a FakeCa."""

    def __init__(self, ca: FakeCa, directory_url: str) -> None:
        self.ca = ca
        self.directory_url = directory_url  # the account's: cooldowns are kept under it
        self.account: str | None = None
        self.renewal = NoRenewalInfo()
        self.requires_external_account = False

    def use_account(self, account_url: str) -> None:
        self.account = account_url

    def register(self, email: str | None, external: object = None) -> str:
        self.account = f"{self.ca.directory_url}/account/1"
        return self.account

    def check_profile(self, profile: str | None) -> None:
        return None

    def new_order(self, domains: Sequence[str], *, profile: str | None = None,
                  replaces: str | None = None) -> Order:
        if self.ca.refuse:
            raise AcmeError(f"the CA refused the order: {self.ca.refuse}", code=self.ca.refuse,
                            retry_after=60.0 if self.ca.refuse == "rateLimited" else None)
        url = f"{self.ca.directory_url}/order/{len(self.ca.orders) + 1}"
        self.ca.orders.append(url)
        bases = sorted({d.removeprefix("*.") for d in domains})
        challenges = tuple(
            DnsChallenge(base, f"*.{base}" in domains, f"_acme-challenge.{base}",
                         hashlib.sha256(f"{url} {base}".encode()).hexdigest()[:43],
                         f"{url}/authz/{base}", cast(Any, None))
            for base in bases)
        return Order(url, f"{url}/finalize", challenges)

    def answer(self, pending: tuple[DnsChallenge, ...]) -> None:
        missing = [c.record_name for c in pending
                   if c.value not in self.ca.records.held.get(c.record_name, set())]
        if missing:
            raise AcmeError(f"the CA found no TXT value at {', '.join(missing)}")

    def wait_until_ready(self, order_url: str, pending: tuple[DnsChallenge, ...]) -> None:
        return None

    def finalize(self, order_url: str, finalize_url: str, csr_pem: bytes) -> str:
        if self.ca.refuse_finalize:
            raise AcmeError(f"the CA refused to finalize: {self.ca.refuse_finalize}",
                            code=self.ca.refuse_finalize)
        fullchain = self.ca.sign(csr_pem)
        self.ca.issued[f"{order_url}/cert"] = fullchain
        return fullchain

    def fetch_order(self, url: str) -> OrderState:
        if url not in self.ca.states:
            raise AcmeError(f"no order at {url}", code="malformed")
        return self.ca.states[url]

    def download(self, certificate_url: str) -> str:
        return self.ca.issued[certificate_url]

    def revoke(self, certificate_pem: bytes, reason: int) -> bool:
        serial = x509.load_pem_x509_certificate(certificate_pem).serial_number
        if serial in self.ca.revoked:
            return False
        self.ca.revoked[serial] = reason
        return True


class FakeServices(Services):
    """Services whose outside systems are the fakes above; what each was asked is kept."""

    def __init__(self, *, teams: Teams = NO_TEAMS, env: Mapping[str, str] | None = None,
                 zones: Iterable[HostedZone] = (ZONE,)) -> None:
        zone_list = list(zones)
        settings = Settings.from_env({**SETTINGS, "ALLOWED_ZONES": ",".join(
            z.id for z in zone_list), **(env or {})})
        super().__init__(settings, Deadline.after(600), teams=teams)
        self.memory = MemoryBucket()
        self.records = MemoryRecords(zone_list)
        self.recorded_events = RecordedEvents()
        self.ca = FakeCa(self.records)
        self.delegation_lookups: list[list[str]] = []  # the names asked whether a CNAME
        self.caa: list[str] = []  # what CAA says stops the CA; empty: it may issue
        self.published_when_waited: list[dict[str, set[str]]] = []

    @property
    def bucket(self) -> Bucket:
        return self.memory

    def route53_within(self, deadline: Deadline) -> ChallengeRecords:
        return self.records

    @property
    def events(self) -> OutcomeEvents:
        return self.recorded_events

    def acme_session(self, account: AccountRecord) -> AcmeSession:
        return cast(AcmeSession, FakeSession(self.ca, account.directory_url))

    def caa_problems(self, domains: Sequence[str], identities: Sequence[str],
                     account_uri: str | None) -> list[str]:
        return list(self.caa)

    def challenge_delegations(self, sites: Sequence[ChallengeSite]) -> dict[str, str]:
        self.delegation_lookups.append([s.name for s in sites])
        return {}  # no _acme-challenge record is a CNAME

    def wait_until_published(self, records: Sequence[ChallengeRecord]) -> None:
        self.published_when_waited.append(
            {r.name: set(self.records.held.get(r.name, set())) for r in records})

    def zones(self) -> list[HostedZone]:
        return [z for z in self.listed_zones() if not z.private]

    def listed_zones(self) -> list[HostedZone]:
        return self.records.listed_zones(self.settings.allowed_zone_ids)


