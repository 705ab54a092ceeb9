"""Span receivers: OTLP/HTTP, OTLP/gRPC and the Kafka `otlp_spans` topic."""
