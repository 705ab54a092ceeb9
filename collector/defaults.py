"""Defaults every front end shares: the store URL the collector writes and the CLIs, API and dashboard read.

Pure (no I/O beyond reading the environment mapping it is given), so the dashboard may import it too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

STORE_ENV = "EVENTLENS_STORE"
"""The environment variable naming the store URL (`sqlite:///path.db` or `postgresql://…`) for every part."""
DEFAULT_STORE_URL = "sqlite:///.eventlens/eventlens.db"
"""The store when neither `--store` nor `EVENTLENS_STORE` names one: one SQLite file under the working directory."""


def store_url(explicit: str | None = None, environ: Mapping[str, str] = os.environ) -> str:
    """`explicit` (a `--store` option) if given, else `EVENTLENS_STORE` (trimmed), else `DEFAULT_STORE_URL`."""
    return explicit or environ.get(STORE_ENV, "").strip() or DEFAULT_STORE_URL
