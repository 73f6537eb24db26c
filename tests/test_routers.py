"""Routers on hand-checked and synthetic data: choices, trade-offs, labels, costs, the two-model view."""

from __future__ import annotations

import numpy as np
import pytest

from fusionbench.fusion import (
    BestSingleRouter,
    CarrotRouter,
    KNNRouter,
    LinearRouter,
    MFRouter,
    MLPRouter,
    OracleRouter,
    PairRouter,
    PerTaskRouter,
    RandomRouter,
)
from fusionbench.fusion.routers import Tradeoff, labels_from, make_router
from fusionbench.fusion.routers.mf import pairwise_loss, pointwise_loss
from fusionbench.metrics import oracle_choices, threshold_sweep, tradeoff_choices

# The hand-checked matrices of test_routing.py: 3 queries x 3 candidates, costs 1, 2, 3.
PERF = np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0], [0.0, 0.0, 1.0]])
COST = np.array([[1.0, 2.0, 3.0]] * 3)
TASKS = np.array(["t1", "t1", "t2"], dtype=object)
X3 = np.eye(3)


def synthetic(n: int = 600, d: int = 12, k: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features with a linear signal of which candidate is right; candidate j costs about j + 1."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    Y = (X @ rng.normal(size=(d, k)) + 0.5 * rng.normal(size=(n, k)) > 0).astype(float)
    cost = (np.arange(1, k + 1) * (1 + 0.1 * rng.random((n, k)))) * 1e-3
    return X, Y, cost


def routed(Y: np.ndarray, choices: np.ndarray) -> float:
    return float(Y[np.arange(len(choices)), choices].mean())


# ---------------------------------------------------------------- trade-offs and labels
def test_tradeoff_presets_and_release_labels() -> None:
    assert (Tradeoff.balance().perf_weight, Tradeoff.balance().cost_weight) == (0.5, 0.5)
    assert (Tradeoff.cost_first().perf_weight, Tradeoff.cost_first().cost_weight) == (0.2, 0.8)
    assert Tradeoff.llm_judge().objective == "judge" and Tradeoff.parse("carrot:0.25").cost_weight == 0.25
    for name, (a, b) in {"performance_first": (1, 0), "balance": (0.5, 0.5), "cost_first": (0.2, 0.8)}.items():
        release = Tradeoff.preset(name, "fusionfactory")
        reward = release.reward(PERF, COST, TASKS)
        # the release protocol (split min-max per task, first-maximum ties) = the metrics module's labels
        picks = labels_from(reward, COST, "argmax_first").argmax(axis=1)
        assert picks.tolist() == tradeoff_choices(PERF, COST, TASKS, a, b).tolist(), name
    with pytest.raises(ValueError, match="unknown trade-off"):
        Tradeoff.parse("fastest")
    with pytest.raises(ValueError, match=r"lam must lie in \[0, 1\]"):
        Tradeoff.carrot(1.5)


def test_label_tie_breaks() -> None:
    # q0: c0 and c1 tie at 1 (c0 cheaper); swap the costs and the cheapest tie-break follows, first does not.
    reward = Tradeoff.performance_first().fit(PERF, COST).reward(PERF, COST)
    assert labels_from(reward, COST, "argmax_cheapest").argmax(axis=1).tolist() == [0, 1, 2]
    swapped = COST[:, [1, 0, 2]]
    assert labels_from(reward, swapped, "argmax_cheapest").argmax(axis=1).tolist() == [1, 1, 2]
    assert labels_from(reward, swapped, "argmax_first").argmax(axis=1).tolist() == [0, 1, 2]
    assert labels_from(reward, COST, "multilabel").tolist() == PERF.tolist()


def test_train_normalisation_is_applied_unchanged_to_another_split() -> None:
    fitted = Tradeoff.balance().fit(PERF, COST * 10)  # training costs span 10..30
    reward = fitted.reward(np.array([[1.0, 0.0]]), np.array([[10.0, 20.0]]))
    assert reward.tolist() == [[0.5, -0.25]]  # cost_norm 0 and 0.5 with the training range
    # the release protocol would normalise this split by itself: cost_norm 0 and 1
    split = Tradeoff.balance("fusionfactory").reward(np.array([[1.0, 0.0]]), np.array([[10.0, 20.0]]))
    assert split.tolist() == [[0.5, -0.5]]


# ---------------------------------------------------------------- baselines
def test_best_single_and_its_tradeoffs() -> None:
    router = BestSingleRouter().fit(X3, PERF, cost=COST)
    assert router.predict(X3).tolist() == [1, 1, 1]  # c1 and c2 tie at 2/3; c1 is cheaper
    cheap = BestSingleRouter(tradeoff="cost_first").fit(X3, PERF, cost=COST)
    assert cheap.predict(X3).tolist() == [0, 0, 0]  # 0.2 * 1/3 - 0 beats 0.2 * 2/3 - 0.8 * 0.5
    assert router.route(X3, tradeoff="cost_first").tolist() == [0, 0, 0]


def test_random_is_seeded_and_uniform() -> None:
    X, Y, _cost = synthetic(n=2000)
    router = RandomRouter(random_state=3).fit(X, Y)
    first = router.predict(X)
    assert np.array_equal(first, router.predict(X))
    assert not np.array_equal(first, RandomRouter(random_state=4).fit(X, Y).predict(X))
    shares = np.bincount(first, minlength=4) / len(first)
    assert np.all(np.abs(shares - 0.25) < 0.04)
    assert np.allclose(router.choice_probabilities(X[:5]), 0.25)


def test_oracle_only_answers_for_its_own_queries() -> None:
    X, Y, cost = synthetic()
    oracle = OracleRouter().fit(X, Y, cost=cost)
    assert np.array_equal(oracle.predict(X), oracle_choices(Y, cost))
    with pytest.raises(ValueError, match="only for the queries it was fitted on"):
        oracle.predict(X[:10])


# ---------------------------------------------------------------- per task
def test_per_task_given_and_unseen_tasks() -> None:
    router = PerTaskRouter().fit(X3, PERF, cost=COST, tasks=TASKS)
    assert router.predict(X3, tasks=TASKS).tolist() == [1, 1, 2]  # the per-task oracle of test_routing
    with pytest.warns(UserWarning, match="1 queries have tasks unseen"):
        assert router.predict(X3[:1], tasks=["t9"]).tolist() == [1]  # the best single
    with pytest.raises(ValueError, match="needs tasks= in predict"):
        router.predict(X3)
    with pytest.raises(ValueError, match="needs tasks= in fit"):
        PerTaskRouter().fit(X3, PERF)


def test_per_task_classifier_labels_unlabeled_queries() -> None:
    rng = np.random.default_rng(0)
    tasks = np.array(["math", "law"] * 100, dtype=object)
    X = rng.normal(size=(200, 5)) + np.where(tasks == "math", 3.0, -3.0)[:, None]
    Y = np.column_stack([tasks == "math", tasks == "law"]).astype(float)
    router = PerTaskRouter(task_source="classifier").fit(X, Y, tasks=tasks)
    assert router.resolve_tasks(X).tolist() == tasks.tolist()
    assert routed(Y, router.predict(X)) == 1.0
    # a known task is used as given; an unseen one goes to the classifier
    assert router.resolve_tasks(X[:2], tasks=["law", "bbh"]).tolist() == ["law", "law"]


# ---------------------------------------------------------------- learned routers
def test_knn_votes_and_averages_by_hand() -> None:
    X = np.array([[0.0], [1.0], [2.0], [10.0]])
    Y = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 1.0]])
    cost = np.array([[1.0, 4.0], [1.0, 2.0], [1.0, 2.0], [1.0, 2.0]])
    scores = KNNRouter(n_neighbors=3, metric="euclidean").fit(X, Y, cost=cost)
    # neighbours of 0.4: 0, 1, 2 -> mean performance (2/3, 2/3), mean cost (1, 8/3); the tie goes to the cheaper
    assert scores.predict_performance([[0.4]])[0].tolist() == pytest.approx([2 / 3, 2 / 3])
    assert scores.predict_cost([[0.4]])[0].tolist() == pytest.approx([1.0, 8 / 3])
    assert scores.predict([[0.4]]).tolist() == [0]
    # labels, ties to the cheapest: q0 c0, q1 (both right) c0 at cost 1, q2 c1, q3 c1 -> votes 2/3, 1/3
    labels = KNNRouter(n_neighbors=3, metric="euclidean", target="labels").fit(X, Y, cost=cost)
    assert labels.predict_utility([[0.4]])[0].tolist() == pytest.approx([2 / 3, 1 / 3])
    with pytest.raises(ValueError, match="label shares"):
        labels.predict_performance([[0.4]])
    with pytest.raises(ValueError, match="refit with tradeoff"):
        labels.route([[0.4]], tradeoff="balance")


