"""Clustering router (Avengers-Pro style, arXiv 2508.12631): k-means on the query features, per cluster and
candidate the training mean performance and cost, routed on ``α·perf − (1−α)·cost`` (min-max normalised on train).

Training-free apart from k-means: a query goes to its nearest centroid (cosine: rows and centroids are unit
vectors), and its estimate is that cluster's mean objective, shrunk towards the overall mean by ``shrinkage``
pseudo-queries (a 3-query cluster says little). α is the trade-off (``tradeoff=Tradeoff("alpha", α, 1 − α)``
or :func:`alpha_tradeoff`), chosen like k on train (:class:`~fusionbench.fusion.routers.AutoRouter` chooses k
by cross-validation; a cost target chooses α on a validation part of train).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import normalize

from fusionbench.fusion.blas import blas_threads
from fusionbench.fusion.routers.base import BaseRouter, FitData, RouterTags
from fusionbench.fusion.routers.registry import register_router
from fusionbench.fusion.routers.tradeoffs import Tradeoff


def alpha_tradeoff(alpha: float) -> Tradeoff:
    """Avengers-Pro's ``α·perf − (1−α)·cost`` as a :class:`Tradeoff` (normalised on train)."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], not {alpha!r}")
    return Tradeoff(f"alpha:{alpha:g}", float(alpha), float(1.0 - alpha))


@register_router("cluster")
class ClusterRouter(BaseRouter):
    """Per-cluster mean objective and cost of every candidate (see the module docstring).

    ``n_clusters`` (capped at the number of training queries) k-means clusters of the unit-normalised features
    (``random_state`` seeds k-means); ``shrinkage``: pseudo-queries at the overall mean added to each cluster.
    Fitted: ``centroids_`` ``[k, d]`` (unit rows), ``means_`` and ``cluster_cost_`` ``[k, n_candidates]``,
    ``sizes_``. Any trade-off applies at route time; the cost estimate is the cluster's mean cost.
    """

    router_tags = RouterTags()

    def __init__(
        self,
        n_clusters: int = 32,
        shrinkage: float = 2.0,
        random_state: int | None = 0,
        tradeoff: Tradeoff | str = "performance_first",
        missing: str = "raise",
    ) -> None:
        self.n_clusters = n_clusters
        self.shrinkage = shrinkage
        self.random_state = random_state
        self.tradeoff = tradeoff
        self.missing = missing

    def _fit(self, data: FitData) -> None:
        if not isinstance(self.n_clusters, (int, np.integer)) or self.n_clusters < 1:
            raise ValueError(f"n_clusters must be a positive int, not {self.n_clusters!r}")
        if self.shrinkage < 0:
            raise ValueError(f"shrinkage must be >= 0, not {self.shrinkage!r}")
        unit = normalize(data.X)
        k = int(min(self.n_clusters, unit.shape[0]))
        with warnings.catch_warnings(), blas_threads(1):
            warnings.simplefilter("ignore", ConvergenceWarning)  # fewer distinct points than clusters
            model = KMeans(n_clusters=k, n_init=1, max_iter=30, random_state=self.random_state).fit(unit)
        centroids = normalize(np.asarray(model.cluster_centers_))
        self.centroids_ = centroids
        nearest = self._nearest(unit)
        self.sizes_ = np.bincount(nearest, minlength=k).astype(np.int64)
        self.means_ = self._cluster_means(data.target, nearest, k)
        self.cluster_cost_ = None if data.cost is None else self._cluster_means(data.cost, nearest, k)

    def _cluster_means(self, values: np.ndarray, nearest: np.ndarray, k: int) -> np.ndarray:
        overall = values.mean(axis=0)
        members = sp.csr_matrix((np.ones(len(nearest)), (nearest, np.arange(len(nearest)))), shape=(k, len(nearest)))
        sums = np.asarray(members @ values)
        return (sums + self.shrinkage * overall) / (self.sizes_[:, None] + self.shrinkage + 1e-12)

    def _nearest(self, unit: Any) -> np.ndarray:
        return np.asarray(unit @ self.centroids_.T).argmax(axis=1)

    def predict_clusters(self, X: Any) -> np.ndarray:
        """The cluster of each query."""
        return self._nearest(normalize(self._check_features(X)))

    def _estimate(self, X: Any, tasks: np.ndarray | None) -> np.ndarray:
        return self.means_[self._nearest(normalize(X))]

    def predict_cost(self, X: Any, tasks: Any = None) -> np.ndarray:
        """The query's cluster's mean training cost per candidate."""
        if getattr(self, "cluster_cost_", None) is None:
            return super().predict_cost(X, tasks)
        return self.cluster_cost_[self.predict_clusters(X)]

    def _load_state(self, state: dict[str, Any]) -> None:
        state.setdefault("cluster_cost_", None)
        super()._load_state(state)
