"""Check a teams' policy file with the parser the issuer uses, before it is deployed.

    python -m wildcert.tools.check_teams layers/wildcert/teams.toml

The layer's build runs this on the copy it is about to ship (layers/wildcert/Makefile), so a
policy with a problem fails `sam build` / `make build` with every problem listed, instead of
reaching AWS, where the issuer would refuse every team's request until it is fixed.
Exit 0: the policy is sound (its teams are printed); 1: it has problems; 2: it cannot be read.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from wildcert.logic.teams import TeamsError, parse_teams

EXIT_OK, EXIT_PROBLEMS, EXIT_UNREADABLE = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wildcert.tools.check_teams",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path, help="the teams.toml to check")
    parser.add_argument("--quiet", action="store_true", help="print nothing when it is sound")
    args = parser.parse_args(argv)
    try:
        text = args.path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        print(f"check_teams: cannot read {args.path}: {error}", file=sys.stderr)
        return EXIT_UNREADABLE
    try:
        teams = parse_teams(text, str(args.path))
    except TeamsError as error:
        print(f"check_teams: {error}\nFix the file: deployed, it would make the issuer refuse "
              "every team's request.", file=sys.stderr)
        return EXIT_PROBLEMS
    if not args.quiet:
        ids = ", ".join(sorted(teams.teams)) or "none: only the operators"
        print(f"check_teams: {args.path} is sound; teams: {ids}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
