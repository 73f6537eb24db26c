"""2. Judge vs ground truth ("Judging the Judges", 2024; the Alternative Annotator Test, 2025).

Per task, per (task, candidate) and over everything: Cohen's kappa between the thresholded judge score and the
thresholded ground-truth score (kappa, not % agreement), the judge's AUROC for correctness
(:func:`fusionbench.metrics.auroc`), and per task whether ranking the candidates by mean judge score gives the
order of their mean ground-truth score (Kendall's tau-b with a bootstrap CI over the task's queries; ``(all)``:
the means over every query). A task
whose kappa is below ``min_kappa`` is flagged.

Judge failures: the release stored failed judge calls as 0.0, indistinguishable from a real 0. With
``zero_is_failure`` (the default unless the data names its judge, as RouteLLM's MT-Bench grades do, where 0.0 is
the lowest grade), every 0.0 is counted and reported as a possible failure and left out of the judgements; the
``*_with_zeros`` columns give the same statistics counting them as scores, so the effect of the choice is seen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from fusionbench.fusion.analysis.common import cohen_kappa, correct, table, task_order
from fusionbench.fusion.data import RoutingData
from fusionbench.fusion.evaluation.bootstrap import bootstrap_weights, interval
from fusionbench.metrics import auroc

ALL = "(all)"


@dataclass(frozen=True)
class JudgeAgreement:
    """``cells``: kappa, AUROC and counts per task (candidate ``(all)``), per (task, candidate) and over all;
    ``ranking``: Kendall's tau per task between the candidates' order by judge and by ground truth."""

    cells: pa.Table
    ranking: pa.Table
    zero_is_failure: bool
    threshold: float
    min_kappa: float


def has_judge(data: RoutingData) -> bool:
    """Whether any cell carries a judge score."""
    return bool(np.isfinite(data.judge).any())


def default_zero_is_failure(data: RoutingData) -> bool:
    """0.0 is a possible failure unless the data names its judge (then 0.0 is a grade the judge gave)."""
    return "judge_model" not in data.provenance


def judge_agreement(
    data: RoutingData,
    *,
    threshold: float = 0.5,
    zero_is_failure: bool | None = None,
    min_kappa: float = 0.6,
    n_boot: int = 1000,
    seed: int | None = 0,
    confidence: float = 0.95,
) -> JudgeAgreement | None:
    """The judge-vs-truth tables; None when the data has no judge scores."""
    if not has_judge(data):
        return None
    zero_fails = default_zero_is_failure(data) if zero_is_failure is None else zero_is_failure
    judge, truth = data.judge, data.performance
    zeros = judge == 0.0
    judged = np.isfinite(judge) & np.isfinite(truth) & ~(zeros & zero_fails)
    with_zeros = np.isfinite(judge) & np.isfinite(truth)
    labels = np.asarray([str(t) for t in data.tasks])
    rows, ranking = [], []
    scopes = [(task, labels == task) for task in task_order(data.tasks)] + [(ALL, np.ones(len(labels), bool))]
    for task, rows_mask in scopes:
        scope_rows = []
        for j, name in [(None, ALL), *enumerate(data.candidates)]:
            cols = slice(None) if j is None else slice(j, j + 1)
            scope_rows.append(
                _cell(
                    task,
                    name,
                    judge[rows_mask, cols],
                    truth[rows_mask, cols],
                    judged[rows_mask, cols],
                    with_zeros[rows_mask, cols],
                    zeros[rows_mask, cols],
                    threshold,
                    min_kappa,
                )
            )
        rows += scope_rows
        ranking.append(_ranking(task, judge[rows_mask], truth[rows_mask], judged[rows_mask], n_boot, seed, confidence))
    return JudgeAgreement(table(rows), table(ranking), zero_fails, threshold, min_kappa)


def _cell(
    task: str,
    name: str,
    judge: np.ndarray,
    truth: np.ndarray,
    judged: np.ndarray,
    with_zeros: np.ndarray,
    zeros: np.ndarray,
    threshold: float,
    min_kappa: float,
) -> dict:
    j, t = judge[judged], truth[judged]
    jz, tz = judge[with_zeros], truth[with_zeros]
    kappa = cohen_kappa(correct(j, threshold), correct(t, threshold))
    return {
        "task": task,
        "candidate": name,
        "n_cells": int(judge.size),
        "n_judged": int(judged.sum()),
        "n_zero": int(zeros.sum()),
        "agreement": float((correct(j, threshold) == correct(t, threshold)).mean()) if j.size else None,
        "kappa": kappa,
        "auroc": auroc(j, correct(t, threshold)) if j.size else None,
        "kappa_with_zeros": cohen_kappa(correct(jz, threshold), correct(tz, threshold)),
        "auroc_with_zeros": auroc(jz, correct(tz, threshold)) if jz.size else None,
        "flagged": bool(kappa is not None and kappa < min_kappa) if name == ALL else None,
    }


def kendall_tau_b(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kendall's tau-b of the rows of ``x`` and ``y`` ([..., k]; NaN entries left out of every pair): the sum of
    sign(x_i - x_j) sign(y_i - y_j) over pairs over the root of the products of the untied pair counts; NaN
    when a side is constant or fewer than 2 entries are present."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    pair = ok[..., :, None] & ok[..., None, :]
    with np.errstate(invalid="ignore"):
        sx = np.where(pair, np.sign(x[..., :, None] - x[..., None, :]), 0.0)
        sy = np.where(pair, np.sign(y[..., :, None] - y[..., None, :]), 0.0)
    denom = np.sqrt((sx**2).sum(axis=(-1, -2)) * (sy**2).sum(axis=(-1, -2)))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, (sx * sy).sum(axis=(-1, -2)) / np.where(denom > 0, denom, 1.0), np.nan)


def _ranking(
    task: str,
    judge: np.ndarray,
    truth: np.ndarray,
    judged: np.ndarray,
    n_boot: int,
    seed: int | None,
    confidence: float,
) -> dict:
    """Kendall's tau-b between the candidates' mean judge score and mean ground truth (judged cells only), with a
    percentile CI over resamples of the task's queries."""
    present = judged.astype(np.float64)
    j_sum, t_sum = np.where(judged, judge, 0.0), np.where(judged, truth, 0.0)

    def means(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        count = weights @ present
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count > 0, (weights @ j_sum) / count, np.nan), np.where(
                count > 0, (weights @ t_sum) / count, np.nan
            )

    point_j, point_t = means(np.ones(len(judge)))
    tau = float(kendall_tau_b(point_j, point_t))
    draws = [kendall_tau_b(*means(w)) for w in bootstrap_weights(len(judge), n_boot, seed)] if n_boot > 0 else []
    ci = interval(np.concatenate(draws), confidence) if draws else None
    return {
        "task": task,
        "n_candidates": int(np.isfinite(point_j).sum()),
        "kendall_tau": tau,
        "ci_low": None if ci is None else ci[0],
        "ci_high": None if ci is None else ci[1],
    }
