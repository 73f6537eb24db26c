"""``EvaluationOptions``: the keywords ``evaluate_trained`` and ``evaluate_choices`` share, as one frozen value.
Given as ``options=`` or as keywords, the same evaluation; a keyword overrides the options; the data's read
options still reach the loader."""

from __future__ import annotations

import dataclasses

import pytest

from fusionbench.fusion import experiment
from fusionbench.fusion.experiment import EvaluationOptions


@pytest.fixture(scope="module")
def knn(tmp_path_factory) -> experiment.TrainedRouter:
    folder = tmp_path_factory.mktemp("options") / "knn"
    return experiment.train(None, "knn", params={"n_neighbors": 20}, features="tfidf:64", split="random", out=folder)


def test_options_and_keywords_give_the_same_evaluation(knn) -> None:
    options = EvaluationOptions(n_boot=30, seed=3, name="r", setting="all")
    by_options = experiment.evaluate_trained(knn, options=options)
    by_keywords = experiment.evaluate_trained(knn, n_boot=30, seed=3, name="r", setting="all")
    assert by_options.to_dict()["evaluations"] == by_keywords.to_dict()["evaluations"]
    assert (by_options.part, by_options.protocol, by_options.seed) == ("test", "fusionbench", 3)
    assert by_options.evaluations["performance_first"].n_boot == 30


def test_a_keyword_overrides_the_options(knn) -> None:
    options = EvaluationOptions(n_boot=20, name="from-options", part_name="val")
    run = experiment.evaluate_trained(knn, options=options, name="from-keyword")
    rows = run.evaluations["performance_first"].rows()
    assert "from-keyword" in rows and "from-options" not in rows
    assert run.part == "val" and run.test.n_queries == len(knn.split.val_ids)
    assert options.name == "from-options"  # the options themselves are unchanged


def test_choices_take_options_and_the_data_read_options(knn) -> None:
    from collections import Counter

    table = experiment.predict(knn)
    picked = dict(zip(table["query_id"].to_pylist(), table["candidate"].to_pylist(), strict=True))
    kept = sorted(c for c, _ in Counter(picked.values()).most_common(3))
    choices = {q: c for q, c in picked.items() if c in kept}
    options = EvaluationOptions(split=knn.split, n_boot=20, name="picked")
    run = experiment.evaluate_choices(choices, options=options, candidates=kept)  # a read option: to the loader
    assert sorted(run.test.candidates) == kept and run.test.n_queries == len(choices)
    evaluation = run.evaluations["performance_first"]
    assert "picked" in evaluation.rows() and any("have no choice" in note for note in evaluation.notes)


def test_split_keywords_separates_the_options_from_the_read_options() -> None:
    options, read = EvaluationOptions.split_keywords(EvaluationOptions(seed=4), {"n_boot": 5, "incomplete": "x"})
    assert options == EvaluationOptions(seed=4, n_boot=5) and read == {"incomplete": "x"}
    assert options.evaluate_keywords() == {"protocol": "fusionbench", "n_boot": 5, "seed": 4, "allow_overlap": False}
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.seed = 1  # type: ignore[misc]
