"""What the routing-target benchmarks share: the real data's folder, the TF-IDF features, an AutoRouter fit
timed, the picked column, and a 95 % CI from the package's one bootstrap (:mod:`fusionbench.fusion.evaluation.
bootstrap`: the query mean over queries, or the task mean under a bootstrap stratified by task).

Not a benchmark itself; ``bench_route_targets.py`` and ``bench_route_cost.py`` import it from this folder.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from fusionbench.fusion import AutoRouter
from fusionbench.fusion.evaluation.bootstrap import estimate, resample
from fusionbench.fusion.evaluation.inputs import fit_features, load_data, transform
from fusionbench.fusion.leakage import assert_no_leakage

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "routing"


def ci(values: np.ndarray, n_boot: int, seed: int, strata: np.ndarray | None = None) -> dict[str, float]:
    """Mean of ``values`` (the task mean with ``strata``) and its 95 % percentile bootstrap CI."""
    column = ("x", "value")
    replicates = resample({column: np.asarray(values, dtype=float)}, n_boot=n_boot, seed=seed, groups=strata)
    cell = estimate(replicates, column, 0.95, macro=strata is not None)
    return {"value": cell["value"], "lo": cell["ci"][0], "hi": cell["ci"][1]}


def fmt(cell: dict[str, float]) -> str:
    return f"{cell['value']:+.4f} [{cell['lo']:+.4f}, {cell['hi']:+.4f}]"


def tfidf_features(train: Any, test: Any) -> tuple[Any, Any]:
    """TF-IDF fitted on ``train``, applied to both."""
    featurizer, X_train = fit_features("tfidf", train)
    return X_train, transform(featurizer, test)


def fit_auto(X: Any, train: Any, **params: Any) -> tuple[AutoRouter, float]:
    """An ``AutoRouter(**params)`` fitted on ``train`` (with its tasks; ``cost=`` passed to fit) and its seconds."""
    cost = params.pop("cost", None)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        router = AutoRouter(**params).fit(
            X, train.performance, cost=cost, tasks=train.tasks, candidates=list(train.candidates)
        )
    return router, time.perf_counter() - start


def picked(P: np.ndarray, picks: np.ndarray) -> np.ndarray:
    """``P[i, picks[i]]`` per query."""
    return P[np.arange(len(picks)), picks]


def routerbench_winogrande() -> tuple[Any, Any]:
    """RouterBench's Winogrande rows (11 models, USD cost) as its own 887 / 380 train / test files, leakage-checked."""
    folder = SHARED / "routerbench-format"
    train = load_data(f"routerbench={folder / 'winograde_train.csv'}").resolve_incomplete("error")
    test = load_data(f"routerbench={folder / 'winograde_test.csv'}").resolve_incomplete("error")
    assert_no_leakage(train, test)
    return train, test
