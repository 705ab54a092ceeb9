"""What every demo service does around its own logic: logging, instrumentation, topics, clean shutdown."""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Sequence

from eventlens.demo.config import ServiceConfig
from eventlens.demo.events import cloudevent_type
from eventlens.demo.kafka_io import ensure_topics, flush_telemetry, stop_event

FINGERPRINT_EVERY = 20
"""Fingerprint 1 payload in 20 per (topic, event type) once the first ten were."""


def now_ms() -> int:
    """Wall-clock milliseconds (event times, record timestamps)."""
    return time.time_ns() // 1_000_000


def run_service(name: str, argv: Sequence[str] | None,
                body: Callable[[ServiceConfig, threading.Event], None]) -> int:
    """Parse options, instrument the process as `name` (one line, as a user would), create topics, run `body`
    until SIGTERM/SIGINT or its end, then flush telemetry."""
    from eventlens.instrumentation import instrument

    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format=f"%(asctime)s {name} %(levelname)s %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)
    cfg = ServiceConfig.from_argv(sys.argv[1:] if argv is None else argv)
    # One line, as a user would write it; the options: the CloudEvent type on send spans as well, and schema
    # fingerprints on 1 record in 20 (after the first 10) so that a new version shows within seconds.
    instrument(service_name=name, event_type_getter=cloudevent_type, fingerprint_every=FINGERPRINT_EVERY)
    stop = stop_event()
    ensure_topics(cfg.bootstrap, cfg.topics.all())
    logging.getLogger("eventlens.demo").info("started (broker %s, topics %s*)", cfg.bootstrap, cfg.prefix)
    try:
        body(cfg, stop)
    finally:
        flush_telemetry()
    logging.getLogger("eventlens.demo").info("stopped")
    return 0
