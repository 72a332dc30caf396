"""The hosted zones as moto holds them right now, read through the Route 53 API.

Read on every query, never cached: the issuer writes a TXT record and checks it here at once,
and Pebble's validator asks right after. The zones of every local account are served, as
Route 53's name servers serve every account's public zones: the stack's own account and
`OTHER_ACCOUNTS`, where teams keep zones of their own (moto keeps each account apart and
gives a role assumed there credentials of that account).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

from local_stack.zone_data import HostedZone, ZoneData, route53_name, zone_from_record_sets

OWN_ACCOUNT = "123456789012"  # moto's default account: the stack's own
# Accounts of the stack's teams (zones of their own there); a role in them is assumed to read.
OTHER_ACCOUNTS = ("222222222222", "333333333333")
READER_ROLE = "wildcert-local-dns-reader"

LOCAL_CREDENTIALS = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
    "region_name": "us-east-1",
}


def local_client(service: str, endpoint_url: str) -> Any:
    """A boto3 client for the moto server: fixed fake credentials, quick timeouts."""
    return boto3.session.Session().client(
        service,
        endpoint_url=endpoint_url,
        config=Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 3}),
        **LOCAL_CREDENTIALS,
    )


def account_client(service: str, endpoint_url: str, account: str,
                   role: str = READER_ROLE, region: str | None = None) -> Any:
    """A client acting in `account` (moto: a role assumed there; it needs no trust policy),
    in `region` (else the local default)."""
    if account == OWN_ACCOUNT and region is None:
        return local_client(service, endpoint_url)
    credentials = local_client("sts", endpoint_url).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName="local-stack",
    )["Credentials"]
    return boto3.session.Session().client(
        service, endpoint_url=endpoint_url,
        region_name=region or LOCAL_CREDENTIALS["region_name"],
        config=Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 3}),
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


@dataclass
class Route53Source:
    clients: dict[str, Any]  # account -> Route 53 client acting there

    @classmethod
    def for_endpoint(cls, endpoint_url: str) -> Route53Source:
        return cls(clients={account: account_client("route53", endpoint_url, account)
                            for account in (OWN_ACCOUNT, *OTHER_ACCOUNTS)})

    def hosted_zones(self) -> list[HostedZone]:
        zones: list[HostedZone] = []
        for account, client in self.clients.items():
            for page in client.get_paginator("list_hosted_zones").paginate():
                for zone in page["HostedZones"]:
                    if zone.get("Config", {}).get("PrivateZone"):
                        continue  # private zones are not on the public name servers
                    zones.append(HostedZone(zone_id=zone["Id"].rsplit("/", 1)[-1],
                                            origin=route53_name(zone["Name"]),
                                            account=account))
        return zones

    def zone_data(self, zone: HostedZone) -> ZoneData:
        record_sets: list[dict[str, Any]] = []
        client = self.clients[zone.account or OWN_ACCOUNT]
        paginator = client.get_paginator("list_resource_record_sets")
        for page in paginator.paginate(HostedZoneId=zone.zone_id):
            record_sets.extend(page["ResourceRecordSets"])
        return zone_from_record_sets(zone.origin, record_sets)
