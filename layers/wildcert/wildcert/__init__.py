"""wildcert: issue and renew Let's Encrypt wildcard certificates from AWS Lambda."""

__version__ = "0.1.0"
