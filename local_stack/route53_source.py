"""The hosted zones as moto holds them right now, read through the Route 53 API.

Read on every query, never cached: the issuer writes a TXT record and checks it here at once,
and Pebble's validator asks right after.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

from local_stack.zone_data import HostedZone, ZoneData, route53_name, zone_from_record_sets

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


@dataclass
class Route53Source:
    client: Any

    @classmethod
    def for_endpoint(cls, endpoint_url: str) -> Route53Source:
        return cls(client=local_client("route53", endpoint_url))

    def hosted_zones(self) -> list[HostedZone]:
        zones: list[HostedZone] = []
        for page in self.client.get_paginator("list_hosted_zones").paginate():
            for zone in page["HostedZones"]:
                if zone.get("Config", {}).get("PrivateZone"):
                    continue  # private zones are not on the public name servers
                zones.append(
                    HostedZone(
                        zone_id=zone["Id"].rsplit("/", 1)[-1], origin=route53_name(zone["Name"])
                    )
                )
        return zones

    def zone_data(self, zone: HostedZone) -> ZoneData:
        record_sets: list[dict[str, Any]] = []
        paginator = self.client.get_paginator("list_resource_record_sets")
        for page in paginator.paginate(HostedZoneId=zone.zone_id):
            record_sets.extend(page["ResourceRecordSets"])
        return zone_from_record_sets(zone.origin, record_sets)
