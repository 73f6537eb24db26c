"""CascadeRouter: the cheapest candidate whose predicted P(correct) >= τ, else the best single; τ chosen on a
validation part of train for the best single's accuracy less a tolerance."""

from __future__ import annotations

import numpy as np
import pytest

from fusionbench.cli import main
from fusionbench.fusion.routers import BaseRouter, CascadeRouter, check_router, make_router
from fusionbench.fusion.routers.cascade import NEVER, cascade_order, cascade_picks, validation_split


def cascade_data(n: int = 800, signal: bool = True, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three candidates, costs 1:4:20 (x 1e-4 USD). The dear one is right on 90 % of queries; the cheap one on
    the queries with x0 > 0 (with ``signal``; else on a random half), the middle one on a random 60 %."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    right_cheap = X[:, 0] > 0 if signal else rng.random(n) < 0.5
    Y = np.stack([right_cheap, rng.random(n) < 0.6, rng.random(n) < 0.9], axis=1).astype(np.float64)
    cost = np.tile([1.0, 4.0, 20.0], (n, 1)) * 1e-4
    return X, Y, cost


def _picked(M: np.ndarray, picks: np.ndarray) -> np.ndarray:
    return M[np.arange(len(picks)), picks]


def test_the_cascade_takes_the_cheapest_candidate_predicted_right_else_the_fallback():
    probs = np.array([[0.9, 0.9, 0.1], [0.2, 0.95, 0.3], [0.1, 0.2, 0.3], [0.99, 0.1, 0.99]])
    unit_cost = np.array([2.0, 1.0, 10.0])  # candidate 2 is the dear fallback, 1 the cheapest
    order = cascade_order(unit_cost, fallback=2)
    assert order.tolist() == [1, 0]
    assert cascade_picks(probs, order, 2, 0.8).tolist() == [1, 1, 2, 0]
    assert cascade_picks(probs, order, 2, NEVER).tolist() == [2, 2, 2, 2]
    assert cascade_order(unit_cost, fallback=0).tolist() == [1]  # never a dearer candidate than the fallback
    assert cascade_picks(probs, cascade_order(unit_cost, 0), 0, 0.5).tolist() == [1, 1, 0, 0]


def test_with_a_per_query_signal_it_keeps_the_best_singles_accuracy_at_a_fraction_of_its_cost():
    X, Y, cost = cascade_data()
    router = CascadeRouter().fit(X[:600], Y[:600], cost=cost[:600])
    record = router.validation_
    assert router.fallback_ == 2 and router.order_.tolist() == [0, 1]
    assert record["feasible"] and record["n_validation"] == 150 and record["accuracy"] >= record["target_accuracy"]
    assert record["target_accuracy"] == pytest.approx(record["fallback_accuracy"] - 0.01)
    assert record["auroc"][0] > 0.95 and abs(record["auroc"][1] - 0.5) < 0.15  # signal for the cheap one only
    assert router.threshold_ == record["threshold"] and 0.5 <= router.threshold_ <= 1.0
    picks = router.predict(X[600:])
    accuracy, spent = _picked(Y[600:], picks).mean(), _picked(cost[600:], picks).mean()
    assert accuracy >= Y[600:, 2].mean() - 0.03 and spent < 0.7 * cost[600:, 2].mean(), (accuracy, spent)
    assert (picks[X[600:, 0] > 1.0] == 0).all()  # confidently right for the cheap one: no dear call
    assert np.array_equal(picks, router.route_at(X[600:], router.threshold_))  # argmax utility = the cascade
    probs = router.predict_correct(X[600:])
    assert np.array_equal(probs, router.predict_performance(X[600:])) and ((probs >= 0) & (probs <= 1)).all()


def test_without_a_signal_it_stays_on_the_fallback_and_says_why():
    X, Y, cost = cascade_data(signal=False)
    router = CascadeRouter().fit(X[:600], Y[:600], cost=cost[:600])
    assert all(a is None or abs(a - 0.5) < 0.15 for a in router.validation_["auroc"][:2])
    picks = router.predict(X[600:])
    assert (picks == 2).mean() > 0.9 and _picked(Y[600:], picks).mean() >= Y[600:, 2].mean() - 0.05


def test_an_unreachable_target_routes_everything_to_the_fallback():
    X, Y, cost = cascade_data()
    router = CascadeRouter(target_accuracy=1.0).fit(X, Y, cost=cost)
    assert router.threshold_ == NEVER and router.validation_["feasible"] is False
    assert (router.predict(X) == 2).all()
    fixed = CascadeRouter(threshold=0.9).fit(X, Y, cost=cost)  # a given τ: no validation part
    assert fixed.validation_ is None and fixed.threshold_ == 0.9 and (fixed.predict(X) == 0).any()


def test_parameters_are_checked():
    X, Y, cost = cascade_data(n=40)
    for params, message in (
        ({"threshold": 2.0}, "threshold must be 'auto' or a number"),
        ({"target_accuracy": "best"}, "target_accuracy must be 'best_single'"),
        ({"C": 0.0}, "C must be > 0"),
        ({"validation_size": 1.0}, "validation_size must lie in"),
    ):
        with pytest.raises(ValueError, match=message):
            CascadeRouter(**params).fit(X, Y, cost=cost)
    with pytest.raises(ValueError, match="needs cost"):
        CascadeRouter().fit(X, Y)
    with pytest.raises(ValueError, match="at least 4 training queries"):
        validation_split(3, 0.25, 0)


def test_saved_without_pickle_loaded_routes_the_same_and_keeps_the_contract(tmp_path):
    X, Y, cost = cascade_data(n=300)
    router = make_router("cascade").fit(X, Y, cost=cost, candidates=["cheap", "middle", "dear"])
    saved = router.save_pretrained(tmp_path / "cascade")
    assert not (saved / "pickled.joblib").exists()
    loaded = BaseRouter.from_pretrained(saved)
    assert isinstance(loaded, CascadeRouter) and loaded.validation_ == router.validation_
    assert np.array_equal(loaded.predict(X), router.predict(X)) and loaded.threshold_ == router.threshold_
    check_router(CascadeRouter())
    check_router(CascadeRouter(threshold=0.7))


def test_route_train_cli_builds_a_cascade_on_routerbench_winogrande(shared_data, tmp_path):
    data = f"routerbench={shared_data / 'routing' / 'routerbench-format' / 'winograde_train.csv'}"
    out = tmp_path / "cascade"
    assert main(["route", "train", "--router", "cascade", "--data", data, "--features", "tfidf",
                 "--out", str(out), "--quiet"]) == 0  # fmt: skip
    loaded = BaseRouter.from_pretrained(out)
    assert isinstance(loaded, CascadeRouter) and "gpt-4" in str(loaded.candidates_[loaded.fallback_])
    assert loaded.validation_["n_fit"] + loaded.validation_["n_validation"] > 500
