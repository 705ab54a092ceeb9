"""Coexistence with opentelemetry-instrumentation-kafka-python: only one of the two ever wraps kafka-python.

Both register an `opentelemetry_instrumentor` entry point, so `opentelemetry-instrument` loads both, in
either order. When eventlens instruments while the upstream instrumentor is active, it uninstruments it.
While eventlens is active, the upstream instrumentor's `instrument()` is a logged no-op (and its matching
`uninstrument()` leaves eventlens' wrappers alone).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

_LOG = logging.getLogger("eventlens.instrumentation")
_UPSTREAM_MODULE = "opentelemetry.instrumentation.kafka"
_SKIPPED = "_eventlens_skipped"

_state: dict[str, Any] = {"active": False, "patched": False, "logged": set()}


def _log_once(key: str, message: str) -> None:
    logged: set[str] = _state["logged"]
    if key not in logged:
        logged.add(key)
        _LOG.warning(message)


def _upstream_class() -> Any:
    try:
        from opentelemetry.instrumentation.kafka import KafkaInstrumentor as Upstream
    except Exception:
        return None
    return Upstream


def wrapped_by_upstream(obj: Any) -> bool:
    """True when a kafka-python method is (anywhere in its wrapper chain) wrapped by the upstream package."""
    seen = 0
    while obj is not None and seen < 10:
        wrapper = getattr(obj, "_self_wrapper", None)
        if wrapper is not None and str(getattr(wrapper, "__module__", "")).startswith(_UPSTREAM_MODULE):
            return True
        obj = getattr(obj, "__wrapped__", None)
        seen += 1
    return False


def take_over() -> bool:
    """Uninstrument the upstream instrumentor if it is active; True when it was."""
    upstream = _upstream_class()
    if upstream is None:
        return False
    import kafka

    instance = upstream()
    active = instance.is_instrumented_by_opentelemetry and not getattr(instance, _SKIPPED, False)
    wrapped = wrapped_by_upstream(kafka.KafkaProducer.__dict__.get("send")) or wrapped_by_upstream(
        kafka.KafkaConsumer.__dict__.get("__next__"))
    if not (active or wrapped):
        return False
    if active:
        instance.uninstrument()
    if wrapped_by_upstream(kafka.KafkaProducer.__dict__.get("send")) or wrapped_by_upstream(
            kafka.KafkaConsumer.__dict__.get("__next__")):
        from opentelemetry.instrumentation.utils import unwrap

        unwrap(kafka.KafkaProducer, "send")
        unwrap(kafka.KafkaConsumer, "__next__")
    _log_once("take_over", "eventlens took over Kafka instrumentation from opentelemetry-instrumentation-"
                           "kafka-python (uninstrumented it) so records are not traced twice")
    return True


def _guarded_instrument(original: Callable[..., Any]) -> Callable[..., Any]:
    def _instrument(self: Any, **kwargs: Any) -> Any:
        if _state["active"]:
            setattr(self, _SKIPPED, True)
            _log_once("skip", "opentelemetry-instrumentation-kafka-python not applied: eventlens already "
                              "instruments kafka-python")
            return None
        setattr(self, _SKIPPED, False)
        return original(self, **kwargs)

    return _instrument


def _guarded_uninstrument(original: Callable[..., Any]) -> Callable[..., Any]:
    def _uninstrument(self: Any, **kwargs: Any) -> Any:
        if getattr(self, _SKIPPED, False):
            setattr(self, _SKIPPED, False)
            return None
        return original(self, **kwargs)

    return _uninstrument


def guard_upstream() -> None:
    """Make the upstream instrumentor defer to eventlens while eventlens is active (patched once)."""
    upstream = _upstream_class()
    if upstream is None or _state["patched"]:
        return
    upstream._instrument = _guarded_instrument(upstream.__dict__["_instrument"])
    upstream._uninstrument = _guarded_uninstrument(upstream.__dict__["_uninstrument"])
    _state["patched"] = True


def set_active(active: bool) -> None:
    """Record whether eventlens' instrumentation is active."""
    _state["active"] = active
