"""Issuer Lambda: a certificate request in (direct, EventBridge, SQS); a stored certificate out."""

from wildcert import handlers, runtime


@runtime.logger.inject_lambda_context(log_event=False)
def handler(event, context):
    return handlers.issue(event, context)
