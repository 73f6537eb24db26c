"""evaluate(): the leakage check and transductive guard first, baselines fitted on train, paired bootstrap CIs
on shared resamples, bad input named."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline

from fusionbench.fusion import RoutingData, evaluate, splits
from fusionbench.fusion.evaluation import RoutingEvaluation, TrainingRecord, TransductiveError
from fusionbench.fusion.features import TfidfFeaturizer
from fusionbench.fusion.leakage import LeakageError
from fusionbench.fusion.routers import KNNRouter, OracleRouter
from fusionbench.metrics.routing import bootstrap_weights

CANDIDATES = ["small/direct", "mid/direct", "large/direct"]


def _data(n_per_task: int = 40, seed: int = 0) -> RoutingData:
    """Two tasks; 'large' is best on gsm8k, 'small' on boolq; costs grow with size."""
    rng = np.random.default_rng(seed)
    tasks = ["gsm8k"] * n_per_task + ["boolq"] * n_per_task
    p = np.where(np.array(tasks)[:, None] == "gsm8k", [0.3, 0.5, 0.8], [0.7, 0.5, 0.4])
    perf = (rng.random((len(tasks), 3)) < p).astype(float)
    cost = np.array([1e-4, 5e-4, 2e-3]) * (1 + 0.1 * rng.random((len(tasks), 3)))
    words = ["apples", "trains", "rivers", "stars", "maps", "clocks", "bread", "ships"]
    texts = [f"{t} question {i} about {words[i % 8]} and {words[(i * 3) % 8]}" for i, t in enumerate(tasks)]
    return RoutingData.from_arrays(
        perf, cost, query_ids=[f"q{i}" for i in range(len(tasks))], tasks=tasks, texts=texts, candidates=CANDIDATES
    )


def _split(data: RoutingData, seed: int = 0) -> tuple[RoutingData, RoutingData]:
    train, _, test = splits.apply(data, splits.random(data, test_size=0.3, val_size=0.0, seed=seed))
    return train, test


def test_overlap_fails_the_evaluation_unless_allowed_and_then_it_is_recorded():
    data = _data()
    train, test = _split(data)
    leaky = data.take(range(0, 70))  # holds most test queries
    with pytest.raises(LeakageError, match="test queries also in train"):
        evaluate({"r": test.performance.argmax(axis=1)}, test, train=leaky, n_boot=10)
    allowed = evaluate({"r": test.performance.argmax(axis=1)}, test, train=leaky, n_boot=10, allow_overlap=True)
    (check,) = allowed.leakage
    assert check["overlap_allowed"] and check["n_leaked"] == int(np.isin(test.query_ids, leaky.query_ids).sum()) > 0
    clean = evaluate({"r": test.performance.argmax(axis=1)}, test, train=train, n_boot=10)
    assert clean.leakage[0]["n_leaked"] == 0 and clean.leakage[0]["checked"]


def test_the_same_text_under_another_id_counts_as_leakage():
    data = _data()
    train, test = _split(data)
    texts = train.texts.copy()
    texts[0] = test.texts[3].upper() + "  Let's think step by step."
    renamed = RoutingData.from_arrays(train.performance, train.cost, query_ids=[f"t{i}" for i in range(len(train))],
                                      tasks=train.tasks, texts=texts, candidates=CANDIDATES)  # fmt: skip
    with pytest.raises(LeakageError, match="1 by normalised text"):
        evaluate({"r": [0] * len(test)}, test, train=renamed, n_boot=0)
    record = TrainingRecord.from_data(renamed)  # what a saved router keeps: ids and hashes only
    with pytest.raises(LeakageError, match="1 by normalised text"):
        evaluate({"r": [0] * len(test)}, test, train=record, n_boot=0)


def test_no_training_data_is_refused_unless_the_check_is_waived():
    _, test = _split(_data())
    with pytest.raises(ValueError, match="leakage check runs before every evaluation"):
        evaluate({"r": [0] * len(test)}, test, n_boot=0, protocol="fusionfactory")
    waived = evaluate({"r": [0] * len(test)}, test, n_boot=0, protocol="fusionfactory", allow_overlap=True)
    assert waived.leakage[0]["checked"] is False
    assert "best_single_train" not in waived.baselines and any("no training data" in n for n in waived.notes)


def test_the_two_best_singles_have_two_names_and_the_metrics_read_routing_data_directly():
    """best_single_train is fitted on train (evaluate); best_single_oracle is the best on the test queries
    (the routing metrics, fed the same RoutingData through one matrix type)."""
    from fusionbench.fusion.data import MissingValuesError
    from fusionbench.fusion.evaluation import as_matrices, routing_metrics
    from fusionbench.metrics.routing import evaluate_routing

    data = _data()
    train, test = _split(data)
    # make the test split's best candidate differ from train's: 'small' answers every test query
    perf = test.performance.copy()
    perf[:, 0] = 1.0
    test = RoutingData.from_arrays(perf, test.cost, query_ids=test.query_ids, tasks=test.tasks, texts=test.texts,
                                   candidates=CANDIDATES)  # fmt: skip
    picks = test.performance.argmax(axis=1)
    fitted = evaluate({"r": picks}, test, train=train, n_boot=0)
    metrics = routing_metrics(picks, test, n_boot=0)
    assert metrics == evaluate_routing(perf, test.cost, CANDIDATES, picks, list(test.tasks), n_boot=0)
    assert metrics["best_single_oracle"] == "small/direct" and metrics["best_single_oracle_accuracy"] == 1.0
    train_best = max(fitted.choice_counts["best_single_train"], key=fitted.choice_counts["best_single_train"].get)
    assert train_best != "small/direct" and fitted.value("best_single_train") < 1.0
    assert "best_single" not in metrics and "best_single" not in fitted.rows()
    matrices = as_matrices(test)
    assert matrices.performance is test.performance and matrices.candidates == CANDIDATES  # shared, not copied
    no_cost = RoutingData.from_arrays(perf, None, query_ids=test.query_ids, tasks=test.tasks, candidates=CANDIDATES)
    with pytest.raises(MissingValuesError, match=r"cost \(column 'cost_usd'\) is missing for 72 of 72"):
        routing_metrics(picks, no_cost)


def test_a_naive_split_is_only_evaluated_when_declared_transductive():
    data = _data()
    train, _, test = splits.apply(data, splits.naive(data))
    with pytest.raises(TransductiveError, match="transductive"):
        evaluate({"r": test.performance.argmax(axis=1)}, test, train=train, n_boot=0)
    result = evaluate({"r": test.performance.argmax(axis=1)}, test, train=train, n_boot=0, transductive=True)
    assert result.transductive and result.to_dict()["transductive"] is True


def test_paired_differences_use_the_same_resamples():
    train, test = _split(_data(n_per_task=60))
    rng = np.random.default_rng(1)
    router = np.where(rng.random(len(test)) < 0.7, test.performance.argmax(axis=1), 0)
    result = evaluate({"r": router}, test, train=train, n_boot=400, seed=7)
    picks_best = result.choice_counts["best_single_train"]
    best = test.candidates.index(next(iter(picks_best)))  # one candidate for every query
    rows = np.arange(len(test))
    diff = test.performance[rows, router] - test.performance[:, best]
    replicate = np.concatenate([w @ diff / w.sum(axis=1) for w in bootstrap_weights(len(test), 400, 7)])
    expected = np.percentile(replicate, [2.5, 97.5])
    paired = result.paired()["r"]["vs_best_single_train"]["perf"]
    assert paired["value"] == pytest.approx(diff.mean())
    np.testing.assert_allclose(paired["ci"], expected)
    assert paired["verdict"] == ("better" if expected[0] > 0 else "worse" if expected[1] < 0 else "n.s.")
    # pairing: the CI of the difference is narrower than the two marginal CIs combined
    rows_ci = result.rows()
    width = lambda c: c[1] - c[0]  # noqa: E731
    assert width(paired["ci"]) < width(rows_ci["r"]["perf"]["ci"]) + width(rows_ci["best_single_train"]["perf"]["ci"])


def test_baselines_are_fitted_on_train_and_oracle_is_per_query():
    train, test = _split(_data())
    result = evaluate({"r": [1] * len(test)}, test, train=train, n_boot=0)
    assert result.systems == ["r", "best_single_train", "per_task", "random", "oracle"]
    per_task = result.by_task()["per_task"]
    assert set(per_task) == {"gsm8k", "boolq"}
    expected_oracle = test.performance.max(axis=1).mean()
    assert result.value("oracle") == pytest.approx(expected_oracle)
    assert result.value("random") == pytest.approx(test.performance.mean())
    best_of = {
        t: CANDIDATES[int(train.performance[train.tasks == t].mean(axis=0).argmax())] for t in ("gsm8k", "boolq")
    }
    assert best_of["gsm8k"] == "large/direct"  # as planted
    expected = {}
    for task in test.tasks:
        expected[best_of[task]] = expected.get(best_of[task], 0) + 1
    assert result.choice_counts["per_task"] == expected
    assert result.verdict("r", "oracle") == "untested"  # n_boot=0: no CI, no verdict


def test_fitted_routers_pipelines_and_refusals():
    data = _data()
    train, test = _split(data)
    pipe = make_pipeline(TfidfFeaturizer(min_df=1), KNNRouter(n_neighbors=5))
    pipe.fit(list(train.texts), train.performance, knnrouter__cost=train.cost, knnrouter__candidates=CANDIDATES)
    result = evaluate({"knn": pipe}, test, train=train, n_boot=50)  # a text-in pipeline reads test.texts
    assert 0 <= result.value("knn") <= 1 and result.rows()["knn"]["perf"]["ci"] is not None
    bare = KNNRouter(n_neighbors=5).fit(train.performance, train.performance, candidates=CANDIDATES)
    with pytest.raises(ValueError, match="pass X="):
        evaluate(bare, test, train=train)
    oracle = OracleRouter().fit(test.performance, test.performance, cost=test.cost)
    with pytest.raises(ValueError, match="do not pass an OracleRouter"):
        evaluate(oracle, test, train=train, X=test.performance)
    labels = KNNRouter(n_neighbors=5, target="labels").fit(train.performance, train.performance, cost=train.cost)
    with pytest.raises(ValueError, match="learned labels under 'performance_first'"):
        evaluate(labels, test, train=train, X=test.performance, setting="balance")


def test_bad_choices_and_missing_scores_are_named():
    train, test = _split(_data())
    with pytest.raises(ValueError, match="choices name candidates not in the test data: \\['huge'\\]"):
        evaluate({"r": ["huge"] * len(test)}, test, train=train, n_boot=0)
    with pytest.raises(ValueError, match="3 choices for 24 test queries"):
        evaluate({"r": [0, 1, 2]}, test, train=train, n_boot=0)
    with pytest.raises(ValueError, match="baseline row"):
        evaluate({"oracle": [0] * len(test)}, test, train=train, n_boot=0)
    holes = test.performance.copy()
    holes[2, 1] = np.nan
    gappy = RoutingData.from_arrays(holes, test.cost, query_ids=test.query_ids, tasks=test.tasks, texts=test.texts,
                                    candidates=CANDIDATES, incomplete="drop_candidates")  # fmt: skip
    assert gappy.candidates == ("small/direct", "large/direct")  # the user chose: drop the candidate, counted
    assert gappy.provenance["skipped"]["candidates_incomplete"] == 1


def test_a_candidate_unseen_in_training_and_unseen_tasks_are_counted():
    data = _data()
    train, test = _split(data)
    result = evaluate({"r": [2] * len(test)}, test, train=train.without_candidates(["large"]), n_boot=0)
    assert "large/direct" not in result.choice_counts["best_single_train"]  # baselines choose among trained candidates
    spec = splits.task_ood(data, holdout_tasks=["boolq"], val_size=0.0)
    ood_train, _, ood_test = splits.apply(data, spec)
    ood = evaluate({"r": [0] * len(ood_test)}, ood_test, train=ood_train, n_boot=0)
    assert any("40 test queries have tasks unseen in training (boolq)" in note for note in ood.notes)
    assert ood.value("per_task") == ood.value("best_single_train")


def test_seed_average_is_the_replicate_mean():
    data = _data(n_per_task=50)
    parts = []
    for seed in (0, 1):
        train, test = _split(data, seed)
        parts.append(evaluate({"r": test.performance.argmax(axis=1)}, test, train=train, n_boot=100, seed=seed))
    mean = RoutingEvaluation.average(parts)
    assert mean.seeds == [0, 1]
    assert mean.value("best_single_train") == pytest.approx(np.mean([p.value("best_single_train") for p in parts]))
    j = mean.replicates.index(("r", "perf"))
    np.testing.assert_allclose(mean.replicates.draws[:, j], np.mean([p.replicates.draws[:, j] for p in parts], axis=0))
    assert "seed average" in mean.to_dict()["ci_method"]


def test_per_task_cis_are_the_bootstrap_of_each_tasks_mean():
    train, test = _split(_data(n_per_task=60))
    result = evaluate({"r": test.performance.argmax(axis=1)}, test, train=train, n_boot=300, seed=3)
    values = test.performance[np.arange(len(test)), test.performance.argmax(axis=1)]
    mask = test.tasks == "boolq"
    replicate = np.concatenate(
        [w[:, mask] @ values[mask] / w[:, mask].sum(axis=1) for w in bootstrap_weights(len(test), 300, 3)]
    )
    entry = result.by_task()["r"]["boolq"]
    assert entry["value"] == pytest.approx(values[mask].mean()) and entry["n_queries"] == int(mask.sum())
    np.testing.assert_allclose(entry["ci"], np.nanpercentile(replicate, [2.5, 97.5]))
