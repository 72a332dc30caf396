"""Issuer Lambda: a certificate request in (direct, EventBridge, SQS); a stored certificate out."""

from wildcert.jobs.issue.entry import handler

__all__ = ["handler"]
