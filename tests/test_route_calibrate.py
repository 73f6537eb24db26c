"""calibrate(): λ or a threshold picked on validation for a target cost, strong share or accuracy, with the
realised value on test recorded."""

from __future__ import annotations

import numpy as np
import pytest

from fusionbench.fusion import RoutingData, calibrate
from fusionbench.fusion.evaluation import Calibration
from fusionbench.fusion.routers import CarrotRouter, KNNRouter, LinearRouter, PairRouter

CANDIDATES = ["weak/direct", "mid/direct", "strong/direct"]
PRICES = np.array([1e-4, 4e-4, 2e-3])


def _part(n: int, seed: int) -> tuple[RoutingData, np.ndarray]:
    """Queries with a difficulty in [0, 1] (the one feature): the strong model is right more often on hard ones."""
    rng = np.random.default_rng(seed)
    hardness = rng.random(n)
    chance = np.column_stack([1 - hardness, 1 - 0.6 * hardness, 0.95 - 0.1 * hardness])
    perf = (rng.random((n, 3)) < chance).astype(float)
    cost = PRICES * (1 + 0.05 * rng.random((n, 3)))
    ids = [f"s{seed}-{i}" for i in range(n)]
    data = RoutingData.from_arrays(perf, cost, query_ids=ids, texts=[f"query {i}" for i in ids], candidates=CANDIDATES)
    features = np.column_stack([hardness, 1 - hardness])
    return data, features


@pytest.fixture(scope="module")
def parts():
    train, X_train = _part(600, 0)
    val, X_val = _part(300, 1)
    test, X_test = _part(300, 2)
    return train, X_train, val, X_val, test, X_test


@pytest.fixture(scope="module")
def knn(parts):
    train, X_train, *_ = parts
    return KNNRouter(n_neighbors=25, metric="euclidean").fit(
        X_train, train.performance, cost=train.cost, candidates=CANDIDATES
    )


def test_target_cost_picks_the_most_accurate_lambda_within_budget_and_records_test(parts, knn):
    _, _, val, X_val, test, X_test = parts
    budget = 8e-4
    result = calibrate(knn, val, X_val=X_val, target_cost=budget, test=test, X_test=X_test)
    assert result.knob == "lam" and result.feasible
    assert result.validation["cost"] <= budget
    cost, acc = np.array(result.curve["cost"]), np.array(result.curve["accuracy"])
    assert result.validation["accuracy"] == pytest.approx(acc[cost <= budget].max())
    picks = result.route(knn, X_test)  # the realised value is what routing test with that λ gives
    rows = np.arange(len(picks))
    assert result.test["cost"] == pytest.approx(test.cost[rows, picks].mean())
    assert result.test["accuracy"] == pytest.approx(test.performance[rows, picks].mean())
    assert result.test["strong_share"] == pytest.approx((picks == 2).mean())
    again = Calibration.from_dict(result.to_dict())
    assert again.value == result.value and again.tradeoff.name == f"carrot:{result.value:g}"


def test_target_accuracy_picks_the_cheapest_lambda_that_reaches_it(parts, knn):
    _, _, val, X_val, *_ = parts
    result = calibrate(knn, val, X_val=X_val, target_accuracy=0.8)
    assert result.feasible and result.validation["accuracy"] >= 0.8
    cost, acc = np.array(result.curve["cost"]), np.array(result.curve["accuracy"])
    assert result.validation["cost"] == pytest.approx(cost[acc >= 0.8].min())


def test_an_unreachable_target_takes_the_nearest_and_says_so(parts, knn):
    _, _, val, X_val, *_ = parts
    result = calibrate(knn, val, X_val=X_val, target_cost=1e-6)  # below the cheapest candidate
    assert not result.feasible and result.notes
    assert result.validation["cost"] == pytest.approx(min(result.curve["cost"]))


