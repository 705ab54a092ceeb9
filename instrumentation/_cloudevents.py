"""CloudEvents awareness: read an event's id, type, source and starting trace from a Kafka record.

Binary mode puts attributes in `ce_*` headers; structured mode (`content-type: application/cloudevents…`)
carries the whole event as JSON in the value. Anything unreadable gives None, never an exception.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.semconv._incubating.attributes import messaging_attributes as ma

from eventlens.instrumentation import attributes
from eventlens.instrumentation._propagation import header_attribute

STRUCTURED_PREFIX = "application/cloudevents"
MAX_STRUCTURED_BYTES = 1 << 20
MAX_ATTRIBUTE_CHARS = 256
"""Cap on the id, type, source and spec version copied into span attributes (either mode)."""
MAX_TRACEPARENT_CHARS = 512
"""A `ce_traceparent` is 55 characters; anything past this is not parsed."""


@dataclass(frozen=True, slots=True)
class CloudEvent:
    """The CloudEvents attributes eventlens records (all optional strings)."""

    id: str | None
    type: str | None
    source: str | None
    spec_version: str | None
    traceparent: str | None


def _str_or_none(value: object, max_chars: int = MAX_ATTRIBUTE_CHARS) -> str | None:
    return value[:max_chars] if isinstance(value, str) and value else None


def from_binary(headers: Sequence[Any] | None) -> CloudEvent | None:
    """The event described by binary-mode `ce_*` headers, or None when there are none."""
    if not headers:
        return None
    try:
        if not any(isinstance(h[0], str) and h[0].startswith("ce_") for h in headers):
            return None
    except (TypeError, IndexError):
        return None
    event = CloudEvent(
        id=header_attribute(headers, "ce_id", MAX_ATTRIBUTE_CHARS),
        type=header_attribute(headers, "ce_type", MAX_ATTRIBUTE_CHARS),
        source=header_attribute(headers, "ce_source", MAX_ATTRIBUTE_CHARS),
        spec_version=header_attribute(headers, "ce_specversion", MAX_ATTRIBUTE_CHARS),
        traceparent=header_attribute(headers, "ce_traceparent", MAX_TRACEPARENT_CHARS),
    )
    return event if (event.id or event.type or event.traceparent) else None


def from_structured(value: object) -> CloudEvent | None:
    """The event in a structured-mode JSON value (bytes or str), or None when it is not one."""
    if isinstance(value, bytes | bytearray):
        if len(value) > MAX_STRUCTURED_BYTES:
            return None
        try:
            doc = json.loads(value)
        except (ValueError, UnicodeDecodeError):
            return None
    elif isinstance(value, str):
        try:
            doc = json.loads(value)
        except ValueError:
            return None
    elif isinstance(value, dict):
        doc = value
    else:
        return None
    if not isinstance(doc, dict):
        return None
    return CloudEvent(
        id=_str_or_none(doc.get("id")),
        type=_str_or_none(doc.get("type")),
        source=_str_or_none(doc.get("source")),
        spec_version=_str_or_none(doc.get("specversion")),
        traceparent=_str_or_none(doc.get("traceparent"), MAX_TRACEPARENT_CHARS),
    )


def is_structured(headers: Sequence[Any] | None) -> bool:
    """True when the record's `content-type` header says structured-mode CloudEvents."""
    content_type = header_attribute(headers, "content-type", MAX_ATTRIBUTE_CHARS)
    return content_type is not None and content_type.strip().lower().startswith(STRUCTURED_PREFIX)


def read_cloudevent(headers: Sequence[Any] | None, value: object) -> CloudEvent | None:
    """The CloudEvent carried by a record in either mode (structured wins when declared), or None."""
    if is_structured(headers):
        structured = from_structured(value)
        if structured is not None:
            return structured
    return from_binary(headers)


def add_event_attributes(attrs: dict[str, Any], event: CloudEvent | None) -> str | None:
    """Add the CloudEvents attributes (id, type, source, spec version) to a span's attributes; returns the type."""
    if event is None:
        return None
    if event.id:
        attrs[attributes.CLOUDEVENTS_EVENT_ID] = event.id
        attrs[ma.MESSAGING_MESSAGE_ID] = event.id
    if event.type:
        attrs[attributes.CLOUDEVENTS_EVENT_TYPE] = event.type
    if event.source:
        attrs[attributes.CLOUDEVENTS_EVENT_SOURCE] = event.source
    if event.spec_version:
        attrs[attributes.CLOUDEVENTS_EVENT_SPEC_VERSION] = event.spec_version
    return event.type
