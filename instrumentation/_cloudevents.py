"""CloudEvents awareness: read an event's id, type, source and starting trace from a Kafka record.

Binary mode puts attributes in `ce_*` headers; structured mode (`content-type: application/cloudevents…`)
carries the whole event as JSON in the value. Anything unreadable gives None, never an exception.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eventlens.instrumentation import attributes
from eventlens.instrumentation._propagation import header_text
from opentelemetry.semconv._incubating.attributes import messaging_attributes as ma

STRUCTURED_PREFIX = "application/cloudevents"
MAX_STRUCTURED_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class CloudEvent:
    """The CloudEvents attributes eventlens records (all optional strings)."""

    id: str | None
    type: str | None
    source: str | None
    spec_version: str | None
    traceparent: str | None


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


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
        id=header_text(headers, "ce_id"),
        type=header_text(headers, "ce_type"),
        source=header_text(headers, "ce_source"),
        spec_version=header_text(headers, "ce_specversion"),
        traceparent=header_text(headers, "ce_traceparent"),
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
        traceparent=_str_or_none(doc.get("traceparent")),
    )


def is_structured(headers: Sequence[Any] | None) -> bool:
    """True when the record's `content-type` header says structured-mode CloudEvents."""
    content_type = header_text(headers, "content-type")
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
