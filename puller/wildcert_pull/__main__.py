"""`python -m wildcert_pull` is the same as the `wildcert-pull` script."""

import sys

from wildcert_pull.cli import main

sys.exit(main())
