"""Consumer lag: the poller (the only Kafka I/O here), pure evaluation rules and metrics."""
