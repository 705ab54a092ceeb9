"""Run by Python at start-up in programs launched with `eventlens instrument -- ...`: calls `instrument()`.

Afterwards any other `sitecustomize` further along the path is still run, so the program's own keeps working.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import logging
import os
import sys
from pathlib import Path


def _run_next_sitecustomize() -> None:
    here = Path(__file__).resolve().parent
    rest = [p for p in sys.path if Path(p or ".").resolve() != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None or Path(str(spec.origin)).resolve().parent == here:
        return
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)


def _bootstrap() -> None:
    try:
        from eventlens.instrumentation import instrument

        instrument(os.environ.get("OTEL_SERVICE_NAME") or None)
    except Exception:  # never stop the user's program from starting
        logging.getLogger("eventlens.instrumentation").exception("eventlens could not set up tracing")
    try:
        _run_next_sitecustomize()
    except Exception:
        logging.getLogger("eventlens.instrumentation").exception("the program's own sitecustomize failed")


_bootstrap()
