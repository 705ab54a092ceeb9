"""The demo shop: a small event-driven system on Kafka, instrumented with eventlens."""
