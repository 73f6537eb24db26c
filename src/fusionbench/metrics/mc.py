"""Multiple choice (commonsense_qa, openbook_qa, arc_challenge, hellaswag, mmlu, gpqa).

The answer is the last parenthesised label, ``(B)`` (or ``(2)`` for ARC's digit labels); failing that,
"answer is B" / "Answer: B" / "correct option is B"; then a response that starts with a label
("B. text", "B) text") or is a lone label; then a response equal to one option's text. A label that
is not one of the item's labels scores 0.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from fusionbench.metrics.qa import normalize_answer
from fusionbench.metrics.textscan import word_positions

_LETTERS = "ABCDEFGHIJ"
#: Labels when an item comes without ``choice_labels`` or ``choices``.
DEFAULT_LABELS: dict[str, tuple[str, ...]] = {
    "commonsense_qa": tuple("ABCDE"),
    "openbook_qa": tuple("ABCD"),
    "arc_challenge": (*"ABCDE", *"12345"),
    "hellaswag": tuple("ABCD"),
    "mmlu": tuple("ABCD"),
    "gpqa": tuple("ABCD"),
}
_PAREN = {"letter": re.compile(r"\(\s*([A-Z])\s*\)"), "digit": re.compile(r"\(\s*([0-9])\s*\)")}
_KEYWORDS = ("answer", "option", "choice")
#: Words that may follow a stated label "A" without making it the article.
_CONNECTIVES = frozenset(
    ["because", "since", "as", "and", "but", "so", "or", "which", "with", "given", "therefore", "is", "was"]
)
_NEXT_WORD = re.compile(r"\s+([a-z]+)")
_STATED = {
    kind: re.compile(
        r"(?i:answer|option|choice)(?:\s+(?i:is|would\s+be|should\s+be))?[\s*_\"'\[:\-]*"
        r"(?i:(?:option|choice)\s+)?[*_\"'\[]*(" + label + r")(?![\w])(?P<after>\s*\S*)"
    )
    for kind, label in (("letter", "[A-Z]"), ("digit", "[0-9]"))
}
_LEADING = {
    "letter": re.compile(r"\A[\s*_#>]*\(?([A-Z])(?:[).:]|\s*$)"),
    "digit": re.compile(r"\A[\s*_#>]*\(?([0-9])(?:[).:]|\s*$)"),
}


@lru_cache(maxsize=4096)
def item_labels(
    task: str, choice_labels: tuple[str, ...] | None = None, n_choices: int | None = None
) -> tuple[str, ...]:
    """The labels of an item, in order: ``choice_labels``, else A.. for ``n_choices``, else the task's default."""
    if choice_labels:
        return tuple(str(label).strip().upper() for label in choice_labels)
    if n_choices:
        return tuple(_LETTERS[:n_choices])
    return DEFAULT_LABELS.get(task, tuple("ABCD"))


@lru_cache(maxsize=65536)
def gold_label(ground_truth: str, choices: tuple[str, ...] | None = None, labels: tuple[str, ...] | None = None) -> str:
    """The gold label: 'B', '(B)', 'B.' or 'Answer: B' give 'B'; an option's text gives its label."""
    text = ground_truth.strip()
    match = re.fullmatch(r"(?i:answer\s*[:\-]?\s*)?\(?\s*([A-Za-z]|\d)\s*\)?\.?", text)
    if match:
        return match.group(1).upper()
    if choices:
        norm = normalize_answer(text)
        labels = labels or tuple(_LETTERS[: len(choices)])
        for label, choice in zip(labels, choices, strict=False):
            if normalize_answer(choice) == norm:
                return str(label).upper()
    return text.upper()


def extract_choice(
    response: str, kind: str = "letter", choices: Sequence[str] | None = None, labels: Sequence[str] = ()
) -> str | None:
    """The label the response picks (maybe not one of the item's), or None when it picks none.

    ``kind`` is 'letter' or 'digit'; ``choices`` with their ``labels`` enable the option-text fallback.
    """
    found = _PAREN[kind].findall(response)
    if found:
        return found[-1]
    lowered = response.lower()
    positions = sorted((p for kw in _KEYWORDS for p in word_positions(lowered, kw)), reverse=True)
    for pos in positions:
        match = _STATED[kind].match(response, pos)
        if match is None:
            continue
        label, after = match.group(1), match.group("after")
        word = _NEXT_WORD.match(after)
        if label in ("A", "I") and word and word.group(1) not in _CONNECTIVES:
            continue  # "the answer is A dog", "Answer: I think" (but "the answer is A because")
        return label
    match = _LEADING[kind].match(response)
    if match:
        return match.group(1)
    if choices and labels:
        norm = normalize_answer(response)
        hits = [label for label, choice in zip(labels, choices, strict=False) if normalize_answer(choice) == norm]
        if len(hits) == 1:
            return hits[0]
    return None


def _verdict(
    task: str, response: str, ground_truth: object, choices: Sequence[str] | None, choice_labels: Sequence[str] | None
) -> tuple[float, str | None]:
    """(score, the label the response picks or None)."""
    choices_t = tuple(str(c) for c in choices) if choices is not None else None
    labels_t = tuple(str(x) for x in choice_labels) if choice_labels is not None else None
    choices_t, labels_t = choices_t or None, labels_t or None  # arrays are not truth-tested directly
    labels = item_labels(task, labels_t, len(choices_t) if choices_t else None)
    gold = gold_label(str(ground_truth), choices_t, labels)
    valid = set(labels)
    if not labels_t and not choices_t and len(gold) == 1:
        valid.add(gold)  # no item information: trust the gold label
    kind = "digit" if gold.isdigit() else "letter"
    pred = extract_choice(response, kind, choices_t, labels)
    return (1.0 if pred is not None and pred == gold and pred in valid else 0.0), pred


def mc_score(
    task: str,
    response: str,
    ground_truth: object,
    choices: Sequence[str] | None = None,
    choice_labels: Sequence[str] | None = None,
) -> float:
    """1.0 when the response picks the gold label and that label is one of the item's labels."""
    return _verdict(task, response, ground_truth, choices, choice_labels)[0]


def mc_details(
    task: str,
    response: str,
    ground_truth: object,
    choices: Sequence[str] | None = None,
    choice_labels: Sequence[str] | None = None,
) -> dict[str, Any]:
    """``acc`` (as :func:`mc_score`) and ``pred``, the label the response picks (None when it picks none)."""
    acc, pred = _verdict(task, response, ground_truth, choices, choice_labels)
    return {"acc": acc, "pred": pred}
