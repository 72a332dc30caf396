"""Pre-approving names at the stack's second CA, as a CA with pre-approved domains does.

AWS Certificate Manager's ACME endpoint validates a domain once, when the operator approves
it for the endpoint; orders for it then arrive with valid authorizations and no challenge.
The second Pebble reuses every valid authorization (PEBBLE_AUTHZREUSE=100), so a name
validated once for wildcert's account at that CA is pre-approved from then on. This does that
validation out of band, as the operator's approval would: with wildcert's account (made and
registered with the CA's External Account Binding if it does not exist yet), straight to moto
rather than through the AWS fault proxy, so it never counts as a Route 53 write of wildcert's.
The order it makes is left unfinalized: it issues nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from local_stack.route53_source import local_client
from wildcert.adapters.acme import AcmeSession, new_account_key_pem
from wildcert.adapters.bucket.certificates import AccountRecord, CertificateStore
from wildcert.adapters.bucket.objects import Bucket
from wildcert.adapters.dns import wait_for_txt
from wildcert.adapters.route53 import ChallengeRecord, ChallengeRecords
from wildcert.deadline import Deadline
from wildcert.jobs.issue.accounts import register
from wildcert.logic.cas import Ca
from wildcert.logic.zones import zone_for

SECONDS = 60.0


def preapprove(env: Mapping[str, str], ca: Ca, names: Sequence[str]) -> None:
    """Validate `names` at `ca` for wildcert's account there, so later orders reuse them."""
    deadline = Deadline.after(SECONDS)
    moto = env["WILDCERT_MOTO_URL"]
    store = CertificateStore(Bucket(local_client("s3", moto), env["CERT_BUCKET"],
                                    env["KMS_KEY_ID"]))
    account = store.load_account(ca.directory_url) or store.create_account(
        AccountRecord(ca.directory_url, new_account_key_pem().decode()))
    session = AcmeSession(ca.directory_url, account.key_pem.encode(), deadline=deadline,
                          ca_bundle=env["ACME_CA_BUNDLE"])
    if account.account_url:
        session.use_account(account.account_url)
    else:
        url = register(session, ca, env.get("ACME_CONTACT_EMAIL"),
                       lambda: local_client("secretsmanager", moto))
        store.update_account(dataclasses.replace(account, account_url=url))
    order = session.new_order(tuple(names))
    route53 = ChallengeRecords(local_client("route53", moto), deadline=deadline)
    zones = {z.name: z for z in route53.allowed_zones(env["ALLOWED_ZONES"].split(","))}
    records = []
    for challenge in order.challenges:
        zone = zone_for(challenge.identifier, zones)
        if zone is None:
            raise ValueError(f"{challenge.identifier} is in none of the stack's zones")
        records.append(ChallengeRecord(zones[zone], challenge.record_name, challenge.value))
    if not records:
        return  # approved before
    route53.add(records)
    try:
        expected: dict[str, set[str]] = {}
        for record in records:
            expected.setdefault(record.name, set()).add(record.value)
        wait_for_txt(expected, env["DNS_SERVER_OVERRIDE"], deadline=deadline, timeout=SECONDS)
        session.answer(order.challenges)
        session.wait_until_ready(order.url, order.challenges)
    finally:
        route53.remove(records)
