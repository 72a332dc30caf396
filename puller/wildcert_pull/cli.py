"""The `wildcert-pull` command line: options in, one line out, an exit code that says why."""

from __future__ import annotations

import argparse
import datetime as dt
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from wildcert_pull import __version__, bucket, inventory
from wildcert_pull.checks import Succession, names_of
from wildcert_pull.errors import BEFORE_ANY_WRITE, Exit, PullError
from wildcert_pull.run import Options, pull

PROG = "wildcert-pull"


def _command(text: str) -> tuple[str, ...]:
    try:
        argv = tuple(shlex.split(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"cannot split {text!r}: {exc}") from exc
    if not argv:
        raise argparse.ArgumentTypeError("the reload command is empty")
    return argv


def _cert_name(text: str) -> str:
    if not text or "/" in text or text.startswith(("_", ".")):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a certificate name (no '/', not starting with '_' or '.')"
        )
    return text


def _domain(text: str) -> str:
    if not text or any(c.isspace() or c in "/," for c in text):
        raise argparse.ArgumentTypeError(f"{text!r} is not one DNS name")
    return text.lower()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Install the current wildcert certificate from S3 into a directory, "
        "verified and atomically; reload a service only when it changed. "
        "`wildcert-pull inventory --help`: the certificates at a glance.",
        epilog="exit codes: 0 updated or unchanged, 1 verification failed (nothing installed), "
        "2 usage, 3 AWS/network error (nothing installed), 4 reload failed (files installed), "
        "5 local file error or unsafe --dest, 6 refused: older than the installed certificate "
        "or other names (nothing installed). See docs/PULL.md.",
    )
    p.add_argument("--bucket", required=True, help="the wildcert certificate bucket")
    p.add_argument("--name", required=True, type=_cert_name, help="certificate name")
    p.add_argument("--dest", required=True, type=Path,
                   help="directory to install into, e.g. /etc/ssl/wildcert/NAME")
    p.add_argument("--reload", type=_command, metavar="COMMAND",
                   help="run (without a shell) when the files changed, "
                   "e.g. 'systemctl reload nginx'")
    p.add_argument("--expect-domain", action="append", type=_domain, metavar="NAME",
                   dest="expect_domains",
                   help="a name the certificate must carry; repeat for each, e.g. "
                   "--expect-domain '*.example.com' --expect-domain example.com. Without it, "
                   "the names must stay those of the certificate already installed")
    p.add_argument("--allow-older", action="store_true",
                   help="install the bucket's certificate even if it is older than the "
                   "installed one (a deliberate rollback)")
    p.add_argument("--region", help="the bucket's AWS region (default: the AWS configuration)")
    p.add_argument("--endpoint-url", help="S3 endpoint (default: AWS_ENDPOINT_URL or AWS)")
    p.add_argument("--quiet", action="store_true", help="print nothing unless something fails")
    p.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    return p


def parse_args(argv: Sequence[str] | None) -> Options:
    args = parser().parse_args(argv)
    expected = names_of(args.expect_domains) if args.expect_domains else None
    return Options(
        bucket=args.bucket, name=args.name, dest=args.dest, reload=args.reload,
        region=args.region, endpoint_url=args.endpoint_url, quiet=args.quiet,
        succession=Succession(allow_older=args.allow_older, expected_names=expected),
    )


def s3_client(options: Options) -> Any:
    return bucket.s3_client(options.region, options.endpoint_url)


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["inventory"]:  # the fleet at a glance, not a pull (wildcert_pull.inventory)
        return inventory.main(args[1:])
    options = parse_args(args)
    try:
        message = pull(options, s3_client(options), now(), warn=_warn)
    except PullError as exc:
        untouched = f"; {options.dest} left as it was" if exc.code in BEFORE_ANY_WRITE else ""
        return _fail(f"{exc}{untouched}", exc.code)
    except OSError as exc:
        return _fail(
            f"{exc} — check that this user may create and write {options.dest}", Exit.LOCAL
        )
    except Exception as exc:
        return _fail(f"unexpected {type(exc).__name__}: {exc} (a bug: please report it)", Exit.BUG)
    if not options.quiet:
        print(f"{PROG}: {message}")
    return Exit.OK


def _warn(message: str) -> None:
    print(f"{PROG}: warning: {message}", file=sys.stderr)


def _fail(message: str, code: Exit) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
