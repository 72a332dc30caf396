"""The session's lean model loader: what botocore would load, less what a request never reads.

Its clients must resolve endpoints, sign and validate exactly as a stock botocore session's
do; only the API documentation and the endpoint data of services wildcert never calls go.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ParamValidationError
from botocore.loaders import Loader
from botocore.session import get_session

from wildcert.adapters import aws

SERVICE_MODELS = {"s3": "2006-03-01", "route53": "2013-04-01", "events": "2015-10-07",
                  "secretsmanager": "2017-10-17", "sqs": "2012-11-05"}
REGIONS = ("us-east-1", "eu-west-3", "us-gov-west-1", "cn-north-1")


def stock(name: str, version: str | None = None) -> Any:
    return Loader().load_service_model(name, "service-2", version) if version else \
        Loader().load_data(name)


def lean_loader() -> Loader:
    return Loader(file_loader=aws.LeanModels())


def documentation_removed(model: Any) -> Any:
    """`model` as LeanModels should read it: no text on operations, shapes or members."""
    for part in aws.DOCUMENTED:
        for entry in model.get(part, {}).values():
            entry.pop("documentation", None)
            for member in entry.get("members", {}).values():
                member.pop("documentation", None)
    return model


@pytest.fixture
def no_endpoint_override(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Clients that resolve their endpoints from botocore's data, as in a real account."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    aws._session.cache_clear()
    yield
    aws._session.cache_clear()


@pytest.mark.parametrize("service", sorted(SERVICE_MODELS))
def test_a_service_model_is_botocores_without_its_documentation(service: str) -> None:
    version = SERVICE_MODELS[service]
    lean = lean_loader().load_service_model(service, "service-2", version)
    assert lean == documentation_removed(stock(service, version))
    assert type(lean) is dict and type(lean["shapes"]) is dict
    assert not any("documentation" in shape for shape in lean["shapes"].values())
    # Read as a required key by botocore (the client's context parameters): kept.
    if "clientContextParams" in lean:
        assert all("documentation" in p for p in lean["clientContextParams"].values())


def test_other_files_are_botocores_as_plain_dicts() -> None:
    for name in ("partitions", "_retry", "sdk-default-configuration"):
        assert lean_loader().load_data(name) == stock(name)
    rules = lean_loader().load_service_model("s3", "endpoint-rule-set-1", "2006-03-01")
    assert rules == Loader().load_service_model("s3", "endpoint-rule-set-1", "2006-03-01")


def test_the_endpoint_data_keeps_the_services_wildcert_and_its_credentials_use() -> None:
    full, lean = stock("endpoints"), lean_loader().load_data("endpoints")
    kept = aws.SERVICES | aws.CREDENTIAL_SERVICES
    assert [p["partition"] for p in lean["partitions"]] == [p["partition"] for p in
                                                             full["partitions"]]
    for whole, pruned in zip(full["partitions"], lean["partitions"], strict=True):
        assert set(pruned["services"]) == set(whole["services"]) & kept
        assert all(pruned["services"][s] == whole["services"][s] for s in pruned["services"])
        assert {k: v for k, v in pruned.items() if k != "services"} == \
            {k: v for k, v in whole.items() if k != "services"}
    assert {"s3", "route53", "sts"} <= set(lean["partitions"][0]["services"])


@pytest.mark.usefixtures("no_endpoint_override")
@pytest.mark.parametrize("service", sorted(aws.SERVICES))
def test_clients_resolve_and_sign_like_a_stock_sessions(service: str) -> None:
    for region in REGIONS:
        ours = aws._session().create_client(service, region_name=region)
        theirs = get_session().create_client(service, region_name=region)
        assert ours.meta.endpoint_url == theirs.meta.endpoint_url, region
        assert ours.meta.region_name == theirs.meta.region_name
        assert ours.meta.partition == theirs.meta.partition
        assert ours._request_signer.signing_name == theirs._request_signer.signing_name
        assert ours._request_signer.region_name == theirs._request_signer.region_name


@pytest.mark.usefixtures("no_endpoint_override")
def test_requests_are_built_and_validated_like_a_stock_sessions() -> None:
    ours = aws._session().create_client("s3", region_name="eu-west-3")
    theirs = get_session().create_client("s3", region_name="eu-west-3")
    built: dict[str, Any] = {}
    for name, made in (("ours", ours), ("theirs", theirs)):
        def sent(request: Any, _name: str = name, **_: Any) -> Any:
            built.setdefault(_name, request)
            return _answer()  # nothing leaves the process

        made.meta.events.register("before-send", sent)
        made.put_object(Bucket="b", Key="k/cert.json", Body=b"{}", IfMatch='"e"',
                        ServerSideEncryption="aws:kms", SSEKMSKeyId="key")
        with pytest.raises(ParamValidationError, match="IfMatch"):
            made.put_object(Bucket="b", Key="k", Body=b"", IfMatch=1)
    assert built["ours"].url == built["theirs"].url
    assert built["ours"].method == built["theirs"].method
    assert built["ours"].headers["If-Match"] == built["theirs"].headers["If-Match"]


def _answer() -> Any:
    from botocore.awsrequest import AWSResponse

    class Raw:
        def stream(self, **_: Any) -> Iterator[bytes]:
            yield b""

    return AWSResponse("https://example.invalid", 200, {}, Raw())


def test_a_client_for_a_service_without_endpoint_data_is_refused() -> None:
    with pytest.raises(ValueError, match=r"aws\.SERVICES"):
        aws.client("kms")
