"""The cold start's standard error of the simulated gain (fusion/tiny/cold_gains.py): clustered by task (CR1) against
a hand computation, larger than the per-query one when gains move together within a task, the per-query one when
every query is its own cluster; the guard and the router use it, and say which they used."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.special import expit

from fusionbench.fusion.routers import MFRouter
from fusionbench.fusion.tiny.cold_gains import mean_se, pooled_gains
from fusionbench.fusion.tiny.cold_start import ColdStartRouter


def _cr1(x: np.ndarray, clusters: list[str]) -> float:
    """The cluster-robust standard error of a mean, written out: G / (G - 1) times the sum over clusters of the
    squared sum of residuals, square root, over n."""
    mean = sum(x) / len(x)
    sums: dict[str, float] = {}
    for value, cluster in zip(x, clusters, strict=True):
        sums[cluster] = sums.get(cluster, 0.0) + (value - mean)
    g = len(sums)
    return (g / (g - 1) * sum(s * s for s in sums.values())) ** 0.5 / len(x)


def test_clustered_se_matches_a_hand_computation() -> None:
    x = np.array([0.1, 0.3, -0.2, 0.0, 0.4])
    clusters = ["a", "a", "b", "b", "c"]
    # mean 0.12; residual sums a: 0.16, b: -0.44, c: 0.28; squares 0.2976; x 3/2 = 0.4464; sqrt / 5
    assert mean_se(x, clusters) == pytest.approx(0.4464**0.5 / 5, abs=1e-12)
    assert mean_se(x, clusters) == pytest.approx(_cr1(x, clusters), abs=1e-12)
    rng = np.random.default_rng(3)  # a larger table, several rows at once (the last axis is the queries)
    table = rng.normal(size=(2, 3, 40))
    labels = [f"t{i}" for i in rng.integers(0, 6, size=40)]
    expected = [[_cr1(row, labels) for row in block] for block in table]
    assert mean_se(table, labels) == pytest.approx(np.array(expected), abs=1e-12)


def test_clustered_se_is_larger_when_gains_move_together_within_a_task() -> None:
    rng = np.random.default_rng(0)
    tasks = np.repeat([f"task{i}" for i in range(10)], 30)
    gains = np.repeat(rng.normal(0.0, 0.1, size=10), 30) + rng.normal(0.0, 0.01, size=300)  # a task effect
    clustered, per_query = mean_se(gains, tasks), mean_se(gains)
    assert clustered > 3 * per_query
    independent = rng.normal(0.0, 0.1, size=300)  # no task effect: about the same
    assert mean_se(independent, tasks) == pytest.approx(mean_se(independent), rel=0.5)


def test_every_query_its_own_cluster_gives_the_per_query_se() -> None:
    x = np.random.default_rng(1).normal(size=(4, 25))
    own = [str(i) for i in range(25)]
    per_query = x.std(axis=1, ddof=1) / np.sqrt(25)
    assert mean_se(x, own) == pytest.approx(per_query, abs=1e-12)  # CR1's G / (G - 1) is ddof=1's n / (n - 1)
    assert mean_se(x) == pytest.approx(per_query, abs=1e-12)
    with pytest.raises(ValueError, match="2 clusters"):
        mean_se(x, ["same"] * 25)
    with pytest.raises(ValueError, match="one per query"):
        mean_se(x, own[:24])


def test_the_guard_with_task_clusters_does_not_count_a_loss_carried_by_few_tasks() -> None:
    """A known candidate losing on two tasks and gaining on the third: significant over queries, not over tasks."""
    rng = np.random.default_rng(2)
    tasks = np.repeat(["a", "b", "c"], 30)
    loser = np.repeat([-0.3, -0.2, 0.3], 30) + rng.normal(0.0, 0.01, size=90)
    table = np.stack([loser, np.zeros(90)])[:, None, :]  # [known 2, margins 1, queries 90]
    per_query, clustered = pooled_gains([table], margins=(0.0,))[0.0], pooled_gains([table], (0.0,), tasks)[0.0]
    assert per_query[2] == 1 and clustered[2] == 0
    assert per_query[0] == clustered[0]  # the mean is the same; only its uncertainty differs
    assert clustered[1] == pytest.approx(_cr1(table.mean(axis=0)[0], list(tasks)), abs=1e-12)
    halves = pooled_gains([table[:, :, :45], table[:, :, 45:]], (0.0,), tasks)  # folds concatenate in order
    assert halves[0.0] == pytest.approx(clustered)


def _fit(tasks: np.ndarray, **options) -> ColdStartRouter:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(len(tasks), 6))
    Y = (rng.random((len(tasks), 3)) < expit(1.5 * X[:, :1] + np.array([-1.0, 0.0, 1.0]))).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = MFRouter(n_factors=8, max_iter=50, alpha=1e-3).fit(X, Y, candidates=["weak", "mid", "strong"])
        return ColdStartRouter(base, folds=2, **options).fit(X, Y, tasks=tasks)


def test_the_router_says_which_standard_error_it_used() -> None:
    tasks = np.array(["a", "b", "c"] * 40, dtype=object)
    router = _fit(tasks)
    assert router.se_kind_ == "task-clustered"
    rows = np.concatenate([p["val_rows"] for p in router.simulation_["folds"]])
    assert router.simulation_["clusters"].tolist() == tasks[rows].tolist()  # the validation queries' own tasks
    one = _fit(np.array(["only"] * 120, dtype=object))  # a single training task: nothing to cluster by
    assert one.se_kind_ == "per-query" and one.simulation_["clusters"] is None
    new = one.add_candidate("new", {str(i): 1.0 for i in range(0, 120, 3)})
    assert all(np.isfinite(entry[1]) for entry in new.margin_gains.values())
    assert _fit(tasks, margin=0.05).se_kind_ is None  # a fixed margin: no simulation, no standard error
