"""The near-duplicate check: a question copied with a changed number or word is found, exact copies are left to
the exact gate, unrelated questions of one template are not, and every evaluation's report carries the count."""

from __future__ import annotations

import numpy as np

from fusionbench.fusion import RoutingData, evaluate
from fusionbench.fusion.near_duplicates import THRESHOLD, find_near_duplicates

TRAIN = [
    "Write a function to check whether the given month name contains 30 days or not, and test it on every month.",
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May.",
    "Which planet is known as the red planet? Answer with the letter of the right option.",
    "A train leaves the station at 3 pm travelling at 60 miles per hour towards the coast.",
]
TEST = [
    "Write a function to check whether the given month name contains 28 days or not, and test it on every month.",
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in June.",  # word
    "Which gas do plants absorb from the air? Answer with the letter of the right option.",  # template only
    "A train leaves the station at 3 pm travelling at 60 miles per hour towards the coast.",  # exact copy
    "Compute the derivative of x squared plus seven.",
]


def test_near_duplicates_found_exact_and_unrelated_left_out() -> None:
    found = find_near_duplicates([f"tr{i}" for i in range(4)], TRAIN, [f"te{i}" for i in range(5)], TEST)
    assert found.count == 2
    assert {(t, r) for t, r, _ in found.pairs} == {("te0", "tr0"), ("te1", "tr1")}
    assert all(THRESHOLD <= s <= 1.0 for _, _, s in found.pairs)
    assert found.examples[0]["test_text"] in TEST
    payload = found.to_dict()
    assert payload["count"] == 2 and "5-gram" in payload["method"] and payload["threshold"] == 0.9


def test_a_higher_threshold_finds_fewer_and_missing_texts_are_not_checked() -> None:
    strict = find_near_duplicates(["a", "b"], TRAIN[:2], ["c", "d"], TEST[:2], threshold=0.999)
    assert strict.count == 0
    none = find_near_duplicates(["a"], [None], ["b"], ["text"])
    assert not none.checked and "no texts" in none.summary()


def test_every_evaluation_records_near_duplicates() -> None:
    texts = TRAIN + TEST[:3] + TEST[4:]
    tasks = ["t"] * len(texts)
    perf = np.tile([[1.0, 0.0]], (len(texts), 1))
    data = RoutingData.from_arrays(perf, candidates=["a", "b"], tasks=tasks, texts=texts)
    train, test = data.subset(data.query_ids[:4]), data.subset(data.query_ids[4:])
    ev = evaluate(["a"] * test.n_queries, test, train=train, n_boot=20)
    near = ev.to_dict()["leakage"][0]["near_duplicates"]
    assert near["checked"] and near["count"] == 2
    assert sorted(p[0] for p in near["pairs"]) == sorted(str(q) for q in test.query_ids[:2])


def test_the_report_lists_the_near_duplicate_pairs() -> None:
    from fusionbench.fusion.report.tables import render
    from fusionbench.fusion.report.write import evaluation_report

    texts = TRAIN + TEST[:3] + TEST[4:]
    data = RoutingData.from_arrays(
        np.tile([[1.0, 0.0]], (len(texts), 1)), candidates=["a", "b"], tasks=["t"] * len(texts), texts=texts
    )
    train, test = data.subset(data.query_ids[:4]), data.subset(data.query_ids[4:])
    ev = evaluate(["a"] * test.n_queries, test, train=train, n_boot=20)
    text = render(evaluation_report({"performance_first": ev}, test, label="eval", seed=0))
    assert "test queries with a near duplicate in train: 2 of 4" in text
    assert "contains 28 days" in text and "contains 30 days" in text
