"""Linear routing: one linear model per candidate (ridge, logistic, or linear SVR), kept as plain arrays."""

from __future__ import annotations

import warnings
from typing import Any, Literal

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.svm import LinearSVR

from fusionbench.fusion.routers.base import BaseRouter, FitData
from fusionbench.fusion.routers.tradeoffs import LabelMode, Tradeoff


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


class LinearRouter(BaseRouter):
    """Per-candidate linear estimates of the objective (or of the one-hot label with ``target="labels"``).

    * ``kind="ridge"``: one multi-output ridge regression (MSE on correctness: Bench-CoE's query-level
      objective with a linear head);
    * ``kind="logistic"``: a logistic regression per candidate on 0/1 targets; the estimate is P(correct). A
      candidate that is always (never) right on train gets the constant 1 (0);
    * ``kind="linear_svr"``: a ``LinearSVR`` per candidate: FusionFactory's SVM router (which regresses the
      one-hot label: ``target="labels"``, ``labels="argmax_first"``).

    The fitted model is ``coef_`` ``[k, d]`` and ``intercept_`` ``[k]``; prediction is ``X @ coef_.T +
    intercept_`` (through a sigmoid for logistic), so a saved router needs no pickle.
    """

    def __init__(
        self,
        kind: Literal["ridge", "logistic", "linear_svr"] = "ridge",
        alpha: float = 1.0,
        C: float = 1.0,
        target: Literal["scores", "labels"] = "scores",
        labels: LabelMode = "auto",
        tradeoff: Tradeoff | str = "performance_first",
        max_iter: int = 1000,
        random_state: int | None = 0,
        missing: str = "raise",
    ) -> None:
        self.kind = kind
        self.alpha = alpha
        self.C = C
        self.target = target
        self.labels = labels
        self.tradeoff = tradeoff
        self.max_iter = max_iter
        self.random_state = random_state
        self.missing = missing

    def _fit(self, data: FitData) -> None:
        if self.target not in ("scores", "labels"):
            raise ValueError(f"target must be 'scores' or 'labels', not {self.target!r}")
        values = self._labels(data) if self.target == "labels" else data.target
        d, k = data.X.shape[1], values.shape[1]
        coef, intercept = np.zeros((k, d)), np.zeros(k)
        if self.kind == "ridge":
            model = Ridge(alpha=self.alpha).fit(data.X, values)
            coef, intercept = np.asarray(model.coef_).reshape(k, d), np.asarray(model.intercept_).reshape(k)
        elif self.kind == "logistic":
            if not np.isin(values, (0.0, 1.0)).all():
                raise ValueError("kind='logistic' needs 0/1 targets (correctness); use kind='ridge' for scores")
            for j in range(k):
                column = values[:, j]
                if column.min() == column.max():  # one class on train: a constant probability
                    intercept[j] = np.inf if column[0] == 1.0 else -np.inf
                    continue
                model = LogisticRegression(C=self.C, max_iter=self.max_iter).fit(data.X, column)
                coef[j], intercept[j] = model.coef_[0], model.intercept_[0]
        elif self.kind == "linear_svr":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                for j in range(k):
                    model = LinearSVR(
                        C=self.C, epsilon=0.0, max_iter=self.max_iter, random_state=self.random_state, dual="auto"
                    ).fit(data.X, values[:, j])
                    coef[j], intercept[j] = model.coef_, np.asarray(model.intercept_).reshape(-1)[0]
        else:
            raise ValueError(f"kind must be 'ridge', 'logistic' or 'linear_svr', not {self.kind!r}")
        self.coef_, self.intercept_ = coef, intercept

    def _estimate(self, X: Any, tasks: np.ndarray | None) -> np.ndarray:
        scores = np.asarray(X @ self.coef_.T) + self.intercept_
        return _sigmoid(scores) if self.kind == "logistic" else scores

    def _state(self) -> dict[str, Any]:
        return {"coef_": self.coef_, "intercept_": self.intercept_}
