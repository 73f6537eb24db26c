"""Open-answer QA (natural_qa, trivia_qa, squad) and boolq scoring.

QA answers are compared after SQuAD normalisation (lowercase, no punctuation, no articles, single
spaces). The release's "contains exact match" is kept but made whole-word: the normalised gold must
occur in the normalised prediction as a run of whole tokens, so "1" no longer matches "1990" and
"true" no longer matches "untrue". Every gold alias counts, not just the first one.
"""

from __future__ import annotations

import ast
import re
import string
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache

from fusionbench.metrics.textscan import last_match_after, word_positions

_PUNCT = str.maketrans("", "", string.punctuation + "‘’“”–—…")
_ARTICLES = frozenset({"a", "an", "the"})


@lru_cache(maxsize=65536)
def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lowercase, strip punctuation and articles, collapse white space."""
    return " ".join(w for w in text.lower().translate(_PUNCT).split() if w not in _ARTICLES)


def gold_aliases(ground_truth: object, aliases: Iterable[str] | None = None) -> tuple[str, ...]:
    """All gold answers: ``ground_truth`` (a string, a list, or a list's Python repr) plus ``aliases``."""
    golds: list[str] = []
    if isinstance(ground_truth, str):
        text = ground_truth.strip()
        if text.startswith("[") and text.endswith("]"):
            try:
                value = ast.literal_eval(text)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                value = None
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                golds.extend(value)
            else:
                golds.append(ground_truth)
        else:
            golds.append(ground_truth)
    elif isinstance(ground_truth, Iterable) and not isinstance(ground_truth, (bytes, Mapping)):
        golds.extend(str(g) for g in ground_truth)  # lists, tuples, numpy arrays
    elif ground_truth is not None:
        golds.append(str(ground_truth))
    if aliases is not None and not isinstance(aliases, str):
        golds.extend(str(a) for a in aliases)
    elif isinstance(aliases, str):
        golds.append(aliases)
    return tuple(dict.fromkeys(g for g in golds if g and g.strip()))


def _contains(pred_norm: str, gold_norm: str) -> bool:
    return bool(gold_norm) and f" {gold_norm} " in f" {pred_norm} "


def contains_match(prediction: str, golds: Sequence[str]) -> float:
    """1.0 when some normalised gold occurs in the normalised prediction as whole tokens."""
    pred = normalize_answer(prediction)
    return 1.0 if any(_contains(pred, normalize_answer(g)) for g in golds) else 0.0


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    """1.0 when the normalised prediction equals some normalised gold."""
    pred = normalize_answer(prediction)
    return 1.0 if any(pred == normalize_answer(g) for g in golds) else 0.0


def _f1(pred_tokens: list[str], gold_tokens: list[str]) -> float:
    if not pred_tokens or not gold_tokens:
        return float(pred_tokens == gold_tokens)
    common = Counter(pred_tokens) & Counter(gold_tokens)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred_tokens), same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def f1_score(prediction: str, golds: str | Sequence[str]) -> float:
    """SQuAD token F1 between the prediction and the best-matching gold."""
    if isinstance(golds, str):
        golds = [golds]
    pred_tokens = normalize_answer(prediction).split()
    return max((_f1(pred_tokens, normalize_answer(g).split()) for g in golds), default=0.0)


def qa_details(response: str, ground_truth: object, aliases: Iterable[str] | None = None) -> dict[str, float]:
    """``acc`` (whole-word contains match), ``em`` (exact match) and ``f1`` over all gold aliases."""
    golds = gold_aliases(ground_truth, aliases)
    if not golds:
        return {"acc": 0.0, "em": 0.0, "f1": 0.0}
    return {
        "acc": contains_match(response, golds),
        "em": exact_match(response, golds),
        "f1": f1_score(response, golds),
    }


# ---------------------------------------------------------------- boolq
_POSITIVE = ("true", "yes")
_NEGATIVE = ("false", "no")
_BOOL_ANSWER = re.compile(r"(?i:answer)\s*(?:is\b|:)?\s*[:\-]?\s*[*_\"'(\[]*\s*(?i:(true|false|yes|no))\b")


def _has_word(lowered: str, words: tuple[str, ...]) -> bool:
    return any(next(word_positions(lowered, w), None) is not None for w in words)


def _polarity(lowered: str) -> bool | None:
    positive, negative = _has_word(lowered, _POSITIVE), _has_word(lowered, _NEGATIVE)
    return positive if positive != negative else None


@lru_cache(maxsize=1024)
def parse_bool(text: str) -> bool | None:
    """A gold truth value from ``text`` ('True', 'no', ...): None unless exactly one polarity occurs."""
    return _polarity(text.lower())


def extract_bool(response: str) -> bool | None:
    """The response's truth value: an explicit 'answer is X' / 'Answer: X' wins; else the whole-word
    true/false/yes/no found, None when both polarities (or neither) occur. 'untrue' is not 'true'."""
    lowered = response.lower()
    explicit = last_match_after(response, ("answer",), _BOOL_ANSWER, lowered)
    if explicit is not None:
        return explicit.group(1).lower() in _POSITIVE
    return _polarity(lowered)


def boolq_score(response: str, ground_truth: object) -> float:
    """1.0 when the response's truth value equals the gold's."""
    gold = ground_truth if isinstance(ground_truth, bool) else parse_bool(str(ground_truth))
    pred = extract_bool(response)
    return 1.0 if gold is not None and pred is gold else 0.0
