"""Routing scorers for scikit-learn's model selection (``cross_val_score``, ``GridSearchCV``).

``routing_scorer(metric)`` is a scorer ``(estimator, X, Y) -> float`` (greater is better) on the fold's
performance matrix ``Y``:

* ``"mean_performance"``: mean performance of the routed candidates (the routers' ``score``);
* ``"pgr"``: the gap recovered between the fold's worst and best single candidate (or ``strong``/``weak``);
* ``"reward"``: the mean trade-off reward of the routed candidates (the given trade-off, else the router's
  own with its training normalisation); needs ``cost`` when the trade-off weighs it;
* ``"neg_mean_cost"``: minus the mean USD cost of the routed candidates; needs ``cost``.

``cost`` (and ``tasks``) reach a scorer through scikit-learn's metadata routing::

    sklearn.set_config(enable_metadata_routing=True)
    router = KNNRouter(tradeoff="balance").set_fit_request(cost=True)
    cross_val_score(router, X, Y, scoring=routing_scorer("reward"), params={"cost": cost})

The scorer requests ``cost`` and ``tasks`` for ``score``; they are sliced to each test fold.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fusionbench.fusion.routers.tradeoffs import Tradeoff
from fusionbench.metrics.routing import pgr

METRICS = ("mean_performance", "pgr", "reward", "neg_mean_cost")


class RoutingScorer:
    """A callable scorer; see :func:`routing_scorer`."""

    def __init__(self, metric: str, strong: int | None = None, weak: int | None = None, tradeoff: Any = None) -> None:
        if metric not in METRICS:
            raise ValueError(f"unknown routing metric {metric!r}; known: {list(METRICS)}")
        self.metric = metric
        self.strong = strong
        self.weak = weak
        self.tradeoff = tradeoff

    def __repr__(self) -> str:
        return f"routing_scorer({self.metric!r})"

    def get_metadata_routing(self) -> Any:
        """Requests ``cost`` and ``tasks`` for ``score`` (used when metadata routing is enabled)."""
        from sklearn.utils.metadata_routing import MetadataRequest

        request = MetadataRequest(owner=repr(self))
        request.score.add_request(param="cost", alias=True)
        request.score.add_request(param="tasks", alias=True)
        return request

    def __call__(self, estimator: Any, X: Any, Y: Any, cost: Any = None, tasks: Any = None) -> float:
        choices = np.asarray(estimator.predict(X) if tasks is None else estimator.predict(X, tasks=tasks))
        perf = np.asarray(Y, dtype=np.float64)
        if perf.ndim != 2 or perf.shape[0] != len(choices):
            raise ValueError(f"Y must be [{len(choices)}, n_candidates], got {perf.shape}")
        rows = np.arange(len(choices))
        if self.metric == "mean_performance":
            return float(perf[rows, choices].mean())
        if self.metric == "pgr":
            means = perf.mean(axis=0)
            strong = int(np.argmax(means)) if self.strong is None else int(self.strong)
            weak = int(np.argmin(means)) if self.weak is None else int(self.weak)
            return float(pgr(perf[rows, choices].mean(), means[strong], means[weak]))  # the metrics' PGR
        cst = None if cost is None else np.asarray(cost, dtype=np.float64)
        if self.metric == "neg_mean_cost":
            if cst is None:
                raise ValueError("routing_scorer('neg_mean_cost') needs cost: enable metadata routing, pass params")
            return -float(cst[rows, choices].mean())
        router = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
        tradeoff = Tradeoff.parse(self.tradeoff) if self.tradeoff is not None else router.tradeoff_
        if tradeoff.normalize == "train" and tradeoff.stats is None:
            tradeoff = router._fitted_tradeoff(tradeoff)
        if tradeoff.uses_cost and cst is None:
            raise ValueError(
                f"routing_scorer('reward') under {tradeoff.name!r} needs cost: enable metadata routing "
                "(sklearn.set_config(enable_metadata_routing=True)) and pass params={'cost': cost}"
            )
        reward = tradeoff.reward(perf, cst, None if tasks is None else np.asarray(tasks, dtype=object))
        return float(reward[rows, choices].mean())


def routing_scorer(
    metric: str = "mean_performance", *, strong: int | None = None, weak: int | None = None, tradeoff: Any = None
) -> RoutingScorer:
    """A scikit-learn scorer for routers: ``mean_performance``, ``pgr``, ``reward`` or ``neg_mean_cost``."""
    return RoutingScorer(metric, strong, weak, tradeoff)
