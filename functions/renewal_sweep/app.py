"""Renewal sweep Lambda: queue one renewal per due (or forced) certificate; summary to Slack."""

from wildcert.jobs.sweep.entry import handler

__all__ = ["handler"]