def test_knn_cross_validates_k() -> None:
    X, Y, _ = synthetic(n=400)
    router = KNNRouter(n_neighbors="cv").fit(X, Y)
    assert router.n_neighbors_ in (2, 4, 8, 16, 32, 64, 128, 256)
    assert routed(Y, router.predict(X)) > routed(Y, BestSingleRouter().fit(X, Y).predict(X))


@pytest.mark.parametrize(
    "router",
    [
        LinearRouter(),
        LinearRouter(kind="logistic"),
        LinearRouter(kind="linear_svr"),
        LinearRouter(kind="linear_svr", target="labels", labels="argmax_first"),
        KNNRouter(n_neighbors=20),
        MLPRouter(hidden_layer_sizes=(32,), max_iter=300),
        MFRouter(n_factors=8, max_iter=100),
        MFRouter(n_factors=8, max_iter=100, objective="pairwise"),
    ],
    ids=lambda r: f"{type(r).__name__}-{getattr(r, 'kind', getattr(r, 'objective', ''))}",
)
def test_learned_routers_beat_the_best_single_on_held_out_queries(router) -> None:
    X, Y, cost = synthetic(n=900)
    router.fit(X[:600], Y[:600], cost=cost[:600])
    best = BestSingleRouter().fit(X[:600], Y[:600], cost=cost[:600])
    gain = routed(Y[600:], router.predict(X[600:])) - routed(Y[600:], best.predict(X[600:]))
    assert gain > 0.15
    assert router.predict_utility(X[600:]).shape == (300, 4)
    assert router.predict_cost(X[600:]).shape == (300, 4)


