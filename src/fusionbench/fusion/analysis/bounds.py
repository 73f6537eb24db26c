"""5. Fusion upper bounds from the logs alone, per task and overall, each with a bootstrap CI over queries.

* ``best_single``: the candidate with the highest micro mean overall, on every query;
* ``per_task_best``: on each task, that task's best candidate (chosen on the same queries: in-sample);
* ``oracle``: the best score among all candidates on each query; ``oracle_at_k``: among the greedy pool of k;
* ``majority_vote``: the most frequent extracted answer among the candidates (:mod:`.answers`); its score is the
  mean score of the responses that gave it; a tie is the mean over the tied answers (a random tie-break's
  expectation); a query with no extracted answer scores 0. Only on tasks with extractable answers;
* ``judge_best_of_n``: the response with the highest judge score (ties: the mean score of the tied ones), on
  queries with a judge score.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pyarrow as pa

from fusionbench.fusion.analysis.answers import Answers
from fusionbench.fusion.analysis.common import table, task_order
from fusionbench.fusion.analysis.similarity import greedy_pool
from fusionbench.fusion.data import RoutingData
from fusionbench.fusion.evaluation.bootstrap import group_estimates, interval, resample

ALL = "(all)"
BOUNDS = ("best_single", "per_task_best", "oracle_at_k", "oracle", "majority_vote", "judge_best_of_n")


def majority_vote(answers: np.ndarray, performance: np.ndarray) -> np.ndarray:
    """Per-query score of the plurality answer ([n]; see the module docstring)."""
    out = np.zeros(len(answers))
    for i, (row, scores) in enumerate(zip(answers, performance, strict=True)):
        votes: dict[object, list[float]] = defaultdict(list)
        for answer, score in zip(row, scores, strict=True):
            if answer is not None and np.isfinite(score):
                votes[answer].append(float(score))
        if votes:
            top = max(len(v) for v in votes.values())
            out[i] = float(np.mean([np.mean(v) for v in votes.values() if len(v) == top]))
    return out


def judge_best_of_n(judge: np.ndarray, performance: np.ndarray) -> np.ndarray:
    """Per-query score of the response the judge scores highest (NaN where no judge score)."""
    out = np.full(len(judge), np.nan)
    for i, (scores, perf) in enumerate(zip(judge, performance, strict=True)):
        ok = np.isfinite(scores) & np.isfinite(perf)
        if ok.any():
            top = scores[ok].max()
            out[i] = float(perf[ok & (scores == top)].mean())
    return out


def per_query_bounds(data: RoutingData, answers: Answers | None = None, k: int = 3) -> dict[str, np.ndarray]:
    """{bound: per-query values [n]} (NaN where a bound is undefined for a query)."""
    perf = np.nan_to_num(data.performance, nan=0.0)
    labels = np.asarray([str(t) for t in data.tasks])
    best = int(np.argmax(perf.mean(axis=0)))
    per_task = np.empty(len(perf))
    for task in task_order(data.tasks):
        mask = labels == task
        per_task[mask] = perf[mask, int(np.argmax(perf[mask].mean(axis=0)))]
    pool = greedy_pool(perf, k)
    values = {
        "best_single": perf[:, best],
        "per_task_best": per_task,
        "oracle_at_k": perf[:, pool].max(axis=1),
        "oracle": perf.max(axis=1),
    }
    if answers is not None and answers.supported.any():
        vote = np.full(len(perf), np.nan)
        rows = answers.supported
        vote[rows] = majority_vote(answers.answers[rows], data.performance[rows])
        values["majority_vote"] = vote
    if np.isfinite(data.judge).any():
        values["judge_best_of_n"] = judge_best_of_n(data.judge, data.performance)
    return values


def fusion_bounds(
    data: RoutingData,
    answers: Answers | None = None,
    *,
    k: int = 3,
    n_boot: int = 1000,
    seed: int | None = 0,
    confidence: float = 0.95,
) -> pa.Table:
    """One row per (task, bound) and per bound over all queries: value, CI, queries it is defined on."""
    values = per_query_bounds(data, answers, k)
    rows = []
    for bound, vector in values.items():
        defined = np.isfinite(vector)
        if not defined.any():
            continue
        reps = resample(
            {(bound, "v"): vector[defined]},
            n_boot=n_boot,
            seed=seed,
            groups=np.asarray(data.tasks)[defined],
            group_columns=[(bound, "v")],
        )
        for task, est in group_estimates(reps, (bound, "v"), confidence).items():
            rows.append(_row(task, bound, est["value"], est["ci"], est["n_queries"]))
        ci = interval(reps.draws[:, 0], confidence) if reps.draws.shape[0] else None
        rows.append(_row(ALL, bound, float(reps.point[0]), ci, int(defined.sum())))
    return table(rows)


def _row(task: str, bound: str, value: float | None, ci: list[float] | None, n: int) -> dict:
    return {
        "task": task,
        "bound": bound,
        "value": value,
        "ci_low": None if ci is None else ci[0],
        "ci_high": None if ci is None else ci[1],
        "n_queries": n,
    }
