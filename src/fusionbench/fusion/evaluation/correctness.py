"""How well a router's estimate predicts a candidate's correctness: AUROC with a paired-free bootstrap CI.

For leave-one-model-out (``lomo``) studies: a router that estimates performance (``predict_performance``) is
scored on whether its estimate for the held-out candidate ranks the test queries it answers correctly
(performance > ``threshold``) above those it does not.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fusionbench.fusion.data import RoutingData
from fusionbench.metrics.judge import auroc
from fusionbench.metrics.routing_bootstrap import bootstrap_weights, interval


def _auroc(score: np.ndarray, positive: np.ndarray, weights: np.ndarray | None = None) -> float:
    """:func:`fusionbench.metrics.auroc`, NaN (not None) when a class is absent: a bootstrap replicate to skip."""
    value = auroc(score, positive, weights)
    return float("nan") if value is None else value


def correctness_auroc(
    router: Any,
    X: Any,
    test: RoutingData,
    candidate: str,
    *,
    threshold: float = 0.5,
    n_boot: int = 1000,
    seed: int | None = 0,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """``{"value", "ci", "n_queries", "n_correct"}``: AUROC of the router's estimate for ``candidate``."""
    names = [str(c) for c in router.candidates_]
    if candidate not in names:
        raise ValueError(f"the router has no estimate for {candidate!r}; it knows {names}")
    if candidate not in test.candidates:
        raise ValueError(f"{candidate!r} is not a candidate of the test data")
    score = np.asarray(router.predict_performance(X, tasks=test.tasks))[:, names.index(candidate)]
    truth = test.performance[:, test.candidates.index(candidate)]
    if np.isnan(truth).any():
        raise ValueError(f"{candidate!r} has {int(np.isnan(truth).sum())} test queries without performance")
    positive = truth > threshold
    value = _auroc(score, positive)
    draws = [_auroc(score, positive, w) for chunk in bootstrap_weights(len(score), n_boot, seed) for w in chunk]
    ci = interval(np.asarray(draws), confidence) if n_boot > 0 else None
    return {
        "value": None if np.isnan(value) else value,
        "ci": ci,
        "n_queries": len(score),
        "n_correct": int(positive.sum()),
    }


def held_out_aurocs(router: Any, X: Any, test: RoutingData, candidates: list[str], **options: Any) -> dict[str, Any]:
    """:func:`correctness_auroc` of each held-out candidate of a ``lomo`` split; a candidate the router has no
    estimate for (it never saw it, or it estimates no performance) gets the reason instead."""
    out: dict[str, Any] = {}
    for name in candidates:
        if not hasattr(router, "predict_performance"):
            out[name] = {"value": None, "reason": f"{type(router).__name__} estimates no performance"}
        elif name not in [str(c) for c in router.candidates_]:
            hint = "; MFRouter(missing='mask') with --scheme-arg unseen=mask can (the population prior)"
            out[name] = {"value": None, "reason": f"the router was trained without {name!r}{hint}"}
        else:
            out[name] = correctness_auroc(router, X, test, name, **options)
    return out
