"""The two-model view (RouteLLM): a strong and a weak candidate, a strong-win-rate from any router, a threshold."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import clone

from fusionbench.fusion.routers.base import BaseRouter, FitData, RouterTags
from fusionbench.fusion.routers.linear import LinearRouter
from fusionbench.fusion.routers.registry import register_router


@register_router("pair")
class PairRouter(BaseRouter):
    """Route between ``strong`` and ``weak`` (names or column indices of ``Y``) with any fusionbench router.

    The base ``router`` (default ``LinearRouter()``) is fitted on the two candidates' columns alone; the
    strong-win-rate of a query is ``0.5 + 0.5 · (u_strong - u_weak)`` from the base router's utilities (a
    probability-like score: only its order matters to a sweep). A query goes to the strong model when its win
    rate is ``>= threshold`` (RouteLLM's rule). Defaults: strong = the best mean on train; weak = the
    cheapest mean cost (with cost), else the worst mean. ``candidates_`` are all of ``Y``'s columns, so
    ``predict`` indexes the full matrix. :meth:`sweep` runs RouteLLM's threshold sweep (APGR, CPT).
    """

    router_tags = RouterTags(applies_tradeoff=False)

    def __init__(
        self,
        router: BaseRouter | None = None,
        strong: str | int | None = None,
        weak: str | int | None = None,
        threshold: float = 0.5,
        missing: str = "raise",
    ) -> None:
        self.router = router
        self.strong = strong
        self.weak = weak
        self.threshold = threshold
        self.missing = missing

    def _index(self, value: str | int, role: str) -> int:
        names = list(self.candidates_)
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            if not 0 <= int(value) < len(names):
                raise ValueError(f"{role}={value} is not a column index in [0, {len(names)})")
            return int(value)
        if value not in names:
            raise ValueError(f"{role}={value!r} is not a candidate; candidates are {names}")
        return names.index(value)

    def _fit(self, data: FitData) -> None:
        means = data.target.mean(axis=0)
        strong = int(np.argmax(means)) if self.strong is None else self._index(self.strong, "strong")
        if self.weak is not None:
            weak = self._index(self.weak, "weak")
        elif data.cost is not None:
            weak = int(np.argmin(data.cost.mean(axis=0)))
        else:
            weak = int(np.argmin(means))
        if strong == weak:
            raise ValueError(f"strong and weak are the same candidate ({self.candidates_[strong]!r}): give both")
        self.strong_index_, self.weak_index_ = strong, weak
        columns = [weak, strong]
        base = clone(self.router) if self.router is not None else LinearRouter()
        self.router_ = base.fit(
            data.X,
            data.target[:, columns],
            cost=None if data.cost is None else data.cost[:, columns],
            tasks=data.tasks,
            candidates=[str(self.candidates_[weak]), str(self.candidates_[strong])],
        )

    def strong_win_rate(self, X: Any, tasks: Any = None) -> np.ndarray:
        """``[n]`` the strong model's win rate per query: ``0.5 + 0.5 · (u_strong - u_weak)``."""
        features = self._check_features(X)
        utility = self.router_.predict_utility(features, tasks=self._resolve_tasks(features, tasks))
        return 0.5 + 0.5 * (utility[:, 1] - utility[:, 0])

    def _estimate(self, X: Any, tasks: np.ndarray | None) -> np.ndarray:
        """``[n, k]``: the win rate in the strong column, its complement in the weak one, -inf elsewhere."""
        rate = self.strong_win_rate(X, tasks)
        out = np.full((X.shape[0], len(self.candidates_)), -np.inf)
        out[:, self.strong_index_], out[:, self.weak_index_] = rate, 1.0 - rate
        return out

    def route(self, X: Any, *, tradeoff: Any = None, tasks: Any = None, threshold: float | None = None) -> np.ndarray:
        """Strong where the win rate is ``>= threshold`` (default ``self.threshold``), else weak."""
        if tradeoff is not None:
            raise ValueError("PairRouter routes by threshold, not by trade-off: pass threshold=")
        rate = self.strong_win_rate(X, tasks)
        cut = self.threshold if threshold is None else threshold
        return np.where(rate >= cut, self.strong_index_, self.weak_index_)

    def threshold_for_strong_share(self, X: Any, share: float, tasks: Any = None) -> float:
        """The threshold that sends ``share`` of these queries to the strong model (RouteLLM's calibration:
        the ``1 - share`` quantile of the win rates)."""
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"share must lie in [0, 1], not {share}")
        return float(np.quantile(self.strong_win_rate(X, tasks), 1.0 - share))

    def sweep(self, X: Any, Y: Any, tasks: Any = None, n_thresholds: int = 10) -> dict[str, Any]:
        """RouteLLM's threshold sweep on ``(X, Y)``: :func:`fusionbench.metrics.threshold_sweep`."""
        from fusionbench.metrics.sweep import threshold_sweep

        rate = self.strong_win_rate(X, tasks)
        perf = np.asarray(Y, dtype=np.float64)
        if perf.ndim != 2 or perf.shape != (len(rate), len(self.candidates_)):
            raise ValueError(f"Y must be [{len(rate)}, {len(self.candidates_)}], got {perf.shape}")
        return threshold_sweep(perf[:, self.strong_index_], perf[:, self.weak_index_], rate, n_thresholds=n_thresholds)
