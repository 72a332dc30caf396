"""Renewal sweep Lambda: queue one renewal per due (or forced) certificate; summary to Slack."""

from wildcert import handlers, runtime


@runtime.logger.inject_lambda_context(log_event=True)
def handler(event, context):
    return handlers.sweep(event, context)
