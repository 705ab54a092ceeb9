"""Integration fixtures for ingest: OTLP request builders shared with the unit tests."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1] / "collector" / "ingest"))
