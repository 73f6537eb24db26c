"""Leakage checks and named splits: schemes, their errors, JSON files, splits stored in an export, and the
overlap LLMRouter's shipped train/test really has."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fusionbench.fusion import RoutingData, splits
from fusionbench.fusion.converters import from_external
from fusionbench.fusion.leakage import LeakageError, assert_no_leakage, check_leakage, normalize_text
from fusionbench.fusion.splits import SplitError, SplitSpec

# LLMRouter's shipped dcrouter_preprocessed split: test questions whose exact text is also a train question.
# Measured two independent ways (RoutingData query ids, and normalised texts), and recomputed below from the
# raw JSON with a plain set intersection: all 119 (gpqa 50, human_eval 50, mbpp 19); 381 test queries are clean.
LLMROUTER_OVERLAP = 119
LLMROUTER_CLEAN_TEST = 381


def _data(n_per_task: int = 10, tasks: tuple[str, ...] = ("gsm8k", "mmlu", "boolq"), seed: int = 0) -> RoutingData:
    rng = np.random.default_rng(seed)
    task_list = [t for t in tasks for _ in range(n_per_task)]
    n = len(task_list)
    return RoutingData.from_arrays(
        rng.integers(0, 2, size=(n, 4)).astype(float),
        rng.uniform(1e-5, 1e-3, size=(n, 4)),
        query_ids=[f"q{i}" for i in range(n)],
        tasks=task_list,
        texts=[f"Question {i} of {t}?" for i, t in enumerate(task_list)],
        candidates=["a/direct", "a/cot", "b/direct", "c/direct"],
    )


# ---- leakage ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("What is  2+2?\nLet's think step by step.", "what is 2+2?"),
        ("WHAT is 2+2?  let’s think step by step", "what is 2+2?"),
        ("Ｗhat is 2+2?", "what is 2+2?"),  # NFKC folds the full-width letter
        ("Let's think step by step about it", "let's think step by step about it"),  # not a suffix
    ],
)
def test_normalize_text(text, normalised):
    assert normalize_text(text) == normalised


def test_check_leakage_by_id_and_by_text():
    train = _data().take(range(0, 20))
    test = _data().take(range(18, 30))  # q18, q19 overlap by id
    texts = test.texts.copy()
    texts[5] = train.texts[3].upper() + "  Let's think step by step."  # same question, other id and form
    test = RoutingData.from_arrays(test.performance, query_ids=test.query_ids, tasks=test.tasks, texts=texts)
    report = check_leakage(train, test)
    assert report.id_overlap == ("q18", "q19") and set(report.text_overlap) == {"q18", "q19", "q23"}
    assert report.leaked_ids == ("q18", "q19", "q23") and len(report.clean_ids) == 9
    assert report.examples[0][:2] == ("q18", "q18")
    with pytest.raises(LeakageError, match="3 of 12 test queries also in train"):
        assert_no_leakage(train, test)
    assert not assert_no_leakage(train, test, allow_overlap=True).ok
    assert check_leakage(train, _data().take(range(20, 30))).ok
    textless = RoutingData.from_arrays(test.performance, query_ids=test.query_ids)
    only_ids = check_leakage(train, textless)
    assert not only_ids.texts_compared and only_ids.leaked_ids == ("q18", "q19")
    assert "texts not compared" in only_ids.summary()


# ---- schemes -----------------------------------------------------------------------------------------
def test_random_is_seeded_stratified_and_leakage_free():
    data = _data()
    spec = splits.random(data, test_size=0.2, val_size=0.1, seed=3)
    assert spec == splits.random(data, test_size=0.2, val_size=0.1, seed=3)
    assert spec.test_ids != splits.random(data, test_size=0.2, val_size=0.1, seed=4).test_ids
    assert spec.counts() == {"train": 21, "val": 3, "test": 6}
    train, val, test = splits.apply(data, spec)
    for part in (train, test):
        assert set(part.tasks.tolist()) == {"gsm8k", "mmlu", "boolq"}
    assert_no_leakage(train, test)
    assert_no_leakage(val, test)
    assert len(set(train.query_ids) | set(val.query_ids) | set(test.query_ids)) == 30


def test_random_keeps_equal_texts_on_one_side():
    data = _data()
    texts = data.texts.copy()
    texts[1::3] = "the same question"  # ten ids share one normalised text
    shared = RoutingData.from_arrays(data.performance, query_ids=data.query_ids, tasks=data.tasks, texts=texts)
    for seed in range(5):
        train, _, test = splits.apply(shared, splits.random(shared, seed=seed))
        assert check_leakage(train, test).ok
        sides = {"train" if q in set(train.query_ids) else "other" for q in shared.query_ids[1::3]}
        assert len(sides) == 1


def test_a_split_that_empties_a_task_or_part_is_an_error():
    tiny = _data().take([0, 1, 10, 20, 21])  # mmlu has one query
    with pytest.raises(SplitError, match="'mmlu' \\(1 queries\\) is too small"):
        splits.random(tiny)
    assert splits.random(tiny, stratify=None, val_size=0).counts()["test"] == 1
    with pytest.raises(SplitError, match="validation part empty"):
        splits.random(_data(2, ("gsm8k",)), val_size=0.1)
    with pytest.raises(SplitError, match="sum below 1"):
        splits.random(_data(), test_size=0.6, val_size=0.5)


def test_task_ood_holds_out_tasks_or_a_domain():
    data = _data()
    spec = splits.task_ood(data, holdout_tasks=["boolq"], seed=1)
    train, val, test = splits.apply(data, spec)
    assert set(test.tasks.tolist()) == {"boolq"} and "boolq" not in set(train.tasks.tolist()) | set(val.tasks.tolist())
    assert spec.counts() == {"train": 18, "val": 2, "test": 10}
    by_domain = splits.task_ood(data, domain="math", val_size=0.0)
    assert by_domain.meta["holdout_tasks"] == ["gsm8k"] and by_domain.name == "task_ood-math"
    with pytest.raises(SplitError, match="not in the data"):
        splits.task_ood(data, holdout_tasks=["hellaswag"])
    with pytest.raises(SplitError, match="leaves train empty"):
        splits.task_ood(data, holdout_tasks=["gsm8k", "mmlu", "boolq"])
    with pytest.raises(SplitError, match="exactly one"):
        splits.task_ood(data)


def test_task_ood_drops_train_copies_of_held_out_texts():
    data = _data()
    texts = data.texts.copy()
    texts[0] = texts[25]  # a gsm8k query with the text of a boolq query
    copied = RoutingData.from_arrays(data.performance, query_ids=data.query_ids, tasks=data.tasks, texts=texts)
    spec = splits.task_ood(copied, holdout_tasks=["boolq"], val_size=0.0)
    assert spec.meta["train_dropped_text_in_test"] == 1 and "q0" not in spec.train_ids
    train, _, test = splits.apply(copied, spec)
    assert check_leakage(train, test).ok


def test_lomo_hides_the_new_model_from_train():
    data = _data()
    spec = splits.lomo(data, "a", seed=2)
    train, val, test = splits.apply(data, spec)
    assert spec.meta["new_candidates"] == ["a/direct", "a/cot"] and spec.meta["k_shot"] == 0
    assert train.candidates == ("b/direct", "c/direct") and val.candidates == train.candidates
    assert test.candidates == data.candidates
    few = splits.lomo(data, "a", k_shot=4, seed=2)
    train, val, _ = splits.apply(data, few)
    labelled = ~np.isnan(train.performance[:, [0, 1]]).any(axis=1)
    assert labelled.sum() == 4 and set(train.query_ids[labelled]) == set(few.meta["k_shot_ids"])
    assert np.isnan(val.performance[:, [0, 1]]).all()
    assert few.test_ids == spec.test_ids  # the same query split
    with pytest.raises(SplitError, match="no candidate of model 'zz'"):
        splits.lomo(data, "zz")
    with pytest.raises(SplitError, match="k_shot=100"):
        splits.lomo(data, "a", k_shot=100)


def test_naive_is_transductive_and_fails_the_leakage_check():
    data = _data()
    spec = splits.naive(data)
    assert spec.transductive and spec.train_ids == spec.test_ids
    train, _, test = splits.apply(data, spec)
    assert train.provenance["transductive"] is True
    with pytest.raises(LeakageError):
        assert_no_leakage(train, test)


def test_spec_json_round_trip_and_errors(tmp_path):
    spec = splits.random(_data(), seed=0)
    path = spec.save(tmp_path / "s" / "random.json")
    assert SplitSpec.load(path) == spec and json.loads(path.read_text())["counts"] == spec.counts()
    with pytest.raises(SplitError, match="not a fusionbench split file"):
        SplitSpec.from_json('{"name": "x"}')
    with pytest.raises(SplitError, match="in test and in train"):
        SplitSpec("bad", "random", 0, ("a",), (), ("a",))
    with pytest.raises(SplitError, match="split name"):
        SplitSpec("a b", "random", 0, (), (), ())
    other = _data(seed=1).take(range(5))
    with pytest.raises(SplitError, match="ids are not in"):
        splits.apply(other, spec)


# ---- on exports and on LLMRouter -------------------------------------------------------------------------
def test_release_split_of_an_export_and_its_card_entry(sample_export, tmp_path):
    import shutil

    from datasets import load_dataset

    export = tmp_path / "export"
    shutil.copytree(sample_export, export)
    data = RoutingData.from_export(export, incomplete="drop_queries")
    spec = splits.release(data)
    assert spec.counts()["train"] == len(data.split("train"))
    assert spec.counts()["test"] == len(data.split("test")) - spec.meta["removed_from_test"]
    splits.write_to_export(export, spec)
    splits.write_to_export(export, splits.random(data, stratify="domain", seed=1))
    assert set(splits.list_splits(export)) == {"release", "random-1"}
    card = (export / "README.md").read_text()
    assert "## Splits" in card and "`splits/random-1.json`" in card and "`splits/release.json`" in card
    assert load_dataset(str(export), "gsm8k", split="train").num_rows > 0  # the card still loads


def test_llmrouter_shipped_overlap_and_release_split(shared_data):
    data = from_external("llmrouter", shared_data / "routing" / "llmrouter")
    raw = {
        split: [q["question"] for q in json.loads(Path(path).read_text())]
        for split, path in (
            ("train", shared_data / "routing/llmrouter/data/dcrouter_preprocessed/train.json"),
            ("test", shared_data / "routing/llmrouter/data/dcrouter_preprocessed/test.json"),
        )
    }
    plain_overlap = len(set(raw["test"]) & set(raw["train"]))  # third, independent derivation
    report = check_leakage(data.split("train"), data.split("test"))
    assert len(report.id_overlap) == len(report.text_overlap) == plain_overlap == LLMROUTER_OVERLAP
    assert len(report.clean_ids) == LLMROUTER_CLEAN_TEST
    with pytest.raises(LeakageError, match=f"{LLMROUTER_OVERLAP} of 500 test queries also in train"):
        assert_no_leakage(data.split("train"), data.split("test"))
    spec = splits.release(data)
    assert spec.meta["removed_from_test"] == LLMROUTER_OVERLAP
    train, _, test = splits.apply(data, spec)
    assert len(train) == 5_608 and len(test) == LLMROUTER_CLEAN_TEST
    assert set(test.splits.tolist()) == {"test"}  # test rows are the shipped test copies
    assert_no_leakage(train, test)
    for spec in (splits.random(data, seed=0), splits.task_ood(data, domain="code")):
        train, val, test = splits.apply(data, spec)
        assert_no_leakage(train, test)
        assert_no_leakage(val, test)


def test_release_split_removes_test_queries_that_leak_by_text_only():
    """A test query with its own id whose normalised text is a train question is removed, as is one leaking by id."""
    n = 8
    texts = [f"Question {i}: how many apples?" for i in range(n)]
    texts[6] = "  QUESTION 1:   how many   APPLES?"  # test, new id, same normalised text as train query q1
    query_ids = [f"q{i}" for i in range(n)]
    query_ids[7] = "q2"  # test, leaks by id (its text is new)
    texts[7] = "A question never asked in train."
    data = RoutingData.from_arrays(
        np.tile([1.0, 0.0], (n, 1)),
        query_ids=query_ids,
        tasks=["gsm8k"] * n,
        texts=texts,
        candidates=["a/direct", "b/direct"],
        splits=np.array(["train"] * 4 + ["test"] * 4),
    )
    spec = splits.release(data)
    assert list(spec.test_ids) == ["q4", "q5"]
    assert spec.meta["removed_by_text"] == 1 and spec.meta["removed_by_id"] == 1
    assert sorted(spec.meta["removed_ids"]) == ["q2", "q6"]
