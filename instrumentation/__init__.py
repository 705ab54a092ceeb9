"""Drop-in OpenTelemetry tracing for kafka-python producers and consumers."""
