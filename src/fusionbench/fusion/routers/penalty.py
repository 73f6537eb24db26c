"""Penalties chosen on the training data only: seeded k-fold cross-validation of a router's penalty parameter.

``alpha="cv"`` (:class:`~fusionbench.fusion.routers.LinearRouter` ridge, :class:`~fusionbench.fusion.routers.
MFRouter`) and ``C="cv"`` (LinearRouter logistic and linear SVR) take the value from a grid by k-fold
cross-validation on the training queries (``KFold(shuffle=True, random_state=seed)``), as ``KNNRouter``'s
``n_neighbors="cv"`` does. Each fold's router is fitted on the other folds and routes the held-out queries;
its score is the mean reward (the router's trade-off with the training normalisation: under
``performance_first`` the mean performance) of the candidates it routes to, among the candidates observed
for each held-out query (a leave-one-model-out fit hides cells). The routed reward is what a router is for:
a held-out squared error or log-loss chooses weaker penalties that route worse (measured on LLMRouter's
TF-IDF features: ridge alpha 3 by MSE against 30 by routed performance, MF 1e-3 by log-loss against 3e-4).
Grids run from the strongest penalty to the weakest, and ties go to the stronger. The fold fits run on one
BLAS thread (many small products; see :func:`~fusionbench.fusion.blas.blas_threads`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import KFold

from fusionbench.fusion.blas import blas_threads
from fusionbench.fusion.routers.base import BaseRouter, FitData

#: ridge ``alpha`` (scikit-learn's objective: squared error summed over queries + alpha |w|²), strongest first
RIDGE_ALPHAS: tuple[float, ...] = (1000.0, 300.0, 100.0, 30.0, 10.0, 3.0, 1.0, 0.3, 0.1)
#: logistic / linear SVR ``C`` (inverse penalty), strongest first
INVERSE_PENALTIES: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0, 100.0)
#: MF ``alpha`` (L2 penalty beside the mean loss over observed cells), strongest first
MF_ALPHAS: tuple[float, ...] = (1e-2, 3e-3, 1e-3, 3e-4, 1e-4)


def cross_validate_penalty(
    router: BaseRouter,
    param: str,
    grid: Sequence[float],
    data: FitData,
    *,
    n_splits: int = 5,
    seed: int | None = 0,
) -> tuple[float, np.ndarray]:
    """``(chosen value, mean held-out score per grid value)`` of ``router``'s ``param`` (see the module
    docstring); ``router`` is the one being fitted (its trade-off fitted on all of ``data``)."""
    n = data.X.shape[0]
    if n < 2:
        raise ValueError(f"{param}='cv' needs at least 2 training queries, got {n}")
    observed = ~np.isnan(data.target) if data.observed is None else data.observed
    cost = None if data.cost is None else np.where(observed, data.cost, 0.0)
    reward = router.tradeoff_.reward(np.where(observed, data.target, 0.0), cost, data.tasks)
    scores = np.zeros(len(grid))
    folds = KFold(n_splits=min(n_splits, n), shuffle=True, random_state=seed)
    with blas_threads(1):
        for train, test in folds.split(np.arange(n)):
            scores += _fold_scores(router, param, grid, data, train, test, observed, reward)
    scores /= folds.get_n_splits()
    return float(grid[int(np.argmax(scores))]), scores


def _fold_scores(
    router: BaseRouter,
    param: str,
    grid: Sequence[float],
    data: FitData,
    train: np.ndarray,
    test: np.ndarray,
    observed: np.ndarray,
    reward: np.ndarray,
) -> np.ndarray:
    """Each grid value's mean held-out routed reward on one fold."""
    fit: dict[str, Any] = {
        "cost": None if data.cost is None else data.cost[train],
        "candidates": list(router.candidates_),
    }
    fit["tasks"] = None if data.tasks is None else data.tasks[train]
    if router.tradeoff_.objective == "judge":
        fit["judge"] = data.target[train]
    test_tasks = None if data.tasks is None else data.tasks[test]
    rows = np.arange(len(test))
    out = np.zeros(len(grid))
    for i, value in enumerate(grid):
        fold = clone(router).set_params(**{param: value})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence and dropped-query notes of the fold fits
            fold.fit(data.X[train], data.performance[train], **fit)
            utility = fold.predict_utility(data.X[test], tasks=test_tasks)
        choice = np.where(observed[test], utility, -np.inf).argmax(axis=1)
        out[i] = reward[test][rows, choice].mean()
    return out
