"""The near-duplicate check: a question copied with a changed number or word is found, exact copies are left to
the exact gate, unrelated questions of one template are not, and every evaluation's report carries the count."""

from __future__ import annotations

import numpy as np
import pytest

from fusionbench.fusion import RoutingData, evaluate, near_duplicates
from fusionbench.fusion.near_duplicates import NGRAMS, THRESHOLD, ShingleCounts, clear_pool, find_near_duplicates

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


# ---- the pool of n-gram counts: each text counted once per process, results as a vectoriser fitted per split ----
def _vectoriser_pairs(train: RoutingData, test: RoutingData) -> dict[tuple[str, str], float]:
    """The check's pairs computed the way it did before the pool: a vectoriser fitted on the split's two sets."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    from fusionbench.fusion.leakage import normalized_texts

    train_norm, test_norm = normalized_texts(train.texts), normalized_texts(test.texts)
    train_rows = [i for i, t in enumerate(train_norm) if t]
    test_rows = [i for i, t in enumerate(test_norm) if t]
    vectoriser = TfidfVectorizer(analyzer="char", ngram_range=NGRAMS, sublinear_tf=True, dtype=np.float32)
    matrix = vectoriser.fit_transform([train_norm[i] for i in train_rows] + [test_norm[i] for i in test_rows])
    sims = (matrix[len(train_rows) :] @ matrix[: len(train_rows)].T).toarray()
    pairs = {}
    for k, j in enumerate(sims.argmax(axis=1)):
        i, score = test_rows[k], float(sims[k, j])
        if score >= THRESHOLD - 1e-6 and test_norm[i] != train_norm[train_rows[j]]:
            pairs[(str(test.query_ids[i]), str(train.query_ids[train_rows[j]]))] = score
    return pairs


def test_the_pooled_check_finds_the_pairs_of_a_vectoriser_fitted_per_split() -> None:
    """On the embedded LLMRouter data, seeds 0-2 (random splits) and a task-OOD fold: the same pairs, and the
    same similarities up to float32 rounding, as a vectoriser fitted on each split's train and test texts."""
    from fusionbench.fusion import splits
    from fusionbench.fusion.embedded import load

    clear_pool()
    data = load()
    specs = [splits.random(data, seed=seed) for seed in range(3)] + [splits.task_ood(data, domain="math", seed=0)]
    counted = 0
    for spec in specs:
        train, _, test = splits.apply(data, spec)
        found = find_near_duplicates(train.query_ids, train.texts, test.query_ids, test.texts)
        expected = _vectoriser_pairs(train, test)
        assert {(t, r) for t, r, _ in found.pairs} == set(expected), spec.name
        assert all(abs(s - min(expected[(t, r)], 1.0)) < 1e-6 for t, r, s in found.pairs)
        counted += found.count
    assert counted >= 15  # 7, 7 and 6 pairs on the random splits: the comparison is not vacuous


@pytest.fixture
def counted(monkeypatch) -> list[int]:
    """How many new texts each ShingleCounts.add counted, from an empty pool."""
    added: list[int] = []
    add = ShingleCounts.add
    monkeypatch.setattr(ShingleCounts, "add", lambda self, texts: added.append(add(self, texts)) or added[-1])
    clear_pool()
    return added


def test_a_text_is_counted_once_however_many_splits_check_it(counted) -> None:
    ids = [f"q{i}" for i in range(len(TRAIN + TEST))]
    find_near_duplicates(ids[:4], TRAIN, ids[4:], TEST)
    find_near_duplicates(ids[4:], TEST, ids[:4], TRAIN)  # the same texts the other way round
    find_near_duplicates(ids[:2], TRAIN[:2], ids[4:6], TEST[:2])
    assert counted == [8, 0, 0]  # 9 texts, one exact copy: 8 distinct normalised texts, all counted by the first


def test_the_pool_starts_afresh_when_it_is_full(counted, monkeypatch) -> None:
    monkeypatch.setattr(near_duplicates, "POOL_MAX_COUNTS", 10)
    first = find_near_duplicates(["a", "b"], TRAIN[:2], ["c", "d"], TEST[:2])
    find_near_duplicates(["e", "f"], TRAIN[2:], ["g"], TEST[4:])  # new texts, pool over its cap: a fresh pool
    again = find_near_duplicates(["a", "b"], TRAIN[:2], ["c", "d"], TEST[:2])  # counted again
    assert counted == [4, 3, 4] and again == first and first.count == 2


def test_shingle_counts_give_the_tfidf_of_a_vectoriser_fitted_on_the_texts() -> None:
    """Counted in two batches (the second with repeats and a text too short for an n-gram), the TF-IDF of any
    list of counted texts is the vectoriser's fitted on that list, column for column."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    pool = ShingleCounts()
    assert pool.add([t.lower() for t in TRAIN]) == 4
    assert pool.add([t.lower() for t in TRAIN[:2] + TEST] + ["2+2?"]) == 5  # TEST[3] is TRAIN[3]
    chosen = [t.lower() for t in [TEST[0], TRAIN[0], TEST[2], TEST[2], TRAIN[3]]] + ["2+2?"]
    vectoriser = TfidfVectorizer(analyzer="char", ngram_range=NGRAMS, sublinear_tf=True, dtype=np.float32)
    expected = vectoriser.fit_transform(chosen)
    got = pool.tfidf(chosen)
    assert got.shape == expected.shape and np.allclose(got.toarray(), expected.toarray(), rtol=0, atol=1e-7)
    assert pool.tfidf(["2+2?"]) is None


def test_texts_too_short_for_an_n_gram_are_not_checked() -> None:
    short = find_near_duplicates(["a"], ["2+2?"], ["b"], ["3+3?"])
    assert not short.checked and "5-gram" in short.reason
