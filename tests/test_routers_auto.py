"""AutoRouter: the router and its hyper-parameters chosen by K-fold CV of the routed reward on train only,
refitted on all of train, the search kept; predict(X) needs no task; pickle-free persistence; the CLI default."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import KFold

import fusionbench.fusion as fusion
from fusionbench.cli import main
from fusionbench.fusion.routers import BaseRouter, BestSingleRouter, KNNRouter, LinearRouter, make_router
from fusionbench.fusion.routers.auto import AutoRouter, default_candidates
from fusionbench.fusion.routers.prior import TaskPriorRouter
from tests.test_routers_task_prior import task_problem


@pytest.fixture(scope="module")
def fitted() -> tuple[AutoRouter, dict[str, np.ndarray]]:
    data = task_problem(500)
    router = AutoRouter(cv=3).fit(data["X"][:400], data["Y"][:400], tasks=data["tasks"][:400])
    return router, data


def test_the_python_form_is_exported_and_registered():
    assert fusion.AutoRouter is AutoRouter and isinstance(make_router("auto"), AutoRouter)
    assert fusion.ClusterRouter.__name__ == "ClusterRouter" and fusion.RouterTags is not None
    assert callable(fusion.register_router) and callable(fusion.check_router)


def test_the_search_records_every_candidate_and_picks_the_best_cv_reward(fitted):
    router, _ = fitted
    labels = [label for label, _ in default_candidates(with_tasks=True)]
    assert [row["label"] for row in router.cv_results_] == labels
    means = [row["mean_reward"] for row in router.cv_results_]
    assert router.best_index_ == int(np.argmax(means)) and router.best_label_ == labels[router.best_index_]
    for row in router.cv_results_:
        assert len(row["fold_rewards"]) == 3 and row["mean_reward"] == pytest.approx(np.mean(row["fold_rewards"]))
    assert router.best_label_.startswith(("per_task", "task_prior"))  # the planted signal is the task
    assert router.task_source_ == "classifier"
    assert "(chosen)" in router.search_table()


def test_a_cv_score_is_the_routed_reward_on_held_out_training_folds(fitted):
    router, data = fitted
    Y = data["Y"][:400]
    folds = KFold(3, shuffle=True, random_state=0).split(np.arange(400))
    manual = [Y[test, Y[train].mean(axis=0).argmax()].mean() for train, test in folds]
    assert router.cv_results_[0]["label"] == "best_single"
    assert router.cv_results_[0]["fold_rewards"] == pytest.approx(manual)


def test_the_winner_is_refitted_on_all_of_train_and_predicts_without_tasks(fitted):
    router, data = fitted
    chosen = dict(default_candidates(True))[router.best_label_]
    alone = router._prepared(chosen).fit(data["X"][:400], data["Y"][:400], tasks=data["tasks"][:400])
    X_new = data["X"][400:]
    assert np.array_equal(router.predict(X_new), alone.predict(X_new))
    wrong = np.full(100, "t0", dtype=object)
    assert np.array_equal(router.predict(X_new, tasks=wrong), router.predict(X_new))  # true task never read
    Y_new = data["Y"][400:]
    assert Y_new[np.arange(100), router.predict(X_new)].mean() > Y_new[:, 0].mean() + 0.2


def test_without_tasks_only_task_free_candidates_are_searched():
    data = task_problem(200)
    router = AutoRouter(cv=2).fit(data["X"], data["Y"])
    assert router.task_source_ == "none"
    assert all(not row["label"].startswith(("per_task", "task_prior")) for row in router.cv_results_)


def test_custom_candidates_and_bad_ones():
    data = task_problem(200)
    grid = [("single", BestSingleRouter()), ("knn", KNNRouter(n_neighbors=5)), ("ridge", LinearRouter(alpha=1.0))]
    router = AutoRouter(candidates=grid, cv=2).fit(data["X"], data["Y"], tasks=data["tasks"])
    assert [row["label"] for row in router.cv_results_] == ["single", "knn", "ridge"]
    assert clone(router).get_params()["candidates"] is not None
    with pytest.raises(TypeError, match="not a fusionbench router"):
        AutoRouter(candidates=[("x", object())]).fit(data["X"], data["Y"])
    with pytest.raises(ValueError, match="cv must be"):
        AutoRouter(cv=1).fit(data["X"], data["Y"])


def test_saved_and_loaded_without_pickle(fitted, tmp_path):
    router, data = fitted
    folder = router.save_pretrained(tmp_path / "auto")
    assert not (folder / "pickled.joblib").exists() and (folder / "best_" / "config.json").is_file()
    loaded = BaseRouter.from_pretrained(folder)
    assert loaded.cv_results_ == json.loads(json.dumps(router.cv_results_))
    assert loaded.best_label_ == router.best_label_ and isinstance(loaded.best_, type(router.best_))
    assert np.array_equal(loaded.predict(data["X"][400:]), router.predict(data["X"][400:]))


def test_the_contract_holds_for_a_small_search():
    fusion.check_router(AutoRouter(cv=2, candidates=[("s", BestSingleRouter()), ("p", TaskPriorRouter())]))


def test_route_train_defaults_to_auto(tmp_path):
    folder = tmp_path / "auto"
    args = ["route", "train", "--features", "tfidf:64", "--set", "cv=2", "--out", str(folder), "--quiet"]
    assert main(args) == 0
    config = json.loads((folder / "config.json").read_text())
    assert config["class"] == "AutoRouter" and config["params"]["cv"] == 2
    assert main(["route", "eval", str(folder), "--n-boot", "100", "--json", str(tmp_path / "eval.json")]) == 0
    rows = json.loads((tmp_path / "eval.json").read_text())["evaluations"]["performance_first"]["rows"]
    assert rows["auto"]["perf"]["value"] > 0


def _look_alike_tasks(n: int, seed: int, tasks: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Tasks in look-alike pairs (centres 3 apart along one axis), each with its own specialist candidate (0.95
    on its task, 0.05 elsewhere) and a generalist (0.7 everywhere, the last candidate). Task 4 is a new task that
    looks like task 0 but has its own specialist."""
    rng = np.random.default_rng(seed)
    base = np.zeros((5, 6))
    base[2, 1] = base[3, 1] = 12.0
    base[[1, 3], 0] = 3.0
    base[4, 0] = -3.0
    index = rng.choice(np.asarray(tasks), n)
    X = base[index] + rng.normal(size=(n, 6))
    skill = np.full((5, 6), 0.05)
    skill[np.arange(5), np.arange(5)] = 0.95
    skill[:, 5] = 0.7
    Y = (rng.random((n, 6)) < skill[index]).astype(np.float64)
    return {"X": X, "Y": Y, "tasks": np.array([f"t{i}" for i in index], dtype=object)}


