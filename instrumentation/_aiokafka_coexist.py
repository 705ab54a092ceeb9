"""Coexistence with opentelemetry-instrumentation-aiokafka: only one of the two ever wraps aiokafka.

The same rule as for kafka-python (`_coexist`): when eventlens instruments while the upstream instrumentor is
active (or its wrappers are still in place), eventlens uninstruments it; while eventlens is active, the upstream
`instrument()` is a logged no-op and its matching `uninstrument()` leaves eventlens' wrappers alone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

_LOG = logging.getLogger("eventlens.instrumentation")
_UPSTREAM_MODULE = "opentelemetry.instrumentation.aiokafka"
_SKIPPED = "_eventlens_skipped"
WRAPPED = (("AIOKafkaProducer", "send"), ("AIOKafkaConsumer", "getone"), ("AIOKafkaConsumer", "getmany"))
"""The (class, method) pairs the upstream instrumentor wraps."""

_state: dict[str, Any] = {"active": False, "patched": False, "logged": set()}


def _log_once(key: str, message: str) -> None:
    logged: set[str] = _state["logged"]
    if key not in logged:
        logged.add(key)
        _LOG.warning(message)


def _upstream_class() -> Any:
    try:
        from opentelemetry.instrumentation.aiokafka import AIOKafkaInstrumentor as Upstream
    except Exception:
        return None
    return Upstream


def wrapped_by_upstream(obj: Any) -> bool:
    """True when an aiokafka method is (anywhere in its wrapper chain) wrapped by the upstream package."""
    seen = 0
    while obj is not None and seen < 10:
        wrapper = getattr(obj, "_self_wrapper", None)
        if wrapper is not None and str(getattr(wrapper, "__module__", "")).startswith(_UPSTREAM_MODULE):
            return True
        obj = getattr(obj, "__wrapped__", None)
        seen += 1
    return False


def _upstream_wrappers() -> list[tuple[Any, str]]:
    import aiokafka

    found = []
    for cls_name, method in WRAPPED:
        cls = getattr(aiokafka, cls_name)
        if wrapped_by_upstream(cls.__dict__.get(method)):
            found.append((cls, method))
    return found


def take_over() -> bool:
    """Uninstrument the upstream aiokafka instrumentor if it is active; True when it was."""
    upstream = _upstream_class()
    if upstream is None:
        return False
    instance = upstream()
    active = instance.is_instrumented_by_opentelemetry and not getattr(instance, _SKIPPED, False)
    if not (active or _upstream_wrappers()):
        return False
    if active:
        instance.uninstrument()
    from opentelemetry.instrumentation.utils import unwrap

    for cls, method in _upstream_wrappers():
        unwrap(cls, method)
    _log_once("take_over", "eventlens took over aiokafka instrumentation from opentelemetry-instrumentation-"
                           "aiokafka (uninstrumented it) so records are not traced twice")
    return True


def _guarded_instrument(original: Callable[..., Any]) -> Callable[..., Any]:
    def _instrument(self: Any, **kwargs: Any) -> Any:
        if _state["active"]:
            setattr(self, _SKIPPED, True)
            _log_once("skip", "opentelemetry-instrumentation-aiokafka not applied: eventlens already "
                              "instruments aiokafka")
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
    """Make the upstream aiokafka instrumentor defer to eventlens while eventlens is active (patched once)."""
    upstream = _upstream_class()
    if upstream is None or _state["patched"]:
        return
    upstream._instrument = _guarded_instrument(upstream.__dict__["_instrument"])
    upstream._uninstrument = _guarded_uninstrument(upstream.__dict__["_uninstrument"])
    _state["patched"] = True


def set_active(active: bool) -> None:
    """Record whether eventlens' aiokafka instrumentation is active."""
    _state["active"] = active
