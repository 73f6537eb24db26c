"""3. Model similarity: error consistency between every pair of candidates, CAPA where per-item answers exist, a
clustering order for the heatmap, and the router-pool view (the greedy oracle@k curve).

* **Error consistency** (Geirhos et al. 2020, "Beyond accuracy"): with c_obs the share of items on which two
  candidates are both right or both wrong, and p_a, p_b their accuracies, c_exp = p_a p_b + (1 - p_a)(1 - p_b)
  and kappa = (c_obs - c_exp) / (1 - c_exp): agreement on *which* items are failed, beyond what two independent
  candidates with these accuracies would show. Pooled over all queries (``kappa``; shared task difficulty
  inflates it) and as the query-weighted mean of the per-task kappas (``kappa_within_task``).
* **CAPA** (Goel et al. 2025, "Great Models Think Alike", the discrete kappa_p): c_obs is the share of items on
  which both pick the *same* option, c_exp = p_a p_b + mean_i(1 / (K_i - 1)) (1 - p_a)(1 - p_b) with K_i the
  item's number of options (two wrong candidates agree by chance only among the K - 1 wrong options). Computed
  on multiple-choice queries whose extracted answers are known; a missing answer agrees with nothing.
* **oracle@k**: greedily add the candidate that raises the per-query oracle (the best score among those chosen)
  most; the curve says how much of the full oracle each pool size keeps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from fusionbench.fusion.analysis.common import boot_ci, correct, table, task_order
from fusionbench.fusion.data import RoutingData


@dataclass(frozen=True)
class Similarity:
    """A symmetric candidate x candidate matrix (``matrix``) and its long table (``pairs``)."""

    candidates: tuple[str, ...]
    matrix: np.ndarray
    pairs: pa.Table
    order: tuple[int, ...]  # a clustering order of the candidates (for the heatmap)


def error_consistency_kappa(a: np.ndarray, b: np.ndarray) -> tuple[float | None, float, float]:
    """(kappa, c_obs, c_exp) of two candidates' correctness vectors (booleans of the same items)."""
    x, y = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    c_obs = float((x == y).mean())
    p_a, p_b = float(x.mean()), float(y.mean())
    c_exp = p_a * p_b + (1 - p_a) * (1 - p_b)
    kappa = None if c_exp >= 1.0 - 1e-12 else (c_obs - c_exp) / (1 - c_exp)
    return kappa, c_obs, c_exp


