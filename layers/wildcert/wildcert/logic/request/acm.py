"""Which AWS Certificate Manager regions an issued certificate is imported into, and which key
types each target takes.

A request's `acm` lists regions (`eu-west-1`) and `cloudfront`: CloudFront uses certificates
imported in us-east-1, with an RSA 2048 or EC P-256 key only (ACM itself imports every key type
wildcert makes). The check runs with the request's validation, so a key a target cannot use is
refused before anything is ordered.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from wildcert.logic.request.echo import described, show

CLOUDFRONT = "cloudfront"
CLOUDFRONT_REGION = "us-east-1"
CLOUDFRONT_KEY_TYPES = ("rsa2048", "ec256")
REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]{1,2}")
MAX_TARGETS = 10


def check_acm(value: object, key_type: str, findings: list[str]) -> tuple[str, ...]:
    """The request's ACM targets (regions and `cloudfront`), each once; problems to
    `findings`."""
    if value is None:
        return ()
    if (not isinstance(value, list) or not value or len(value) > MAX_TARGETS
            or not all(isinstance(v, str) for v in value)):
        findings.append(f"acm must be a list of 1 to {MAX_TARGETS} AWS regions (e.g. "
                        f"\"eu-west-1\") or \"{CLOUDFRONT}\"; got {described(value)}.")
        return ()
    targets = tuple(dict.fromkeys(v.strip().lower() for v in value))
    bad = [t for t in targets if t != CLOUDFRONT and not REGION.fullmatch(t)]
    if bad:
        findings.append(f"acm lists {', '.join(show(b) for b in bad)}, which is not an AWS "
                        f"region (e.g. \"eu-west-1\") or \"{CLOUDFRONT}\".")
        return ()
    if CLOUDFRONT in targets and key_type not in CLOUDFRONT_KEY_TYPES:
        findings.append(f"acm target {CLOUDFRONT} takes only {' or '.join(CLOUDFRONT_KEY_TYPES)} "
                        f"keys (CloudFront accepts RSA 2048 and EC P-256 only); the request's "
                        f"key_type is {key_type}: ask for one of those or leave {CLOUDFRONT} "
                        "out.")
        return ()
    return targets


def regions(targets: Iterable[str]) -> tuple[str, ...]:
    """The regions the targets import into, each once (`cloudfront` is us-east-1)."""
    return tuple(dict.fromkeys(CLOUDFRONT_REGION if t == CLOUDFRONT else t for t in targets))
