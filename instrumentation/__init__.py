"""Drop-in OpenTelemetry tracing for Kafka producers and consumers: kafka-python, confluent-kafka, aiokafka.

Three ways in: `opentelemetry-instrument` / `eventlens instrument -- python app.py` (zero code),
`instrument(service_name=...)` (one line, every installed client), or one instrumentor per client:
`KafkaInstrumentor`, `ConfluentKafkaInstrumentor`, `AIOKafkaInstrumentor` (`.instrument(...)`).
"""

from typing import Any

from eventlens.instrumentation.instrumentor import KafkaInstrumentor, processing
from eventlens.instrumentation.patterns import capture_context, restore_context, send_context
from eventlens.instrumentation.setup import instrument

__all__ = [
    "AIOKafkaInstrumentor",
    "ConfluentKafkaInstrumentor",
    "KafkaInstrumentor",
    "capture_context",
    "instrument",
    "processing",
    "restore_context",
    "send_context",
]

_LAZY = {"ConfluentKafkaInstrumentor": "eventlens.instrumentation.confluent_kafka",
         "AIOKafkaInstrumentor": "eventlens.instrumentation.aiokafka"}


def __getattr__(name: str) -> Any:
    """The instrumentors of optional clients, imported on first use (their client must be installed)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