def _kappa_matrix(ok: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairwise (kappa, c_obs, c_exp) matrices of a correctness matrix [n, k] (all pairs at once)."""
    x = ok.astype(np.float64)
    n = len(x)
    c_obs = (x.T @ x + (1 - x).T @ (1 - x)) / n
    p = x.mean(axis=0)
    c_exp = np.outer(p, p) + np.outer(1 - p, 1 - p)
    with np.errstate(invalid="ignore", divide="ignore"):
        kappa = np.where(c_exp < 1.0 - 1e-12, (c_obs - c_exp) / (1 - c_exp), np.nan)
    return kappa, c_obs, c_exp


def error_consistency(data: RoutingData, *, threshold: float = 0.5) -> Similarity:
    """Error consistency of every pair of candidates (a score >= ``threshold`` is correct)."""
    if np.isnan(data.performance).any():
        raise ValueError("error consistency needs every (query, candidate) score; load with --incomplete drop_*")
    ok = correct(data.performance, threshold)
    kappa, c_obs, c_exp = _kappa_matrix(ok)
    labels = np.asarray([str(t) for t in data.tasks])
    within_sum, within_n = np.zeros_like(kappa), np.zeros_like(kappa)
    for task in task_order(data.tasks):
        mask = labels == task
        k_task = _kappa_matrix(ok[mask])[0]
        defined = np.isfinite(k_task)
        within_sum += np.where(defined, k_task, 0.0) * mask.sum()
        within_n += defined * mask.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        within = np.where(within_n > 0, within_sum / within_n, np.nan)
    names = data.candidates
    rows = [
        {
            "a": names[i],
            "b": names[j],
            "kappa": kappa[i, j],
            "kappa_within_task": within[i, j],
            "c_obs": c_obs[i, j],
            "c_exp": c_exp[i, j],
            "n": len(ok),
        }
        for i in range(len(names))
        for j in range(i + 1, len(names))
    ]
    return Similarity(tuple(names), kappa, table(rows), cluster_order(kappa))


def capa_kappa(answers_a: list, answers_b: list, gold: list, n_options: list[int]) -> float | None:
    """Discrete CAPA (kappa_p) of two candidates' picked options on the same items; None when undefined."""
    n = len(gold)
    if n == 0:
        return None
    same = np.array([a is not None and a == b for a, b in zip(answers_a, answers_b, strict=True)])
    p_a = float(np.mean([a is not None and a == g for a, g in zip(answers_a, gold, strict=True)]))
    p_b = float(np.mean([b is not None and b == g for b, g in zip(answers_b, gold, strict=True)]))
    frac = float(np.mean([1.0 / (k - 1) for k in n_options]))
    c_exp = p_a * p_b + frac * (1 - p_a) * (1 - p_b)
    if c_exp >= 1.0 - 1e-12:
        return None
    return (float(same.mean()) - c_exp) / (1 - c_exp)


def capa(
    answers: np.ndarray, gold: np.ndarray, n_options: np.ndarray, candidates: tuple[str, ...]
) -> Similarity | None:
    """CAPA of every pair on the items with a gold option (rows of ``answers`` [n, k]); None without items
    (:func:`capa_kappa` for all pairs at once)."""
    items = np.flatnonzero([g is not None for g in gold])
    if items.size == 0:
        return None
    labels = sorted({str(a) for a in answers[items].ravel() if a is not None} | {str(gold[i]) for i in items})
    code = {label: c for c, label in enumerate(labels)}
    picks = np.array([[-1 if a is None else code[str(a)] for a in row] for row in answers[items]])  # [m, k]
    truth = np.array([code[str(gold[i])] for i in items])
    hits = (picks == truth[:, None]).astype(np.float64)
    same = sum(((picks == c).astype(np.float64).T @ (picks == c)) for c in range(len(labels))) / len(items)
    p = hits.mean(axis=0)
    frac = float(np.mean(1.0 / (n_options[items] - 1)))
    c_exp = np.outer(p, p) + frac * np.outer(1 - p, 1 - p)
    with np.errstate(invalid="ignore", divide="ignore"):
        matrix = np.where(c_exp < 1.0 - 1e-12, (same - c_exp) / (1 - c_exp), np.nan)
    np.fill_diagonal(matrix, 1.0)
    k = len(candidates)
    rows = [
        {"a": candidates[i], "b": candidates[j], "capa": matrix[i, j], "n": len(items)}
        for i in range(k)
        for j in range(i + 1, k)
    ]
    return Similarity(candidates, matrix, table(rows), cluster_order(matrix))


def cluster_order(similarity: np.ndarray) -> tuple[int, ...]:
    """A leaf order of average-linkage clustering on 1 - similarity (NaN as no similarity)."""
    k = len(similarity)
    if k < 3:
        return tuple(range(k))
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    dist = 1.0 - np.nan_to_num(np.asarray(similarity, dtype=np.float64), nan=0.0)
    dist = np.clip((dist + dist.T) / 2, 0.0, None)
    np.fill_diagonal(dist, 0.0)
    return tuple(int(i) for i in leaves_list(linkage(squareform(dist, checks=False), method="average")))


def greedy_pool(performance: np.ndarray, k_max: int | None = None) -> list[int]:
    """Candidates in the order greedy oracle@k adds them (ties to the lower index)."""
    perf = np.nan_to_num(np.asarray(performance, dtype=np.float64), nan=0.0)
    k = perf.shape[1] if k_max is None else min(k_max, perf.shape[1])
    chosen: list[int] = []
    best = np.full(len(perf), -np.inf)
    for _ in range(k):
        gains = np.maximum(perf, best[:, None]).mean(axis=0)
        gains[chosen] = -np.inf
        j = int(np.argmax(gains))
        chosen.append(j)
        best = np.maximum(best, perf[:, j])
    return chosen


def oracle_at_k(data: RoutingData, *, n_boot: int = 1000, seed: int | None = 0, confidence: float = 0.95) -> pa.Table:
    """The greedy oracle@k curve: k, the candidate added, the oracle of the first k with a CI, its share of the
    full oracle (missing scores count as 0)."""
    perf = np.nan_to_num(data.performance, nan=0.0)
    pool = greedy_pool(perf)
    curve = np.maximum.accumulate(perf[:, pool], axis=1)  # [n, k]: per-query oracle of the first k
    point = curve.mean(axis=0)
    ci = boot_ci(lambda w: w @ curve / w.sum(), len(perf), n_boot=n_boot, seed=seed, confidence=confidence)
    full = point[-1]
    return table(
        {
            "k": k + 1,
            "added": data.candidates[j],
            "oracle": point[k],
            "ci_low": None if ci is None else ci[k, 0],
            "ci_high": None if ci is None else ci[k, 1],
            "share_of_oracle": point[k] / full if full > 0 else None,
        }
        for k, j in enumerate(pool)
    )
