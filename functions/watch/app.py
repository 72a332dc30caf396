"""Watch Lambda: renewal windows, stored expiry and what endpoints serve; findings to Slack."""

from wildcert.jobs.watch.entry import handler

__all__ = ["handler"]
