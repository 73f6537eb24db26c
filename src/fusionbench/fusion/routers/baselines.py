"""Baseline routers: the best single candidate, a random choice, and the oracle (an evaluation bound)."""

from __future__ import annotations

from typing import Any

import numpy as np

from fusionbench.fusion.routers.base import BaseRouter, FitData, RouterTags, fingerprint
from fusionbench.fusion.routers.registry import register_router
from fusionbench.fusion.routers.tradeoffs import Tradeoff


@register_router("best_single")
class BestSingleRouter(BaseRouter):
    """Always the candidate with the best mean training reward under ``tradeoff`` (cheapest mean among ties).

    Its utility is the training mean of the objective, the same for every query, so routing it under any
    trade-off picks the best single candidate for that trade-off. Cost estimates ignore tasks (a per-task
    choice is :class:`PerTaskRouter`).
    """

    router_tags = RouterTags(requires_features=False)

    def __init__(self, tradeoff: Tradeoff | str = "performance_first", missing: str = "raise") -> None:
        self.tradeoff = tradeoff
        self.missing = missing

    def _fit(self, data: FitData) -> None:
        self.mean_ = data.target.mean(axis=0)

    def _estimate(self, X: Any, tasks: np.ndarray | None) -> np.ndarray:
        return np.tile(self.mean_, (X.shape[0], 1))

    def predict_cost(self, X: Any, tasks: Any = None) -> np.ndarray:
        """The training mean cost per candidate (tasks are ignored: one choice for every query)."""
        return super().predict_cost(X, None)


@register_router("random")
class RandomRouter(BaseRouter):
    """A uniform random candidate per query, seeded by ``random_state`` (the same X gives the same choices).

    ``predict_utility`` is a uniform random score per (query, candidate), so a pair view of this router is
    RouteLLM's random router; ``choice_probabilities`` is the expectation (1/k each), which is what the
    evaluation's ``random`` baseline reports. No trade-off applies.
    """

    router_tags = RouterTags(requires_features=False, applies_tradeoff=False)

    def __init__(self, random_state: int | None = 0, missing: str = "raise") -> None:
        self.random_state = random_state
        self.missing = missing

    def _fit(self, data: FitData) -> None:
        self.n_candidates_ = data.target.shape[1]

    def _estimate(self, X: Any, tasks: np.ndarray | None) -> np.ndarray:
        return np.random.default_rng(self.random_state).random((X.shape[0], self.n_candidates_))

    def choice_probabilities(self, X: Any) -> np.ndarray:
        """``[n, k]`` probability of each candidate: 1/k."""
        features = self._check_features(X)
        return np.full((features.shape[0], self.n_candidates_), 1.0 / self.n_candidates_)


@register_router("oracle")
class OracleRouter(BaseRouter):
    """The per-query best candidate from the true performance: an upper bound for evaluation, not a router.

    ``fit(X, Y, cost=...)`` is given the split being *evaluated*; ``predict`` then answers only for that same
    ``X`` (checked by fingerprint) and refuses any other, since it reads the true performance. Under a
    trade-off it maximises the true reward; ties go to the cheapest true cost.
    """

    router_tags = RouterTags(reads_truth=True)

    def __init__(self, tradeoff: Tradeoff | str = "performance_first", missing: str = "raise") -> None:
        self.tradeoff = tradeoff
        self.missing = missing

    def _fit(self, data: FitData) -> None:
        self.features_fingerprint_ = fingerprint(data.X)
        self.target_ = data.target
        self.cost_ = data.cost
        self.tasks_ = data.tasks

    def _same_queries(self, X: Any) -> None:
        if fingerprint(X) != self.features_fingerprint_:
            raise ValueError(
                "OracleRouter answers only for the queries it was fitted on (it reads their true performance): "
                "fit it on the split you evaluate, with that split's X"
            )

    def _estimate(self, X: Any, tasks: np.ndarray | None) -> np.ndarray:
        self._same_queries(X)
        return self.target_

    def predict_cost(self, X: Any, tasks: Any = None) -> np.ndarray:
        """The true cost of the evaluated queries."""
        features = self._check_features(X)
        self._same_queries(features)
        if self.cost_ is None:
            raise ValueError("OracleRouter was fitted without cost: pass cost= to fit")
        return self.cost_

    def predict_utility(self, X: Any, *, tradeoff: Any = None, tasks: Any = None) -> np.ndarray:
        """The true reward; tasks default to the fitted ones (for per-task normalisation)."""
        return super().predict_utility(X, tradeoff=tradeoff, tasks=self.tasks_ if tasks is None else tasks)

    def _load_state(self, state: dict[str, Any]) -> None:
        state.setdefault("cost_", None)
        tasks = state.get("tasks_")
        state["tasks_"] = None if tasks is None else np.asarray(tasks, dtype=object)
        super()._load_state(state)
