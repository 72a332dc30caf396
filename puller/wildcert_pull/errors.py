"""Exit codes, and the one error every step raises: a single line for the operator."""

from __future__ import annotations

import enum


class Exit(enum.IntEnum):
    OK = 0  # installed, or already current
    VERIFY = 1  # the bucket holds no usable, valid set (mismatch, missing, expired)
    USAGE = 2  # bad command line (argparse's own code)
    AWS = 3  # S3/KMS/credentials/network
    RELOAD = 4  # files installed, the reload command failed
    LOCAL = 5  # --dest could not be read, locked or written, or is unsafe to write
    REFUSED = 6  # a valid set, but older than the installed one or for other names
    BUG = 70  # an unexpected exception (sysexits EX_SOFTWARE)


# Failures that stop a run before it writes anything into --dest.
BEFORE_ANY_WRITE = frozenset({Exit.VERIFY, Exit.AWS, Exit.REFUSED})


class PullError(Exception):
    """What failed, which object or file, what to do."""

    def __init__(self, message: str, code: Exit) -> None:
        super().__init__(message)
        self.code = code
