"""A threshold cascade: the cheapest candidate predicted right with probability at least τ, else the fallback.

Per candidate a logistic ``P(correct | x)`` (correct: performance > 0.5) is fitted on the training features;
the fallback is the best single candidate on train (highest mean performance, ties to the cheapest). A query
goes to the cheapest candidate (by mean training cost) that is cheaper than the fallback and whose
``P(correct) >= τ``; when none is, to the fallback. Cost is paid once: the router decides before any call.

``threshold="auto"`` chooses τ on a validation part of train (``validation_size``, seeded by
``random_state``), like :func:`~fusionbench.fusion.calibrate`'s ``target_accuracy``: the predictors are fitted
on the rest, every τ of :data:`THRESHOLDS` is applied to the validation queries, and τ is the cheapest whose
validation accuracy reaches the target (``"best_single"``: the validation accuracy of the best single candidate
of the fitting part minus ``tolerance``; or an accuracy); then everything is refitted on all of train. When
no τ reaches the target the router always takes the fallback (τ = :data:`NEVER`). ``validation_`` records the
target, the chosen point, the whole curve and each predictor's validation AUROC (how far from chance the
correctness signal is: near 0.5 means no τ can save much).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from fusionbench.fusion.routers.base import BaseRouter, FitData, RouterTags
from fusionbench.fusion.routers.registry import register_router
from fusionbench.fusion.routers.tradeoffs import argmax_cheapest

#: The τ grid ``threshold="auto"`` searches.
THRESHOLDS = tuple(float(t) for t in np.round(np.arange(0.5, 1.001, 0.01), 2))
#: A τ no probability reaches: every query goes to the fallback.
NEVER = 1.01


def validation_split(n: int, validation_size: float, random_state: int | None) -> tuple[np.ndarray, np.ndarray]:
    """``(fit_rows, validation_rows)``: a seeded random split of ``n`` training rows (each part non-empty)."""
    if not 0.0 < validation_size < 1.0:
        raise ValueError(f"validation_size must lie in (0, 1), not {validation_size!r}")
    if n < 4:
        raise ValueError(f"threshold='auto' needs at least 4 training queries to hold some out, not {n}")
    order = np.random.default_rng(random_state).permutation(n)
    size = min(max(round(validation_size * n), 1), n - 2)
    return np.sort(order[size:]), np.sort(order[:size])


def best_single(P: np.ndarray, C: np.ndarray) -> int:
    """The candidate with the highest mean performance, ties to the lowest mean cost (the routers' tie rule)."""
    return int(argmax_cheapest(P.mean(axis=0)[None], C.mean(axis=0)[None])[0])


def cascade_order(unit_cost: np.ndarray, fallback: int) -> np.ndarray:
    """The candidates cheaper than ``fallback``, cheapest first: the order the cascade tries them in."""
    order = np.argsort(unit_cost, kind="stable")
    return np.array([j for j in order if j != fallback and unit_cost[j] < unit_cost[fallback]], dtype=np.int64)


def cascade_picks(probs: np.ndarray, order: np.ndarray, fallback: int, threshold: float) -> np.ndarray:
    """Per query the first candidate of ``order`` whose ``probs >= threshold``, else ``fallback``."""
    picks = np.full(len(probs), fallback, dtype=np.int64)
    undecided = np.ones(len(probs), dtype=bool)
    for j in order:
        take = undecided & (probs[:, j] >= threshold)
        picks[take], undecided = j, undecided & ~take
    return picks


@register_router("cascade")
class CascadeRouter(BaseRouter):
    """The cheapest candidate whose predicted ``P(correct) >= τ``, else the best single (see the module docstring).

    ``threshold``: τ, or ``"auto"`` (chosen on ``validation_size`` of train for ``target_accuracy``:
    ``"best_single"`` less ``tolerance``, or an accuracy); ``C``: the logistic regressions' inverse penalty.
    Fitted: ``threshold_``, ``fallback_`` (index), ``order_`` (the cheaper candidates, cheapest first),
    ``coef_`` ``[k, d]`` / ``intercept_`` ``[k]`` of the predictors, ``constant_`` ``[k]`` (the training rate of
    a candidate right on all or no training queries, else NaN) and ``validation_`` (``None`` for a given τ).
    ``predict_performance`` is ``P(correct)``; ``predict_utility`` a score whose argmax is the cascade's
    choice: ``3·(m − rank) + P`` for an accepted cheaper candidate, ``1.5 + P`` for the fallback, ``P`` else.
    """

    router_tags = RouterTags(needs_cost=True, applies_tradeoff=False)

    def __init__(
        self,
        threshold: float | Literal["auto"] = "auto",
        target_accuracy: float | Literal["best_single"] = "best_single",
        tolerance: float = 0.01,
        validation_size: float = 0.25,
        C: float = 1.0,
        random_state: int | None = 0,
        missing: str = "raise",
    ) -> None:
        self.threshold = threshold
        self.target_accuracy = target_accuracy
        self.tolerance = tolerance
        self.validation_size = validation_size
        self.C = C
        self.random_state = random_state
        self.missing = missing

    # ------------------------------------------------------------ fit
    def _check_params(self) -> None:
        if self.threshold != "auto" and not (
            isinstance(self.threshold, (int, float)) and 0.0 <= float(self.threshold) <= NEVER
        ):
            raise ValueError(f"threshold must be 'auto' or a number in [0, {NEVER}], not {self.threshold!r}")
        target = self.target_accuracy
        if target != "best_single" and not (isinstance(target, (int, float)) and 0.0 <= float(target) <= 1.0):
            raise ValueError(f"target_accuracy must be 'best_single' or an accuracy in [0, 1], not {target!r}")
        if not self.C > 0:
            raise ValueError(f"C must be > 0, not {self.C!r}")

    def _predictors(self, X: Any, P: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(coef, intercept, constant)``: one logistic regression of ``P > 0.5`` per candidate."""
        from sklearn.linear_model import LogisticRegression

        k = P.shape[1]
        coef, intercept, constant = np.zeros((k, X.shape[1])), np.zeros(k), np.full(k, np.nan)
        for j in range(k):
            y = (P[:, j] > 0.5).astype(int)
            if y.min() == y.max():
                constant[j] = float(y[0])
                continue
            model = LogisticRegression(C=self.C, max_iter=2000).fit(X, y)
            coef[j], intercept[j] = model.coef_[0], model.intercept_[0]
        return coef, intercept, constant

    @staticmethod
    def _probs(X: Any, coef: np.ndarray, intercept: np.ndarray, constant: np.ndarray) -> np.ndarray:
        logits = np.asarray(X @ coef.T) + intercept
        probs = 1.0 / (1.0 + np.exp(-np.clip(logits, -500, 500)))
        return np.where(np.isnan(constant), probs, constant)

    def _fit(self, data: FitData) -> None:
        self._check_params()
        assert data.cost is not None  # router_tags.needs_cost
        P, C = data.performance, data.cost
        self.validation_ = None
        if self.threshold == "auto":
            self.threshold_, self.validation_ = self._choose_threshold(data.X, P, C)
        else:
            self.threshold_ = float(self.threshold)
        self.fallback_ = best_single(P, C)
        self.order_ = cascade_order(C.mean(axis=0), self.fallback_)
        self.coef_, self.intercept_, self.constant_ = self._predictors(data.X, P)

    def _choose_threshold(self, X: Any, P: np.ndarray, C: np.ndarray) -> tuple[float, dict[str, Any]]:
        """τ on a validation part of train (see the module docstring) and the record of the choice."""
        from sklearn.metrics import roc_auc_score

        fit_rows, val_rows = validation_split(P.shape[0], self.validation_size, self.random_state)
        fallback = best_single(P[fit_rows], C[fit_rows])
        order = cascade_order(C[fit_rows].mean(axis=0), fallback)
        probs = self._probs(X[val_rows], *self._predictors(X[fit_rows], P[fit_rows]))
        Pv, Cv, rows = P[val_rows], C[val_rows], np.arange(len(val_rows))
        if self.target_accuracy == "best_single":
            target = float(Pv[:, fallback].mean()) - float(self.tolerance)
        else:
            target = float(self.target_accuracy)
        curve = []
        for tau in THRESHOLDS:
            picks = cascade_picks(probs, order, fallback, tau)
            curve.append((tau, float(Pv[rows, picks].mean()), float(Cv[rows, picks].mean())))
        accuracy, cost = np.array([c[1] for c in curve]), np.array([c[2] for c in curve])
        ok = np.flatnonzero(accuracy >= target - 1e-12)
        chosen = int(ok[np.lexsort((-accuracy[ok], cost[ok]))[0]]) if len(ok) else None
        right = Pv > 0.5
        auroc = [
            float(roc_auc_score(right[:, j], probs[:, j])) if 0 < right[:, j].sum() < len(right) else None
            for j in range(P.shape[1])
        ]
        threshold = NEVER if chosen is None else curve[chosen][0]
        fallback_cost = float(Cv[:, fallback].mean())
        record = {
            "n_fit": len(fit_rows),
            "n_validation": len(val_rows),
            "fallback": int(fallback),
            "target_accuracy": target,
            "feasible": chosen is not None,
            "threshold": threshold,
            "accuracy": float(accuracy[chosen]) if chosen is not None else float(Pv[:, fallback].mean()),
            "cost": float(cost[chosen]) if chosen is not None else fallback_cost,
            "fallback_accuracy": float(Pv[:, fallback].mean()),
            "fallback_cost": fallback_cost,
            "auroc": auroc,
            "curve": {"threshold": list(THRESHOLDS), "accuracy": accuracy.tolist(), "cost": cost.tolist()},
        }
        return threshold, record

    # ------------------------------------------------------------ predict
    def predict_correct(self, X: Any) -> np.ndarray:
        """``[n, k]`` predicted probability that each candidate answers each query right."""
        return self._probs(self._check_features(X), self.coef_, self.intercept_, self.constant_)

    def _estimate(self, X: Any, tasks: np.ndarray | None) -> np.ndarray:
        return self._probs(X, self.coef_, self.intercept_, self.constant_)

    def predict_utility(self, X: Any, *, tradeoff: Any = None, tasks: Any = None) -> np.ndarray:
        """``[n, k]`` a score whose argmax is the cascade's choice (see the class docstring)."""
        probs = super().predict_utility(X, tradeoff=tradeoff, tasks=tasks)
        utility = probs.copy()
        m = len(self.order_)
        for rank, j in enumerate(self.order_):
            accepted = probs[:, j] >= self.threshold_
            utility[accepted, j] += 3.0 * (m - rank)
        utility[:, self.fallback_] += 1.5
        return utility

    def route_at(self, X: Any, threshold: float) -> np.ndarray:
        """The cascade's choices at another τ (a sweep without refitting)."""
        return cascade_picks(self.predict_correct(X), self.order_, self.fallback_, float(threshold))
