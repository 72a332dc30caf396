"""Helpers for the local-stack tests: record sets written straight into moto's Route 53."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from local_stack import Stack


@dataclass
class Records:
    """Writes record sets through the Route 53 API and deletes them again after the test."""

    stack: Stack
    route53: Any
    written: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def put(self, zone: str, name: str, rtype: str, values: list[str], ttl: int = 60) -> None:
        record_set = {
            "Name": name,
            "Type": rtype,
            "TTL": ttl,
            "ResourceRecords": [{"Value": value} for value in values],
        }
        self._change(zone, "CREATE", record_set)
        self.written.append((zone, record_set))

    def delete_all(self) -> None:
        while self.written:
            zone, record_set = self.written.pop()
            self._change(zone, "DELETE", record_set)

    def _change(self, zone: str, action: str, record_set: dict[str, Any]) -> None:
        self.route53.change_resource_record_sets(
            HostedZoneId=self.stack.zone_id(zone),
            ChangeBatch={"Changes": [{"Action": action, "ResourceRecordSet": record_set}]},
        )


@pytest.fixture
def records(stack: Stack) -> Iterator[Records]:
    written = Records(stack, stack.client("route53"))
    try:
        yield written
    finally:
        written.delete_all()


@pytest.fixture
def label() -> Callable[[str], str]:
    """Fresh DNS labels, so tests sharing the session stack never see each other's records."""
    run = uuid.uuid4().hex[:8]
    return lambda prefix: f"{prefix}-{run}"
