"""What one run cost, seen from the servers: Pebble's log, the stack's AWS fault proxy (which
every AWS call of both tools passes, `AWS_ENDPOINT_URL`), the DNS server."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from bench.pebble_log import LogCursor


def _delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    keys = set(after) | set(before)
    return {k: after.get(k, 0) - before.get(k, 0) for k in sorted(keys)
            if after.get(k, 0) != before.get(k, 0)}


@dataclass
class Observers:
    pebble: LogCursor
    stack: Any  # local_stack.Stack: the Slack sink, the DNS server, the AWS fault proxy

    def begin(self) -> dict[str, Any]:
        self.pebble.mark()
        return {**self.stack.stats(), "front": self._front(), "aws": self._aws()}

    def end(self, before: dict[str, Any]) -> dict[str, dict[str, int]]:
        after = self.stack.stats()
        return {
            "acme_server": dict(sorted(self.pebble.since_mark().items())),
            "acme_front": _delta(self._front(), before["front"]),
            "aws_proxy": _delta(self._aws(), before["aws"]),
            "dns_server": _delta(after["dns"]["by_qtype"], before["dns"]["by_qtype"]),
            "slack": {"posts": after["slack"]["recorded"] - before["slack"]["recorded"]},
        }

    def _front(self) -> dict[str, int]:
        return _front_stats(self.stack)

    def _aws(self) -> dict[str, int]:
        """AWS calls by `service Operation`, as the stack's fault proxy counted them."""
        return dict(self.stack.aws_faults.stats()["by_operation"])


def _front_stats(stack: Any) -> dict[str, int]:
    """Requests by `METHOD kind` at the stack's ACME front, where the stack has one."""
    front = getattr(stack, "acme_front", None)
    if front is None:
        return {}
    try:
        return dict(front.stats().get("by_request", {}))
    except OSError:
        return {}


def total(counts: dict[str, int], prefix: str = "") -> int:
    return sum(v for k, v in counts.items() if k.startswith(prefix))


def by_service(counts: dict[str, int]) -> dict[str, Counter[str]]:
    """{"route53": {"ChangeResourceRecordSets": 2, ...}, "s3": {...}} from "svc Op" keys."""
    grouped: dict[str, Counter[str]] = {}
    for key, value in counts.items():
        service, _, operation = key.partition(" ")
        grouped.setdefault(service, Counter())[operation] += value
    return grouped
