"""Percentile bootstrap over queries, every system on the same resamples, so differences are paired.

The one bootstrap of the routing metrics (:func:`fusionbench.metrics.evaluate_routing` and
:mod:`fusionbench.fusion.evaluation` both draw from it). :func:`bootstrap_weights` gives seeded query
multiplicities; :func:`resample` takes a table of per-query values (one column per system and metric, e.g.
``("knn", "perf")``) and computes every column's mean under the same multiplicities, so the difference of two
columns' replicate means is the paired bootstrap of their difference (router - best single on the same queries).
Per-task means are ratios of weighted sums over the task's queries (NaN in a replicate that drew none of them).
Replicates of several seeds (independent test sets) are averaged replicate by replicate (:func:`average`): the
bootstrap of the seed-averaged mean. :func:`interval` is the percentile interval, :func:`difference` the paired
difference with its verdict.

The task mean (macro, ``macro=True``): with ``groups``, every column's mean over tasks of its per-task means (each
task counts once, whatever its size) is bootstrapped too, **stratified by task**: each replicate resamples every
task's queries within the task (its size kept), so no replicate loses a task and the macro value is always defined;
all columns share these resamples, so macro differences are paired as well.

Numpy only; a caller that wants single-threaded BLAS wraps the call.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Column = tuple[str, str]  # (system, metric)


def bootstrap_weights(n: int, n_boot: int, seed: int | None, chunk: int = 100) -> Iterator[np.ndarray]:
    """Chunks of [<= chunk, n] multiplicities of n queries resampled with replacement (seeded Generator)."""
    rng = np.random.default_rng(seed)
    for start in range(0, n_boot, chunk):
        size = min(chunk, n_boot - start)
        draws = rng.integers(0, n, size=(size, n)) + (np.arange(size) * n)[:, None]
        yield np.bincount(draws.ravel(), minlength=size * n).reshape(size, n).astype(np.float64)


@dataclass
class Replicates:
    """Point means and bootstrap replicate means of each column (and per task, of the group columns)."""

    columns: list[Column]
    point: np.ndarray  # [m]
    draws: np.ndarray  # [B, m] (B = 0 without a bootstrap)
    n_queries: int
    groups: list[str] = field(default_factory=list)
    group_columns: list[Column] = field(default_factory=list)
    group_point: np.ndarray | None = None  # [G, mg]
    group_draws: np.ndarray | None = None  # [B, G, mg]
    group_sizes: dict[str, int] = field(default_factory=dict)
    macro_point: np.ndarray | None = None  # [m]: the mean over groups of each column's group mean
    macro_draws: np.ndarray | None = None  # [B, m]: the same under a bootstrap stratified by group

    def index(self, column: Column) -> int:
        return self.columns.index(column)

    def has(self, column: Column) -> bool:
        return column in self.columns


def resample(
    values: Mapping[Column, np.ndarray],
    *,
    n_boot: int,
    seed: int | None,
    groups: Sequence[str] | np.ndarray | None = None,
    group_columns: Sequence[Column] = (),
) -> Replicates:
    """Bootstrap the means of ``values`` (each ``[n]``) on shared resamples; per-``groups`` means of
    ``group_columns``."""
    columns = list(values)
    if not columns:
        raise ValueError("nothing to resample")
    matrix = np.column_stack([np.asarray(values[c], dtype=np.float64) for c in columns])
    n = matrix.shape[0]
    if n == 0:
        raise ValueError("no queries to evaluate")
    if np.isnan(matrix).any():
        bad = [c for c in columns if np.isnan(values[c]).any()]
        raise ValueError(f"NaN per-query values in {bad[:3]}: a missing value is never averaged as 0")
    point = matrix.mean(axis=0)
    group_names: list[str] = []
    masks: list[np.ndarray] = []
    sub = np.zeros((n, 0))
    if groups is not None:
        labels = np.asarray([str(g) for g in groups], dtype=object)
        if len(labels) != n:
            raise ValueError(f"{len(labels)} group labels for {n} queries")
        group_names = list(dict.fromkeys(labels.tolist()))
        masks = [labels == g for g in group_names]
        sub = np.column_stack([matrix[:, columns.index(c)] for c in group_columns]) if group_columns else sub
    group_point = np.array([sub[m].mean(axis=0) for m in masks]) if masks else None
    draws_parts: list[np.ndarray] = []
    group_parts: list[np.ndarray] = []
    onehot = np.column_stack(masks).astype(np.float64) if masks else np.zeros((n, 0))  # [n, G]
    spread = (sub[:, None, :] * onehot[:, :, None]).reshape(n, -1)  # [n, G * mg]: a column per (group, metric)
    for weights in bootstrap_weights(n, n_boot, seed) if n_boot > 0 else ():
        total = weights.sum(axis=1, keepdims=True)
        draws_parts.append(weights @ matrix / total)
        if masks and sub.shape[1]:
            count = weights @ onehot  # [c, G]
            sums = (weights @ spread).reshape(len(weights), len(masks), sub.shape[1])
            with np.errstate(invalid="ignore", divide="ignore"):
                group_parts.append(np.where(count[:, :, None] > 0, sums / count[:, :, None], np.nan))
    draws = np.concatenate(draws_parts) if draws_parts else np.zeros((0, len(columns)))
    group_draws = np.concatenate(group_parts) if group_parts else None
    macro_point, macro_draws = (None, None)
    if masks:
        macro_point, macro_draws = stratified_macro(matrix, masks, n_boot=n_boot, seed=seed)
    return Replicates(
        columns=columns,
        point=point,
        draws=draws,
        n_queries=n,
        groups=group_names,
        group_columns=list(group_columns),
        group_point=group_point,
        group_draws=group_draws,
        group_sizes={g: int(m.sum()) for g, m in zip(group_names, masks, strict=True)},
        macro_point=macro_point,
        macro_draws=macro_draws,
    )


def stratified_macro(
    matrix: np.ndarray, masks: Sequence[np.ndarray], *, n_boot: int, seed: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """The task mean of each column of ``matrix`` [n, m] (one boolean mask per task) and its ``[B, m]`` replicates
    under a bootstrap stratified by task (each task's queries resampled within the task). Its own seeded stream
    (``[seed, 1]``), so the unstratified replicates are unchanged by it."""
    point = np.mean([matrix[m].mean(axis=0) for m in masks], axis=0)
    draws = np.zeros((max(n_boot, 0), matrix.shape[1]))
    rng_seed = None if seed is None else [int(seed), 1]
    for mask in masks:
        sub = matrix[mask]
        start = 0
        for weights in bootstrap_weights(len(sub), n_boot, rng_seed) if n_boot > 0 else ():
            draws[start : start + len(weights)] += weights @ sub / len(sub)
            start += len(weights)
    return point, draws / len(masks)


def average(parts: Sequence[Replicates]) -> Replicates:
    """The seed average: point and replicate means averaged over ``parts`` (same columns and B); per-task
    values averaged over the parts that have the task."""
    if not parts:
        raise ValueError("no replicates to average")
    if len(parts) == 1:
        return parts[0]
    columns = parts[0].columns
    if any(p.columns != columns for p in parts) or len({p.draws.shape[0] for p in parts}) != 1:
        raise ValueError("replicates to average must have the same columns and number of resamples")
    groups = list(dict.fromkeys(g for p in parts for g in p.groups))
    group_columns = parts[0].group_columns
    out = Replicates(
        columns=list(columns),
        point=np.mean([p.point for p in parts], axis=0),
        draws=np.mean([p.draws for p in parts], axis=0),
        n_queries=int(np.mean([p.n_queries for p in parts])),
        groups=groups,
        group_columns=list(group_columns),
    )
    if groups and group_columns and all(p.group_point is not None for p in parts):
        stacked_point = np.full((len(parts), len(groups), len(group_columns)), np.nan)
        stacked_draws = None
        if all(p.group_draws is not None for p in parts):
            stacked_draws = np.full((len(parts), parts[0].draws.shape[0], len(groups), len(group_columns)), np.nan)
        for i, p in enumerate(parts):
            where = [groups.index(g) for g in p.groups]
            stacked_point[i, where] = p.group_point
            if stacked_draws is not None:
                stacked_draws[i][:, where] = p.group_draws
        with warnings.catch_warnings():  # an all-NaN task (absent from every part) stays NaN, silently
            warnings.simplefilter("ignore", RuntimeWarning)
            out.group_point = np.nanmean(stacked_point, axis=0)
            out.group_draws = None if stacked_draws is None else np.nanmean(stacked_draws, axis=0)
        out.group_sizes = {g: int(np.mean([p.group_sizes[g] for p in parts if g in p.group_sizes])) for g in groups}
    if all(p.macro_point is not None and p.macro_draws is not None for p in parts):
        out.macro_point = np.mean([p.macro_point for p in parts], axis=0)
        out.macro_draws = np.mean([p.macro_draws for p in parts], axis=0)
    return out


def interval(draws: np.ndarray, confidence: float) -> list[float] | None:
    """Percentile interval of replicate values (NaN replicates ignored); None without replicates."""
    finite = draws[~np.isnan(draws)]
    if finite.size == 0:
        return None
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return [float(low), float(high)]


def _point_draws(reps: Replicates, macro: bool) -> tuple[np.ndarray, np.ndarray]:
    if not macro:
        return reps.point, reps.draws
    if reps.macro_point is None or reps.macro_draws is None:
        raise ValueError("no task-mean (macro) values: resample with groups= (the tasks)")
    return reps.macro_point, reps.macro_draws


def estimate(reps: Replicates, column: Column, confidence: float, *, macro: bool = False) -> dict[str, Any]:
    """``{"value", "ci"}`` of one column (``macro``: its task mean, stratified bootstrap)."""
    point, draws = _point_draws(reps, macro)
    j = reps.index(column)
    ci = interval(draws[:, j], confidence) if draws.shape[0] else None
    return {"value": float(point[j]), "ci": ci}


def difference(reps: Replicates, a: Column, b: Column, confidence: float, *, macro: bool = False) -> dict[str, Any]:
    """The paired difference ``a - b``: value, CI and verdict (``better``/``worse`` when the CI excludes 0,
    else ``n.s.``; ``untested`` without replicates). ``macro``: of the task means (stratified bootstrap)."""
    point, draws = _point_draws(reps, macro)
    i, j = reps.index(a), reps.index(b)
    value = float(point[i] - point[j])
    ci = interval(draws[:, i] - draws[:, j], confidence) if draws.shape[0] else None
    if ci is None:
        verdict = "untested"
    elif ci[0] > 0:
        verdict = "better"
    elif ci[1] < 0:
        verdict = "worse"
    else:
        verdict = "n.s."
    return {"value": value, "ci": ci, "verdict": verdict}


def group_estimates(reps: Replicates, column: Column, confidence: float) -> dict[str, dict[str, Any]]:
    """``{task: {"value", "ci", "n_queries"}}`` of a group column."""
    if reps.group_point is None or column not in reps.group_columns:
        return {}
    j = reps.group_columns.index(column)
    out = {}
    for g, name in enumerate(reps.groups):
        value = reps.group_point[g, j]
        ci = None
        if reps.group_draws is not None and reps.group_draws.shape[0]:
            ci = interval(reps.group_draws[:, g, j], confidence)
        out[name] = {"value": None if np.isnan(value) else float(value), "ci": ci, "n_queries": reps.group_sizes[name]}
    return out


def group_differences(reps: Replicates, a: Column, b: Column, confidence: float) -> dict[str, dict[str, Any]]:
    """``{group: {"value", "ci", "verdict"}}``: the paired difference ``a - b`` of two group columns within each
    group (replicates that drew none of a group's queries are left out of its interval)."""
    if reps.group_point is None or a not in reps.group_columns or b not in reps.group_columns:
        return {}
    i, j = reps.group_columns.index(a), reps.group_columns.index(b)
    out = {}
    for g, name in enumerate(reps.groups):
        value = float(reps.group_point[g, i] - reps.group_point[g, j])
        ci = None
        if reps.group_draws is not None and reps.group_draws.shape[0]:
            ci = interval(reps.group_draws[:, g, i] - reps.group_draws[:, g, j], confidence)
        verdict = "untested" if ci is None else "better" if ci[0] > 0 else "worse" if ci[1] < 0 else "n.s."
        out[name] = {"value": value, "ci": ci, "verdict": verdict}
    return out
