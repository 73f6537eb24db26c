"""Leave one model out on the embedded LLMRouter data: routers trained without a model are evaluated on test
with it; the AUROC of a router's correctness estimate for a candidate, with its CI; matrix factorisation with
k = 0 (cold start: the population prior) and k = 50 labelled queries of the new model predicts its correctness,
and routing with the new model is never significantly worse than routing without it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from fusionbench.cli import main
from fusionbench.fusion import evaluate, splits
from fusionbench.fusion.evaluation.correctness import correctness_auroc
from fusionbench.fusion.evaluation.inputs import fit_features, load_data, transform
from fusionbench.fusion.routers import KNNRouter, MFRouter
from fusionbench.fusion.routers.base import NotSupported

HELD_OUT = "llama-3.1-nemotron-51b-instruct"


@pytest.fixture(scope="module")
def data():
    return load_data(None)


def test_a_router_trained_without_the_model_is_evaluated_with_it(data):
    spec = splits.lomo(data, HELD_OUT, k_shot=0, seed=0)
    train, _, test = splits.apply(data, spec)
    assert f"{HELD_OUT}/direct" not in train.candidates and f"{HELD_OUT}/direct" in test.candidates
    featurizer, X_train = fit_features("tfidf:1024", train)
    router = KNNRouter(n_neighbors=50).fit(X_train, train.performance, candidates=list(train.candidates))
    result = evaluate({"knn": router}, test, train=train, X=transform(featurizer, test), n_boot=200)
    assert f"{HELD_OUT}/direct" not in result.choice_counts["knn"]  # it cannot choose what it never saw
    assert f"{HELD_OUT}/direct" not in result.choice_counts["best_single_train"]
    assert result.value("oracle") >= result.value("knn")
    assert result.rows()["knn"]["perf"]["ci"] is not None


def test_k_labelled_queries_of_the_new_model_are_refused_by_a_router_that_cannot_mask_them(data):
    spec = splits.lomo(data, HELD_OUT, k_shot=50, seed=0)
    train, _, _ = splits.apply(data, spec)
    column = train.performance[:, train.candidates.index(f"{HELD_OUT}/direct")]
    assert int((~np.isnan(column)).sum()) == 50  # the k labelled training queries; NaN elsewhere, never 0
    with pytest.raises(ValueError, match=r"NaN cells .* a missing value is never 0"):
        KNNRouter().fit(np.ones((train.n_queries, 2)), train.performance)


def test_correctness_auroc_matches_scikit_learn_and_has_a_ci(data):
    train, _, test = splits.apply(data, splits.release(data))
    featurizer, X_train = fit_features("tfidf:1024", train)
    X_test = transform(featurizer, test)
    router = KNNRouter(n_neighbors=50).fit(X_train, train.performance, candidates=list(train.candidates))
    candidate = f"{HELD_OUT}/direct"
    result = correctness_auroc(router, X_test, test, candidate, n_boot=300)
    j = test.candidates.index(candidate)
    truth = test.performance[:, j] > 0.5
    expected = roc_auc_score(truth, router.predict_performance(X_test)[:, j])
    assert result["value"] == pytest.approx(expected) and result["value"] > 0.5
    assert result["ci"][0] < result["value"] < result["ci"][1]
    assert result["n_correct"] == int(truth.sum()) and result["n_queries"] == 381
    with pytest.raises(ValueError, match="no estimate for 'gpt-9'"):
        correctness_auroc(router, X_test, test, "gpt-9")


def _mf_lomo(data, k_shot: int):
    """(MF trained with the new model masked, MF trained without it, test, test features, the new candidate)."""
    train, _, test = splits.apply(data, splits.lomo(data, HELD_OUT, k_shot=k_shot, seed=0, unseen="mask"))
    without, _, _ = splits.apply(data, splits.lomo(data, HELD_OUT, k_shot=0, seed=0))
    featurizer, X_train = fit_features("tfidf:1024", train)
    params = {"n_factors": 8, "max_iter": 50, "alpha": 1e-3}
    masked = MFRouter(missing="mask", **params).fit(X_train, train.performance, candidates=list(train.candidates))
    plain = MFRouter(**params).fit(transform(featurizer, without), without.performance,
                                   candidates=list(without.candidates))  # fmt: skip
    return masked, plain, train, test, transform(featurizer, test), f"{HELD_OUT}/direct"


@pytest.mark.parametrize("k_shot", [0, 50])
def test_mf_with_k_labelled_queries_of_the_new_model_predicts_its_correctness(data, k_shot):
    masked, plain, train, test, X_test, new = _mf_lomo(data, k_shot)
    j = list(masked.candidates_).index(new)
    observed = int((~np.isnan(train.performance[:, j])).sum())
    assert observed == k_shot and masked.n_dropped_queries_ == 0  # every query kept: only the cells are unseen
    if k_shot == 0:  # never observed: exactly the population prior
        assert list(masked.unobserved_) == [j]
        np.testing.assert_allclose(masked.V_[j], masked.population_embedding_)
        assert masked.b_[j] == pytest.approx(masked.population_bias_)
    auroc = correctness_auroc(masked, X_test, test, new, n_boot=300)
    assert auroc["ci"][0] > 0.6, auroc  # measured 0.717 [0.685, 0.749] (k=0), 0.724 [0.691, 0.755] (k=50)
    result = evaluate({"with": masked, "without": plain}, test, train=train, X=X_test, n_boot=500, seed=0)
    assert result.verdict("with", "without") != "worse", (result.value("with"), result.value("without"))
    assert result.verdict("with", "random") == "better"


def test_routers_that_cannot_learn_from_unobserved_cells_refuse_the_mask(data):
    train, _, _ = splits.apply(data, splits.lomo(data, HELD_OUT, k_shot=50, seed=0))
    with pytest.raises(NotSupported, match="KNNRouter cannot learn from unobserved cells"):
        KNNRouter(missing="mask").fit(np.ones((train.n_queries, 2)), train.performance)
    with pytest.raises(ValueError, match="missing must be 'raise', 'drop' or 'mask'"):
        MFRouter(missing="zero").fit(np.ones((train.n_queries, 2)), train.performance)
    with pytest.raises(splits.SplitError, match="unseen must be 'drop' or 'mask'"):
        splits.lomo(data, HELD_OUT, unseen="zero")


def test_route_eval_under_lomo_reports_the_held_out_correctness_auroc(tmp_path, capsys):
    lomo = ["--split-scheme", "lomo", "--scheme-arg", f"model={HELD_OUT}", "--scheme-arg", "k_shot=0"]
    for name, extra in [("mf", ["--scheme-arg", "unseen=mask", "--set", "missing=mask"]), ("knn", [])]:
        router = ["--router", name, "--features", "tfidf:1024", *extra]
        if name == "mf":
            router += ["--set", "n_factors=8", "--set", "max_iter=30", "--set", "alpha=0.001"]
        assert main(["route", "train", *router, *lomo, "--out", str(tmp_path / name), "--quiet"]) == 0
        report = tmp_path / f"{name}.json"
        assert main(["route", "eval", str(tmp_path / name), "--n-boot", "100", "--json", str(report)]) == 0
        held = json.loads(report.read_text())["held_out_auroc"][f"{HELD_OUT}/direct"]
        printed = capsys.readouterr().out
        if name == "mf":
            assert held["value"] > 0.6 and held["ci"][0] < held["value"] < held["ci"][1]
            assert f"correctness AUROC {held['value']:.3f}" in printed
        else:  # kNN never saw the model and says so, instead of a number
            assert held["value"] is None and "trained without" in held["reason"] and "trained without" in printed
