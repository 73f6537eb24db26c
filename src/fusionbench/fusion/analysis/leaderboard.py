"""1. Leaderboard with uncertainty: accuracy per candidate and task with bootstrap CIs, mean cost and tokens,
macro (mean of the task means) and micro (mean over queries) averages, and rank CIs.

Every candidate is resampled on the same query resamples (:func:`fusionbench.fusion.evaluation.bootstrap.resample`),
so the ranks of a replicate compare the candidates on the same queries. Ranks are by the macro mean (every task
weighs the same); ``rank_shares[r - 1]`` is the share of resamples in which the candidate holds rank ``r``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from fusionbench.fusion.analysis.common import nanmean_or_none, table
from fusionbench.fusion.data import RoutingData
from fusionbench.fusion.evaluation.bootstrap import interval, resample

MACRO, MICRO = "(macro)", "(micro)"


@dataclass(frozen=True)
class Leaderboard:
    """``scores``: one row per (candidate, task), the tasks then ``(macro)`` and ``(micro)``; ``ranks``: one
    row per candidate, best first; ``accuracy``: the candidate x task matrix of point accuracies."""

    scores: pa.Table
    ranks: pa.Table
    tasks: tuple[str, ...]
    accuracy: np.ndarray  # [k, T]


def leaderboard(
    data: RoutingData, *, n_boot: int = 1000, seed: int | None = 0, confidence: float = 0.95
) -> Leaderboard:
    """Accuracy with CIs per candidate and task, macro and micro means, mean cost and tokens, rank CIs."""
    names = list(data.candidates)
    columns = [(name, "perf") for name in names]
    reps = resample(
        {(name, "perf"): data.performance[:, j] for j, name in enumerate(names)},
        n_boot=n_boot,
        seed=seed,
        groups=data.tasks,
        group_columns=columns,
    )
    tasks = reps.groups
    group_point = reps.group_point if reps.group_point is not None else np.zeros((0, len(names)))
    macro_point = group_point.mean(axis=0)
    has_draws = reps.draws.shape[0] > 0
    macro_draws = np.nanmean(reps.group_draws, axis=1) if has_draws and reps.group_draws is not None else None
    labels = np.asarray([str(t) for t in data.tasks])
    rows = []
    for j, name in enumerate(names):
        for g, task in enumerate(tasks):
            mask = labels == task
            ci = interval(reps.group_draws[:, g, j], confidence) if has_draws and reps.group_draws is not None else None
            rows.append(_row(data, name, task, float(group_point[g, j]), ci, mask, j))
        ci = interval(macro_draws[:, j], confidence) if macro_draws is not None else None
        rows.append(_row(data, name, MACRO, float(macro_point[j]), ci, np.ones(data.n_queries, bool), j))
        ci = interval(reps.draws[:, j], confidence) if has_draws else None
        rows.append(_row(data, name, MICRO, float(reps.point[j]), ci, np.ones(data.n_queries, bool), j))
    return Leaderboard(
        scores=table(rows),
        ranks=_ranks(names, macro_point, macro_draws, reps.point, confidence),
        tasks=tuple(tasks),
        accuracy=group_point.T.copy(),
    )


def _row(
    data: RoutingData, name: str, task: str, value: float, ci: list[float] | None, mask: np.ndarray, j: int
) -> dict:
    return {
        "candidate": name,
        "task": task,
        "accuracy": value,
        "ci_low": None if ci is None else ci[0],
        "ci_high": None if ci is None else ci[1],
        "n_queries": int(mask.sum()),
        "mean_cost_usd": nanmean_or_none(data.cost[mask, j]),
        "mean_input_tokens": nanmean_or_none(data.input_tokens[mask, j]),
        "mean_output_tokens": nanmean_or_none(data.output_tokens[mask, j]),
    }


def ranks_of(values: np.ndarray) -> np.ndarray:
    """Ranks (1 = highest) along the last axis; ties share the best rank of the tie."""
    values = np.asarray(values, dtype=np.float64)
    return (values[..., None, :] > values[..., :, None]).sum(axis=-1) + 1


def _ranks(
    names: list[str], macro: np.ndarray, macro_draws: np.ndarray | None, micro: np.ndarray, confidence: float
) -> pa.Table:
    k = len(names)
    point_rank = ranks_of(macro)
    draw_ranks = ranks_of(macro_draws) if macro_draws is not None else None
    rows = []
    for j in np.argsort(point_rank, kind="stable"):
        row = {"candidate": names[j], "rank": int(point_rank[j]), "macro_accuracy": float(macro[j])}
        row["micro_accuracy"] = float(micro[j])
        if draw_ranks is not None:
            low, high = interval(draw_ranks[:, j].astype(np.float64), confidence) or (None, None)
            shares = np.bincount(draw_ranks[:, j] - 1, minlength=k) / len(draw_ranks)
            row |= {"rank_ci_low": low, "rank_ci_high": high, "p_best": float(shares[0])}
            row["rank_shares"] = [float(s) for s in shares]
        rows.append(row)
    return table(rows)
