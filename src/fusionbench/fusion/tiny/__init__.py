"""Tiny FusionBench: anchor queries chosen from the source models' logs and the estimate of a new model's per-task
and overall accuracy from its answers on them (:mod:`.core`), saved as a versioned folder with a card
(:mod:`.persist`), the leave-one-model-out study of how good the estimates are (:mod:`.study`), and the cold start
of a new candidate in a fitted router from its anchor answers (:mod:`.cold_start`).

The names load lazily, so that the command line lists the methods without importing scipy."""

from __future__ import annotations

from fusionbench._lazy import lazy_exports
from fusionbench.fusion.tiny.select import METHODS

DEFAULT_METHOD = "anchors-gpirt"  # the lowest MAE of benchmarks/bench_tiny.py on the embedded data (docs/tiny.md)
_LAZY = {"TinyEstimate": ".core", "TinySet": ".core", "build_tiny": ".core", "load_tiny": ".persist",
         "save_tiny": ".persist", "lomo_study": ".study", "ColdStartRouter": ".cold_start"}  # fmt: skip
__getattr__, __dir__ = lazy_exports(__name__, _LAZY)


__all__ = [
    "DEFAULT_METHOD",
    "METHODS",
    "ColdStartRouter",
    "TinyEstimate",
    "TinySet",
    "build_tiny",
    "load_tiny",
    "lomo_study",
    "save_tiny",
]
