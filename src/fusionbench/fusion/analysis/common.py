"""What the analyses share: per-query correctness, Cohen's kappa of two binary ratings, tables, bootstrap CIs."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import pyarrow as pa

from fusionbench.fusion.evaluation.bootstrap import bootstrap_weights, interval

#: a score at or above this counts as correct (the release's scores are 0/1 for most tasks; F1-like scores
#: and judge grades in [0, 1] are thresholded at the midpoint)
THRESHOLD = 0.5


def correct(scores: np.ndarray, threshold: float = THRESHOLD) -> np.ndarray:
    """``scores >= threshold`` (NaN stays False; mask NaN separately)."""
    with np.errstate(invalid="ignore"):
        return np.asarray(scores, dtype=np.float64) >= threshold


def cohen_kappa(a: np.ndarray, b: np.ndarray) -> float | None:
    """Cohen's kappa of two binary ratings of the same items: (p_o - p_e) / (1 - p_e), with p_e from each
    rater's own marginals; None when undefined (no items, or both raters constant and equal: p_e = 1)."""
    x, y = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    if x.size == 0:
        return None
    p_o = float((x == y).mean())
    pa_, pb = float(x.mean()), float(y.mean())
    p_e = pa_ * pb + (1 - pa_) * (1 - pb)
    if p_e >= 1.0 - 1e-12:
        return None
    return (p_o - p_e) / (1 - p_e)


def table(rows: Iterable[Mapping[str, Any]], schema: pa.Schema | None = None) -> pa.Table:
    """A pyarrow Table of dict rows (NaN floats as nulls)."""
    clean = [{k: _clean(v) for k, v in row.items()} for row in rows]
    if not clean and schema is None:
        return pa.table({})
    return pa.Table.from_pylist(clean, schema=schema)


def _clean(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def boot_ci(
    statistic: Callable[[np.ndarray], np.ndarray | float],
    n: int,
    *,
    n_boot: int,
    seed: int | None,
    confidence: float,
) -> np.ndarray | None:
    """Percentile CIs of ``statistic(weights)`` over query resamples (``weights``: [n] multiplicities), as
    [m, 2] (rows NaN where every replicate is NaN); None without resamples. ``statistic`` returns m values."""
    if n_boot <= 0 or n == 0:
        return None
    draws = [np.atleast_1d(statistic(w)) for chunk in bootstrap_weights(n, n_boot, seed) for w in chunk]
    stacked = np.asarray(draws, dtype=np.float64)  # [B, m]
    out = np.full((stacked.shape[1], 2), np.nan)
    for j in range(stacked.shape[1]):
        ci = interval(stacked[:, j], confidence)
        if ci is not None:
            out[j] = ci
    return out


def nanmean_or_none(values: np.ndarray) -> float | None:
    """The mean of the finite values, or None when there are none."""
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    return float(finite.mean()) if finite.size else None


def task_order(tasks: np.ndarray) -> list[str]:
    """The distinct tasks in order of first appearance."""
    return list(dict.fromkeys(str(t) for t in tasks))
