"""Train/test leakage: exact ``query_id`` overlap and normalised-text overlap between two query sets.

Every evaluation runs :func:`assert_no_leakage` first; it raises :class:`LeakageError` on any overlap unless
``allow_overlap=True``. Texts are compared after :func:`normalize_text` (Unicode NFKC, lowercase, whitespace
collapsed, a trailing chain-of-thought cue such as "Let's think step by step." stripped), so the direct and
chain-of-thought prompts of one question, or a question copied with other spacing, count as the same query.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

import numpy as np

_COT_SUFFIX = re.compile(r"\s*let['’]?s think step by step\s*[.!:]?\s*$")
#: longer than any match of _COT_SUFFIX once whitespace is collapsed (at most 27 characters), so the suffix is
#: searched for in the last _TAIL characters only
_TAIL = 32


class LeakageError(ValueError):
    """Test queries also occur in the training data (by id or by normalised text)."""


class _Queries(Protocol):
    query_ids: np.ndarray
    texts: np.ndarray | None


def normalize_text(text: str | None) -> str | None:
    """The text leakage checks compare: NFKC, lowercase, whitespace collapsed, trailing CoT cue stripped."""
    if text is None:
        return None
    return _normalize(text)


@lru_cache(maxsize=1 << 16)
def _normalize(text: str) -> str:
    """``str.split()`` splits on exactly the characters ``re``'s ``\\s`` matches (``str.isspace``), so the join is
    the collapse; the CoT cue is searched for in the tail only. Cached: a benchmark checks the same texts for
    every setting and protocol."""
    folded = " ".join(unicodedata.normalize("NFKC", text).lower().split())
    return (folded[:-_TAIL] + _COT_SUFFIX.sub("", folded[-_TAIL:])).strip()


def normalized_texts(texts: Sequence[str | None] | np.ndarray | None) -> list[str | None]:
    """:func:`normalize_text` of each text (an empty text counts as absent: None)."""
    if texts is None:
        return []
    return [None if t is None else _normalize(t) or None for t in texts]


@dataclass(frozen=True)
class LeakageReport:
    """What a test set shares with a training set.

    ``id_overlap`` and ``text_overlap`` list the test query ids whose id, respectively normalised text,
    also occurs in train; ``leaked_ids`` is their union and ``clean_ids`` the remaining test ids (in test
    order, each once). ``examples`` are up to a few (test id, train id, text) triples of text overlaps.
    ``texts_compared`` is False when either side has no texts (only ids were compared).
    """

    n_train: int
    n_test: int
    id_overlap: tuple[str, ...]
    text_overlap: tuple[str, ...]
    leaked_ids: tuple[str, ...]
    clean_ids: tuple[str, ...]
    texts_compared: bool
    examples: tuple[tuple[str, str, str], ...] = field(default=())

    @property
    def ok(self) -> bool:
        """True when no test query occurs in train."""
        return not self.leaked_ids

    def summary(self) -> str:
        """One line for logs and error messages."""
        texts = (
            f"{len(self.text_overlap):,} by normalised text"
            if self.texts_compared
            else "texts not compared (a side has none)"
        )
        return (
            f"{len(self.leaked_ids):,} of {self.n_test:,} test queries also in train "
            f"({len(self.id_overlap):,} by query_id, {texts}); {len(self.clean_ids):,} clean"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready counts, ids and examples."""
        return {
            "n_train": self.n_train,
            "n_test": self.n_test,
            "n_id_overlap": len(self.id_overlap),
            "n_text_overlap": len(self.text_overlap),
            "n_leaked": len(self.leaked_ids),
            "n_clean": len(self.clean_ids),
            "texts_compared": self.texts_compared,
            "leaked_ids": list(self.leaked_ids),
            "examples": [list(e) for e in self.examples],
        }


def check_leakage(train: _Queries, test: _Queries, *, n_examples: int = 5) -> LeakageReport:
    """Compare two query sets (anything with ``query_ids`` and ``texts``, e.g. :class:`RoutingData`)."""
    train_norms, test_norms = normalized_texts(train.texts), normalized_texts(test.texts)
    texts_compared = any(t is not None for t in train_norms) and any(t is not None for t in test_norms)
    return overlap_report(train.query_ids, train_norms, test, test_norms if texts_compared else None, n_examples)


def overlap_report(
    train_ids: Sequence[Any],
    train_keys: Sequence[str | None],
    test: _Queries,
    test_keys: Sequence[str | None] | None,
    n_examples: int = 5,
) -> LeakageReport:
    """The report of ``test`` against training queries given by id and text key (a normalised text, or its
    hash); ``test_keys`` None when the texts cannot be compared. A test query leaks by id or by key."""
    train_set = {str(q) for q in train_ids}
    test_ids = [str(q) for q in dict.fromkeys(test.query_ids)]
    id_overlap = [q for q in test_ids if q in train_set]
    text_overlap: list[str] = []
    examples: list[tuple[str, str, str]] = []
    if test_keys is not None:
        train_by_key: dict[str, str] = {}
        for qid, key in zip(train_ids, train_keys, strict=True):
            if key is not None:
                train_by_key.setdefault(key, str(qid))
        seen: set[str] = set()
        for qid, key, raw in zip(test.query_ids, test_keys, test.texts, strict=True):
            qid = str(qid)
            if key is None or key not in train_by_key or qid in seen:
                continue
            seen.add(qid)
            text_overlap.append(qid)
            if len(examples) < n_examples:
                examples.append((qid, train_by_key[key], str(raw)[:120]))
    leaked = set(id_overlap) | set(text_overlap)
    return LeakageReport(
        n_train=len(train_set),
        n_test=len(test_ids),
        id_overlap=tuple(id_overlap),
        text_overlap=tuple(text_overlap),
        leaked_ids=tuple(q for q in test_ids if q in leaked),
        clean_ids=tuple(q for q in test_ids if q not in leaked),
        texts_compared=test_keys is not None,
        examples=tuple(examples),
    )


def assert_no_leakage(train: _Queries, test: _Queries, *, allow_overlap: bool = False) -> LeakageReport:
    """:func:`check_leakage`, raising :class:`LeakageError` on any overlap unless ``allow_overlap``."""
    report = check_leakage(train, test)
    if not report.ok and not allow_overlap:
        shown = "; ".join(f"{test_id} ~ train {train_id}: {text!r}" for test_id, train_id, text in report.examples)
        raise LeakageError(
            f"train/test leakage: {report.summary()}. Examples: {shown or ', '.join(report.id_overlap[:5])}. "
            "Use a leakage-safe split (splits.release removes them) or pass allow_overlap=True."
        )
    return report
