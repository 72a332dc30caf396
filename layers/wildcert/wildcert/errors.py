"""The one base of every error wildcert raises.

A job catches `WildcertError` (and names the stage it happened in); it never needs to know
which library failed underneath. Adapters turn their library's errors into one of these at
the boundary: botocore's into `StorageError` (the bucket), `Route53Error`, `AwsError` (the
rest of AWS); `acme`'s and `requests`' into `AcmeError`; dnspython's into `LookupFailed`.
"""

from __future__ import annotations


class WildcertError(Exception):
    """Something wildcert could not do; the message says what, where and what to do."""
