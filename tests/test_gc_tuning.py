"""A served process freezes what start-up built and collects young objects less often."""

from __future__ import annotations

import gc

from gateway.gc_tuning import THRESHOLDS, tune_gc


def test_tune_gc_freezes_start_up_objects_and_raises_the_thresholds():
    before = gc.get_threshold()
    try:
        tune_gc()
        assert gc.get_threshold() == THRESHOLDS
        assert THRESHOLDS[0] > 700  # rarer than CPython's default first generation
        assert gc.get_freeze_count() > 0
        garbage = []
        garbage.append(garbage)  # a cycle made after tuning is still collected
        del garbage
        assert gc.collect() >= 1
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
