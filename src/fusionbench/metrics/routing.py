"""Routing metrics on a query x candidate matrix: baselines, cost-quality frontier, AIQ, PGR, CIs.

A candidate is one (model, mode) pair, named ``"<model>/<mode>"``. The inputs are ``performance`` and
``cost`` (USD) matrices of shape ``[n_queries, n_candidates]`` and a router's choice per query (candidate
index or name). :func:`matrices_from_rows` pivots long response rows into these matrices.

Definitions (means are over queries):

* oracle: per query the best candidate, the cheapest among ties; per-task oracle: per task the single
  candidate with the best mean on that task (subject-level routing, as in Bench-CoE); ``best_single_oracle``:
  the candidate with the best mean **on the evaluated queries** (cheapest among ties; chosen with hindsight,
  unlike fusion's ``best_single_train``, fitted on the training split); random: the expectation of a uniform
  choice.
* Pareto frontier: candidates (and the router) not dominated in (higher accuracy, lower cost).
* AIQ (RouterBench): area under the non-decreasing upper convex hull of the frontier's accuracy-vs-cost
  curve, flat after the best point. ``aiq`` includes the router's point; ``aiq_candidates`` is the
  candidates alone (no router). Cost is min-max normalised over the single candidates' mean costs, so the
  area runs over [0, 1] from the cheapest candidate. RouterBench's code (``evaluation/AIQ.py``) differs: it
  divides the area by the *largest* cost and integrates from the hull's first point, so its AIQ is
  ``area / max_cost`` over [min_cost, max_cost], not over [0, 1]; the two agree only when the cheapest
  point costs nothing. The ordering of routers on one set of candidates is the same.
* PGR (performance gap recovered at the router's one operating point): (router - weak) / (strong - weak);
  strong/weak default to the best/worst single candidate on the evaluated queries. RouteLLM's APGR is the
  *average* of this over a threshold sweep: :func:`fusionbench.metrics.threshold_sweep`.
* Gap@Oracle: oracle accuracy - router accuracy.
* CostSave (``cost_save``): 1 - router cost / cost of the cheapest single candidate with accuracy >= the
  router's, at the router's operating point. LLMRouterBench's CostSave is another quantity: the largest
  cost reduction *against the best single candidate* among a router's operating points that keep at least
  the best single's accuracy; ``cost_save_vs_best_single_oracle`` is that at this one point (None when the
  router is less accurate than the best single), and :func:`cost_save_vs_best_single_oracle` takes a sweep.

Each headline metric gets a percentile bootstrap CI over queries (seeded; :mod:`.routing_bootstrap`, the one
bootstrap fusion's paired evaluation uses too). Baselines are recomputed on each resample; the strong/weak pair
of PGR stays fixed. The matrix type and the pivot from rows are :mod:`.routing_rows`'.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from fusionbench.metrics.routing_bootstrap import bootstrap_weights, interval
from fusionbench.metrics.routing_rows import INCOMPLETE, RoutingMatrices, candidate_name, matrices_from_rows
from fusionbench.metrics.routing_tradeoffs import TIE_TOL, TRADEOFFS, best_choices, tradeoff_choices, tradeoff_reward
from fusionbench.metrics.routing_tradeoffs import best as _best

__all__ = [
    "INCOMPLETE",
    "ROUTER",
    "TRADEOFFS",
    "RoutingMatrices",
    "aiq",
    "best_choices",
    "bootstrap_weights",
    "candidate_name",
    "cost_save_vs_best_single_oracle",
    "evaluate_router",
    "evaluate_routing",
    "matrices_from_rows",
    "oracle_choices",
    "pareto_frontier",
    "per_task_oracle_choices",
    "pgr",
    "tradeoff_choices",
    "tradeoff_reward",
]

ROUTER = "router"
_TOL = TIE_TOL


# ---------------------------------------------------------------- choices
def pgr(router: np.ndarray | float, strong: np.ndarray | float, weak: np.ndarray | float) -> np.ndarray:
    """Performance gap recovered, ``(router - weak) / (strong - weak)``, elementwise; NaN where strong = weak."""
    router, strong, weak = (np.asarray(v, dtype=np.float64) for v in (router, strong, weak))
    span = strong - weak
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.abs(span) > _TOL, (router - weak) / span, np.nan)


def oracle_choices(performance: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Per query, the best candidate; ties go to the cheapest."""
    return _best(np.asarray(performance, float), np.asarray(cost, float))


