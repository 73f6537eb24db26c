"""The cold start's margin choice from simulated gains (:mod:`.cold_start`): the pooled gain curve of the
cross-fitted folds, its standard error (per query, or clustered by task), the guard, and the chosen margin.

**Task-clustered standard error.** A routing rule that routes whole (predicted) tasks makes the gains of one task's
queries move together, and a standard error over queries, which takes them as independent, understates the
uncertainty. With the training tasks of the validation queries as clusters, the standard error of the mean of
``x_1..x_n`` is the cluster-robust (CR1) one: ``sqrt(G / (G - 1) * sum_g S_g ** 2) / n``, with ``S_g`` the sum of
``x_i - mean(x)`` over cluster ``g`` and ``G`` the number of clusters. When every query is its own cluster this is
the per-query standard error ``std(x, ddof=1) / sqrt(n)`` exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["GUARD_Z", "MARGINS", "choose_margin", "mean_se", "pooled_gains"]

#: The margins ``margin="auto"`` chooses from (in probability of a correct answer).
MARGINS: tuple[float, ...] = (0.0, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3)

#: The normal quantile of the guard (:func:`pooled_gains`): a known candidate whose simulated gain's 95 % CI lies
#: below 0 loses significantly.
GUARD_Z = 1.96


def mean_se(values: np.ndarray, clusters: Sequence[Any] | np.ndarray | None = None) -> np.ndarray:
    """The standard error of the mean over the last axis of ``values``: per query (``clusters`` None:
    ``std(ddof=1) / sqrt(n)``) or cluster-robust (CR1, the module docstring) with ``clusters`` ``[n]`` the cluster
    of each query (at least 2 clusters)."""
    values = np.asarray(values, dtype=np.float64)
    n = values.shape[-1]
    if clusters is None:
        return values.std(axis=-1, ddof=1) / np.sqrt(n)
    labels, group = np.unique(np.asarray(clusters, dtype=object).astype(str), return_inverse=True)
    if len(group) != n or len(labels) < 2:
        raise ValueError(f"{len(group)} cluster labels in {len(labels)} clusters for {n} queries; need one per "
                         "query and at least 2 clusters")  # fmt: skip
    residual = values - values.mean(axis=-1, keepdims=True)
    sums = residual @ np.eye(len(labels))[group]  # [..., G]: each cluster's sum of residuals
    factor = len(labels) / (len(labels) - 1)
    return np.sqrt(factor * (sums**2).sum(axis=-1)) / n


def choose_margin(gains: Mapping[float, tuple[float, ...]], caution: float = 1.0, *, guard: bool = True) -> float:
    """The margin of the highest lower bound ``mean - caution * se`` of the simulated gain (``gains``: margin ->
    (mean gain, its standard error[, how many known candidates lose significantly at it])); ties: the larger margin;
    ``inf`` (never route) when no bound is above 0. ``guard``: a margin at which a known candidate loses
    significantly (a third entry above 0, :func:`pooled_gains`) is never taken."""
    bound = {g: entry[0] - caution * entry[1] for g, entry in gains.items() if not (guard and entry[2:] and entry[2])}
    best = max(bound.values(), default=0.0)
    return max(g for g, v in bound.items() if v == best) if best > 0 else float("inf")


def pooled_gains(
    tables: Sequence[Any], margins: Sequence[float] = MARGINS, clusters: Sequence[Any] | np.ndarray | None = None
) -> dict[float, tuple[float, float, int]]:
    """The cross-fitted gain curve for :func:`choose_margin` from the folds' ``tables`` (each ``[n_known,
    n_margins, n_val]``: each known candidate's gain on each validation query of that fold, 0 where the rule does
    not route to it): margin -> (mean over all the folds' validation queries of the mean over the known candidates,
    i.e. the folds' curves averaged with their sizes as weights; its standard error; how many known candidates lose
    significantly, their own mean gain's 95 % CI below 0). ``clusters``: the task of each validation query, in the
    tables' order, for both standard errors to be clustered by it (:func:`mean_se`); None: per query."""
    table = np.concatenate([np.asarray(t, dtype=np.float64) for t in tables], axis=2)  # [known, margins, n]
    if table.shape[1] != len(margins) or table.shape[2] < 2:
        raise ValueError(f"gain tables of shape {table.shape} for {len(margins)} margins (and >= 2 queries)")
    per_query = table.mean(axis=0)  # [margins, n]: each query's gain, mean over the known candidates
    se = mean_se(per_query, clusters)
    worse = (table.mean(axis=2) + GUARD_Z * mean_se(table, clusters) < 0).sum(axis=0)
    return {float(g): (float(v), float(e), int(w))
            for g, v, e, w in zip(margins, per_query.mean(axis=1), se, worse, strict=True)}  # fmt: skip
