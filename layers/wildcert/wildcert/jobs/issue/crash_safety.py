"""What keeps an issuance safe when its container dies at any point: one attempt at a time per
name, and everything a successor must finish or undo written down before it is done.

    lease       the name is held for this attempt (`InFlight`); another attempt is `Busy`
    journal     the order, its key and the challenge values, recorded before any value is added
    recovery    a successor removes what a dead attempt left and finishes its order if the CA
                already validated or issued it (no second certificate)
    publish     the challenge values are in Route 53 only while they are needed; a value that
                cannot be removed stays journaled for the next attempt
    verify      nothing is stored unless the key matches and the chain and names check out

On the way out the lease is released, or parked with what the next attempt needs: the order
(a certificate exists but is not stored) and challenge values a cleanup could not remove.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from wildcert.adapters import slack
from wildcert.adapters.acme import AcmeError, AcmeSession, Order, OrderStatus
from wildcert.adapters.bucket.leases import InFlight, Journal, Lease
from wildcert.adapters.route53 import ChallengeRecord
from wildcert.deadline import Deadline
from wildcert.jobs.issue.outcome import StageFailure, in_stage, stage, unexpected
from wildcert.jobs.issue.wiring import Services
from wildcert.logic.certificates import (
    IssuedSet,
    PrivateKey,
    key_pem,
    load_key,
    make_csr,
    verify_set,
)
from wildcert.logic.request import CertificateRequest
from wildcert.logic.zones import HostedZone

logger = logging.getLogger(__name__)
CLEANUP_SECONDS = 15.0
# A lease outlives the attempt's own deadline by this much, so a live holder never loses it.
LEASE_MARGIN_SECONDS = 60.0


@dataclass
class HeldLease:
    """The name's lease while this attempt holds it, and what a dead predecessor left."""

    lease: Lease
    previous: Journal | None
    # Set once a certificate exists: from then on a failure keeps the order for the retry.
    certificate_exists: bool = False
    recovered: bool = False  # the certificate came from the predecessor's order