def test_logistic_needs_binary_targets_and_handles_constant_candidates() -> None:
    X, Y, _ = synthetic(n=200)
    Y[:, 2] = 1.0  # always right on train
    router = LinearRouter(kind="logistic").fit(X, Y)
    assert np.all(router.predict_performance(X)[:, 2] == 1.0)
    with pytest.raises(ValueError, match="0/1 targets"):
        LinearRouter(kind="logistic").fit(X, Y * 0.5)


def test_joint_logistic_is_scikit_learns_per_candidate_fit() -> None:
    from sklearn.linear_model import LogisticRegression

    X, Y, _ = synthetic(n=300, k=3)
    router = LinearRouter(kind="logistic", C=0.5).fit(X, Y)
    for j in range(3):
        reference = LogisticRegression(C=0.5, max_iter=1000, tol=1e-8).fit(X, Y[:, j])
        assert np.allclose(router.coef_[j], reference.coef_[0], atol=1e-3)
        assert router.intercept_[j] == pytest.approx(reference.intercept_[0], abs=1e-3)


def test_mlp_fusionfactory_preset() -> None:
    preset = MLPRouter.fusionfactory()
    assert preset.hidden_layer_sizes == (1,) and preset.alpha == 0.01 and preset.per_candidate
    assert preset.target == "labels" and preset.labels == "argmax_first"
    X, Y, cost = synthetic(n=300)
    preset.set_params(max_iter=50).fit(X, Y, cost=cost)
    assert len(preset.coefs_) == 4 and preset.coefs_[0][0].shape == (12, 1)


