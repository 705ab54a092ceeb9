"""Drop-in OpenTelemetry tracing for kafka-python producers and consumers.

Three ways in: `opentelemetry-instrument` / `eventlens instrument -- python app.py` (zero code),
`instrument(service_name=...)` (one line), or `KafkaInstrumentor().instrument(...)`.
"""

from eventlens.instrumentation.instrumentor import KafkaInstrumentor, processing
from eventlens.instrumentation.patterns import capture_context, restore_context, send_context
from eventlens.instrumentation.setup import instrument

__all__ = [
    "KafkaInstrumentor",
    "capture_context",
    "instrument",
    "processing",
    "restore_context",
    "send_context",
]
