"""TaskPriorRouter: a per-task mean plus a per-query residual, the task predicted from the features at test
time unless the user says it is known (``test_tasks="given"`` and ``tasks=``); kNN's distance weighting."""

from __future__ import annotations

import numpy as np
import pytest

from fusionbench.fusion.routers import BestSingleRouter, KNNRouter, LinearRouter, check_router
from fusionbench.fusion.routers.prior import TaskPriorRouter, classify_tasks, fit_task_classifier, task_scores


def task_problem(n: int = 600, seed: int = 0) -> dict[str, np.ndarray]:
    """Three tasks whose features sit around their own centre; each task has its own best candidate."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(3, 8))
    task_index = rng.integers(0, 3, n)
    X = centres[task_index] + rng.normal(size=(n, 8))
    skill = np.array([[0.8, 0.4, 0.4], [0.4, 0.8, 0.4], [0.4, 0.4, 0.8]])  # task x candidate accuracy
    Y = (rng.random((n, 3)) < skill[task_index]).astype(np.float64)
    tasks = np.array(["t0", "t1", "t2"], dtype=object)[task_index]
    return {"X": X, "Y": Y, "tasks": tasks, "task_index": task_index}


def test_the_classifier_recovers_the_tasks_from_the_features():
    data = task_problem()
    clf = fit_task_classifier(data["X"][:400], data["tasks"][:400])
    predicted = classify_tasks(data["X"][400:], clf["coef"], clf["intercept"], clf["classes"])
    assert (predicted == data["tasks"][400:]).mean() > 0.95


def test_without_tasks_at_predict_the_prior_routes_each_task_to_its_best_candidate():
    data = task_problem()
    router = TaskPriorRouter(base=BestSingleRouter()).fit(data["X"][:400], data["Y"][:400], tasks=data["tasks"][:400])
    picks = router.predict(data["X"][400:])
    assert router.task_source_ == "classifier"
    assert (picks == data["task_index"][400:]).mean() > 0.95  # candidate j is the best of task j
    single = BestSingleRouter().fit(data["X"][:400], data["Y"][:400])
    Y_test = data["Y"][400:]
    assert Y_test[np.arange(200), picks].mean() > Y_test[:, single.predict(data["X"][400:])[0]].mean() + 0.2


def test_the_true_task_is_never_read_unless_the_user_says_it_is_known():
    data = task_problem()
    fit = {"tasks": data["tasks"][:400]}
    X_new, wrong = data["X"][400:], np.full(200, "t0", dtype=object)
    predicted = TaskPriorRouter(base=LinearRouter(alpha=10.0)).fit(data["X"][:400], data["Y"][:400], **fit)
    assert np.array_equal(predicted.predict(X_new, tasks=wrong), predicted.predict(X_new))  # tasks= ignored
    given = TaskPriorRouter(base=BestSingleRouter(), test_tasks="given").fit(data["X"][:400], data["Y"][:400], **fit)
    assert given.task_source_ == "given"
    assert (given.predict(X_new, tasks=wrong) == 0).all()  # the given (here wrong) task is used
    assert list(given.predict_tasks(X_new[:3], tasks=["t1", "unseen", "t2"]))[::2] == ["t1", "t2"]


def test_without_training_tasks_the_router_is_its_base_router():
    data = task_problem()
    prior = TaskPriorRouter(base=LinearRouter(alpha=10.0)).fit(data["X"], data["Y"])
    plain = LinearRouter(alpha=10.0).fit(data["X"], data["Y"])
    assert prior.task_source_ == "none"
    assert np.allclose(prior.predict_performance(data["X"]), plain.predict_performance(data["X"]))


def test_the_residual_adds_a_per_query_signal_to_the_task_mean():
    rng = np.random.default_rng(1)
    data = task_problem(800)
    X = data["X"].copy()
    X[:, 7] = rng.normal(size=800)  # a feature the task does not explain
    signal = X[:, 7] > 0  # candidate 2 is right exactly on these queries
    Y = data["Y"].copy()
    Y[:, 2] = signal.astype(np.float64)
    Y[:, 0] = (rng.random(800) < 0.55).astype(np.float64)
    fit = {"tasks": data["tasks"][:600]}
    per_task = TaskPriorRouter(base=BestSingleRouter()).fit(X[:600], Y[:600], **fit)
    residual = TaskPriorRouter(base=LinearRouter(alpha=1.0)).fit(X[:600], Y[:600], **fit)
    test = np.arange(600, 800)
    routed = {name: Y[test, r.predict(X[test])].mean() for name, r in (("task", per_task), ("res", residual))}
    assert routed["res"] > routed["task"] + 0.05, routed


def test_distance_weighted_knn_weighs_the_nearer_neighbour_more():
    X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.1]])
    Y = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    query = np.array([[1.0, 0.3]])
    uniform = KNNRouter(n_neighbors=3).fit(X, Y).predict_performance(query)
    weighted = KNNRouter(n_neighbors=3, weights="distance").fit(X, Y).predict_performance(query)
    assert np.allclose(uniform, [[2 / 3, 1 / 3]])
    similarity = np.array([X[i] @ query[0] / np.linalg.norm(X[i]) / np.linalg.norm(query[0]) for i in range(3)])
    total = similarity.sum()
    assert np.allclose(weighted, [[(similarity[0] + similarity[2]) / total, similarity[1] / total]])
    with pytest.raises(ValueError, match="weights must be"):
        KNNRouter(weights="distance", metric="euclidean").fit(X, Y)


@pytest.mark.parametrize(
    "router",
    [TaskPriorRouter(base=KNNRouter(n_neighbors=10, weights="distance")), TaskPriorRouter(test_tasks="given")],
    ids=["knn-residual", "given"],
)
def test_task_prior_variants_keep_the_router_contract(router):
    check_router(router)  # includes a pickle-free save/load round trip with the base router as a sub-folder


def test_a_query_no_task_claims_falls_back_to_the_best_single_candidate():
    data = task_problem()
    X, Y = data["X"][:400], data["Y"][:400].copy()
    Y[:, 1] = np.maximum(Y[:, 1], (np.arange(400) % 3 == 0))  # candidate 1 is the best single one overall
    for temperature in (None, 8.0):
        router = TaskPriorRouter(base=BestSingleRouter(), temperature=temperature).fit(X, Y, tasks=data["tasks"][:400])
        points = np.random.default_rng(2).normal(scale=3.0, size=(2000, 8))
        scores = task_scores(points, router.clf_coef_, router.clf_intercept_)
        stranger = points[(scores < -0.5).all(axis=1)][:10]  # no one-vs-rest classifier claims these
        assert len(stranger) == 10
        assert (router.task_weights(stranger)[:, -1] > 0.9).all()
        assert (router.predict(stranger) == Y.mean(axis=0).argmax()).all()
        off = TaskPriorRouter(base=BestSingleRouter(), temperature=temperature, fallback=False)
        assert off.fit(X, Y, tasks=data["tasks"][:400]).task_weights(stranger)[:, -1].max() == 0
        assert (off.predict(stranger) != 1).any()  # without the fallback a task's best is taken
