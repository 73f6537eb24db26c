"""Threshold sweeps of a two-model (strong/weak) router: RouteLLM's APGR and CPT.

A pair router gives each query a *strong-win-rate* (any score that is higher when the strong model is more
worth its price). Sweeping a threshold over those scores trades strong-model calls for quality. RouteLLM's
evaluation (``routellm/evals/benchmarks.py`` and ``evaluate.py``), reproduced here:

* thresholds: the ``n_thresholds + 1`` bin edges of ``pandas.qcut(win_rates, n_thresholds)``, i.e. the
  quantiles at ``linspace(0, 1, n_thresholds + 1)`` with linear interpolation;
* at every edge but the last a query goes to the strong model when its win rate is ``>=`` the edge; at the
  last (the maximum) when it is ``>`` it, so the sweep runs from 100 % to (about) 0 % strong calls;
* the curve: mean performance of the routed answers against the % of strong calls, sorted by that %;
* AUC: the trapezoid area under it with the % as a fraction; APGR: ``(AUC - weak·w) / (strong·w - weak·w)``
  where ``w`` is the curve's width (1 when it spans 0-100 %) and strong/weak are the two models' means;
* CPT(x %): the % of strong calls at which the curve recovers x % of the strong-weak gap, by
  ``numpy.interp`` of the target performance over the curve (RouteLLM's "x% qual").

Two differences from RouteLLM's code, neither of which changes a result it can compute: repeated edges (many
tied win rates) give repeated points, which add no area, where ``pandas.qcut`` raises; and ``numpy.interp``
assumes an increasing curve, so ``curve_monotone`` says whether CPT is a clean interpolation. On RouteLLM's
decontaminated MMLU (14,037 queries) a router whose win rate is the prompt's length in characters gives APGR
0.583698, and 0.598655 on GSM8K (1,307 queries), as RouteLLM's own code does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

_trapezoid = getattr(np, "trapezoid", None) or np.trapz  # numpy < 2 names it trapz

#: RouteLLM's CPT levels (% of the strong-weak gap recovered).
CPT_LEVELS: tuple[int, ...] = (20, 50, 80)


def _vector(name: str, values: Any, n: int | None = None) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one value per query, got shape {array.shape}")
    if n is not None and len(array) != n:
        raise ValueError(f"{name} has {len(array)} values for {n} queries")
    bad = np.flatnonzero(~np.isfinite(array))
    if len(bad):
        raise ValueError(f"{name} has {len(bad)} non-finite values (first at query {int(bad[0])}); drop those queries")
    return array


def sweep_thresholds(strong_win_rate: Sequence[float] | np.ndarray, n_thresholds: int = 10) -> np.ndarray:
    """RouteLLM's thresholds: the quantile edges of ``n_thresholds`` equal-count bins of the win rates."""
    if n_thresholds < 1:
        raise ValueError(f"n_thresholds must be >= 1, not {n_thresholds}")
    rates = _vector("strong_win_rate", strong_win_rate)
    if len(rates) == 0:
        raise ValueError("no queries to sweep")
    return np.quantile(rates, np.linspace(0.0, 1.0, n_thresholds + 1))


def strong_mask(strong_win_rate: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """[n_thresholds, n] booleans: which queries go to the strong model at each threshold (``>``: the last)."""
    rates = np.asarray(strong_win_rate, dtype=np.float64)
    mask = rates[None, :] >= thresholds[:, None]
    mask[-1] = rates > thresholds[-1]
    return mask


def optimal_performance(strong: np.ndarray, weak: np.ndarray, strong_fraction: np.ndarray) -> np.ndarray:
    """Best mean performance with at most ``fraction · n`` strong calls (RouteLLM's optimal curve, generalised).

    The strong model goes to the queries where it gains most over the weak one, positive gains only; a
    fractional call counts pro rata. For 0/1 correctness this is RouteLLM's ``get_optimal_accuracy``.
    """
    gains = np.sort(np.clip(strong - weak, 0.0, None))[::-1]
    cumulative = np.concatenate([[0.0], np.cumsum(gains)])
    calls = np.clip(np.asarray(strong_fraction, dtype=np.float64) * len(strong), 0.0, len(strong))
    whole = np.floor(calls).astype(np.int64)
    partial = np.where(whole < len(gains), gains[np.minimum(whole, len(gains) - 1)] * (calls - whole), 0.0)
    return (weak.sum() + cumulative[whole] + partial) / len(strong)


def threshold_sweep(
    strong_performance: Sequence[float] | np.ndarray,
    weak_performance: Sequence[float] | np.ndarray,
    strong_win_rate: Sequence[float] | np.ndarray,
    *,
    n_thresholds: int = 10,
    levels: Sequence[int] = CPT_LEVELS,
) -> dict[str, Any]:
    """APGR, CPT and the quality-vs-strong-calls curve of a strong/weak router, as RouteLLM computes them.

    ``strong_performance``/``weak_performance``: each model's performance per query (0/1 or a score);
    ``strong_win_rate``: the router's score per query (higher = strong). Returns ``apgr``, ``auc``,
    ``cpt`` ({level: % strong calls}), ``strong_performance`` and ``weak_performance`` (the two means),
    ``curve`` (``threshold``, ``strong_percentage``, ``performance``, ``optimal``, sorted by % strong calls),
    ``curve_monotone`` and ``n_queries``. ``apgr`` is None when the two models tie or the curve has no width.
    """
    strong = _vector("strong_performance", strong_performance)
    weak = _vector("weak_performance", weak_performance, len(strong))
    rates = _vector("strong_win_rate", strong_win_rate, len(strong))
    thresholds = sweep_thresholds(rates, n_thresholds)
    mask = strong_mask(rates, thresholds)
    percentage = mask.mean(axis=1) * 100.0
    performance = np.where(mask, strong[None, :], weak[None, :]).mean(axis=1)
    order = np.argsort(percentage, kind="stable")
    percentage, performance, thresholds = percentage[order], performance[order], thresholds[order]
    strong_mean, weak_mean = float(strong.mean()), float(weak.mean())
    x = percentage / 100.0
    auc = float(_trapezoid(performance, x))
    width = float(x[-1] - x[0])
    span = (strong_mean - weak_mean) * width
    apgr = (auc - weak_mean * width) / span if span != 0.0 else None
    cpt = {
        int(level): float(np.interp(level / 100.0 * (strong_mean - weak_mean) + weak_mean, performance, percentage))
        for level in levels
    }
    return {
        "apgr": None if apgr is None else float(apgr),
        "auc": auc,
        "cpt": cpt,
        "strong_performance": strong_mean,
        "weak_performance": weak_mean,
        "curve": {
            "threshold": thresholds.tolist(),
            "strong_percentage": percentage.tolist(),
            "performance": performance.tolist(),
            "optimal": optimal_performance(strong, weak, x).tolist(),
        },
        "curve_monotone": bool(np.all(np.diff(performance) >= 0)),
        "n_queries": len(strong),
    }
