"""Near-duplicate train/test pairs: TF-IDF cosine of character n-grams above a documented threshold.

The exact leakage gate (:mod:`fusionbench.fusion.leakage`) catches a test query whose id or *normalised* text is in
train. It misses a question copied with a changed number, a reworded stem, other answer options or a truncated
prompt. This check catches those: every text is normalised as the gate does
(:func:`~fusionbench.fusion.leakage.normalize_text`), turned into TF-IDF weights of its character 5-gram shingles
(sublinear term frequency, L2-normalised; the vocabulary and IDF fitted on the two sets together), and each test
text is compared with every train text by cosine similarity (sparse products in blocks of :data:`BLOCK` test rows,
so memory stays at ``BLOCK x n_train`` floats). A pair at or above :data:`THRESHOLD` (0.9) whose normalised texts
differ is a near duplicate; exact matches are the gate's and are not counted twice.

Why 0.9: on character 5-grams two unrelated questions of one task that share a template score well below it; the
same question with a word, a number or an option changed scores 0.9-0.99 (on LLMRouter's data: "contains 28 days" vs
"contains 30 days", "count the number of unique lists" vs "count number of unique lists"). The check reports, it
does not fail an evaluation: near duplicates are counted and listed in every report (``leakage.near_duplicates``),
so a reader can judge them.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    from sklearn.feature_extraction.text import TfidfVectorizer

    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must lie in (0, 1], not {threshold}")
    train_norm, test_norm = normalized_texts(train_texts), normalized_texts(test_texts)
    train_rows = [i for i, t in enumerate(train_norm) if t]
    test_rows = [i for i, t in enumerate(test_norm) if t]
    if not train_rows or not test_rows:
        return unchecked("a side has no texts", len(train_ids), len(test_ids))
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=NGRAMS, sublinear_tf=True, dtype=np.float32)
    matrix = vectorizer.fit_transform([train_norm[i] for i in train_rows] + [test_norm[i] for i in test_rows])
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
