"""The batch novelty guard: queries of a batch that form a region train never covered (a new task) are routed to
the best single candidate; an in-distribution batch, or one query, is routed by the chosen router alone."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp

from fusionbench.fusion.routers import BaseRouter, BestSingleRouter
from fusionbench.fusion.routers.auto import AutoRouter
from fusionbench.fusion.routers.novelty import batch_novelty
from fusionbench.fusion.routers.prior import TaskPriorRouter
from tests.test_routers_auto import _look_alike_tasks


def _blobs(n: int, centres: list[int], seed: int, d: int = 8) -> np.ndarray:
    """Points around unit-direction centres (one axis each) so that cosine separates the blobs."""
    rng = np.random.default_rng(seed)
    which = rng.choice(np.asarray(centres), n)
    return np.eye(d)[which] * 5.0 + rng.normal(scale=0.6, size=(n, d))


def test_an_in_distribution_batch_is_left_alone():
    reference, batch = _blobs(800, [0, 1, 2], 0), _blobs(300, [0, 1, 2], 1)
    result = batch_novelty(reference, batch)
    assert not result.significant and result.n_novel == 0 and not result.flagged.any()


def test_a_new_region_is_found_in_a_mixed_batch_dense_or_sparse():
    reference = _blobs(800, [0, 1, 2], 0)
    seen, new = _blobs(200, [0, 1, 2], 1), _blobs(200, [3], 2)
    batch = np.vstack([seen, new])
    for ref, X in ((reference, batch), (sp.csr_matrix(reference), sp.csr_matrix(batch))):
        result = batch_novelty(ref, X)
        assert result.significant
        assert result.novel[200:].mean() > 0.9 and result.novel[:200].mean() < 0.05
        assert (result.novel | ~result.flagged).all()  # the flagged rows are novel; propagation only adds


def test_one_query_or_a_few_new_ones_are_never_flagged():
    reference = _blobs(800, [0, 1, 2], 0)
    assert batch_novelty(reference, _blobs(1, [3], 2)).n_novel == 0
    assert batch_novelty(reference, _blobs(5, [3], 2)).n_novel == 0  # fewer than min_flagged: no evidence


@pytest.fixture(scope="module")
def routers() -> dict[str, AutoRouter]:
    train = _look_alike_tasks(600, 0, (0, 1, 2, 3))
    grid = [("single", BestSingleRouter()), ("per_task", TaskPriorRouter(base=BestSingleRouter()))]
    fit = (train["X"], train["Y"])
    return {
        "guarded": AutoRouter(candidates=grid, cv=4).fit(*fit, tasks=train["tasks"]),
        "plain": AutoRouter(candidates=grid, cv=4, novelty_guard=False).fit(*fit, tasks=train["tasks"]),
    }


def _reward(data: dict[str, np.ndarray], picks: np.ndarray) -> float:
    return float(data["Y"][np.arange(len(picks)), picks].mean())


def test_a_new_task_goes_to_the_best_single_candidate_and_seen_tasks_keep_their_specialists(routers):
    guarded, plain = routers["guarded"], routers["plain"]
    assert guarded.best_label_ == plain.best_label_ == "per_task"
    seen, new = _look_alike_tasks(300, 1, (0, 1, 2, 3)), _look_alike_tasks(300, 2, (4,))
    np.testing.assert_array_equal(guarded.predict(seen["X"]), plain.predict(seen["X"]))  # nothing to guard
    assert _reward(new, guarded.predict(new["X"])) > _reward(new, plain.predict(new["X"])) + 0.4
    generalist = int(np.argmax(guarded.fallback_.mean_))
    assert generalist == 5 and (guarded.predict(new["X"])[guarded.novelty(new["X"]).novel] == generalist).all()
    mixed = np.vstack([seen["X"], new["X"]])
    novel = guarded.novelty(mixed).novel
    assert novel[300:].mean() > 0.9 and novel[:300].mean() < 0.05
    picks, plain_picks = guarded.predict(mixed), plain.predict(mixed)
    np.testing.assert_array_equal(picks[~novel], plain_picks[~novel])
    # estimates, costs and utilities agree with the routes on guarded rows
    np.testing.assert_allclose(
        guarded.predict_performance(mixed)[novel], np.tile(guarded.fallback_.mean_, (novel.sum(), 1))
    )


def test_a_single_new_query_is_routed_by_the_chosen_router(routers):
    new = _look_alike_tasks(5, 2, (4,))
    for row in new["X"]:
        assert routers["guarded"].predict(row[None]) == routers["plain"].predict(row[None])


def test_the_guard_is_saved_and_loaded_without_pickle(routers, tmp_path):
    guarded = routers["guarded"]
    folder = guarded.save_pretrained(tmp_path / "auto")
    assert not (folder / "pickled.joblib").exists()
    loaded = BaseRouter.from_pretrained(folder)
    mixed = np.vstack([_look_alike_tasks(300, 1, (0, 1, 2, 3))["X"], _look_alike_tasks(300, 2, (4,))["X"]])
    np.testing.assert_array_equal(loaded.predict(mixed), guarded.predict(mixed))
    assert loaded.novelty(mixed).n_novel == guarded.novelty(mixed).n_novel > 0


def test_the_benchmark_report_records_the_search_and_the_guarded_queries(tmp_path):
    from fusionbench.fusion.report import BenchmarkConfig, RouterSpec, run_benchmark, write_report
    from tests.test_route_report import _data

    config = BenchmarkConfig(
        routers=[
            RouterSpec("auto", "auto", {"cv": 3}),
            RouterSpec("per_task_clf", "per_task", {"task_source": "classifier"}),
        ],
        seeds=[0],
        scenarios=["id", "ood"],
        n_boot=50,
        ood_folds=2,
    )
    result = run_benchmark(_data(n_per_task=60), config)
    files = write_report(result, tmp_path / "report")
    report = json.loads(files["json"].read_text())
    guarded = {}
    for scenario in ("id", "ood"):
        rows = report["scenarios"][scenario]["splits"]
        for row in rows:
            assert row["searches"]["per_task_clf"] == {"task_source": "classifier"}
            record = row["searches"]["auto"]
            assert record["task_source"] == "classifier"
            labels = [c["label"] for c in record["candidates"]]
            assert record["chosen"] in labels and len(labels) >= 5
            assert all(isinstance(c["mean_reward"], float) for c in record["candidates"])
            guarded[(scenario, row["name"])] = (record["novelty_guarded"], record["n_test"])
    assert all(n == 0 for (scenario, _), (n, _) in guarded.items() if scenario == "id")
    # a held-out domain's queries lie along feature directions train never saw: most are guarded
    assert any(n > 0.5 * total for (scenario, _), (n, total) in guarded.items() if scenario == "ood")
    markdown = files["markdown"].read_text()
    assert (
        "What each router decided on train" in markdown
        and "predicted from the text" in markdown
        and "chose **" in markdown
        and "novelty guard:" in markdown
    )


def test_an_autorouter_fitted_on_the_judge_routes_under_llm_judge_and_a_performance_one_refuses():
    from tests.test_route_report import _data

    data = _data(n_per_task=40)
    fit = {"judge": data.judge, "tasks": data.tasks, "candidates": list(data.candidates)}
    judged = AutoRouter(cv=3, tradeoff="llm_judge").fit(data.embeddings, data.performance, **fit)
    np.testing.assert_array_equal(judged.route(data.embeddings, tradeoff="llm_judge"), judged.predict(data.embeddings))
    plain = AutoRouter(cv=3).fit(data.embeddings, data.performance, **fit)
    with pytest.raises(ValueError, match="judge"):
        plain.route(data.embeddings, tradeoff="llm_judge")


def test_with_a_domain_held_out_the_guard_keeps_autorouter_from_falling_below_the_best_single_model():
    """Embedded data, the popular domain (mmlu, gpqa) held out: the task prior alone sends these queries to the
    best commonsense model, 0.16 points below the best single model (docs/results/routing.md); the guard routes
    most of them to the best single model and the gain's CI reaches 0."""
    from fusionbench.fusion import splits
    from fusionbench.fusion.evaluation.inputs import fit_features, load_data, transform
    from fusionbench.fusion.leakage import assert_no_leakage
    from tests.test_route_targets import _gain_ci, _picked

    data = load_data(None).resolve_incomplete("error")
    train, _, test = splits.apply(data, splits.task_ood(data, domain="popular", val_size=0.0))
    assert assert_no_leakage(train, test).ok
    featurizer, X_train = fit_features("tfidf", train)
    X_test = transform(featurizer, test)
    router = AutoRouter().fit(X_train, train.performance, tasks=train.tasks, candidates=list(train.candidates))
    P, best = test.performance, int(train.performance.mean(axis=0).argmax())
    guarded = router.novelty(X_test)
    assert guarded.significant and guarded.n_novel > 0.8 * test.n_queries
    _, _, high = _gain_ci(_picked(P, router.predict(X_test)) - P[:, best])
    _, _, high_without = _gain_ci(_picked(P, router.best_.predict(X_test)) - P[:, best])
    assert high >= 0 > high_without, (high, high_without, router.best_label_)


