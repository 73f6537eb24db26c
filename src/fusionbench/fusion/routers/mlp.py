"""MLP routing: scikit-learn's MLPRegressor on the candidates' objective (or one-hot labels), kept as arrays."""

from __future__ import annotations

import warnings
from typing import Any, Literal

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPRegressor

from fusionbench.fusion.routers.base import BaseRouter, FitData
from fusionbench.fusion.routers.registry import register_router
from fusionbench.fusion.routers.tradeoffs import LabelMode, Tradeoff

_ACTIVATIONS = {
    "relu": lambda z: np.maximum(z, 0.0),
    "tanh": np.tanh,
    "logistic": lambda z: 0.5 * (1.0 + np.tanh(0.5 * z)),
    "identity": lambda z: z,
}


def mlp_forward(X: Any, coefs: list[np.ndarray], intercepts: list[np.ndarray], activation: str) -> np.ndarray:
    """An MLPRegressor's prediction from its weights: hidden layers through ``activation``, linear output."""
    hidden = X
    for i, (weights, bias) in enumerate(zip(coefs, intercepts, strict=True)):
        hidden = np.asarray(hidden @ weights) + bias
        if i < len(coefs) - 1:
            hidden = _ACTIVATIONS[activation](hidden)
    return hidden


@register_router("mlp")
class MLPRouter(BaseRouter):
    """A multi-output ``MLPRegressor`` from features to every candidate's objective (``target="scores"``) or
    one-hot label (``target="labels"``); ``per_candidate=True`` fits one network per candidate instead.

    :meth:`fusionfactory` is FusionFactory's RouterMLP as its ``main()`` runs it: hidden (1,), lr 1e-3,
    alpha 0.01, relu, early stopping on 10 %, 500 iterations, one network per candidate on the one-hot label
    with first-in-row-order ties. The fitted weights are ``coefs_``/``intercepts_`` (one list per network), and
    prediction runs from them, so a saved router needs no pickle.
    """

    def __init__(
        self,
        hidden_layer_sizes: tuple[int, ...] = (100,),
        activation: Literal["relu", "tanh", "logistic", "identity"] = "relu",
        alpha: float = 1e-4,
        learning_rate_init: float = 1e-3,
        max_iter: int = 200,
        early_stopping: bool = True,
        validation_fraction: float = 0.1,
        batch_size: int | Literal["auto"] = "auto",
        per_candidate: bool = False,
        target: Literal["scores", "labels"] = "scores",
        labels: LabelMode = "auto",
        tradeoff: Tradeoff | str = "performance_first",
        random_state: int | None = 0,
        missing: str = "raise",
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.alpha = alpha
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.batch_size = batch_size
        self.per_candidate = per_candidate
        self.target = target
        self.labels = labels
        self.tradeoff = tradeoff
        self.random_state = random_state
        self.missing = missing

    @classmethod
    def fusionfactory(cls, tradeoff: str = "performance_first", random_state: int | None = 1234) -> MLPRouter:
        """FusionFactory's RouterMLP settings (``router_bench_baseline``'s ``main()``) under the release protocol."""
        return cls(
            hidden_layer_sizes=(1,),
            alpha=0.01,
            learning_rate_init=1e-3,
            max_iter=500,
            early_stopping=True,
            validation_fraction=0.1,
            per_candidate=True,
            target="labels",
            labels="argmax_first",
            tradeoff=Tradeoff.preset(tradeoff, "fusionfactory"),
            random_state=random_state,
        )

    def _network(self) -> MLPRegressor:
        if self.activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, not {self.activation!r}")
        return MLPRegressor(
            hidden_layer_sizes=tuple(self.hidden_layer_sizes),
            activation=self.activation,
            alpha=self.alpha,
            learning_rate_init=self.learning_rate_init,
            max_iter=self.max_iter,
            early_stopping=self.early_stopping,
            validation_fraction=self.validation_fraction,
            batch_size=self.batch_size,
            random_state=self.random_state,
        )

    def _fit(self, data: FitData) -> None:
        if self.target not in ("scores", "labels"):
            raise ValueError(f"target must be 'scores' or 'labels', not {self.target!r}")
        values = self._labels(data) if self.target == "labels" else data.target
        columns = [values[:, [j]] for j in range(values.shape[1])] if self.per_candidate else [values]
        self.coefs_, self.intercepts_ = [], []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            for column in columns:
                network = self._network().fit(data.X, column if column.shape[1] > 1 else column[:, 0])
                self.coefs_.append([np.asarray(w) for w in network.coefs_])
                self.intercepts_.append([np.asarray(b) for b in network.intercepts_])

    def _estimate(self, X: Any, tasks: np.ndarray | None) -> np.ndarray:
        outputs = [
            mlp_forward(X, coefs, intercepts, self.activation)
            for coefs, intercepts in zip(self.coefs_, self.intercepts_, strict=True)
        ]
        return np.hstack(outputs)

    def _state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"n_networks_": len(self.coefs_)}
        for i, (coefs, intercepts) in enumerate(zip(self.coefs_, self.intercepts_, strict=True)):
            state[f"coefs_{i}"] = coefs
            state[f"intercepts_{i}"] = intercepts
        return state

    def _load_state(self, state: dict[str, Any]) -> None:
        count = int(state["n_networks_"])
        self.coefs_ = [state[f"coefs_{i}"] for i in range(count)]
        self.intercepts_ = [state[f"intercepts_{i}"] for i in range(count)]