def test_robust_to_new_tasks_adds_a_leave_task_out_cv_and_falls_back_on_a_new_task():
    train = _look_alike_tasks(600, 0, (0, 1, 2, 3))
    grid = [("single", BestSingleRouter()), ("per_task", TaskPriorRouter(base=BestSingleRouter()))]
    fit = (train["X"], train["Y"])
    # without the batch novelty guard (tests/test_route_novelty.py), which also catches this new task
    plain = AutoRouter(candidates=grid, cv=4, novelty_guard=False).fit(*fit, tasks=train["tasks"])
    robust = AutoRouter(candidates=grid, cv=4, robust_to_new_tasks=True, novelty_guard=False)
    robust.fit(*fit, tasks=train["tasks"])
    assert plain.best_label_ == "per_task" and "task_fold_mean_reward" not in plain.cv_results_[0]
    assert robust.best_label_ == "single"
    for row in robust.cv_results_:
        assert len(row["task_fold_rewards"]) == 4
        assert row["selection_score"] == pytest.approx(min(row["mean_reward"], row["task_fold_mean_reward"]))
    per_task = robust.cv_results_[1]
    assert per_task["mean_reward"] > 0.85 and per_task["task_fold_mean_reward"] < 0.3  # transfer fails on new tasks
    seen, new = _look_alike_tasks(300, 1, (0, 1, 2, 3)), _look_alike_tasks(300, 2, (4,))
    reward = {
        name: {
            part: d["Y"][np.arange(300), router.predict(d["X"])].mean() for part, d in (("seen", seen), ("new", new))
        }
        for name, router in (("plain", plain), ("robust", robust))
    }
    assert reward["robust"]["new"] > reward["plain"]["new"] + 0.4  # the generalist, not task 0's specialist
    assert reward["plain"]["seen"] > reward["robust"]["seen"] + 0.1  # what robustness costs in distribution


def test_robust_to_new_tasks_without_tasks_is_the_plain_search():
    data = task_problem(200)
    grid = [("single", BestSingleRouter()), ("knn", KNNRouter(n_neighbors=5))]
    plain = AutoRouter(candidates=grid, cv=2).fit(data["X"], data["Y"])
    robust = AutoRouter(candidates=grid, cv=2, robust_to_new_tasks=True).fit(data["X"], data["Y"])
    assert [r["fold_rewards"] for r in robust.cv_results_] == [r["fold_rewards"] for r in plain.cv_results_]
    assert all("task_fold_rewards" not in row for row in robust.cv_results_)
    assert robust.best_label_ == plain.best_label_
