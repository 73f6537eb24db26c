"""CARROT: cost-aware routing with a performance estimator and a cost estimator, traded off by λ."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from sklearn.base import clone
from sklearn.utils.validation import check_is_fitted

from fusionbench.fusion.routers.base import BaseRouter, FitData, RouterTags, fingerprint
from fusionbench.fusion.routers.knn import KNNRouter
from fusionbench.fusion.routers.registry import register_router
from fusionbench.fusion.routers.tradeoffs import Tradeoff, argmax_cheapest


@register_router("carrot")
class CarrotRouter(BaseRouter):
    """Route to ``argmax_m (1 - λ)·P̂(x, m) - λ·scale·Ĉ(x, m)`` (CARROT, ``carrot/train_and_infer.py``).

    ``perf`` estimates the objective and ``cost_model`` the USD cost; both are fusionbench score routers
    (default: ``KNNRouter(n_neighbors="cv")`` each, CARROT-KNN, k by 5-fold CV over 2¹..2⁹). The cost model
    learns each candidate's cost standardised over the training queries (as CARROT does for RouterBench),
    and its estimate is mapped back to USD, floored at 0. ``lam`` in [0, 1] (0 = performance only, 1 = cost
    only) is read at prediction time, so ``set_params(lam=...)`` needs no refit; ``scale="auto"`` makes one unit
    of cost the most expensive candidate's mean training cost (``scale_``). ``route_sweep`` gives the choices
    for many λ at once (the cost-accuracy curve; :func:`fusionbench.fusion.calibrate` picks λ on validation).
    """

    router_tags = RouterTags(needs_cost=True)

    def __init__(
        self,
        perf: BaseRouter | None = None,
        cost_model: BaseRouter | None = None,
        lam: float = 0.5,
        scale: float | Literal["auto"] = "auto",
        missing: str = "raise",
    ) -> None:
        self.perf = perf
        self.cost_model = cost_model
        self.lam = lam
        self.scale = scale
        self.missing = missing

    def _tradeoff_param(self) -> Tradeoff:
        return Tradeoff.carrot(self.lam)

    def _fit(self, data: FitData) -> None:
        if not 0.0 <= float(self.lam) <= 1.0:
            raise ValueError(f"lam must lie in [0, 1], not {self.lam}")
        assert data.cost is not None  # router_tags.needs_cost
        names = list(self.candidates_)
        self.perf_ = clone(self.perf) if self.perf is not None else KNNRouter(n_neighbors="cv")
        if self.perf_._label_target:
            raise ValueError("CarrotRouter's perf estimator must estimate scores (target='scores'), not labels")
        self.perf_.fit(data.X, data.target, tasks=data.tasks, candidates=names)
        self.cost_shift_ = data.cost.mean(axis=0)
        spread = data.cost.std(axis=0)
        self.cost_spread_ = np.where(spread > 0, spread, 1.0)
        standardised = (data.cost - self.cost_shift_) / self.cost_spread_
        self.cost_model_ = clone(self.cost_model) if self.cost_model is not None else KNNRouter(n_neighbors="cv")
        if self.cost_model_._label_target:
            raise ValueError("CarrotRouter's cost model must estimate scores (target='scores'), not labels")
        self.cost_model_.fit(data.X, standardised, tasks=data.tasks, candidates=names)
        self._share_neighbours()
        if self.scale == "auto":
            top = float(self.cost_shift_.max())
            if top <= 0:
                raise ValueError("every candidate's mean training cost is 0: give scale= explicitly")
            self.scale_ = 1.0 / top
        else:
            self.scale_ = float(self.scale)

    def _share_neighbours(self) -> None:
        """Two kNN estimators on the same training features search once: one index, asked for the larger k."""
        perf, cost = self.perf_, self.cost_model_
        if not (isinstance(perf, KNNRouter) and isinstance(cost, KNNRouter)) or perf.metric != cost.metric:
            return
        if perf.X_fit_ is not cost.X_fit_ and fingerprint(perf.X_fit_) != fingerprint(cost.X_fit_):
            return
        cost.index_ = perf.index_
        perf.index_.k_hint = max(perf.n_neighbors_, cost.n_neighbors_)

    def _load_state(self, state: dict[str, Any]) -> None:
        super()._load_state(state)
        self._share_neighbours()

    def _estimate(self, X: Any, tasks: np.ndarray | None) -> np.ndarray:
        return self.perf_.predict_performance(X, tasks=tasks)

    def predict_cost(self, X: Any, tasks: Any = None) -> np.ndarray:
        """``[n, k]`` estimated USD cost from the cost model (floored at 0)."""
        features = self._check_features(X)
        standardised = self.cost_model_.predict_performance(features, tasks=self._resolve_tasks(features, tasks))
        return np.maximum(standardised * self.cost_spread_ + self.cost_shift_, 0.0)

    def carrot_tradeoff(self, lam: float | None = None) -> Tradeoff:
        """The trade-off at ``lam`` (default: the current ``lam``) with the fitted ``scale_``."""
        check_is_fitted(self, "scale_")
        return Tradeoff.carrot(self.lam if lam is None else lam, self.scale_)

    def predict_utility(
        self, X: Any, *, tradeoff: Any = None, tasks: Any = None, lam: float | None = None
    ) -> np.ndarray:
        """``(1 - λ)·P̂ - λ·scale·Ĉ`` at ``lam`` (default ``self.lam``), or under an explicit ``tradeoff``."""
        if tradeoff is None:
            tradeoff = self.carrot_tradeoff(lam)
        return super().predict_utility(X, tradeoff=tradeoff, tasks=tasks)

    def route(self, X: Any, *, tradeoff: Any = None, tasks: Any = None, lam: float | None = None) -> np.ndarray:
        """Candidate index per query at ``lam`` (default ``self.lam``); ties to the lowest predicted cost."""
        return super().route(X, tradeoff=self.carrot_tradeoff(lam) if tradeoff is None else tradeoff, tasks=tasks)

    def route_sweep(self, X: Any, lams: Any = None, tasks: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """``(lams, choices)``: the choice per query ``[len(lams), n]`` at each λ (default 101 points in [0, 1]),
        with the estimates computed once."""
        lam_grid = np.linspace(0.0, 1.0, 101) if lams is None else np.asarray(lams, dtype=np.float64)
        if lam_grid.ndim != 1 or (lam_grid < 0).any() or (lam_grid > 1).any():
            raise ValueError("lams must be a vector of values in [0, 1]")
        features = self._check_features(X)
        task_array = self._resolve_tasks(features, tasks)
        perf = self._estimate(features, task_array)
        cost = self.predict_cost(features, task_array)
        choices = np.stack([argmax_cheapest((1.0 - lam) * perf - lam * self.scale_ * cost, cost) for lam in lam_grid])
        return lam_grid, choices