def per_task_oracle_choices(performance: np.ndarray, cost: np.ndarray, tasks: Sequence[str]) -> np.ndarray:
    """Per query, the candidate with the best mean on the query's task (cheapest mean among ties)."""
    tasks_arr = np.asarray(tasks)
    choices = np.empty(len(tasks_arr), dtype=np.int64)
    for task in dict.fromkeys(tasks_arr.tolist()):
        mask = tasks_arr == task
        choices[mask] = _best(performance[mask].mean(axis=0), cost[mask].mean(axis=0))
    return choices


# ---------------------------------------------------------------- frontier and AIQ
def pareto_frontier(accuracy: Sequence[float], cost: Sequence[float]) -> list[int]:
    """Indices of the non-dominated points (higher accuracy, lower cost), by increasing cost.

    Of identical points only the first is kept.
    """
    acc, cst = np.asarray(accuracy, float), np.asarray(cost, float)
    order = sorted(range(len(acc)), key=lambda i: (cst[i], -acc[i], i))
    frontier: list[int] = []
    for i in order:
        if not frontier or acc[i] > acc[frontier[-1]] + _TOL:
            frontier.append(i)
    return frontier


def upper_hull(accuracy: Sequence[float], cost: Sequence[float]) -> list[int]:
    """Indices of the non-decreasing upper convex hull of the (cost, accuracy) points, by increasing cost: the
    operating points a mix of two neighbours cannot beat (the frontier AIQ integrates)."""
    acc, x = np.asarray(accuracy, float), np.asarray(cost, float)
    hull: list[int] = []
    for i in pareto_frontier(acc, x):
        while len(hull) >= 2:
            o, m = hull[-2], hull[-1]
            cross = (x[m] - x[o]) * (acc[i] - acc[o]) - (acc[m] - acc[o]) * (x[i] - x[o])
            if cross < 0:  # a right turn: m lies above the chord, keep it
                break
            hull.pop()
        hull.append(i)
    return hull


def aiq(accuracy: Sequence[float], cost: Sequence[float], cost_range: tuple[float, float] | None = None) -> float:
    """Area under the non-decreasing upper convex hull of accuracy vs normalised cost (RouterBench).

    Costs are min-max normalised over ``cost_range`` (default: the points' own range) and clipped to
    [0, 1]; the curve is flat after its most accurate point. With a zero-width range every point at or
    below it sits at 0 and the others at 1.
    """
    acc, cst = np.asarray(accuracy, float), np.asarray(cost, float)
    low, high = cost_range if cost_range is not None else (cst.min(), cst.max())
    x = np.clip((cst - low) / (high - low), 0.0, 1.0) if high > low else np.where(cst <= low + _TOL, 0.0, 1.0)
    hull = upper_hull(acc, x)
    hx, hy = x[hull], acc[hull]
    return float(np.sum(np.diff(hx) * (hy[1:] + hy[:-1]) / 2) + (1.0 - hx[-1]) * hy[-1])


def cost_save_vs_best_single_oracle(
    accuracies: Sequence[float], costs: Sequence[float], best_single_accuracy: float, best_single_cost: float
) -> float | None:
    """LLMRouterBench's CostSave: the largest ``1 - cost / best_single_cost`` over a router's operating points.

    Only points at least as accurate as the best single candidate (on the evaluated queries, as LLMRouterBench
    picks it) count; None when there is none (or it costs nothing). One point is the per-point
    ``cost_save_vs_best_single_oracle`` of :func:`evaluate_routing`.
    """
    acc, cst = np.asarray(accuracies, float), np.asarray(costs, float)
    if acc.shape != cst.shape or acc.ndim != 1:
        raise ValueError(f"accuracies {acc.shape} and costs {cst.shape} must be two equal-length vectors")
    keep = acc >= best_single_accuracy - _TOL
    if not keep.any() or best_single_cost <= 0:
        return None
    return float(np.max(1.0 - cst[keep] / best_single_cost))


