"""Give a certificate to a team, or back to the operators.

    python -m wildcert.tools.assign_team <name> <team>         # <name> becomes <team>'s
    python -m wildcert.tools.assign_team <name> --operators    # <name> is the operators' again

Certificates issued before teams (a cert.json without `team`) belong to the operators; they
keep renewing as they are. Assigning one to a team lets that team ask for it (renew, force,
change its domains) and routes its news to the team's channel and events. The issuer keeps the
owner through every renewal.

Needs CERT_BUCKET and KMS_KEY_ID as the issuer has them, credentials that may read and write
`<name>/cert.json` (an administrator role of the bucket), and the teams' policy (TEAMS_FILE,
default ./teams.toml) to check the team exists. The write is conditional on the cert.json read,
so an issuance finishing at the same moment is never overwritten: run the command again.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from wildcert.adapters import aws
from wildcert.adapters.bucket.objects import Bucket, NotFound, PreconditionFailed, StorageError
from wildcert.logic.teams import TeamsError, parse_teams

EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wildcert.tools.assign_team",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("name", help="the certificate name (its bucket prefix)")
    parser.add_argument("team", nargs="?", help="the team id, as in teams.toml")
    parser.add_argument("--operators", action="store_true",
                        help="give the certificate back to the operators")
    parser.add_argument("--force", action="store_true",
                        help="take it from the team that owns it now")
    args = parser.parse_args(argv)
    if bool(args.team) == args.operators:
        parser.error("name a team or give --operators, not both")
    try:
        return assign(args.name, None if args.operators else args.team, force=args.force)
    except (StorageError, TeamsError, OSError, KeyError) as error:
        print(f"assign_team: {error}", file=sys.stderr)
        return EXIT_REFUSED


def assign(name: str, team: str | None, *, force: bool = False) -> int:
    if team is not None:
        policy = parse_teams(_teams_path().read_text(encoding="utf-8"), str(_teams_path()))
        if policy.get(team) is None:
            print(f"assign_team: there is no team {team!r} in {_teams_path()}", file=sys.stderr)
            return EXIT_REFUSED
    bucket = Bucket(aws.client("s3"), os.environ["CERT_BUCKET"], os.environ["KMS_KEY_ID"])
    key = f"{name}/cert.json"
    found = bucket.get(key)
    if found is None:
        print(f"assign_team: {bucket.url(key)} does not exist", file=sys.stderr)
        return EXIT_REFUSED
    body = json.loads(found.body)
    now = body.get("team")
    if now == team:
        print(f"{name} already belongs to {_owner(team)}")
        return EXIT_OK
    if now and not force:
        print(f"assign_team: {name} belongs to team {now}; --force takes it from them",
              file=sys.stderr)
        return EXIT_REFUSED
    if team is None:
        body.pop("team", None)
    else:
        body["team"] = team
    raw = json.dumps(body, indent=2, sort_keys=True).encode()
    try:
        bucket.put(key, raw, content_type="application/json", if_match=found.etag)
    except (PreconditionFailed, NotFound):
        print(f"assign_team: {bucket.url(key)} changed while assigning it (an issuance?); "
              "run the command again", file=sys.stderr)
        return EXIT_REFUSED
    print(f"{name} now belongs to {_owner(team)} (was {_owner(now)})")
    if team is not None and not name.startswith(f"{team}."):
        print(f"note: team {team}'s readers may read {team}.* only; grant them {name}/ too, or "
              f"have the team ask for {team}.{name} and move its servers to it")
    return EXIT_OK


def _teams_path() -> Path:
    return Path(os.environ.get("TEAMS_FILE") or "teams.toml")


def _owner(team: str | None) -> str:
    return f"team {team}" if team else "the operators"


if __name__ == "__main__":
    sys.exit(main())