class CrashSafety:
    """The lease, the journal, recovery, publish and cleanup, and the certificate's checks."""

    def __init__(self, services: Services, channels: slack.Channels,
                 now: Callable[[], dt.datetime], holder: str):
        self.services = services
        self.channels = channels
        self.now = now
        self.holder = holder

    @contextlib.contextmanager
    def lease(self, request: CertificateRequest) -> Iterator[HeldLease]:
        """Hold the name for this attempt; on the way out leave what a retry must finish."""
        leases = self.services.leases
        now = self.now()
        journal = Journal(
            name=request.name, holder=self.holder, domains=request.domains,
            key_type=request.key_type,
            expires_at=InFlight.until(
                now, self.services.deadline.remaining() + LEASE_MARGIN_SECONDS),
        )
        with stage("precheck"):
            lease, previous = leases.acquire(journal, now)
        logger.info("lease: %s holds %s until %s", self.holder, request.name, journal.expires_at)
        held = HeldLease(lease, previous)
        try:
            yield held
        except StageFailure:
            self._let_go(leases, lease, keep_order=held.certificate_exists)
            raise
        except Exception as exc:
            # A bug: the name is given up as after any failure (the order kept only when a
            # certificate exists), so later deliveries are not answered busy until it expires.
            logger.error("unexpected error while holding %s", request.name, exc_info=exc)
            self._let_go(leases, lease, keep_order=held.certificate_exists)
            raise unexpected(exc) from exc
        self._let_go(leases, lease, keep_order=False)

    def recover(self, session: AcmeSession, held: HeldLease,
                request: CertificateRequest) -> IssuedSet | None:
        """Clean up after a dead attempt and, if the CA already issued or validated, finish."""
        previous = held.previous
        if previous is None:
            return None
        if previous.records:
            known = {z.id: z for z in self.services.listed_zones()}
            self._cleanup(held.lease, [
                ChallengeRecord(known.get(zid, HostedZone(zid, zname)), name, value)
                for zid, zname, name, value in previous.records
            ])
        same = (sorted(previous.domains) == sorted(request.domains)
                and previous.key_type == request.key_type)
        if not (same and previous.order_url and previous.key_pem):
            return None
        with stage("acme"):
            try:
                state = session.fetch_order(previous.order_url)
            except AcmeError as exc:
                logger.info("recover: previous order %s is gone (%s); ordering anew",
                            previous.order_url, exc)
                return None
            key = load_key(previous.key_pem.encode())
            if state.status is OrderStatus.VALID and state.certificate_url:
                fullchain = session.download(state.certificate_url)
            elif state.status is OrderStatus.READY:
                fullchain = session.finalize(previous.order_url, state.finalize_url,
                                             make_csr(key, request.domains))
            else:
                return None
        logger.info("recover: finished the order %s of an attempt that died",
                    previous.order_url)
        held.recovered = True
        return self.verify(key, fullchain, request)

    @in_stage("storage")
    def journal(self, held: HeldLease, order: Order, key: PrivateKey,
                records: Sequence[ChallengeRecord]) -> None:
        # Journaled before anything is added, so whoever comes after a crash can clean up
        # and finish this order instead of ordering a second certificate.
        self.services.leases.record(
            held.lease, order_url=order.url, key_pem=key_pem(key).decode(),
            records=tuple((r.zone.id, r.zone.name, r.name, r.value) for r in records),
        )

    @contextlib.contextmanager
    def published(self, held: HeldLease, records: Sequence[ChallengeRecord]) -> Iterator[None]:
        """The challenge values are in Route 53 inside the block, and removed after it."""
        if not records:  # every authorization was still valid from an earlier order
            yield
            return
        if self.services.deadline.expired():
            raise StageFailure("dns", "no time left to add the challenge records: the "
                               "invocation's deadline passed; the request is retried")
        try:
            with stage("dns"):
                self.services.route53.add(records)
            logger.info("publish: %s", ", ".join(sorted({r.name for r in records})))
            yield
        finally:
            self._cleanup(held.lease, records)

    @in_stage("acme")
    def verify(self, key: PrivateKey, fullchain: str,
               request: CertificateRequest) -> IssuedSet:
        issued = IssuedSet.from_fullchain(key, fullchain)
        verify_set(issued, request.domains)
        logger.info("verify: key matches, chain and names check out")
        return issued

    def _let_go(self, leases: InFlight, lease: Lease, *, keep_order: bool) -> None:
        """Give the name up. What the next attempt must finish stays in the journal.

        keep_order: the certificate exists but is not stored, so order and key stay for the
        retry. Challenge values a cleanup could not remove stay too, for the next attempt to
        remove. Never raises: the certificate (or the failure) being reported matters more,
        and an unreleased lease expires by itself.
        """
        try:
            if keep_order:
                leases.park(lease, self.now(), records=lease.leftover)
            elif lease.leftover:
                leases.park(lease, self.now(), records=lease.leftover, forget_order=True)
            else:
                leases.release(lease)
        except Exception as exc:
            logger.error("could not update the in-flight journal of %s: %s",
                         lease.journal.name, exc)

    def _cleanup(self, lease: Lease, records: Sequence[ChallengeRecord]) -> None:
        """Remove exactly these values; what cannot be removed stays journaled on the lease.

        Its own budget: cleanup must run even when the order used up the deadline, and the
        deadline's reserve is there for exactly this.
        """
        route53 = self.services.route53_within(Deadline.after(CLEANUP_SECONDS))
        try:
            route53.remove(records)
        except Exception as exc:
            lease.leftover.extend(
                (r.zone.id, r.zone.name, r.name, r.value) for r in records
                if (r.zone.id, r.zone.name, r.name, r.value) not in lease.leftover
            )
            logger.error("cleanup: could not remove challenge records %s: %s",
                         sorted({r.name for r in records}), exc)
            self.channels.post(slack.failed(
                lease.journal.name, [r.name for r in records], "dns",
                f"cleanup failed: could not remove the _acme-challenge TXT values this order "
                f"added: {exc}. "
                f"They are harmless; the next run for {lease.journal.name} removes them.",
            ))
            return
        logger.info("cleanup: removed %d challenge value(s)", len(records))