# ---------------------------------------------------------------- evaluation
def _as_indices(choices: Sequence[int] | Sequence[str] | np.ndarray, candidates: Sequence[str]) -> np.ndarray:
    values = list(choices)
    if values and isinstance(values[0], str):
        index = {name: i for i, name in enumerate(candidates)}
        unknown = sorted({v for v in values if v not in index})
        if unknown:
            raise ValueError(f"choices name unknown candidates {unknown}; candidates are {list(candidates)}")
        return np.array([index[v] for v in values], dtype=np.int64)
    out = np.asarray(values, dtype=np.int64).reshape(len(values))
    if len(out) and (out.min() < 0 or out.max() >= len(candidates)):
        raise ValueError(f"choice indices must lie in [0, {len(candidates)})")
    return out


def _stats(
    weights: np.ndarray,
    perf: np.ndarray,
    cost: np.ndarray,
    chosen: np.ndarray,
    oracle: np.ndarray,
    task_masks: list[np.ndarray],
    strong: int,
    weak: int,
) -> dict[str, np.ndarray]:
    """Every metric for each row of ``weights`` ([B, n] query multiplicities); each value is a [B] array."""
    rows = np.arange(perf.shape[0])
    total = weights.sum(axis=1)
    cand_acc, cand_cost = (weights @ perf) / total[:, None], (weights @ cost) / total[:, None]
    router_acc = weights @ perf[rows, chosen] / total
    router_cost = weights @ cost[rows, chosen] / total
    oracle_acc, oracle_cost = weights @ perf[rows, oracle] / total, weights @ cost[rows, oracle] / total
    best = _best(cand_acc, cand_cost)[:, None]
    task_acc, task_cost = np.zeros(len(total)), np.zeros(len(total))
    for mask in task_masks:
        acc_sum, cost_sum = weights[:, mask] @ perf[mask], weights[:, mask] @ cost[mask]
        pick = _best(acc_sum, cost_sum)[:, None]
        task_acc += np.take_along_axis(acc_sum, pick, 1)[:, 0]
        task_cost += np.take_along_axis(cost_sum, pick, 1)[:, 0]
    best_acc, best_cost = np.take_along_axis(cand_acc, best, 1)[:, 0], np.take_along_axis(cand_cost, best, 1)[:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        cheapest = np.where(cand_acc >= router_acc[:, None] - _TOL, cand_cost, np.inf).min(axis=1)
        cost_save = np.where(np.isfinite(cheapest) & (cheapest > 0), 1.0 - router_cost / cheapest, np.nan)
        keeps_best = (router_acc >= best_acc - _TOL) & (best_cost > 0)
        cost_save_best = np.where(keeps_best, 1.0 - router_cost / best_cost, np.nan)
    aiq_router, aiq_cands = np.empty(len(total)), np.empty(len(total))
    for b in range(len(total)):
        cost_range = (cand_cost[b].min(), cand_cost[b].max())
        aiq_cands[b] = aiq(cand_acc[b], cand_cost[b], cost_range)
        aiq_router[b] = aiq(np.append(cand_acc[b], router_acc[b]), np.append(cand_cost[b], router_cost[b]), cost_range)
    return {
        "router_accuracy": router_acc,
        "router_cost": router_cost,
        "oracle_accuracy": oracle_acc,
        "oracle_cost": oracle_cost,
        "best_single_oracle_accuracy": best_acc,
        "best_single_oracle_cost": best_cost,
        "per_task_oracle_accuracy": task_acc / total,
        "per_task_oracle_cost": task_cost / total,
        "random_accuracy": cand_acc.mean(axis=1),
        "random_cost": cand_cost.mean(axis=1),
        "gap_at_oracle": oracle_acc - router_acc,
        "pgr": pgr(router_acc, cand_acc[:, strong], cand_acc[:, weak]),
        "cost_save": cost_save,
        "cost_save_vs_best_single_oracle": cost_save_best,
        "aiq": aiq_router,
        "aiq_candidates": aiq_cands,
    }


def _scalar(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def _counts(names: Sequence[str], picks: np.ndarray) -> dict[str, int]:
    values, counts = np.unique(picks, return_counts=True)
    return {names[int(i)]: int(n) for i, n in zip(values, counts, strict=True)}


def evaluate_routing(
    performance: np.ndarray,
    cost: np.ndarray,
    candidates: Sequence[str],
    choices: Sequence[int] | Sequence[str] | np.ndarray,
    tasks: Sequence[str] | None = None,
    *,
    strong: str | int | None = None,
    weak: str | int | None = None,
    n_boot: int = 1000,
    seed: int | None = 0,
    confidence: float = 0.95,
    tradeoffs: Mapping[str, tuple[float, float]] = TRADEOFFS,
) -> dict[str, Any]:
    """Routed accuracy and cost, baselines, frontier, AIQ, PGR, Gap@Oracle, CostSave, with bootstrap CIs.

    Returns floats (None where undefined): ``router_accuracy``/``_cost``, ``oracle_*``, ``best_single_oracle_*``
    (the best candidate on these queries), ``per_task_oracle_*``, ``random_*``, ``gap_at_oracle``, ``pgr``,
    ``cost_save``, ``cost_save_vs_best_single_oracle``, ``aiq``, ``aiq_candidates``;
    ``ci`` ({metric: [low, high]} for each of them, percentile bootstrap over
    queries at ``confidence``; empty with ``n_boot=0``); ``candidates`` ({name: accuracy, cost}),
    ``best_single_oracle``, ``strong``, ``weak``, ``frontier`` (names by increasing cost, ``"router"`` for the
    router), ``tradeoffs`` (per setting: a, b, accuracy, cost, router_agreement, choice_counts),
    ``by_task`` (router, oracle and per-task-oracle accuracy per task) and ``n_queries``.
    """
    perf, cst = np.asarray(performance, dtype=np.float64), np.asarray(cost, dtype=np.float64)
    names = list(candidates)
    if perf.ndim != 2 or perf.shape != cst.shape or perf.shape[1] != len(names):
        raise ValueError(f"performance {perf.shape} and cost {cst.shape} must both be [n_queries, {len(names)}]")
    if perf.shape[0] == 0:
        raise ValueError("no queries to evaluate")
    if not (np.isfinite(perf).all() and np.isfinite(cst).all()):
        raise ValueError(
            "performance and cost must be finite; matrices_from_rows(incomplete='drop_queries') drops incomplete rows"
        )
    chosen = _as_indices(choices, names)
    if len(chosen) != perf.shape[0]:
        raise ValueError(f"{len(chosen)} choices for {perf.shape[0]} queries")
    task_list = ["all"] * perf.shape[0] if tasks is None else list(tasks)
    if len(task_list) != perf.shape[0]:
        raise ValueError(f"{len(task_list)} tasks for {perf.shape[0]} queries")
    tasks_arr = np.asarray(task_list)
    task_masks = [tasks_arr == t for t in dict.fromkeys(task_list)]
    oracle = oracle_choices(perf, cst)
    cand_acc, cand_cost = perf.mean(axis=0), cst.mean(axis=0)
    best = int(_best(cand_acc, cand_cost))
    worst = int(_best(-cand_acc, cand_cost))
    strong_i = best if strong is None else int(_as_indices([strong], names)[0])
    weak_i = worst if weak is None else int(_as_indices([weak], names)[0])
    ones = np.ones((1, perf.shape[0]))
    point = {k: _scalar(v[0]) for k, v in _stats(ones, perf, cst, chosen, oracle, task_masks, strong_i, weak_i).items()}
    ci: dict[str, list[float] | None] = {}
    if n_boot > 0:
        parts = [
            _stats(w, perf, cst, chosen, oracle, task_masks, strong_i, weak_i)
            for w in bootstrap_weights(perf.shape[0], n_boot, seed)
        ]
        for key in point:
            ci[key] = interval(np.concatenate([part[key] for part in parts]), confidence)
    points_acc, points_cost = np.append(cand_acc, point["router_accuracy"]), np.append(cand_cost, point["router_cost"])
    rows = np.arange(perf.shape[0])
    settings = {}
    for label, (a, b) in tradeoffs.items():
        picks = tradeoff_choices(perf, cst, task_list, a, b)
        settings[label] = {
            "a": a,
            "b": b,
            "accuracy": float(perf[rows, picks].mean()),
            "cost": float(cst[rows, picks].mean()),
            "router_agreement": float((picks == chosen).mean()),
            "choice_counts": _counts(names, picks),
        }
    per_task_choice = per_task_oracle_choices(perf, cst, task_list)
    by_task = {}
    for task, mask in zip(dict.fromkeys(task_list), task_masks, strict=True):
        idx = np.flatnonzero(mask)
        by_task[task] = {
            "n_queries": len(idx),
            "router_accuracy": float(perf[idx, chosen[idx]].mean()),
            "oracle_accuracy": float(perf[idx, oracle[idx]].mean()),
            "per_task_oracle": names[int(per_task_choice[idx[0]])],
            "per_task_oracle_accuracy": float(perf[idx, per_task_choice[idx[0]]].mean()),
        }
    return {
        **point,
        "ci": ci,
        "n_queries": int(perf.shape[0]),
        "candidates": {
            n: {"accuracy": float(a), "cost": float(c)} for n, a, c in zip(names, cand_acc, cand_cost, strict=True)
        },
        "best_single_oracle": names[best],
        "strong": names[strong_i],
        "weak": names[weak_i],
        "frontier": [([*names, ROUTER])[i] for i in pareto_frontier(points_acc, points_cost)],
        "tradeoffs": settings,
        "by_task": by_task,
        "router_choice_counts": _counts(names, chosen),
    }


def evaluate_router(
    chosen: Sequence[str],
    query_ids: Sequence[str],
    matrices: RoutingMatrices,
    *,
    strong_win_rates: Sequence[float] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Evaluate a router given as (query id, chosen candidate) pairs against pivoted matrices.

    Only queries present in both are evaluated (baselines included, so the comparison is like for like);
    the rest are counted: ``n_unmatched_choices`` (choices for queries not in the matrices, e.g. dropped
    as incomplete) and ``n_queries_without_choice``. With ``strong_win_rates`` (one per choice, a pair
    router's score), ``sweep`` adds RouteLLM's threshold sweep between the result's ``strong`` and ``weak``
    (:func:`fusionbench.metrics.threshold_sweep`). ``options`` go to :func:`evaluate_routing`.
    """
    ids, picks = list(query_ids), list(chosen)
    if len(ids) != len(picks):
        raise ValueError(f"{len(picks)} choices for {len(ids)} query ids")
    if strong_win_rates is not None and len(strong_win_rates) != len(ids):
        raise ValueError(f"{len(strong_win_rates)} strong_win_rates for {len(ids)} query ids")
    if len(set(ids)) != len(ids):
        raise ValueError("a query id appears twice among the router's choices")
    position = {qid: i for i, qid in enumerate(matrices.query_ids)}
    kept = [i for i, qid in enumerate(ids) if qid in position]
    rows = np.array([position[ids[i]] for i in kept], dtype=np.int64)
    result = evaluate_routing(
        matrices.performance[rows],
        matrices.cost[rows],
        matrices.candidates,
        [picks[i] for i in kept],
        [matrices.tasks[i] for i in rows],
        **options,
    )
    if strong_win_rates is not None:
        from fusionbench.metrics.sweep import threshold_sweep

        names = list(matrices.candidates)
        strong, weak = names.index(result["strong"]), names.index(result["weak"])
        rates = np.asarray(strong_win_rates, dtype=np.float64)[kept]
        perf = matrices.performance[rows]
        result["sweep"] = threshold_sweep(perf[:, strong], perf[:, weak], rates)
    result.update(
        n_unmatched_choices=len(ids) - len(kept),
        n_queries_without_choice=len(position) - len(kept),
        n_missing_cells=matrices.n_missing_cells,
        n_dropped_queries=len(matrices.dropped_query_ids),
        n_dropped_candidates=len(matrices.dropped_candidates),
    )
    return result
