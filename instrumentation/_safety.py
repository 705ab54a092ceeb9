"""Guards that keep instrumentation errors out of users' code: log each failure site once, never raise."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

_LOG = logging.getLogger("eventlens.instrumentation")
_logged: set[str] = set()

T = TypeVar("T")


def log_once(site: str, exc: BaseException) -> None:
    """Log an instrumentation failure the first time it happens at `site` (later ones are silent)."""
    if site in _logged:
        return
    _logged.add(site)
    _LOG.warning("eventlens instrumentation error in %s (logged once, user code unaffected): %r", site, exc,
                 exc_info=exc)


def guarded(site: str, fn: Callable[..., T], *args: Any, default: T) -> T:
    """Call `fn(*args)`; on any exception log it once for `site` and return `default` instead."""
    try:
        return fn(*args)
    except Exception as exc:
        log_once(site, exc)
        return default
