"""Cost-accuracy curves for the frontier plot: candidates, routers swept over CARROT's λ, and the oracle.

A score router fitted with cost routes ``argmax (1 - λ)·P̂ - λ·scale·Ĉ`` (``scale``: one unit = the dearest
candidate's mean training cost); sweeping λ over [0, 1] traces its cost-accuracy curve on the test split.
The oracle's curve is the same sweep on the true performance and cost. Without cost data there is no curve.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fusionbench.fusion.data import RoutingData
from fusionbench.fusion.evaluation.core import map_choices
from fusionbench.fusion.routers.tradeoffs import argmax_cheapest

LAMBDAS = np.linspace(0.0, 1.0, 21)


def _point(data: RoutingData, picks: np.ndarray) -> tuple[float, float]:
    rows = np.arange(len(picks))
    return float(data.cost[rows, picks].mean()), float(data.performance[rows, picks].mean())


def _sweep(perf: np.ndarray, cost: np.ndarray, scale: float) -> list[np.ndarray]:
    return [argmax_cheapest((1.0 - lam) * perf - lam * scale * cost, cost) for lam in LAMBDAS]


def router_curve(router: Any, X: Any, test: RoutingData) -> dict[str, list[float]] | None:
    """``{"lam", "cost", "perf"}`` of a score router on ``test`` (None when it has no cost estimate)."""
    if getattr(router, "_label_target", False) or not getattr(router, "_applies_tradeoff", False):
        return None
    if router.cost_mean_ is None or float(np.max(router.cost_mean_)) <= 0:
        return None
    perf = router.predict_performance(X, tasks=test.tasks)
    cost = router.predict_cost(X, tasks=test.tasks)
    scale = 1.0 / float(np.max(router.cost_mean_))
    points = [_point(test, map_choices(router.candidates_[p], test)) for p in _sweep(perf, cost, scale)]
    return {"lam": LAMBDAS.tolist(), "cost": [c for c, _ in points], "perf": [a for _, a in points]}


def oracle_curve(test: RoutingData) -> dict[str, list[float]]:
    """The oracle's λ sweep on the true values."""
    scale = 1.0 / float(test.cost.mean(axis=0).max())
    points = [_point(test, p) for p in _sweep(test.performance, test.cost, scale)]
    return {"lam": LAMBDAS.tolist(), "cost": [c for c, _ in points], "perf": [a for _, a in points]}


def candidate_points(test: RoutingData) -> dict[str, dict[str, float]]:
    """Each candidate's mean cost and performance on ``test``."""
    cost, perf = test.cost.mean(axis=0), test.performance.mean(axis=0)
    return {c: {"cost": float(x), "perf": float(y)} for c, x, y in zip(test.candidates, cost, perf, strict=True)}


def aiq_rows(curves: dict[str, Any]) -> dict[str, float]:
    """AIQ (:func:`fusionbench.metrics.routing.aiq`) of the single candidates' hull, each router's λ sweep and the
    oracle's, on one cost scale: min-max over the single candidates' mean costs (a router or the oracle cheaper
    or dearer than every candidate is clipped to it)."""
    from fusionbench.metrics.routing import aiq

    points = curves.get("candidates", {})
    if not points:
        return {}
    costs = [p["cost"] for p in points.values()]
    scale = (min(costs), max(costs))
    out = {"single candidates (hull)": aiq([p["perf"] for p in points.values()], costs, scale)}
    for name, line in curves.get("routers", {}).items():
        out[name] = aiq(line["perf"], line["cost"], scale)
    if curves.get("oracle"):
        out["oracle"] = aiq(curves["oracle"]["perf"], curves["oracle"]["cost"], scale)
    return out
