"""AWS Certificate Manager: the issued certificate imported where ALB, CloudFront and API
Gateway can use it.

A renewal re-imports to the ARN of the previous import (cert.json keeps them), so listeners and
distributions that use the certificate keep using it; ACM refuses tags on a re-import, so only
the first import tags it. An import that fails is reported, never fails the issuance: the
certificate is stored either way and the next renewal imports again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from wildcert.adapters.aws import AssumeRoleFailed, error_text
from wildcert.logic.certificates import IssuedSet

log = logging.getLogger(__name__)
NAME_TAG = "wildcert-name"


@dataclass(frozen=True)
class AcmImports:
    """What the imports gave: each region's certificate ARN, and what failed where."""

    arns: dict[str, str] = field(default_factory=dict)
    problems: tuple[str, ...] = ()


def import_certificate(
    regions: Sequence[str], name: str, issued: IssuedSet, *,
    previous: Mapping[str, str], client_for: Callable[[str], Any],
) -> AcmImports:
    """Import `issued` into ACM in each region, to `previous[region]`'s ARN when there is one."""
    arns: dict[str, str] = {}
    problems: list[str] = []
    for region in regions:
        known = previous.get(region)
        where = f"{known}" if known else f"a new certificate in {region}"
        try:
            arns[region] = _import(client_for(region), name, issued, known)
        except AssumeRoleFailed as error:
            problems.append(f"ACM import into {where} failed: {error} The certificate is "
                            "stored; the next renewal imports again.")
            continue
        except (ClientError, BotoCoreError) as error:
            problems.append(
                f"ACM import into {where} failed: {error_text(error)}. The certificate is "
                "stored; check that the issuer's role (or the team's ACM role) may call "
                "acm:ImportCertificate there. The next renewal imports again.")
            continue
        log.info("acm: %s %s in %s as %s", "re-imported" if known else "imported", name,
                 region, arns[region])
    return AcmImports(arns, tuple(problems))


def _import(client: Any, name: str, issued: IssuedSet, arn: str | None) -> str:
    request: dict[str, Any] = {"Certificate": issued.cert, "PrivateKey": issued.privkey,
                               "CertificateChain": issued.chain}
    if arn:
        request["CertificateArn"] = arn
    else:
        request["Tags"] = [{"Key": NAME_TAG, "Value": name[:256]}]
    return str(client.import_certificate(**request)["CertificateArn"])


def same_account(arns: Mapping[str, str], account: str | None) -> dict[str, str]:
    """The ARNs (by region) in `account`, or all of them when None: a team that moves its
    imports to a role in its own account gets new certificates there, not a re-import
    into ARNs of another account that the role cannot touch."""
    return {region: arn for region, arn in arns.items()
            if account is None or arn.split(":")[4:5] == [account]}