def test_a_task_the_user_gives_as_known_is_never_guarded():
    train = _look_alike_tasks(600, 0, (0, 1, 2, 3))
    grid = [("single", BestSingleRouter()), ("per_task", TaskPriorRouter(base=BestSingleRouter()))]
    router = AutoRouter(candidates=grid, cv=4, test_tasks="given").fit(train["X"], train["Y"], tasks=train["tasks"])
    assert router.training_tasks_ == ["t0", "t1", "t2", "t3"]
    new = _look_alike_tasks(300, 2, (4,))
    assert router.novelty(new["X"]).n_novel > 250  # no task given: the batch test alone
    assert router.novelty(new["X"], tasks=new["tasks"]).n_novel > 250  # "t4": a task train never had
    said_known = np.full(300, "t0", dtype=object)  # the user says these are task t0's: not guarded
    assert router.novelty(new["X"], tasks=said_known).n_novel == 0
    picks = router.predict(new["X"], tasks=said_known)
    assert (picks == 0).all()  # task t0's specialist, as the user's task asks
    unknown = router.predict(new["X"], tasks=new["tasks"])  # "t4": a task train never had
    assert (unknown[router.novelty(new["X"], tasks=new["tasks"]).novel] == 5).all()


def test_predict_and_novelty_on_one_batch_search_the_neighbours_once(monkeypatch):
    """The guard's neighbour search is remembered for the last batch: ``predict``, ``predict_utility`` and a
    report's ``novelty`` on the same batch run it once; another batch, other settings or a refit run it again,
    and the remembered answer is the one a fresh search gives."""
    from fusionbench.fusion.routers import auto

    train = _look_alike_tasks(600, 0, (0, 1, 2, 3))
    grid = [("single", BestSingleRouter()), ("per_task", TaskPriorRouter(base=BestSingleRouter()))]
    router = AutoRouter(candidates=grid, cv=4).fit(train["X"], train["Y"], tasks=train["tasks"])
    calls = []
    monkeypatch.setattr(auto, "batch_novelty", lambda *a, **k: calls.append(1) or batch_novelty(*a, **k))
    new = _look_alike_tasks(300, 2, (4,))
    picks = router.predict(new["X"])
    router.predict_utility(new["X"])
    remembered = router.novelty(new["X"])
    assert len(calls) == 1 and remembered.n_novel > 250
    fresh = batch_novelty(router.reference_, new["X"])
    assert (remembered.novel == fresh.novel).all() and (picks[fresh.novel] == 5).all()
    router.novelty(new["X"][:-1])  # another batch
    router.set_params(novelty_k=10).novelty(new["X"][:-1])  # other settings
    router.fit(train["X"], train["Y"], tasks=train["tasks"]).novelty(new["X"][:-1])  # a refit: a new reference
    assert len(calls) == 4
