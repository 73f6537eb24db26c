"""The paired bootstrap of fusion's evaluations: :mod:`fusionbench.metrics.routing_bootstrap`, the one bootstrap of
the routing metrics, with :func:`resample` run under single-threaded BLAS (the matrix products over resamples are
small; many threads only contend, and one thread keeps replicate means bit-identical across machines)."""

from __future__ import annotations

from typing import Any

from fusionbench.fusion.blas import blas_threads
from fusionbench.metrics import routing_bootstrap
from fusionbench.metrics.routing_bootstrap import (
    Column,
    Replicates,
    average,
    bootstrap_weights,
    difference,
    estimate,
    group_estimates,
    interval,
)

__all__ = [
    "Column",
    "Replicates",
    "average",
    "bootstrap_weights",
    "difference",
    "estimate",
    "group_estimates",
    "interval",
    "resample",
]


def resample(values: Any, **options: Any) -> Replicates:
    """:func:`fusionbench.metrics.routing_bootstrap.resample` under single-threaded BLAS."""
    with blas_threads(1):
        return routing_bootstrap.resample(values, **options)
