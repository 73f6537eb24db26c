"""ClusterRouter (Avengers-Pro style): k-means on the features, per-cluster mean performance and cost, routed on
α·perf − (1−α)·cost."""

from __future__ import annotations

import numpy as np
import pytest

from fusionbench.fusion import ClusterRouter
from fusionbench.fusion.routers import BaseRouter, check_router
from fusionbench.fusion.routers.cluster import alpha_tradeoff


def clustered(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Three well-separated groups of queries; candidate j is right on group j (and 30 % elsewhere); costs 1:2:8."""
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 3, n)
    X = np.eye(3)[group] * 5 + rng.normal(scale=0.3, size=(n, 3))
    Y = (rng.random((n, 3)) < 0.3).astype(np.float64)
    Y[np.arange(n), group] = 1.0
    cost = np.tile([1.0, 2.0, 8.0], (n, 1)) * 1e-3
    return X, Y, cost, group


def test_each_cluster_routes_to_the_candidate_best_on_its_training_queries():
    X, Y, cost, group = clustered()
    router = ClusterRouter(n_clusters=3, shrinkage=0.0).fit(X[:200], Y[:200], cost=cost[:200])
    clusters = router.predict_clusters(X[:200])
    for c in range(3):  # the fitted means are the clusters' training means
        assert np.allclose(router.means_[c], Y[:200][clusters == c].mean(axis=0))
        assert router.sizes_[c] == (clusters == c).sum()
    assert (router.predict(X[200:]) == group[200:]).all()


def test_shrinkage_pulls_a_small_cluster_towards_the_overall_mean():
    X, Y, _, _ = clustered()
    raw = ClusterRouter(n_clusters=3, shrinkage=0.0).fit(X, Y)
    shrunk = ClusterRouter(n_clusters=3, shrinkage=50.0).fit(X, Y)
    overall = Y.mean(axis=0)
    assert (np.abs(shrunk.means_ - overall) < np.abs(raw.means_ - overall)).all()


def test_alpha_trades_performance_for_cost():
    X, Y, cost, _ = clustered()
    spent = []
    for alpha in (1.0, 0.7, 0.3, 0.0):
        router = ClusterRouter(n_clusters=3, tradeoff=alpha_tradeoff(alpha)).fit(X[:200], Y[:200], cost=cost[:200])
        picks = router.predict(X[200:])
        spent.append(cost[200:][np.arange(100), picks].mean())
    assert spent == sorted(spent, reverse=True) and spent[0] > spent[-1]
    zero = ClusterRouter(n_clusters=3, tradeoff=alpha_tradeoff(0.0)).fit(X[:200], Y[:200], cost=cost[:200])
    assert (zero.predict(X[200:]) == 0).all()  # α = 0: the cheapest candidate everywhere
    with pytest.raises(ValueError, match="alpha must be in"):
        alpha_tradeoff(1.5)


def test_more_clusters_than_queries_is_capped_and_sparse_features_work(tmp_path):
    import scipy.sparse as sp

    X, Y, _, _ = clustered(40)
    router = ClusterRouter(n_clusters=100).fit(sp.csr_matrix(X), Y)
    assert router.centroids_.shape == (40, 3)
    saved = router.save_pretrained(tmp_path / "cluster")
    assert not (saved / "pickled.joblib").exists()
    loaded = BaseRouter.from_pretrained(saved)
    assert np.array_equal(loaded.predict(sp.csr_matrix(X)), router.predict(sp.csr_matrix(X)))


def test_cluster_router_keeps_the_contract():
    check_router(ClusterRouter(n_clusters=4))
