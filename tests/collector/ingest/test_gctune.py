"""Ingest processes collect the young GC generation rarely and keep start-up objects out of its scans."""

from __future__ import annotations

import subprocess
import sys

from eventlens.collector import gctune

_PROBE = ("import gc; from eventlens.collector import gctune; before = gc.get_threshold(); "
          "gctune.tune_for_ingest(); print(*before, *gc.get_threshold(), gc.get_freeze_count())")


def _probe() -> list[int]:
    # A fresh interpreter: the GC settings are process-wide and must not leak into the test run.
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True).stdout
    return [int(x) for x in out.split()]


def test_the_young_generation_threshold_is_raised_to_the_ingest_setting():
    assert _probe()[3] == gctune.YOUNG_THRESHOLD > 700


def test_the_older_generation_thresholds_are_kept():
    probe = _probe()  # before: probe[0:3], after: probe[3:6]
    assert probe[4:6] == probe[1:3]


def test_objects_loaded_before_tuning_are_frozen_out_of_collections():
    assert _probe()[6] > 0
