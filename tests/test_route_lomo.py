"""Leave one model out on the embedded LLMRouter data: routers trained without a model are evaluated on test
with it; the AUROC of a router's correctness estimate for a candidate, with its CI."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from fusionbench.fusion import evaluate, splits
from fusionbench.fusion.evaluation.correctness import correctness_auroc
from fusionbench.fusion.evaluation.inputs import fit_features, load_data, transform
from fusionbench.fusion.routers import KNNRouter

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
    assert f"{HELD_OUT}/direct" not in result.choice_counts["best_single"]
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
