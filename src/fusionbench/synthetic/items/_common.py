"""Shared pieces of the synthetic items: the :class:`Item` record, people, distractor helpers, code runner.

All content here is synthetic (see :mod:`fusionbench.synthetic.items`).
"""

from __future__ import annotations

import contextlib
import io
import random
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from fusionbench.prompts import QueryFields

ABCD = ("A", "B", "C", "D")


@dataclass
class Item:
    """One synthetic query: what the template renders, the release's gold, and material for responses.

    ``answer`` is what a model that knows the answer says (a number, LaTeX, an option label, a span,
    True/False; for GPQA the truly correct letter, which the release's shuffle bug may not store as
    gold); ``wrong`` holds plausible wrong answers in the same form. Code tasks carry a correct
    solution (``code``: a full ``def`` for MBPP, a function body for HumanEval) and failing variants.
    """

    task: str
    fields: QueryFields
    ground_truth: str
    answer: str
    wrong: tuple[str, ...]
    steps: tuple[str, ...] = ()
    task_id: str = ""
    code: str = ""
    wrong_code: tuple[str, ...] = ()
    tags: frozenset[str] = frozenset()
    difficulty: float = 0.0


# ---------------------------------------------------------------------------------------------- people
_PEOPLE = (
    ("Maya", "she"), ("Liam", "he"), ("Priya", "she"), ("Tomas", "he"), ("Aisha", "she"), ("Kenji", "he"),
    ("Elena", "she"), ("Omar", "he"), ("Sofia", "she"), ("Mateo", "he"), ("Hana", "she"), ("Diego", "he"),
    ("Nora", "she"), ("Felix", "he"), ("Zara", "she"), ("Ravi", "he"), ("Ines", "she"), ("Jonas", "he"),
    ("Leila", "she"), ("Caleb", "he"), ("Mei", "she"), ("Arjun", "he"), ("Clara", "she"), ("Theo", "he"),
)  # fmt: skip
_SURNAMES = ("Halvorsen", "Okafor", "Brandt", "Castellano", "Nakamura", "Whitlock", "Moreau", "Adeyemi", "Lindqvist",
             "Petrov", "Quinlan", "Serrano")  # fmt: skip
_HER = {"she": "her", "he": "his"}


def _person(rng: random.Random) -> dict[str, str]:
    name, she = rng.choice(_PEOPLE)
    return {"name": name, "she": she, "her": _HER[she], "She": she.capitalize()}


def _pick_other(rng: random.Random, pool: Sequence[str], exclude: str, k: int) -> list[str]:
    return rng.sample([p for p in dict.fromkeys(pool) if p != exclude], k)


def _distinct(correct: str, candidates: Sequence[str], k: int) -> list[str]:
    out = [c for c in dict.fromkeys(candidates) if c != correct]
    if len(out) < k:
        raise ValueError("not enough distinct distractors")
    return out[:k]


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def indent(code: str, spaces: int = 4) -> str:
    """Indent every non-empty line of ``code``."""
    return "\n".join((" " * spaces + line) if line else line for line in code.split("\n"))


@lru_cache(maxsize=16384)
def run_code(program: str, tests: tuple[str, ...] = ()) -> bool:
    """True when ``program`` and then each test run without an exception (in-process; trusted code only)."""
    env: dict[str, object] = {}
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            exec(program, env)
            for test in tests:
                exec(test, env)
    except Exception:
        return False
    return True


# ------------------------------------------------------------------------------------ multiple choice
# fmt: off
def _mc(task: str, question: str, correct: str, distractors: Sequence[str], rng: random.Random,
        labels: Sequence[str] = ABCD, steps: tuple[str, ...] = (), tags: frozenset[str] = frozenset()) -> Item:
    # fmt: on
    options = [correct, *distractors]
    rng.shuffle(options)
    labels = list(labels[: len(options)])
    gold = labels[options.index(correct)]
    fields = QueryFields(question, choices=options, choice_labels=labels)
    return Item(task, fields, gold, gold, tuple(x for x in labels if x != gold), steps=steps, tags=tags)
