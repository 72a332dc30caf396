"""Give a certificate to a team, or back to the operators.

    python -m wildcert.tools.assign_team <name> <team>         # <name> becomes <team>'s
    python -m wildcert.tools.assign_team <name> --operators    # <name> is the operators' again

The team's policy holds as it is now: the certificate's hosts under its suffixes, its key type
one the team may use, and its name in the team's namespace unless --outside-namespace says
otherwise. A name another team owns moves only with --force, and one that has not expired
(its servers use it) only with --move-live as well.

Certificates issued before teams (a cert.json without `team`) belong to the operators; they
keep renewing as they are. Assigning one to a team lets that team ask for it (renew, force,
change its domains) and routes its news to the team's channel and events. The issuer keeps the
owner through every renewal.

Needs CERT_BUCKET and KMS_KEY_ID as the issuer has them, credentials that may read and write
`<name>/cert.json` (an administrator role of the bucket), and the teams' policy (TEAMS_FILE,
default layers/wildcert/teams.toml) to check the team exists. The write is conditional on
the cert.json read, so an issuance finishing at the same moment is never overwritten: run the
command again.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from wildcert.adapters import aws
from wildcert.adapters.bucket.objects import Bucket, NotFound, PreconditionFailed, StorageError
from wildcert.logic.teams import TeamsError, host_refusals, parse_teams
from wildcert.logic.times import parse_time

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
    parser.add_argument("--move-live", action="store_true",
                        help="with --force: take it even though it has not expired (its "
                             "servers still use it)")
    parser.add_argument("--outside-namespace", action="store_true",
                        help="give a team a name that does not start with <team>. (its "
                             "readers cannot read it until their policy grants it)")
    args = parser.parse_args(argv)
    if bool(args.team) == args.operators:
        parser.error("name a team or give --operators, not both")
    try:
        return assign(args.name, None if args.operators else args.team, force=args.force,
                      move_live=args.move_live, outside_namespace=args.outside_namespace)
    except (StorageError, TeamsError, OSError, KeyError) as error:
        print(f"assign_team: {error}", file=sys.stderr)
        return EXIT_REFUSED


def assign(name: str, team: str | None, *, force: bool = False, move_live: bool = False,
           outside_namespace: bool = False) -> int:
    policy = None
    if team is not None:
        policy = parse_teams(_teams_path().read_text(encoding="utf-8"),
                             str(_teams_path())).get(team)
        if policy is None:
            print(f"assign_team: there is no team {team!r} in {_teams_path()}", file=sys.stderr)
            return EXIT_REFUSED
        if not name.startswith(policy.namespace) and not outside_namespace:
            print(f"assign_team: {name} is outside team {team}'s namespace ({policy.namespace}"
                  "*): its readers could not read it; give --outside-namespace to assign it "
                  "anyway", file=sys.stderr)
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
    if policy is not None:
        broken = host_refusals(policy, body.get("domains") or [], str(body.get("key_type")),
                               body.get("endpoints") or [])
        if broken:
            print(f"assign_team: {name} does not fit team {team}'s policy:\n"
                  + "\n".join(f"- {b}" for b in broken), file=sys.stderr)
            return EXIT_REFUSED
    if now and not force:
        print(f"assign_team: {name} belongs to team {now}; --force takes it from them",
              file=sys.stderr)
        return EXIT_REFUSED
    if now and not move_live and _live(body):
        print(f"assign_team: {name} is team {now}'s and has not expired (its servers use it); "
              "--move-live with --force moves it anyway", file=sys.stderr)
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


def _live(body: dict[str, object]) -> bool:
    """Has the certificate not expired? (An unreadable expiry counts as live.)"""
    try:
        return parse_time(str(body["not_after"])) > dt.datetime.now(dt.UTC)
    except (KeyError, ValueError):
        return True


def _teams_path() -> Path:
    return Path(os.environ.get("TEAMS_FILE") or "layers/wildcert/teams.toml")


def _owner(team: str | None) -> str:
    return f"team {team}" if team else "the operators"


if __name__ == "__main__":
    sys.exit(main())
