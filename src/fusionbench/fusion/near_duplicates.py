"""Near-duplicate train/test pairs: TF-IDF cosine of character n-grams above a documented threshold.

The exact leakage gate (:mod:`fusionbench.fusion.leakage`) catches a test query whose id or *normalised* text is in
train. It misses a question copied with a changed number, a reworded stem, other answer options or a truncated
prompt. This check catches those: every text is normalised as the gate does
(:func:`~fusionbench.fusion.leakage.normalize_text`), turned into TF-IDF weights of its character 5-gram shingles
(sublinear term frequency, L2-normalised; the vocabulary and IDF fitted on the two sets together), and each test
text is compared with every train text by cosine similarity (sparse products in blocks of :data:`BLOCK` test rows,
so memory stays at ``BLOCK x n_train`` floats). A pair at or above :data:`THRESHOLD` (0.9) whose normalised texts
differ is a near duplicate; exact matches are the gate's and are not counted twice.

Counting each text's n-grams is most of the work (5-12 s on a large split), and the splits of one data set (seeds,
out-of-distribution folds) share their texts. So the counts are kept in a process-wide pool (:class:`ShingleCounts`,
columns = n-grams in sorted order): a text is counted once, the first time a check sees it, and every check selects
its rows. The IDF is still fitted on that check's two sets (train and test) only, so a similarity, and therefore
what the threshold means, does not depend on the rest of the data or on what was checked before: the matrix equals
a vectoriser fitted on the two sets, up to the order of the floating-point sums (1e-7).

Why 0.9: on character 5-grams two unrelated questions of one task that share a template score well below it; the
same question with a word, a number or an option changed scores 0.9-0.99 (on LLMRouter's data: "contains 28 days" vs
"contains 30 days", "count the number of unique lists" vs "count number of unique lists"). The check reports, it
does not fail an evaluation: near duplicates are counted and listed in every report (``leakage.near_duplicates``),
so a reader can judge them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fusionbench.fusion.leakage import normalized_texts

#: the cosine similarity at or above which a train/test pair of differing normalised texts is a near duplicate
THRESHOLD = 0.9
#: the character n-gram sizes (within word boundaries)
NGRAMS = (5, 5)
#: test rows per sparse product block
BLOCK = 512
#: the pool of n-gram counts starts afresh when it would hold more stored counts than this (~8 bytes each)
POOL_MAX_COUNTS = 50_000_000
#: the method, as reports state it
METHOD = (
    f"TF-IDF cosine of character {NGRAMS[0]}-gram shingles (sublinear tf) of the normalised texts >= {THRESHOLD}, "
    "exact matches excluded"
)


@dataclass(frozen=True)
class NearDuplicates:
    """Near-duplicate pairs of a test set against a training set.

    ``pairs``: ``(test id, train id, similarity)`` of every test query's most similar train query at or above
    the threshold (one pair per test query), most similar first; ``examples``: the first few with both texts.
    """

    threshold: float
    n_train: int
    n_test: int
    pairs: tuple[tuple[str, str, float], ...]
    examples: tuple[dict[str, Any], ...] = field(default=())
    checked: bool = True
    reason: str = ""

    @property
    def count(self) -> int:
        """Test queries with a near duplicate in train."""
        return len(self.pairs)

    def summary(self) -> str:
        if not self.checked:
            return f"near-duplicate check not run: {self.reason}"
        return (
            f"{self.count:,} of {self.n_test:,} test queries have a near duplicate in train "
            f"(cosine >= {self.threshold})"
        )

    def to_dict(self, n_pairs: int = 20) -> dict[str, Any]:
        """JSON-ready: the count, the method and up to ``n_pairs`` pairs."""
        return {
            "checked": self.checked,
            "reason": self.reason,
            "method": METHOD if self.threshold == THRESHOLD else METHOD.replace(str(THRESHOLD), str(self.threshold)),
            "threshold": self.threshold,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "count": self.count,
            "pairs": [[t, r, round(s, 4)] for t, r, s in self.pairs[:n_pairs]],
            "examples": list(self.examples),
        }


class ShingleCounts:
    """Character n-gram counts of a growing set of normalised texts, each text counted once.

    ``counts`` has a row per text (``rows``: text -> row) and a column per n-gram, the n-grams in sorted order
    (``terms``), float32 as the vectoriser counts. :meth:`tfidf` selects the rows of a list of texts.
    """

    def __init__(self) -> None:
        from scipy.sparse import csr_matrix

        self.rows: dict[str, int] = {}
        self.terms: np.ndarray = np.array([], dtype=object)
        self.counts = csr_matrix((0, 0), dtype=np.float32)

    @property
    def size(self) -> int:
        """Stored counts (non-zero cells)."""
        return int(self.counts.nnz)

    def add(self, texts: Iterable[str]) -> int:
        """Count the n-grams of the texts not counted yet; returns how many were new."""
        from scipy.sparse import csr_matrix, vstack
        from sklearn.feature_extraction.text import CountVectorizer

        new = [t for t in dict.fromkeys(texts) if t not in self.rows]
        if not new:
            return 0
        counter = CountVectorizer(analyzer="char", ngram_range=NGRAMS, dtype=np.float32)
        try:
            fresh, fresh_terms = counter.fit_transform(new), counter.get_feature_names_out().astype(object)
        except ValueError:  # "empty vocabulary": no new text is as long as an n-gram
            fresh, fresh_terms = csr_matrix((len(new), 0), dtype=np.float32), np.array([], dtype=object)
        terms = np.union1d(self.terms, fresh_terms)

        def widened(matrix: Any, old_terms: np.ndarray) -> Any:
            columns = np.searchsorted(terms, old_terms).astype(matrix.indices.dtype)[matrix.indices]
            return csr_matrix((matrix.data, columns, matrix.indptr), shape=(matrix.shape[0], len(terms)))

        counts = vstack([widened(self.counts, self.terms), widened(fresh, fresh_terms)], format="csr")
        counts.sort_indices()
        self.rows.update(zip(new, range(len(self.rows), len(self.rows) + len(new)), strict=True))
        self.terms, self.counts = terms, counts
        return len(new)

    def tfidf(self, texts: Sequence[str]) -> Any:
        """The TF-IDF matrix of ``texts`` (all counted; repeats kept), the IDF fitted on them, columns = their
        n-grams in sorted order: what ``TfidfVectorizer(analyzer="char", ngram_range=NGRAMS, sublinear_tf=True)``
        fitted on ``texts`` gives. None when no text has an n-gram."""
        from sklearn.feature_extraction.text import TfidfTransformer

        selected = self.counts[[self.rows[t] for t in texts]]
        used = np.flatnonzero(selected.getnnz(axis=0))
        if not len(used):
            return None
        return TfidfTransformer(sublinear_tf=True).fit_transform(selected[:, used])


_POOL = ShingleCounts()
_POOL_LOCK = threading.Lock()


def shingle_tfidf(texts: Sequence[str]) -> Any:
    """:meth:`ShingleCounts.tfidf` of normalised ``texts`` from the process-wide pool, counting the texts it has
    not seen; the pool starts afresh before it would outgrow :data:`POOL_MAX_COUNTS`."""
    global _POOL
    with _POOL_LOCK:
        if _POOL.size > POOL_MAX_COUNTS and not _POOL.rows.keys() >= set(texts):
            _POOL = ShingleCounts()
        _POOL.add(texts)
        return _POOL.tfidf(texts)


def clear_pool() -> None:
    """Forget every counted text (and the cached results of :func:`near_duplicates_of`)."""
    global _POOL
    with _POOL_LOCK:
        _POOL = ShingleCounts()
    _CACHE.clear()


def unchecked(reason: str, n_train: int = 0, n_test: int = 0) -> NearDuplicates:
    """The result when the check cannot run (no texts on a side)."""
    return NearDuplicates(THRESHOLD, n_train, n_test, (), checked=False, reason=reason)


def find_near_duplicates(
    train_ids: Sequence[Any],
    train_texts: Sequence[str | None] | np.ndarray | None,
    test_ids: Sequence[Any],
    test_texts: Sequence[str | None] | np.ndarray | None,
    *,
    threshold: float = THRESHOLD,
    n_examples: int = 5,
) -> NearDuplicates:
    """Every test query's most similar train query when their cosine is at least ``threshold`` and their
    normalised texts differ (see the module docstring)."""
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must lie in (0, 1], not {threshold}")
    train_norm, test_norm = normalized_texts(train_texts), normalized_texts(test_texts)
    train_rows = [i for i, t in enumerate(train_norm) if t]
    test_rows = [i for i, t in enumerate(test_norm) if t]
    if not train_rows or not test_rows:
        return unchecked("a side has no texts", len(train_ids), len(test_ids))
    matrix = shingle_tfidf([train_norm[i] for i in train_rows] + [test_norm[i] for i in test_rows])
    if matrix is None:
        return unchecked(f"no text has a character {NGRAMS[0]}-gram", len(train_ids), len(test_ids))
    train_m, test_m = matrix[: len(train_rows)], matrix[len(train_rows) :]
    train_t = train_m.T.tocsr()
    found: list[tuple[int, int, float]] = []
    for start in range(0, len(test_rows), BLOCK):
        sims = np.asarray((test_m[start : start + BLOCK] @ train_t).todense())
        best = sims.argmax(axis=1)
        for offset, j in enumerate(best):
            score = float(sims[offset, j])
            i = test_rows[start + offset]
            if score >= threshold - 1e-6 and test_norm[i] != train_norm[train_rows[j]]:
                found.append((i, train_rows[int(j)], min(score, 1.0)))
    found.sort(key=lambda item: -item[2])
    pairs = tuple((str(test_ids[i]), str(train_ids[j]), s) for i, j, s in found)
    examples = tuple(
        {"test_id": str(test_ids[i]), "train_id": str(train_ids[j]), "similarity": round(s, 4),
         "test_text": str(test_texts[i])[:160], "train_text": str(train_texts[j])[:160]}  # type: ignore[index]
        for i, j, s in found[:n_examples]
    )  # fmt: skip
    return NearDuplicates(threshold, len(train_ids), len(test_ids), pairs, examples)


_CACHE: dict[tuple[int, int, float], NearDuplicates] = {}


def near_duplicates_of(train: Any, test: Any, *, threshold: float = THRESHOLD) -> NearDuplicates:
    """:func:`find_near_duplicates` of two query sets (``query_ids`` and ``texts``, e.g. RoutingData), cached by
    content: a benchmark checks the same split for every setting and protocol."""
    if train.texts is None or test.texts is None:
        return unchecked("a side has no texts", len(train.query_ids), len(test.query_ids))
    key = (_digest(train), _digest(test), threshold)
    if key not in _CACHE:
        if len(_CACHE) > 32:
            _CACHE.clear()
        _CACHE[key] = find_near_duplicates(
            train.query_ids, train.texts, test.query_ids, test.texts, threshold=threshold
        )
    return _CACHE[key]


def _digest(data: Any) -> int:
    return hash((tuple(map(str, data.query_ids)), tuple(map(str, data.texts))))