@pytest.mark.parametrize("loss", [pointwise_loss, pairwise_loss])
def test_mf_loss_gradients_match_finite_differences(loss) -> None:
    rng = np.random.default_rng(1)
    scores, target = rng.normal(size=(5, 4)), (rng.random((5, 4)) < 0.5).astype(float)
    value, grad = loss(scores, target)
    step = 1e-6
    numeric = np.zeros_like(scores)
    for index in np.ndindex(scores.shape):
        bumped = scores.copy()
        bumped[index] += step
        numeric[index] = (loss(bumped, target)[0] - value) / step
    assert np.allclose(grad, numeric, atol=1e-5)


def test_masked_pointwise_loss_counts_only_the_observed_cells() -> None:
    rng = np.random.default_rng(2)
    scores, target = rng.normal(size=(6, 3)), (rng.random((6, 3)) < 0.5).astype(float)
    observed = rng.random((6, 3)) < 0.6
    value, grad = pointwise_loss(scores, np.where(observed, target, np.nan), observed)
    reference, _ = pointwise_loss(scores[observed], target[observed])
    assert value == pytest.approx(reference)
    assert np.all(grad[~observed] == 0.0) and np.isfinite(grad).all()
    _, full_grad = pointwise_loss(scores, target)
    np.testing.assert_allclose(grad[observed], full_grad[observed] * scores.size / observed.sum())


def test_mf_under_mask_is_not_moved_by_unobserved_cells_and_gives_an_unseen_candidate_the_prior() -> None:
    X, Y, _ = synthetic(n=300)
    Y[100:, 1] = np.nan  # 100 labelled queries of candidate 1
    Y[:, 3] = np.nan  # candidate 3 never observed
    a = MFRouter(n_factors=4, max_iter=60, missing="mask").fit(X, Y)
    garbage = np.where(np.isnan(Y), 7.0, Y)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):  # without the mask the garbage is data
        MFRouter(n_factors=4, max_iter=60).fit(X, garbage)
    assert a.n_dropped_queries_ == 0 and list(a.unobserved_) == [3]
    np.testing.assert_allclose(a.V_[3], a.population_embedding_)
    estimate = a.predict_performance(X)
    assert np.isfinite(estimate).all() and estimate[:, 3].std() > 0  # the query still matters for the prior
    with pytest.warns(UserWarning, match="dropped 1 of 301 queries without any observed cell"):
        MFRouter(n_factors=4, max_iter=5, missing="mask").fit(np.vstack([X, X[:1]]), np.vstack([Y, np.full(4, np.nan)]))


def test_penalty_cross_validation_scores_the_routed_reward_fold_by_fold() -> None:
    from sklearn.model_selection import KFold

    from fusionbench.fusion.routers.penalty import RIDGE_ALPHAS

    X, Y, _ = synthetic(n=200)
    router = LinearRouter().fit(X, Y)  # alpha="cv" is the default
    assert router.alpha_ in RIDGE_ALPHAS and router.cv_scores_.shape == (len(RIDGE_ALPHAS),)
    assert router.alpha_ == RIDGE_ALPHAS[int(np.argmax(router.cv_scores_))]
    j = 4  # one grid value by hand
    by_hand = []
    for train, test in KFold(5, shuffle=True, random_state=0).split(X):
        fold = LinearRouter(alpha=RIDGE_ALPHAS[j]).fit(X[train], Y[train])
        by_hand.append(routed(Y[test], fold.predict(X[test])))
    assert router.cv_scores_[j] == pytest.approx(np.mean(by_hand))
    np.testing.assert_allclose(router.coef_, LinearRouter(alpha=router.alpha_).fit(X, Y).coef_)
    logistic = LinearRouter(kind="logistic", C="cv").fit(X, Y)
    assert logistic.C_ in (0.01, 0.1, 1.0, 10.0, 100.0) and logistic.alpha_ is None
    mf = MFRouter(n_factors=4, max_iter=20, alpha="cv").fit(X, Y)
    assert mf.alpha_ in (1e-2, 3e-3, 1e-3, 3e-4, 1e-4) and len(mf.cv_scores_) == 5
    for bad in (LinearRouter(alpha=-1.0), LinearRouter(alpha="auto"), MFRouter(alpha="best")):
        with pytest.raises(ValueError, match="or 'cv'"):
            bad.fit(X, Y)


