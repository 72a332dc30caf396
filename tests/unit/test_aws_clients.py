"""The container's AWS clients are made by botocore as botocore ships: its own loader, its data.

wildcert once swapped botocore's file loader for one of its own that knew botocore's file
extensions: a botocore release that stores its data another way (the layer pins botocore now,
but a copy of its loader would still have to follow every release) broke every client with
`DataNotFoundError: Unable to load data for: endpoints`. These tests read how the clients were
made through botocore's public names only.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import botocore.loaders
import pytest

from wildcert import container
from wildcert.adapters import aws


@pytest.fixture
def fresh_session(monkeypatch: pytest.MonkeyPatch,
                  fresh_container: container.Container) -> Iterator[None]:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    yield


@pytest.mark.usefixtures("fresh_session")
def test_botocores_own_loader_reads_the_data_in_whatever_form_botocore_ships_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A botocore whose loader reads a new format: the clients still come up, through it."""
    stock_load = botocore.loaders.JSONFileLoader.load_file
    read: list[str] = []

    def new_format(self: Any, file_path: str) -> Any:
        read.append(file_path.rsplit("/", 1)[-1])
        return stock_load(self, file_path)

    monkeypatch.setattr(botocore.loaders.JSONFileLoader, "load_file", new_format)
    s3 = aws.client("s3")
    assert s3.meta.endpoint_url == "https://s3.eu-west-3.amazonaws.com"
    assert {"endpoints", "service-2"} <= set(read), read


@pytest.mark.usefixtures("fresh_session")
def test_a_client_for_any_service_botocore_knows() -> None:
    """No list of services to keep: the session holds botocore's data whole."""
    assert aws.client("kms").meta.service_model.service_name == "kms"
    assert aws.client("route53").meta.config.retries == {"mode": "standard",
                                                         "total_max_attempts": 1}
