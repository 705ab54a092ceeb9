"""Interop test services (Java agent, kafkajs), their build, an OTLP capture server and captured fixtures."""
