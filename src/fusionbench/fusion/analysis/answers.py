"""Per-response extracted answers, by the scorers' own extraction (:mod:`fusionbench.metrics`): the option label
for multiple choice (``extract_choice``), the number for GSM8K (``extract_number``), the normalised boxed answer
for MATH (``extract_math_answer``, ``normalize_math``) and the truth value for BoolQ (``extract_bool``). Free-text
QA and code have no answer to vote on: their cells stay None and the tasks are listed as unsupported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from fusionbench.fusion.data import RoutingData
from fusionbench.metrics import (
    extract_bool,
    extract_choice,
    extract_math_answer,
    extract_number,
    gold_label,
    item_labels,
    normalize_math,
)
from fusionbench.schema import MULTIPLE_CHOICE_TASKS

VOTING_TASKS = frozenset({*MULTIPLE_CHOICE_TASKS, "gsm8k", "math", "boolq"})


@dataclass(frozen=True)
class Answers:
    """``answers`` [n, k] (hashable or None); ``supported`` [n]: the query's task has extractable answers;
    for multiple choice, ``gold`` (the gold label, else None) and ``n_options`` per query."""

    answers: np.ndarray
    supported: np.ndarray
    gold: np.ndarray
    n_options: np.ndarray
    unsupported_tasks: tuple[str, ...]


def _key(value: Any) -> Any:
    """A hashable, comparable form of an extracted answer (numbers rounded to 1e-6)."""
    if value is None:
        return None
    if isinstance(value, float):
        return round(value, 6) + 0.0
    return value


def extract(task: str, response: str | None, kind: str = "letter", labels: tuple[str, ...] = ()) -> Any:
    """The answer a response gives for ``task`` (None when it gives none or the task has no extraction)."""
    if response is None or task not in VOTING_TASKS:
        return None
    if task in MULTIPLE_CHOICE_TASKS:
        return extract_choice(response, kind, None, labels)
    if task == "gsm8k":
        return _key(extract_number(response))
    if task == "math":
        answer = extract_math_answer(response)
        return None if answer is None else normalize_math(answer)
    return extract_bool(response)


def extract_answers(data: RoutingData) -> Answers | None:
    """Every response's answer; None when the data carries no response texts."""
    if data.responses is None:
        return None
    n, k = data.responses.shape
    answers = np.full((n, k), None, dtype=object)
    gold = np.full(n, None, dtype=object)
    n_options = np.zeros(n, dtype=np.int64)
    tasks = [str(t) for t in data.tasks]
    supported = np.array([t in VOTING_TASKS for t in tasks])
    truths = data.ground_truths if data.ground_truths is not None else np.full(n, None, dtype=object)
    for i in np.flatnonzero(supported):
        task, kind, labels = tasks[i], "letter", ()
        if task in MULTIPLE_CHOICE_TASKS:
            labels = item_labels(task)
            if truths[i] is not None:
                gold[i] = gold_label(str(truths[i]))
            kind = "digit" if gold[i] is not None and str(gold[i]).isdigit() else "letter"
            n_options[i] = sum(str(x).isdigit() == (kind == "digit") for x in labels)
        for j in range(k):
            answers[i, j] = extract(task, data.responses[i, j], kind, labels)
    unsupported = tuple(sorted({t for t, s in zip(tasks, supported, strict=True) if not s}))
    return Answers(answers, supported, gold, n_options, unsupported)
