"""ColdStartRouter (fusion/tiny/cold_start.py) and TaskPriorRouter.add_candidate: a new candidate enters a fitted
router without refitting. Hand-worked cases for the calibration and the margin, the task-prior column, and a small
leave-one-model-out check on the embedded data."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
from scipy.special import expit

from fusionbench.fusion import evaluate, splits
from fusionbench.fusion.evaluation.bootstrap import difference
from fusionbench.fusion.evaluation.inputs import fit_features, load_data, transform
from fusionbench.fusion.irt.model import fit_matrix
from fusionbench.fusion.routers import MFRouter
from fusionbench.fusion.routers.prior import TaskPriorRouter
from fusionbench.fusion.tiny import build_tiny
from fusionbench.fusion.tiny.cold_gains import mean_se
from fusionbench.fusion.tiny.cold_start import MARGINS, ColdStartRouter, choose_margin, pooled_gains, task_shifts

MF = {"n_factors": 8, "max_iter": 50, "alpha": 1e-3}


# ---------------------------------------------------------------------------------------------- hand-worked
def test_task_shift_undoes_a_constant_logit_offset_per_task() -> None:
    """Mapped items whose logits are the fitted ones minus c_t per task need exactly the shift c_t."""
    rng = np.random.default_rng(0)
    y = (rng.random((4, 12)) < 0.6).astype(float)
    model = fit_matrix(y, item_tasks=["a"] * 6 + ["b"] * 6, task_effects=True, max_iter=200)
    offset = np.where(model.item_tasks == "a", 0.7, -0.4)
    mapped = (model.a.copy(), model.b - offset)  # one dimension, a unchanged: the logit drops by the offset
    shifts = task_shifts(model, mapped, model.theta, model.delta)
    assert shifts[:, model.tasks.index("a")] == pytest.approx(np.full(4, 0.7), abs=1e-6)
    assert shifts[:, model.tasks.index("b")] == pytest.approx(np.full(4, -0.4), abs=1e-6)
    unshifted = task_shifts(model, (model.a, model.b), model.theta, model.delta)
    assert np.abs(unshifted).max() < 1e-6


def test_margin_is_the_best_lower_bound_ties_to_the_larger_none_when_nothing_clears_it() -> None:
    gains = {0.0: (-0.01, 0.001), 0.05: (0.004, 0.001), 0.1: (0.002, 0.001)}
    assert choose_margin(gains) == 0.05  # bounds -0.011, 0.003, 0.001
    assert choose_margin({0.0: (0.006, 0.004), 0.05: (0.004, 0.001)}) == 0.05  # 0.002 < 0.003: the surer gain
    assert choose_margin({0.0: (0.006, 0.004), 0.05: (0.004, 0.001)}, caution=0.0) == 0.0  # the mean alone
    assert choose_margin({0.0: (0.003, 0.001), 0.05: (0.003, 0.001)}) == 0.05  # a tie: the safer, larger margin
    assert choose_margin({0.0: (0.002, 0.003), 0.1: (0.0, 0.0)}) == float("inf")  # nothing clears: never routed
    assert MARGINS[0] == 0.0 and list(MARGINS) == sorted(MARGINS)
    guarded = {0.0: (0.01, 0.001, 1), 0.1: (0.005, 0.001, 0)}  # the best mean has a known candidate losing
    assert choose_margin(guarded) == 0.1 and choose_margin(guarded, guard=False) == 0.0
    assert choose_margin({0.0: (0.01, 0.001, 2), 0.1: (0.005, 0.001, 1)}) == float("inf")  # every margin guarded


def test_cross_fitted_gains_average_the_folds_and_count_the_significant_losers() -> None:
    """Two folds of 2 validation queries, 2 known candidates, margins 0 and 0.1 ([known, margins, queries])."""
    fold_a = [[[0.3, 0.1], [0.1, 0.1]], [[-0.2, -0.2], [0.0, 0.0]]]
    fold_b = [[[0.1, 0.1], [0.05, 0.05]], [[-0.2, -0.2], [0.05, 0.05]]]
    gains = pooled_gains([np.array(fold_a), np.array(fold_b)], margins=(0.0, 0.1))
    # margin 0: per query (mean over the known) 0.05, -0.05 | -0.05, -0.05: the fold curves 0.0 and -0.05 averaged;
    # sd 0.05 over the 4 queries, se 0.025; the second candidate loses 0.2 on every query: 1 significant loser
    assert gains[0.0] == pytest.approx((-0.025, 0.025, 1))
    assert gains[0.1] == pytest.approx((0.05, 0.0, 0))
    assert choose_margin(gains) == 0.1
    # a margin that gains in one fold and loses as much in the other is not taken: nothing clears the bound
    split = pooled_gains([np.full((2, 1, 3), 0.1), np.full((2, 1, 3), -0.1)], margins=(0.0,))
    assert split[0.0][0] == pytest.approx(0.0) and choose_margin(split) == float("inf")
    assert choose_margin(pooled_gains([np.full((2, 1, 3), 0.1)], margins=(0.0,))) == 0.0  # that fold alone: taken
    with pytest.raises(ValueError, match="margins"):
        pooled_gains([np.zeros((2, 3, 4))], margins=(0.0, 0.1))


def _synthetic(seed: int = 0):
    """3 known candidates of abilities -1, 0, 1 on 240 queries of 2 tasks, features that carry the difficulty."""
    rng = np.random.default_rng(seed)
    n = 240
    tasks = np.array(["a", "b"] * (n // 2), dtype=object)
    X = rng.normal(size=(n, 6))
    easiness = 1.5 * X[:, 0] + np.where(tasks == "a", 0.5, -0.5)
    ability = np.array([-1.0, 0.0, 1.0])
    Y = (rng.random((n, 3)) < expit(easiness[:, None] + ability[None, :])).astype(float)
    return X, Y, tasks, easiness


def test_routes_to_the_new_candidate_exactly_where_its_probability_beats_the_choice_by_the_margin() -> None:
    X, Y, tasks, _ = _synthetic()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = MFRouter(**MF).fit(X, Y, candidates=["weak", "mid", "strong"])
    router = ColdStartRouter(base, margin=0.05, test_tasks="given").fit(X, Y, tasks=tasks)
    keys = [str(i) for i in range(0, 240, 3)]
    router.add_candidate("new", {k: Y[int(k), 2] for k in keys})  # the strong candidate's answers
    estimate = base.predict_performance(X)
    chosen = estimate.argmax(axis=1)
    model = router.items_.model
    p_known = router.items_.probabilities(X, tasks, model.theta, model.delta, router.items_.shift)
    p_new = router.predict_correctness(X, tasks)[:, 0]
    wins = p_new - p_known[chosen, np.arange(len(X))] > 0.05
    assert wins.any() and not wins.all()  # both sides of the rule are exercised
    labels = router.predict_labels(X, tasks)
    assert (labels == "new").tolist() == wins.tolist()
    assert labels[~wins].tolist() == base.predict_labels(X)[~wins].tolist()  # elsewhere the base, unchanged
    performance = router.predict_performance(X, tasks)
    assert performance[:, :3] == pytest.approx(estimate)  # the base's estimates are kept as they are
    assert performance[:, 3] == pytest.approx(
        estimate[np.arange(len(X)), chosen] + p_new - p_known[chosen, np.arange(len(X))]
    )
    router.remove_candidate("new")
    router.add_candidate("new", {k: 0.0 for k in keys})  # wrong on every anchor: never routed
    assert "new" not in router.predict_labels(X, tasks).tolist()


def test_bad_input_is_refused_with_the_reason() -> None:
    X, Y, tasks, _ = _synthetic()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = MFRouter(**MF).fit(X, Y, candidates=["weak", "mid", "strong"])
    router = ColdStartRouter(base, margin=0.0).fit(X, Y, tasks=tasks)
    with pytest.raises(KeyError, match="not fitted on"):
        router.add_candidate("new", {"no-such-query": 1.0})
    with pytest.raises(ValueError, match="outside"):
        router.add_candidate("new", {"0": 2.0})
    with pytest.raises(ValueError, match="already"):
        router.add_candidate("mid", {"0": 1.0})
    with pytest.raises(ValueError, match="shape"):
        ColdStartRouter(base).fit(X, Y[:, :2], tasks=tasks)
    with pytest.raises(ValueError, match="margin"):
        ColdStartRouter(base, margin=-1)
    with pytest.raises(ValueError, match="caution"):
        ColdStartRouter(base, caution=-1.0)
    with pytest.raises(ValueError, match="folds"):
        ColdStartRouter(base, folds=1)
    with pytest.raises(ValueError, match="keys repeat"):
        ColdStartRouter(base, margin=0.0).fit(X, Y, tasks=tasks, keys=["q"] * len(X))


def test_the_simulation_validates_every_query_once_and_plays_the_task_prior_s_own_rule() -> None:
    """Cross-fitting: the folds' validation parts partition the training queries (balanced per task); the task
    rule's simulated routing is exactly where the task prior's clone without m, given m's column with the margin
    taken off, routes to it; its standard error is clustered by task."""
    X, Y, tasks, _ = _synthetic()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = MFRouter(**MF).fit(X, Y, candidates=["weak", "mid", "strong"])
        prior = TaskPriorRouter(test_tasks="given")
        router = ColdStartRouter(base, folds=3, task_prior=prior).fit(X, Y, tasks=tasks)
    parts = router.simulation_["folds"]
    rows = np.concatenate([p["val_rows"] for p in parts])
    assert sorted(rows.tolist()) == list(range(len(X)))
    for task in ("a", "b"):
        sizes = [int(np.sum(tasks[p["val_rows"]] == task)) for p in parts]
        assert max(sizes) - min(sizes) <= 1
    keys = [str(i) for i in range(0, 240, 4)]
    new = router.add_candidate("new", {k: Y[int(k), 2] for k in keys})
    assert all(p["per_known"][m]["prior"].test_tasks == "given" for p in parts for m in range(3))
    assert parts[0]["per_known"][1]["prior"].candidates_.tolist() == ["weak", "strong"]  # fitted without m
    names = ["weak", "mid", "strong"]
    expected = {g: [] for g in MARGINS}  # each validation query's gain, mean over the known m, through the prior
    for part in parts:
        val = part["val_rows"]
        gains = {g: np.zeros(len(val)) for g in MARGINS}
        for m, entry in enumerate(part["per_known"]):
            answers = {k: Y[int(k), m] for k in keys if k in part["fit_keys"]}
            items = entry["items"]
            ability = items.ability(answers)
            accuracy = dict(zip(items.model.tasks, items.task_accuracy(ability, answers), strict=True))
            before = entry["prior"].predict_labels(part["X_val"], tasks=part["val_given"])
            baseline = Y[val, [names.index(c) for c in before]]
            for g in MARGINS:
                deployed = copy.deepcopy(entry["prior"]).add_candidate("m", accuracy, margin=g)
                routed = deployed.predict_labels(part["X_val"], tasks=part["val_given"]) == "m"
                gains[g] += np.where(routed, Y[val, m] - baseline, 0.0) / 3
        for g in MARGINS:
            expected[g].append(gains[g])
    for g in MARGINS:
        assert new.task_margin_gains[g][0] == pytest.approx(np.concatenate(expected[g]).mean(), abs=1e-12)
        # its standard error is clustered by the validation queries' training tasks (cold_gains.mean_se)
        assert new.task_margin_gains[g][1] == pytest.approx(
            mean_se(np.concatenate(expected[g]), tasks[rows]), abs=1e-12
        )
    assert router.se_kind_ == "task-clustered"
    assert any(new.task_margin_gains[g][0] != 0 for g in MARGINS)  # the rule routes somewhere: not a vacuous check


# ---------------------------------------------------------------------------------------------- task prior
def test_task_prior_routes_to_the_appended_column_exactly_on_the_tasks_where_its_mean_wins(tmp_path) -> None:
    X = np.random.default_rng(1).normal(size=(60, 3))
    tasks = np.array(["a", "b", "c"] * 20, dtype=object)
    means = {"a": (0.6, 0.4), "b": (0.8, 0.5), "c": (0.3, 0.35)}  # constant per task: the residual is 0
    Y = np.array([means[t] for t in tasks])
    router = TaskPriorRouter(test_tasks="given").fit(X, Y, tasks=tasks, candidates=["k1", "k2"])
    router.add_candidate("new", {"a": 0.7, "b": 0.7, "c": 0.36})  # beats the best on a (0.6) and c (0.35), not b
    labels = router.predict_labels(X, tasks=tasks)
    assert (labels == "new").tolist() == [t in ("a", "c") for t in tasks]
    assert router.predict_performance(X, tasks=tasks)[:, 2] == pytest.approx(
        [{"a": 0.7, "b": 0.7, "c": 0.36}[t] for t in tasks]
    )
    router.save_pretrained(tmp_path / "prior")  # the appended column persists like any fitted state
    loaded = TaskPriorRouter.from_pretrained(tmp_path / "prior")
    assert loaded.predict_labels(X, tasks=tasks).tolist() == labels.tolist()
    margin = TaskPriorRouter(test_tasks="given").fit(X, Y, tasks=tasks, candidates=["k1", "k2"])
    margin.add_candidate("new", {"a": 0.7, "b": 0.7, "c": 0.36}, margin=0.05)  # wins by 0.1 on a, 0.01 on c
    assert (margin.predict_labels(X, tasks=tasks) == "new").tolist() == [t == "a" for t in tasks]
    with pytest.raises(ValueError, match="already"):
        margin.add_candidate("k1", {"a": 1.0})


# ---------------------------------------------------------------------------------------------- embedded data
@pytest.fixture(scope="module")
def embedded():
    data = load_data(None)
    return data


def _lomo(data, model: str):
    without, _, test = splits.apply(data, splits.lomo(data, model, k_shot=0, seed=0))
    featurizer, X = fit_features("tfidf:256", without)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = MFRouter(**MF).fit(X, without.performance, candidates=list(without.candidates))
    router = ColdStartRouter(base).fit(X, without.performance, tasks=without.tasks, keys=without.query_ids)
    return without, test, X, transform(featurizer, test), base, router


@pytest.mark.parametrize("model", ["mistral-7b-instruct-v0.3", "llama-3.3-nemotron-super-49b-v1"])
def test_leave_one_model_out_never_significantly_worse_and_k0_never_routed(embedded, model: str) -> None:
    without, test, X, X_test, base, router = _lomo(embedded, model)
    name = f"{model}/direct"
    router.add_candidate(name, {})  # k = 0: nothing known
    assert router.new_[name].margin == router.new_[name].task_margin == float("inf")  # nothing known: never routed
    assert name not in router.predict_labels(X_test).tolist()
    router.remove_candidate(name)
    truth = dict(
        zip(map(str, embedded.query_ids), embedded.performance[:, embedded.candidates.index(name)], strict=True)
    )
    anchors = [str(q) for q in build_tiny(without, total=100, method="stratified", seed=0).query_ids]
    router.add_candidate(name, {q: float(truth[q]) for q in anchors})
    choices = router.predict_labels(X_test).tolist()
    prior = TaskPriorRouter().fit(X, without.performance, tasks=without.tasks, candidates=list(without.candidates))
    before = prior.predict_labels(X_test).tolist()
    prior.add_candidate(name, router.task_accuracy(name), margin=min(router.new_[name].task_margin, 1.0))
    systems = {"with": choices, "without": base, "prior with": prior.predict_labels(X_test).tolist(),
               "prior without": before}  # fmt: skip
    result = evaluate(systems, test, train=without, X=X_test, n_boot=200, seed=0, baselines=False)
    for new, old in (("with", "without"), ("prior with", "prior without")):
        delta = difference(result.replicates, (new, "perf"), (old, "perf"), result.confidence)
        assert delta["ci"][1] >= 0, (new, delta)  # with − without is not significantly below 0
    accuracy = router.task_accuracy(name)
    y = test.performance[:, test.candidates.index(name)]
    tasks = np.asarray(test.tasks)
    error = np.mean([abs(accuracy[t] - y[tasks == t].mean()) for t in np.unique(tasks)])
    prior = np.mean([abs(np.mean(without.performance[np.asarray(without.tasks) == t]) - y[tasks == t].mean())
                     for t in np.unique(tasks)])  # fmt: skip
    assert error < prior  # 100 anchor answers estimate its per-task accuracy better than the known models' mean
