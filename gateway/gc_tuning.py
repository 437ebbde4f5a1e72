"""Garbage collection tuned for a process that serves requests.

A canonical page allocates thousands of small dicts, lists and strings that die with the
request. With CPython's default thresholds (700, 10, 10) a first-generation collection
runs several times per request and walks every young object, and every tenth one also
walks the older generation — which holds everything loaded at start-up (the config,
compiled mappings, modules, the OpenAPI document). `tune_gc()`, called once the
application is loaded, freezes what exists then (`gc.freeze()`: never scanned again) and
raises the first threshold, so collections are rarer and shorter. Cycles are still
collected; memory stays flat (the bench prints RSS before and after its sittings).
"""

from __future__ import annotations

import gc

__all__ = ["tune_gc", "THRESHOLDS"]

THRESHOLDS = (20_000, 20, 20)


def tune_gc() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