def test_mf_refuses_targets_outside_unit_interval() -> None:
    X, Y, _ = synthetic(n=100)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        MFRouter().fit(X, Y * 2)


# ---------------------------------------------------------------- cost-aware
def test_carrot_trades_performance_for_cost() -> None:
    X, Y, cost = synthetic(n=600)
    perf = LinearRouter()
    router = CarrotRouter(perf=perf, cost_model=LinearRouter(), lam=0.0).fit(X[:400], Y[:400], cost=cost[:400])
    assert np.array_equal(router.predict(X[400:]), perf.fit(X[:400], Y[:400]).predict(X[400:]))
    router.set_params(lam=1.0)  # no refit: cost only -> the cheapest candidate (c0) everywhere
    assert np.all(router.predict(X[400:]) == 0)
    _lams, choices = router.route_sweep(X[400:], np.linspace(0, 1, 11))
    mean_cost = [cost[400:][np.arange(200), c].mean() for c in choices]
    assert mean_cost[0] > mean_cost[-1] and np.all(np.diff(mean_cost) <= 1e-12)
    assert router.scale_ == pytest.approx(1 / cost[:400].mean(axis=0).max())


def test_carrot_knn_estimators_search_once_and_agree_with_separate_searches(monkeypatch, tmp_path) -> None:
    """CARROT's kNN performance and cost estimators share one index: one search per route (counted with a spy
    on the real search), nearest first, so each estimator's k neighbours are a prefix of the shared ones."""
    from fusionbench.fusion.routers.knn import Neighbours

    X, Y, cost = synthetic(n=600)
    router = CarrotRouter(perf=KNNRouter(n_neighbors=5), cost_model=KNNRouter(n_neighbors=40), lam=0.3)
    router.fit(X[:400], Y[:400], cost=cost[:400])
    searches: list[int] = []
    real = Neighbours.query
    monkeypatch.setattr(Neighbours, "query", lambda self, *a, **k: searches.append(1) or real(self, *a, **k))
    choices = router.predict(X[400:])
    assert len(searches) == 1 and router.cost_model_.index_ is router.perf_.index_
    alone = {name: KNNRouter(n_neighbors=k).fit(X[:400], target) for name, k, target in
             (("perf", 5, Y[:400]), ("cost", 40, (cost[:400] - router.cost_shift_) / router.cost_spread_))}  # fmt: skip
    np.testing.assert_allclose(router.predict_performance(X[400:]), alone["perf"].predict_performance(X[400:]))
    expected_cost = alone["cost"].predict_performance(X[400:]) * router.cost_spread_ + router.cost_shift_
    np.testing.assert_allclose(router.predict_cost(X[400:]), np.maximum(expected_cost, 0.0))
    router.save_pretrained(tmp_path / "carrot")
    loaded = CarrotRouter.from_pretrained(tmp_path / "carrot")
    searches.clear()
    assert np.array_equal(loaded.predict(X[400:]), choices) and len(searches) == 1


def test_cost_aware_paths_refuse_missing_cost() -> None:
    X, Y, cost = synthetic(n=100)
    with pytest.raises(ValueError, match="needs cost="):
        CarrotRouter().fit(X, Y)
    with pytest.raises(ValueError, match="needs cost="):
        KNNRouter(tradeoff="balance").fit(X, Y)
    with pytest.raises(ValueError, match="fitted without cost"):
        LinearRouter().fit(X, Y).predict_cost(X)
    with pytest.raises(ValueError, match="fitted without cost"):
        LinearRouter().fit(X, Y).route(X, tradeoff="balance")
    with pytest.raises(ValueError, match="weighs cost"):
        Tradeoff.balance().fit(Y, None).reward(Y)
    cost[3, 1] = np.nan
    with pytest.raises(ValueError, match="cost has 1 NaN cells"):
        CarrotRouter().fit(X, Y, cost=cost)


