"""Coexistence with the upstream OpenTelemetry Kafka instrumentations: only one of the two ever wraps a client.

eventlens and opentelemetry-instrumentation-kafka-python (or -confluent-kafka, -aiokafka) both register an
`opentelemetry_instrumentor` entry point, so `opentelemetry-instrument` loads both, in either order. When
eventlens instruments a client while the upstream instrumentor for it is active, it uninstruments it. While
eventlens is active for that client, the upstream instrumentor's `instrument()` is a logged no-op (and its
matching `uninstrument()` leaves eventlens' wrappers alone). Each client has its own `Upstream` entry.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_LOG = logging.getLogger("eventlens.instrumentation")
_UPSTREAM_MODULE = "opentelemetry.instrumentation.kafka"
_SKIPPED = "_eventlens_skipped"


@dataclass(frozen=True)
class Upstream:
    """One upstream instrumentor eventlens takes over from: where it lives and how to see it is still applied."""

    client: str
    module: str
    class_name: str
    package: str
    still_applied: Callable[[], bool]
    remove_leftovers: Callable[[], None]


_state: dict[str, Any] = {"active": set(), "patched": set(), "logged": set()}


def _log_once(key: str, message: str) -> None:
    logged: set[str] = _state["logged"]
    if key not in logged:
        logged.add(key)
        _LOG.warning(message)


def _upstream_class(spec: Upstream) -> Any:
    try:
        return getattr(importlib.import_module(spec.module), spec.class_name)
    except Exception:
        return None


def wrapped_by_upstream(obj: Any, module: str = _UPSTREAM_MODULE) -> bool:
    """True when a method is (anywhere in its wrapt wrapper chain) wrapped by the upstream `module`."""
    seen = 0
    while obj is not None and seen < 10:
        wrapper = getattr(obj, "_self_wrapper", None)
        if wrapper is not None and str(getattr(wrapper, "__module__", "")).startswith(module):
            return True
        obj = getattr(obj, "__wrapped__", None)
        seen += 1
    return False


def _kafka_python_wrapped() -> bool:
    import kafka

    return wrapped_by_upstream(kafka.KafkaProducer.__dict__.get("send")) or wrapped_by_upstream(
        kafka.KafkaConsumer.__dict__.get("__next__"))


def _kafka_python_unwrap() -> None:
    import kafka
    from opentelemetry.instrumentation.utils import unwrap

    unwrap(kafka.KafkaProducer, "send")
    unwrap(kafka.KafkaConsumer, "__next__")


KAFKA_PYTHON = Upstream("kafka", "opentelemetry.instrumentation.kafka", "KafkaInstrumentor",
                        "opentelemetry-instrumentation-kafka-python", _kafka_python_wrapped, _kafka_python_unwrap)


def take_over(spec: Upstream = KAFKA_PYTHON) -> bool:
    """Uninstrument the upstream instrumentor of `spec` if it is active; True when it was."""
    upstream = _upstream_class(spec)
    if upstream is None:
        return False
    instance = upstream()
    active = instance.is_instrumented_by_opentelemetry and not getattr(instance, _SKIPPED, False)
    if not (active or spec.still_applied()):
        return False
    if active:
        instance.uninstrument()
    if spec.still_applied():
        spec.remove_leftovers()
    _log_once("take_over:" + spec.client, f"eventlens took over {spec.client} instrumentation from {spec.package} "
                                          "(uninstrumented it) so records are not traced twice")
    return True


def _guarded_instrument(spec: Upstream, original: Callable[..., Any]) -> Callable[..., Any]:
    def _instrument(self: Any, **kwargs: Any) -> Any:
        if spec.client in _state["active"]:
            setattr(self, _SKIPPED, True)
            _log_once("skip:" + spec.client, f"{spec.package} not applied: eventlens already instruments "
                                             f"{spec.client}")
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


def guard_upstream(spec: Upstream = KAFKA_PYTHON) -> None:
    """Make the upstream instrumentor of `spec` defer to eventlens while eventlens is active (patched once)."""
    upstream = _upstream_class(spec)
    patched: set[str] = _state["patched"]
    if upstream is None or spec.client in patched:
        return
    upstream._instrument = _guarded_instrument(spec, upstream.__dict__["_instrument"])
    upstream._uninstrument = _guarded_uninstrument(upstream.__dict__["_uninstrument"])
    patched.add(spec.client)


def set_active(active: bool, spec: Upstream = KAFKA_PYTHON) -> None:
    """Record whether eventlens' instrumentation of `spec`'s client is active."""
    clients: set[str] = _state["active"]
    if active:
        clients.add(spec.client)
    else:
        clients.discard(spec.client)
