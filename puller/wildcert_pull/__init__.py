"""wildcert-pull: install a certificate from a wildcert bucket on a server.

The package reads the bucket's documented format (docs/PULL.md, "File format") and nothing of
the issuer's code: a server gets boto3, cryptography and these modules.

    formats  what `<name>/cert.json` says and how it is checked for consistency
    bucket   GetObject from S3, with errors an operator can act on
    checks   the fetched set: key, chain, names, serial, validity, and never older
    local    the destination directory: state, lock, safe modes, atomic install
    reload   running the reload command
    run      one pull, start to end
    cli      the command line
"""

__version__ = "0.1.0"