# ---------------------------------------------------------------- the pair view
def test_pair_router_win_rates_threshold_and_sweep() -> None:
    X, Y, cost = synthetic(n=800, k=2)
    pair = PairRouter(LinearRouter(), strong=1, weak=0).fit(X[:500], Y[:500], cost=cost[:500])
    rate = pair.strong_win_rate(X[500:])
    assert np.array_equal(pair.predict(X[500:]), np.where(rate >= 0.5, 1, 0))
    threshold = pair.threshold_for_strong_share(X[500:], 0.3)
    assert np.mean(pair.route(X[500:], threshold=threshold) == 1) == pytest.approx(0.3, abs=0.01)
    assert pair.sweep(X[500:], Y[500:]) == threshold_sweep(Y[500:, 1], Y[500:, 0], rate)
    assert pair.sweep(X[500:], Y[500:])["apgr"] > 0.6
    # defaults: strong = best mean on train, weak = the cheapest
    better = np.column_stack([Y[:, 0], np.maximum(Y[:, 0], Y[:, 1])])  # c1 right wherever c0 is
    default = PairRouter().fit(X[:500], better[:500], cost=cost[:500])
    assert (default.strong_index_, default.weak_index_) == (1, 0)  # the best mean; the cheapest
    with pytest.raises(ValueError, match="same candidate"):
        PairRouter(strong=0, weak=0).fit(X, Y)


# ---------------------------------------------------------------- names, bad input
def test_candidate_names_and_registry() -> None:
    import pandas

    frame = pandas.DataFrame(PERF, columns=["a/direct", "b/direct", "b/cot"])
    router = BestSingleRouter().fit(X3, frame, cost=COST)
    assert router.candidates_.tolist() == ["a/direct", "b/direct", "b/cot"]
    assert router.predict_labels(X3).tolist() == router.predict_names(X3).tolist() == ["b/direct"] * 3
    assert BestSingleRouter().fit(X3, PERF).candidates_.tolist() == [0, 1, 2]
    assert isinstance(make_router("knn", n_neighbors=5), KNNRouter)
    with pytest.raises(ValueError, match="unknown router 'svm'"):
        make_router("svm")


def test_bad_input_is_refused_or_counted() -> None:
    X, Y, _cost = synthetic(n=50)
    Y[4, 2] = np.nan
    with pytest.raises(ValueError, match=r"performance \(Y\) has 1 NaN cells in 1 queries \(first: row 4"):
        LinearRouter().fit(X, Y)
    with pytest.warns(UserWarning, match="dropped 1 of 50 queries"):
        router = LinearRouter(missing="drop").fit(X, Y)
    assert router.n_dropped_queries_ == 1
    with pytest.raises(ValueError, match="has 49 rows for 50 queries"):
        LinearRouter().fit(X, Y[:49])
    with pytest.raises(ValueError, match="infinite"):
        LinearRouter().fit(X, np.where(np.isnan(Y), np.inf, Y))
    with pytest.raises(TypeError, match="put a featuriser first"):
        LinearRouter().fit(["a text"] * 50, np.nan_to_num(Y))
    with pytest.raises(ValueError, match="X has 3 features, but LinearRouter was trained on 12"):
        router.predict(X[:, :3])
    with pytest.raises(ValueError, match="pass judge= to fit"):
        LinearRouter(tradeoff="llm_judge").fit(X, np.nan_to_num(Y))
    judge = np.random.default_rng(0).random(Y.shape)
    judged = LinearRouter(tradeoff="llm_judge").fit(X, np.nan_to_num(Y), judge=judge)
    assert judged.tradeoff_.objective == "judge"
    with pytest.raises(ValueError, match="refit with it"):
        judged.route(X, tradeoff="performance_first")
