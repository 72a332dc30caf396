"""Fixtures for the unit tests that need a real Route 53 API: moto's server, strict like AWS."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from local_stack import route53_strict


def route53_client(endpoint: str) -> Any:
    return boto3.client(
        "route53",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """A moto server on a free loopback port, with Route 53's change rules enforced."""
    route53_strict.install()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
