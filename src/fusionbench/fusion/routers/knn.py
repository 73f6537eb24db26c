"""k-nearest-neighbour routing: FusionFactory's label vote, and the score average of CARROT-KNN / LLMRouter."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from sklearn.model_selection import KFold
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import normalize

from fusionbench.fusion.routers.base import BaseRouter, FitData, fingerprint
from fusionbench.fusion.routers.registry import register_router
from fusionbench.fusion.routers.tradeoffs import LabelMode, Tradeoff

#: CARROT-KNN's grid for ``n_neighbors="cv"``: 2^1 ... 2^9.
CV_NEIGHBORS: tuple[int, ...] = tuple(2**i for i in range(1, 10))
_CHUNK = 1024


class Neighbours:
    """Brute-force k-nearest training rows. Dense cosine: unit rows and one matrix product per chunk of
    queries (about four times faster than scikit-learn's brute cosine search here); sparse features (TF-IDF)
    and other metrics: scikit-learn's brute search, which is faster on sparse rows.

    :meth:`nearest` remembers the last query matrix's neighbours (nearest first), so the utility and the cost
    estimate of one ``route`` (and CARROT's two estimators, which share one index) search once; ``k_hint``
    makes that one search find enough neighbours for every estimator that shares the index.
    """

    def __init__(self, train: Any, metric: str) -> None:
        self.dense_cosine = metric == "cosine" and not sp.issparse(train)
        self.n = train.shape[0]
        self.k_hint = 0
        self._memo: tuple[str, np.ndarray] | None = None
        if self.dense_cosine:
            self.unit_t = np.ascontiguousarray(normalize(train).T)
        else:
            self.index = NearestNeighbors(metric=metric, algorithm="brute").fit(train)

    def nearest(self, X: Any, k: int) -> np.ndarray:
        """``[n, min(k, n_train)]`` indices of each row's nearest training rows, nearest first (remembered for
        the last ``X``: a smaller ``k`` is a prefix of a larger one)."""
        k = min(k, self.n)
        key = fingerprint(X)
        if self._memo is not None and self._memo[0] == key and self._memo[1].shape[1] >= k:
            return self._memo[1][:, :k]
        found = self.query(X, max(k, min(self.k_hint, self.n)), ordered=True)
        self._memo = (key, found)
        return found[:, :k]

    def query(self, X: Any, k: int, ordered: bool = False) -> np.ndarray:
        """``[n, min(k, n_train)]`` indices of each row's nearest training rows; nearest first if ``ordered``."""
        k = min(k, self.n)
        if not self.dense_cosine:
            return self.index.kneighbors(X, n_neighbors=k, return_distance=False)  # sorted, nearest first
        out = np.empty((X.shape[0], k), dtype=np.int64)
        dense = X.toarray() if sp.issparse(X) else X
        for start in range(0, X.shape[0], _CHUNK):
            similarity = normalize(dense[start : start + _CHUNK]) @ self.unit_t
            if k < self.n:
                top = np.argpartition(similarity, self.n - k, axis=1)[:, self.n - k :]  # the k largest
            else:
                top = np.tile(np.arange(self.n), (similarity.shape[0], 1))
            if ordered:
                order = np.argsort(-np.take_along_axis(similarity, top, axis=1), axis=1, kind="stable")
                top = np.take_along_axis(top, order, axis=1)
            out[start : start + _CHUNK] = top
        return out


@register_router("knn")
class KNNRouter(BaseRouter):
    """Average the ``n_neighbors`` nearest training queries (cosine by default, brute force).

    ``target="scores"`` (default): the utility estimate is the neighbours' mean objective, and the cost
    estimate their mean cost (CARROT-KNN, LLMRouter kNN); any trade-off applies at route time.
    ``target="labels"``: the utility is the share of neighbours whose label (the argmax of the training
    reward under ``tradeoff``, ties by ``labels``) is each candidate: FusionFactory's kNN (k=50, cosine).
    ``n_neighbors="cv"`` picks k by 5-fold cross-validated R^2 on the training set over 2^1..2^9 (CARROT);
    the choice is ``n_neighbors_``. ``weights="distance"`` weighs each neighbour by its cosine similarity to the
    query (clipped at 0; ``metric="cosine"`` only), as scikit-learn's ``KNeighborsRegressor(weights=...)``;
    :class:`~fusionbench.fusion.routers.AutoRouter` tunes k, the weighting and the task prior by CV on train.
    """

    _rebuilt_on_load = ("index_",)

    def __init__(
        self,
        n_neighbors: int | Literal["cv"] = 50,
        metric: str = "cosine",
        weights: Literal["uniform", "distance"] = "uniform",
        target: Literal["scores", "labels"] = "scores",
        labels: LabelMode = "auto",
        tradeoff: Tradeoff | str = "performance_first",
        missing: str = "raise",
    ) -> None:
        self.n_neighbors = n_neighbors
        self.metric = metric
        self.weights = weights
        self.target = target
        self.labels = labels
        self.tradeoff = tradeoff
        self.missing = missing

    def _fit(self, data: FitData) -> None:
        if self.target not in ("scores", "labels"):
            raise ValueError(f"target must be 'scores' or 'labels', not {self.target!r}")
        if self.weights not in ("uniform", "distance") or (self.weights == "distance" and self.metric != "cosine"):
            raise ValueError(f"weights must be 'uniform' or 'distance' (cosine metric), not {self.weights!r}")
        values = self._labels(data) if self.target == "labels" else data.target
        self.values_ = values
        self.train_cost_ = data.cost if self.target == "scores" else None
        self.X_fit_ = data.X
        if self.n_neighbors == "cv":
            self.n_neighbors_ = self._cross_validate(data.X, values)
        elif isinstance(self.n_neighbors, (int, np.integer)) and self.n_neighbors >= 1:
            self.n_neighbors_ = int(self.n_neighbors)
        else:
            raise ValueError(f"n_neighbors must be a positive int or 'cv', not {self.n_neighbors!r}")
        self.index_ = Neighbours(data.X, self.metric)

    def _cross_validate(self, X: Any, values: np.ndarray) -> int:
        """The k of the grid with the best mean 5-fold R^2 (over candidates that vary), neighbours found once."""
        n = X.shape[0]
        folds = KFold(n_splits=min(5, n), shuffle=True, random_state=0)
        grid = np.array([k for k in CV_NEIGHBORS if k <= int(n * 0.8)] or [1])
        scores = np.zeros(len(grid))
        for train, test in folds.split(np.arange(n)):
            index = Neighbours(X[train], self.metric)
            ks = np.minimum(grid, len(train))
            truth = values[test]
            residual = np.zeros((len(grid), values.shape[1]))
            for start in range(0, len(test), 256):
                rows = test[start : start + 256]
                neighbours = index.query(X[rows], int(ks.max()), ordered=True)
                cumulative = np.cumsum(values[train][neighbours], axis=1)  # [rows, k_max, k]
                means = cumulative[:, ks - 1] / ks[None, :, None]  # [rows, grid, k]
                residual += ((means - values[rows][:, None, :]) ** 2).sum(axis=0)
            total = ((truth - truth.mean(axis=0)) ** 2).sum(axis=0)
            varying = total > 0
            if varying.any():
                scores += (1.0 - residual[:, varying] / total[varying]).mean(axis=1)
        return int(grid[int(np.argmax(scores))])

    def _neighbours(self, X: Any) -> np.ndarray:
        """Indices of the training neighbours of ``X`` (remembered for the last ``X``: one search per route)."""
        return self.index_.nearest(X, self.n_neighbors_)

    def _mean(self, X: Any, values: np.ndarray) -> np.ndarray:
        """The neighbours' mean of ``values``: a sparse averaging matrix times ``values`` (no [n, k, c] copy)."""
        neighbours = self._neighbours(X)
        n, k = neighbours.shape
        weight = np.ones((n, k)) if self.weights != "distance" else self._similarities(X, neighbours)
        indptr = np.arange(0, n * k + 1, k)
        members = sp.csr_matrix((weight.ravel(), neighbours.ravel(), indptr), shape=(n, values.shape[0]))
        # uniform: sums of 0/1 labels stay exact, so label ties stay ties
        return np.asarray(members @ values) / weight.sum(axis=1, keepdims=True)

    def _similarities(self, X: Any, neighbours: np.ndarray) -> np.ndarray:
        """``[n, k]`` cosine similarity of each query to its neighbours, clipped at 0 (plus 1e-9: no zero row)."""
        unit, train = normalize(X), normalize(self.X_fit_)
        out = np.empty(neighbours.shape)
        for start in range(0, neighbours.shape[0], 256):
            rows = slice(start, start + 256)
            block = unit[rows] @ train.T  # [rows, n_train]
            block = block.toarray() if sp.issparse(block) else np.asarray(block)
            out[rows] = np.take_along_axis(block, neighbours[rows], axis=1)
        return np.clip(out, 0.0, None) + 1e-9

    def _estimate(self, X: Any, tasks: np.ndarray | None) -> np.ndarray:
        return self._mean(X, self.values_)

    def predict_cost(self, X: Any, tasks: Any = None) -> np.ndarray:
        """The neighbours' mean cost (``target="scores"`` fitted with cost), else the training mean."""
        if self.train_cost_ is None:
            return super().predict_cost(X, tasks)
        return self._mean(self._check_features(X), self.train_cost_)

    def _load_state(self, state: dict[str, Any]) -> None:
        state.setdefault("train_cost_", None)
        super()._load_state(state)
        self.index_ = Neighbours(self.X_fit_, self.metric)
