"""The oldest botocore wildcert runs on, checked once per container at INIT.

The layer does not ship boto3/botocore: the Lambda runtime's copy is used, and its version
depends on the runtime update and the Region. wildcert's leases and stored state rely on S3
conditional writes; a botocore without `IfMatch` would only fail once an issuance reached
`precheck`, as `ParamValidationError: Unknown parameter in input: "IfMatch"`, which does not
say that the SDK is too old.
"""

from __future__ import annotations

import re

import botocore

# The first release whose S3 model has PutObject(IfMatch) (added 2024-11-25); DeleteObject
# (IfMatch) came in 1.35.68 and PutObject(IfNoneMatch) earlier.
BOTOCORE_FLOOR = (1, 35, 69)
FLOOR_TEXT = ".".join(map(str, BOTOCORE_FLOOR))


class SdkTooOld(RuntimeError):
    """The botocore on sys.path lacks API parameters wildcert uses."""


def _release(version: str) -> tuple[int, int, int] | None:
    match = re.match(r"(\d+)\.(\d+)\.(\d+)", version)
    if match is None:
        return None
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def require_botocore() -> None:
    """Raise SdkTooOld unless the importable botocore is at least BOTOCORE_FLOOR."""
    found = str(botocore.__version__)
    release = _release(found)
    if release is not None and release >= BOTOCORE_FLOOR:
        return
    raise SdkTooOld(
        f"wildcert needs botocore >= {FLOOR_TEXT} (S3 conditional writes: IfMatch on "
        f"PutObject and DeleteObject) but found botocore {found} at {botocore.__file__}. "
        "The Lambda runtime's SDK version depends on the runtime update and the Region. "
        f"Ship an SDK in the layer: add boto3>={FLOOR_TEXT} to "
        "layers/wildcert/requirements.txt, remove boto3, botocore and s3transfer from "
        "RUNTIME_PROVIDED in layers/wildcert/Makefile, then sam build and sam deploy."
    )
