"""The trade-off reward between performance and cost, and the tie rule: the one copy of this math.

``reward = a · norm(P) - b · norm(C)`` with min-max normalisation over all cells of a task (all candidates
together), a constant task giving 0, as the release (FusionFactory ``data_processing.py``) does. The statistics
(:func:`minmax_stats`) are either those of the evaluated arrays themselves (the release's protocol) or fitted on a
training split and applied unchanged (fusionbench's; ``fusionbench.fusion.routers.Tradeoff`` keeps them).
:func:`best_choices` is the tie rule of the oracle, the baselines and the routers' labels: the best value, the
cheapest among ties (within 1e-9), then the first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np

#: The release's three reward settings: reward = a * perf_norm - b * cost_norm.
TRADEOFFS: dict[str, tuple[float, float]] = {
    "performance_first": (1.0, 0.0),
    "balance": (0.5, 0.5),
    "cost_first": (0.2, 0.8),
}
#: ties: values within this of the best count as the best
TIE_TOL = 1e-9
#: the statistics key of every cell (no task, or a task the statistics have not seen)
ALL = "__all__"
Stats = Mapping[str, tuple[float, float, float, float]]


def best(values: np.ndarray, costs: np.ndarray, tol: float = TIE_TOL) -> np.ndarray:
    """Index of the best value along the last axis, the cheapest among ties (then the first)."""
    top = values.max(axis=-1, keepdims=True)
    return np.where(values >= top - tol, costs, np.inf).argmin(axis=-1)


def best_choices(values: np.ndarray, cost: np.ndarray | None = None, tol: float = TIE_TOL) -> np.ndarray:
    """Row-wise argmax of ``values``; ties (within ``tol``) go to the lowest ``cost``, then the first (no cost:
    the first)."""
    values = np.asarray(values, dtype=np.float64)
    return values.argmax(axis=-1) if cost is None else best(values, np.asarray(cost, dtype=np.float64), tol)


def _minmax(values: np.ndarray) -> tuple[float, float]:
    """(min, span) of the observed (non-NaN) cells; (0, 0) when none is observed."""
    observed = values[~np.isnan(values)]
    if observed.size == 0:
        return 0.0, 0.0
    low, high = float(observed.min()), float(observed.max())
    return low, high - low


def minmax_stats(
    performance: np.ndarray, cost: np.ndarray | None = None, tasks: Sequence[str] | np.ndarray | None = None
) -> dict[str, tuple[float, float, float, float]]:
    """``{task: (p_min, p_span, c_min, c_span)}`` over all cells of each task, and under :data:`ALL` over every
    cell (NaN cells ignored; no cost: zeros)."""
    perf = np.asarray(performance, dtype=np.float64)
    cst = np.zeros_like(perf) if cost is None else np.asarray(cost, dtype=np.float64)
    stats = {ALL: (*_minmax(perf), *_minmax(cst))}
    if tasks is not None:
        tasks = np.asarray(tasks)
        for task in np.unique(tasks):
            rows = tasks == task
            stats[str(task)] = (*_minmax(perf[rows]), *_minmax(cst[rows]))
    return stats


def tradeoff_reward(
    performance: np.ndarray,
    cost: np.ndarray | None,
    a: float,
    b: float,
    *,
    tasks: Sequence[str] | np.ndarray | None = None,
    stats: Stats | None = None,
) -> np.ndarray:
    """``[n, k]`` reward ``a · perf_norm - b · cost_norm``, min-max normalised per task with ``stats`` (default:
    :func:`minmax_stats` of these arrays, the release's protocol); a task missing from ``stats`` uses
    :data:`ALL`, a zero span gives 0. ``cost=None`` counts as zero cost."""
    perf = np.asarray(performance, dtype=np.float64)
    cst = np.zeros_like(perf) if cost is None else np.asarray(cost, dtype=np.float64)
    source = minmax_stats(perf, cst, tasks) if stats is None else stats
    rows = np.tile(np.asarray(source[ALL], dtype=np.float64), (perf.shape[0], 1))
    if tasks is not None:
        tasks = np.asarray(tasks)
        for task in np.unique(tasks):
            if str(task) in source:
                rows[tasks == task] = source[str(task)]
    # a zero span (a constant task) divides by infinity: 0, as the release does
    p_norm = (perf - rows[:, 0:1]) / np.where(rows[:, 1:2] > 0, rows[:, 1:2], np.inf)
    c_norm = (cst - rows[:, 2:3]) / np.where(rows[:, 3:4] > 0, rows[:, 3:4], np.inf)
    return a * p_norm - b * c_norm


def tradeoff_choices(
    performance: np.ndarray,
    cost: np.ndarray,
    tasks: Sequence[str],
    a: float,
    b: float,
    tie_break: Literal["first", "cheapest"] = "first",
) -> np.ndarray:
    """The release's label: per query, argmax of :func:`tradeoff_reward` normalised over these arrays' tasks.

    ``tie_break="first"`` takes the first maximum in candidate order, as the release did; ``"cheapest"`` the
    cheapest candidate among ties.
    """
    reward = tradeoff_reward(performance, cost, a, b, tasks=np.asarray(list(tasks)))
    return best_choices(reward, cost if tie_break == "cheapest" else None)
