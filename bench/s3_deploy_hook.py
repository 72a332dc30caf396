"""certbot --deploy-hook: copy the new certificate set to S3 with SSE-KMS, as wildcert stores it.

Runs with the certbot venv's Python. certbot sets RENEWED_LINEAGE (the live directory); the
bench sets BENCH_BUCKET, BENCH_KMS_KEY_ID, BENCH_HOOK_LOG and the AWS endpoint. Appends one JSON
line to BENCH_HOOK_LOG with how long the hook took from its first line.
"""

from __future__ import annotations

import time

STARTED = time.time()

import json  # noqa: E402 - the clock starts before anything is imported
import os  # noqa: E402
from pathlib import Path  # noqa: E402

FILES = ("privkey.pem", "cert.pem", "chain.pem", "fullchain.pem")


def main() -> None:
    import boto3

    lineage = Path(os.environ["RENEWED_LINEAGE"])
    bucket = os.environ["BENCH_BUCKET"]
    s3 = boto3.client("s3")
    for name in FILES:
        s3.put_object(
            Bucket=bucket,
            Key=f"certbot/{lineage.name}/{name}",
            Body=(lineage / name).read_bytes(),
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=os.environ["BENCH_KMS_KEY_ID"],
        )
    with open(os.environ["BENCH_HOOK_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps({"lineage": lineage.name, "started": STARTED,
                              "seconds": time.time() - STARTED, "objects": len(FILES)}) + "\n")


if __name__ == "__main__":
    main()
