"""Watch Lambda: renewal windows, stored expiry and what endpoints serve; findings to Slack."""

from wildcert import handlers, runtime


@runtime.logger.inject_lambda_context(log_event=True)
def handler(event, context):
    return handlers.watch(event, context)
