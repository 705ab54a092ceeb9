"""Span attribute keys eventlens writes beyond the messaging semantic conventions (v1.44).

The collector's normaliser reads these same constants. Semantic-convention keys are taken from
`opentelemetry.semconv`; only what the conventions lack is defined here, under the `eventlens.` prefix.
"""

from __future__ import annotations

# CloudEvents (semantic conventions `cloudevents.*` registry)
CLOUDEVENTS_EVENT_ID = "cloudevents.event_id"
CLOUDEVENTS_EVENT_TYPE = "cloudevents.event_type"
CLOUDEVENTS_EVENT_SOURCE = "cloudevents.event_source"
CLOUDEVENTS_EVENT_SPEC_VERSION = "cloudevents.event_spec_version"

# eventlens extras
LAG_OFFSETS = "eventlens.lag.offsets"
"""On a process span: end offset of the partition at consume time − the record's offset − 1."""
LAG_SECONDS = "eventlens.lag.seconds"
"""On a process span: consume start − the record's timestamp, in seconds."""
RECORD_TIMESTAMP_MS = "eventlens.record.timestamp_ms"
"""On process spans: the Kafka record timestamp (ms since epoch); on send spans once acknowledged."""
SCHEMA_FINGERPRINT = "eventlens.schema.fingerprint"
"""Structural hash of a JSON payload (`json:<hex>`) or the schema-registry id (`sr:<id>`)."""
EVENT_TYPE = "eventlens.event.type"
"""Event type from a user function, when the record is not a CloudEvent."""
RETRY_ATTEMPT = "eventlens.retry.attempt"
"""On a send span: this send is retry number N of a failed message (1-based)."""
DEAD_LETTER = "eventlens.dead_letter"
"""On a send span: True when this send puts a message on a dead-letter topic."""
DEAD_LETTER_REASON = "eventlens.dead_letter.reason"
CORRELATION_ID = "eventlens.correlation_id"
"""Request/reply: the correlation id carried in the `correlation-id` header."""
REPLY_TO = "eventlens.reply_to"
"""Request/reply: the topic named in the `reply-to` header of a request."""
OUTBOX = "eventlens.outbox"
"""On a send span: True when the send is an outbox relay restoring a captured context."""
LINK_KIND = "eventlens.link.kind"
"""On a span link: why it exists; `cloudevents.origin` links a process span to the event's starting trace."""
PAYLOAD = "eventlens.payload"
"""The payload, only when the user opted in (truncated)."""

# Header names eventlens reads or writes besides the W3C ones.
HEADER_CORRELATION_ID = "correlation-id"
HEADER_REPLY_TO = "reply-to"
