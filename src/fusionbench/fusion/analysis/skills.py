"""4. Skill structure of the candidate x task accuracy matrix, and 6. item statistics.

* **PCA** (scikit-learn's, on the task-centred matrix): the share of variance each factor explains and the tasks'
  loadings. With k candidates there are at most k - 1 informative factors.
* **Leave-one-task-out prediction**: each task's accuracy predicted from the other tasks' across candidates, by
  a ridge regression (standardised features, ``alpha``) fitted leave-one-candidate-out; the mean absolute error
  with a bootstrap CI over candidates, beside predicting the other candidates' mean (``baseline_mae``).
* **Item statistics** (classical test theory, there being no fitted IRT model here): per query, the difficulty
  (share of candidates that fail it) and the discrimination (point-biserial correlation between being right on
  it and the candidate's accuracy on the rest of the task); per task their quartiles and histograms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from fusionbench.fusion.analysis.common import boot_ci, correct, table, task_order
from fusionbench.fusion.data import RoutingData


@dataclass(frozen=True)
class SkillFactors:
    """``variance``: one row per factor; ``loadings``: one row per task, a column per factor."""

    variance: pa.Table
    loadings: pa.Table


def skill_pca(accuracy: np.ndarray, tasks: list[str] | tuple[str, ...]) -> SkillFactors | None:
    """PCA of the candidate x task accuracy matrix [k, T]; None with fewer than 2 candidates or tasks."""
    from sklearn.decomposition import PCA

    matrix = np.asarray(accuracy, dtype=np.float64)
    k, n_tasks = matrix.shape
    if k < 2 or n_tasks < 2 or not np.isfinite(matrix).all():
        return None
    pca = PCA(n_components=min(k - 1, n_tasks)).fit(matrix)
    ratios = pca.explained_variance_ratio_
    variance = table(
        {"factor": f + 1, "variance_ratio": float(r), "cumulative": float(c)}
        for f, (r, c) in enumerate(zip(ratios, np.cumsum(ratios), strict=True))
    )
    loadings = table(
        {"task": task, **{f"f{f + 1}": float(pca.components_[f, t]) for f in range(len(ratios))}}
        for t, task in enumerate(tasks)
    )
    return SkillFactors(variance, loadings)


def _ridge_predictions(matrix: np.ndarray, target: int, alpha: float) -> np.ndarray:
    """Leave-one-candidate-out predictions of column ``target`` from the other columns: features standardised on
    the training rows, ridge with an unpenalised intercept (scikit-learn's ``StandardScaler`` + ``Ridge``)."""
    X, y = np.delete(matrix, target, axis=1), matrix[:, target]
    out = np.empty(len(y))
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        mean, std = X[keep].mean(axis=0), X[keep].std(axis=0)
        std = np.where(std > 0, std, 1.0)
        Z = (X[keep] - mean) / std
        coef = np.linalg.solve(Z.T @ Z + alpha * np.eye(Z.shape[1]), Z.T @ (y[keep] - y[keep].mean()))
        out[i] = y[keep].mean() + ((X[i] - mean) / std) @ coef
    return out


def leave_one_task_out(
    accuracy: np.ndarray,
    tasks: list[str] | tuple[str, ...],
    *,
    alpha: float = 1.0,
    n_boot: int = 1000,
    seed: int | None = 0,
    confidence: float = 0.95,
) -> pa.Table | None:
    """Per task: MAE of predicting it from the other tasks (CI over candidates) and the baseline's MAE; None
    with fewer than 3 candidates or 2 tasks."""
    matrix = np.asarray(accuracy, dtype=np.float64)
    k, n_tasks = matrix.shape
    if k < 3 or n_tasks < 2 or not np.isfinite(matrix).all():
        return None
    rows = []
    for t, task in enumerate(tasks):
        errors = np.abs(_ridge_predictions(matrix, t, alpha) - matrix[:, t])
        baseline = np.abs((matrix[:, t].sum() - matrix[:, t]) / (k - 1) - matrix[:, t])
        ci = boot_ci(lambda w, e=errors: w @ e / w.sum(), k, n_boot=n_boot, seed=seed, confidence=confidence)
        rows.append(
            {
                "task": task,
                "mae": float(errors.mean()),
                "ci_low": None if ci is None else ci[0, 0],
                "ci_high": None if ci is None else ci[0, 1],
                "baseline_mae": float(baseline.mean()),
            }
        )
    return table(rows)


@dataclass(frozen=True)
class ItemStatistics:
    """``summary``: per task, quartiles of difficulty and discrimination; ``items``: per query."""

    summary: pa.Table
    difficulty: dict[str, list[float]]
    discrimination: dict[str, list[float]]


def _point_biserial(ok: np.ndarray) -> np.ndarray:
    """Per item [n]: correlation across candidates between right-on-the-item and accuracy on the other items."""
    x = ok.astype(np.float64)  # [n, k]
    n = len(x)
    rest = (x.sum(axis=0)[None, :] - x) / max(n - 1, 1)  # [n, k]
    xc = x - x.mean(axis=1, keepdims=True)
    rc = rest - rest.mean(axis=1, keepdims=True)
    denom = np.sqrt((xc**2).sum(axis=1) * (rc**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, (xc * rc).sum(axis=1) / np.where(denom > 0, denom, 1.0), np.nan)


def quartiles(name: str, values: np.ndarray) -> dict[str, float]:
    """``{name}_q1``, ``{name}_median`` and ``{name}_q3`` of ``values`` (NaN when empty)."""
    q = np.percentile(values, [25, 50, 75]) if np.size(values) else [np.nan] * 3
    return {f"{name}_q1": float(q[0]), f"{name}_median": float(q[1]), f"{name}_q3": float(q[2])}


def item_statistics(data: RoutingData, *, threshold: float = 0.5) -> ItemStatistics:
    """Difficulty and discrimination of every query, summarised per task (see the module docstring)."""
    ok = correct(np.nan_to_num(data.performance, nan=0.0), threshold)
    labels = np.asarray([str(t) for t in data.tasks])
    rows, difficulty, discrimination = [], {}, {}
    for task in task_order(data.tasks):
        mask = labels == task
        diff = 1.0 - ok[mask].mean(axis=1)
        disc = _point_biserial(ok[mask])
        difficulty[task] = [float(v) for v in diff]
        discrimination[task] = [float(v) for v in disc[np.isfinite(disc)]]
        rows.append(
            {
                "task": task,
                "n_queries": int(mask.sum()),
                **quartiles("difficulty", diff),
                "share_all_fail": float((diff == 1.0).mean()),
                "share_none_fail": float((diff == 0.0).mean()),
                **quartiles("discrimination", disc[np.isfinite(disc)]),
                "n_undefined_discrimination": int((~np.isfinite(disc)).sum()),
            }
        )
    return ItemStatistics(table(rows), difficulty, discrimination)
