"""How good tiny estimates are on the data at hand: leave one model out (all its modes), fit the item model and
choose anchors on the other models, estimate the held-out model's mean over tasks from its answers on the anchors
alone, and compare with its true mean over every query. Repeated over ``draws`` seeds; the mean absolute error
(MAE, in points) is reported per method as the mean over held-out models, with the spread over models and a
bootstrap CI over models, beside the per-task MAE."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fusionbench.fusion.irt.model import fit_irt
from fusionbench.fusion.tiny.core import IRT_OPTIONS, build_tiny, calibration_set, task_lambda
from fusionbench.fusion.tiny.select import METHODS, NEEDS_ITEM_MODEL, allocate

DEFAULT_METHODS = ("random", "stratified", "anchors", "irt", "pirt", "gpirt")


def unique_queries(data: Any) -> Any:
    """The data with a query that occurs in several shipped splits kept once (its first row) and the splits
    dropped: the population a held-out model's full-benchmark accuracy is measured on."""
    if data.splits is None:
        return data
    ids = np.asarray(data.query_ids).astype(str)
    _, first = np.unique(ids, return_index=True)
    kept = data.take(np.sort(first))
    return dataclasses.replace(kept, splits=None)


def true_mean(data: Any, column: int) -> tuple[float, dict[str, float]]:
    """(mean over tasks, {task: mean}) of one candidate's observed scores."""
    y = data.performance[:, column]
    tasks = np.asarray(data.tasks).astype(str)
    per = {
        t: float(np.nanmean(y[tasks == t])) for t in dict.fromkeys(tasks.tolist()) if (~np.isnan(y[tasks == t])).any()
    }
    return float(np.mean(list(per.values()))), per


def _ci(values: np.ndarray, seed: int, n_boot: int = 2000) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), (n_boot, len(values)))].mean(axis=1)
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def lomo_study(
    data: Any,
    *,
    methods: Sequence[str] = DEFAULT_METHODS,
    total: int | None = None,
    per_task: int | None = None,
    draws: int = 100,
    seed: int = 0,
    models: Sequence[str] | None = None,
    irt_options: dict[str, Any] | None = None,
    calibration_models: int = 4,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """The leave-one-model-out study (see the module docstring); returns a JSON-able dict: per method ``mae``
    (points, mean over held-out models), ``sd`` (over models), ``ci`` (95 %, bootstrap over models),
    ``per_model`` and ``per_task`` MAE."""
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; methods: {sorted(METHODS)}")
    pop = unique_queries(data)
    names = list(models or dict.fromkeys(pop.models))
    options = {**IRT_OPTIONS, "seed": seed, **(irt_options or {})}
    errors: dict[str, dict[str, list[float]]] = {m: {} for m in methods}
    task_errors: dict[str, dict[str, list[float]]] = {m: {} for m in methods}
    for step, held in enumerate(names):
        if progress:
            progress(f"held out {held}", step, len(names))
        source = pop.without_candidates([held])
        columns = pop._candidate_indices([held])
        truths = [true_mean(pop, j) for j in columns]
        model = fit_irt(source, **options) if any(m in NEEDS_ITEM_MODEL for m in methods) else None
        lambdas: dict[str, dict[str, float]] = {}
        chosen = calibration_set(source, calibration_models, seed + step)
        tasks = np.asarray(source.tasks).astype(str)
        counts = allocate({t: int((tasks == t).sum()) for t in dict.fromkeys(tasks.tolist())}, total=total,
                          per_task=per_task)  # fmt: skip
        for how in {METHODS[m][0] for m in methods if METHODS[m][1] == "gpirt"}:
            lambdas[how] = task_lambda(source, chosen, options, how, counts, seed=seed, total=total)
        for draw in range(draws):
            for method in methods:
                tiny = build_tiny(source, total=total, per_task=per_task, method=method, seed=seed + draw,
                                  item_model=model, irt_options=options,
                                  lambdas=lambdas.get(METHODS[method][0]))  # fmt: skip
                anchors = pop.subset(tiny.query_ids)
                order = {q: i for i, q in enumerate(anchors.query_ids.astype(str))}
                rows = [order[q] for q in tiny.query_ids]
                for j, (truth, per) in zip(columns, truths, strict=True):
                    scores = dict(zip(tiny.query_ids, anchors.performance[rows, j].tolist(), strict=True))
                    estimate = tiny.estimate(scores, n_boot=0)
                    errors[method].setdefault(held, []).append(abs(estimate.overall - truth) * 100)
                    for t, v in estimate.per_task.items():
                        if t in per:
                            task_errors[method].setdefault(t, []).append(abs(v - per[t]) * 100)
    out: dict[str, Any] = {"n_queries": pop.n_queries, "n_candidates": pop.n_candidates, "models": names,
                           "draws": draws, "total": total, "per_task": per_task, "irt_options": options,
                           "source": str(data.source), "synthetic": bool(data.synthetic), "methods": {}}  # fmt: skip
    for method in methods:
        per_model = {m: float(np.mean(v)) for m, v in errors[method].items()}
        values = np.array(list(per_model.values()))
        out["methods"][method] = {
            "mae": float(values.mean()),
            "sd": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
            "ci": list(_ci(values, seed)),
            "per_model": per_model,
            "per_task": {t: float(np.mean(v)) for t, v in task_errors[method].items()},
        }
    return out