def test_carrot_and_strong_share(parts):
    train, X_train, val, X_val, test, X_test = parts
    carrot = CarrotRouter(perf=KNNRouter(n_neighbors=25, metric="euclidean"),
                          cost_model=KNNRouter(n_neighbors=25, metric="euclidean"))  # fmt: skip
    carrot.fit(X_train, train.performance, cost=train.cost, candidates=CANDIDATES)
    result = calibrate(carrot, val, X_val=X_val, strong_share=0.3, test=test, X_test=X_test)
    assert result.strong == "strong/direct" and result.scale == pytest.approx(carrot.scale_)
    assert abs(result.validation["strong_share"] - 0.3) == pytest.approx(
        np.nanmin(np.abs(np.array(result.curve["strong_share"]) - 0.3))
    )
    pair = PairRouter(router=LinearRouter(), strong="strong/direct", weak="weak/direct")
    pair.fit(X_train, train.performance, cost=train.cost, candidates=CANDIDATES)
    routed = calibrate(pair, val, X_val=X_val, strong_share=0.4, test=test, X_test=X_test)
    assert routed.knob == "threshold"
    assert routed.value == pytest.approx(np.quantile(pair.strong_win_rate(X_val), 0.6))  # RouteLLM's rule
    assert routed.validation["strong_share"] == pytest.approx(0.4, abs=1 / 300)
    assert routed.test["strong_share"] is not None  # realised on test: near, not equal


def test_what_cannot_be_calibrated_is_refused(parts, knn):
    train, X_train, val, X_val, *_ = parts
    with pytest.raises(ValueError, match="exactly one of"):
        calibrate(knn, val, X_val=X_val, target_cost=1e-3, target_accuracy=0.5)
    labels = KNNRouter(n_neighbors=5, target="labels").fit(X_train, train.performance, cost=train.cost)
    with pytest.raises(ValueError, match="no trade-off knob"):
        calibrate(labels, val, X_val=X_val, target_accuracy=0.5)
    no_cost = RoutingData.from_arrays(val.performance, query_ids=val.query_ids, candidates=CANDIDATES)
    with pytest.raises(ValueError, match="column 'cost_usd'"):
        calibrate(knn, no_cost, X_val=X_val, target_cost=1e-3)
    blind = KNNRouter(n_neighbors=5).fit(X_train, train.performance, candidates=CANDIDATES)
    with pytest.raises(ValueError, match="fitted without cost"):
        calibrate(blind, val, X_val=X_val, target_accuracy=0.5)
    with pytest.raises(ValueError, match="strong_share must lie in"):
        calibrate(knn, val, X_val=X_val, strong_share=1.5)


def test_target_accuracy_best_single_answers_at_what_cost(parts, knn):
    _, _, val, X_val, test, X_test = parts
    result = calibrate(knn, val, X_val=X_val, target_accuracy="best_single", tolerance=0.01, test=test, X_test=X_test)
    ref = result.reference
    acc = val.performance.mean(axis=0)
    best = int(np.argmax(acc))
    assert ref["candidate"] == CANDIDATES[best]
    assert ref["validation"]["accuracy"] == pytest.approx(acc[best])
    assert result.target["accuracy"] == pytest.approx(acc[best] - 0.01)
    assert ref["test"]["accuracy"] == pytest.approx(test.performance[:, best].mean())
    assert ref["test"]["cost"] == pytest.approx(test.cost[:, best].mean())
    assert ref["cost_ratio"] == pytest.approx(result.test["cost"] / ref["test"]["cost"])
    assert ref["accuracy_gap"] == pytest.approx(result.test["accuracy"] - ref["test"]["accuracy"])
    reached = result.validation["accuracy"] >= acc[best] - 0.01 - 1e-12
    assert result.feasible == reached and (reached or result.notes)  # unreachable: the nearest, said so
    assert Calibration.from_dict(result.to_dict()).reference == ref
    with pytest.raises(ValueError, match="best_single"):
        calibrate(knn, val, X_val=X_val, target_accuracy="best")
