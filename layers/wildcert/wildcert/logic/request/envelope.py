"""Where a request sits in a Lambda event, and what to say when it cannot be taken out.

A request arrives directly, as the ``detail`` of an EventBridge event, or as the JSON body of an
SQS record (possibly a whole EventBridge event that a rule sent to the queue). Powertools' event
source data classes read the envelopes; this module checks what they take on trust, so that a
record that cannot be read becomes an ``UnreadableEvent``, which ``parse_request`` rejects with
its problem, and one bad SQS record does not hide the good ones next to it.

The envelope also says who is asking (``Requester``): EventBridge's own ``account`` and
``source`` (a team cannot choose them: the bus policy ties the source to the sender's team), an
SQS record of the renewal queue (the sweep and the watch), or neither (a direct invoke).
"""

from __future__ import annotations

import json

from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, SQSRecord

from wildcert.logic.request import Requester, UnreadableEvent, is_eventbridge
from wildcert.logic.request.echo import described, show

# EventBridge's account is 12 digits and a source at most 256 characters; anything else is
# not EventBridge's and is recorded as absent.
MAX_ENVELOPE_FIELD = 256
# The one detail-type of a team's request (the request rule's, docs/TEAMS.md).
REQUEST_DETAIL_TYPE = "wildcert.certificate.requested"


def eventbridge_requester(event: EventBridgeEvent) -> Requester:
    """The team's event: its account, source and id, as EventBridge set them."""
    return Requester("eventbridge", account=_field(event, "account"),
                     source=_field(event, "source"), event_id=_field(event, "id"))


def queue_requester(record: SQSRecord, renewal_queue_arn: str | None) -> Requester:
    """A message of the renewal queue: the sweep or the watch, for the certificate's owner.

    Only they may send to it. A whole EventBridge event in the body (as a rule targeting a
    queue would deliver it) is that event's sender instead, and held to its team's policy.
    A record of any other queue (its `eventSourceARN` is not `renewal_queue_arn`) says nothing
    about who sent it: an "other-queue" requester, which the issuer refuses.
    """
    source = record.get("eventSourceARN") if isinstance(record.raw_event, dict) else None
    if not renewal_queue_arn or source != renewal_queue_arn:
        return Requester("other-queue", source=source if isinstance(source, str) else None,
                         event_id=message_id(record))
    try:
        payload = record.json_body if isinstance(record.raw_event, dict) else None
    except (TypeError, ValueError, KeyError, RecursionError):  # no body: the request rejects it
        payload = None
    if is_eventbridge(payload):
        return eventbridge_requester(EventBridgeEvent(payload))
    return Requester("queue", event_id=message_id(record))


def _field(event: EventBridgeEvent, key: str) -> str | None:
    value = event.get(key)
    if isinstance(value, str) and 0 < len(value) <= MAX_ENVELOPE_FIELD and value.isprintable():
        return value
    return None


def eventbridge_detail(event: EventBridgeEvent, where: str = "") -> object:
    """The request an EventBridge event carries in its ``detail``.

    Only a request's detail-type is one: anything else on the request bus reaches the issuer
    through the catch rule (template.yaml), to be answered rather than dropped.
    """
    if "detail" not in event:
        return UnreadableEvent(
            f"The EventBridge event{where} has no 'detail'; put the request object in the "
            "event's Detail."
        )
    detail_type = event.get("detail-type")
    if detail_type != REQUEST_DETAIL_TYPE:
        return UnreadableEvent(
            f"The EventBridge event{where} has detail-type {show(detail_type)}, not "
            f"'{REQUEST_DETAIL_TYPE}', so it is no certificate request; send it again with "
            f"DetailType \"{REQUEST_DETAIL_TYPE}\".", held=event.detail
        )
    return event.detail


def unreadable_records(records: object) -> UnreadableEvent:
    """Stands in for the requests of an SQS event whose ``Records`` is not a list."""
    return UnreadableEvent(
        f"The event's Records must be a list of SQS records; got {described(records)}."
    )


def message_id(record: SQSRecord) -> str | None:
    """The record's SQS message id, the name Lambda's partial batch response needs."""
    if not isinstance(record.raw_event, dict):
        return None
    found = record.get("messageId")
    return found if isinstance(found, str) else None


def string_attributes(record: SQSRecord) -> dict[str, str]:
    """The record's message attributes of type String that hold text (none if unreadable)."""
    found = record.get("messageAttributes") if isinstance(record.raw_event, dict) else None
    if not isinstance(found, dict):
        return {}
    return {str(name): value["stringValue"] for name, value in found.items()
            if isinstance(value, dict) and value.get("dataType") == "String"
            and isinstance(value.get("stringValue"), str) and value["stringValue"]}


def receive_count(record: SQSRecord) -> int:
    """How many times SQS has handed this message out, this time included (1 if unknown)."""
    attributes = record.get("attributes") if isinstance(record.raw_event, dict) else None
    found = attributes.get("ApproximateReceiveCount") if isinstance(attributes, dict) else None
    try:
        return int(found) if found is not None else 1
    except (TypeError, ValueError):
        return 1


def sqs_request(record: SQSRecord, index: int) -> object:
    """The request in the ``index``-th record of an SQS event: its JSON body, unwrapped."""
    if not isinstance(record.raw_event, dict):
        return UnreadableEvent(
            f"Records[{index}] must be an object; got {described(record.raw_event)}."
        )
    found = message_id(record)
    where = f"Records[{index}]" + (f" (message {show(found, 64)})" if found else "")
    source = record.get("eventSource")
    if source != "aws:sqs":
        return UnreadableEvent(
            f"{where} comes from {show(source)}, not SQS; only SQS records are accepted."
        )
    body = record.get("body")
    if not isinstance(body, str):
        return UnreadableEvent(f"{where} has no string body; got {described(body)}.")
    try:
        payload = record.json_body
    except json.JSONDecodeError as error:
        return UnreadableEvent(
            f"{where} body is not valid JSON ({error.msg} at line {error.lineno} column "
            f"{error.colno}); send the request as a JSON object."
        )
    except (ValueError, RecursionError):
        return UnreadableEvent(
            f"{where} body could not be decoded as JSON (it is nested too deeply or holds a "
            "number too large); send the request as a plain JSON object."
        )
    if is_eventbridge(payload):
        # An EventBridge rule targeting the queue delivers the whole event as the body.
        return eventbridge_detail(EventBridgeEvent(payload), f" in {where}")
    return payload
