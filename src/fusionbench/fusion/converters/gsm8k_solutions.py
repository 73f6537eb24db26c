"""OpenAI's GSM8K model solutions (openai/grade-school-math ``example_model_solutions.jsonl``): for each of
the 1,319 test problems, a solution and an ``is_correct`` label from four GPT-3 models (6B and 175B, each
fine-tuned or with a verifier). The gold answer comes from ``test.jsonl`` beside it when present (matched on
the question), else from the file's own ``ground_truth``. No costs or tokens: NaN. ``is_correct`` is a boolean; a
number there must be in the build's valid range of performance, [0, 1] (:mod:`fusionbench.build.ranges`): another is
an error naming the file, line, column, value and range, or with ``lenient=True`` NaN, counted in
``provenance["skipped"]``.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import numpy as np

from fusionbench.build.ranges import ValueCheck
from fusionbench.errors import BadInputError
from fusionbench.files import read_jsonl
from fusionbench.fusion.converters.common import Builder, external_query_id, find_file, read_gold
from fusionbench.fusion.data import Candidate, Incomplete, RoutingData

KIND = "gsm8k-solutions"
#: source column -> (model name, size in billions)
MODELS = {
    "6b_finetuning": ("gpt-3-6b-finetuning", 6.0),
    "6b_verification": ("gpt-3-6b-verification", 6.0),
    "175b_finetuning": ("gpt-3-175b-finetuning", 175.0),
    "175b_verification": ("gpt-3-175b-verification", 175.0),
}


def _solution(check: ValueCheck, number: int, column: str, value: Any) -> tuple[float, str | None]:
    """(is_correct as 0/1, solution text) of one cell; a dict, or its Python-literal string."""
    path = check.file
    if value is None:
        return np.nan, None
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            raise BadInputError(
                str(path), "not a {'is_correct', 'solution'} literal", line=number, column=column
            ) from None
    correct = value.get("is_correct") if isinstance(value, dict) else None
    if not isinstance(correct, bool | int | float):
        raise BadInputError(str(path), "expected a boolean 'is_correct'", line=number, column=column)
    solution = value.get("solution")
    if solution is not None and not isinstance(solution, str):
        raise BadInputError(str(path), f"the solution is not text: {solution!r}", line=number, column=column)
    return check.value(correct, "performance", column=f"{column}.is_correct", line=number), solution


def convert(
    path: str | Path, *, with_responses: bool = True, incomplete: Incomplete = "error", lenient: bool = False
) -> RoutingData:
    """RoutingData of the GSM8K test set x the four GPT-3 models (split "test")."""
    file = find_file(Path(path), "example_model_solutions.jsonl")
    gold = read_gold(file.parent / "test.jsonl") if (file.parent / "test.jsonl").is_file() else {}
    candidates = [Candidate(f"{name}/direct", name, "direct", size_b=size) for name, size in MODELS.values()]
    builder = Builder(KIND, candidates, with_responses=with_responses)
    seen: set[str] = set()
    check = ValueCheck(file, lenient=lenient)
    for number, item in read_jsonl(file):
        if not isinstance(item, dict) or not isinstance(item.get("question"), str):
            raise BadInputError(str(file), "expected an object with a 'question' text", line=number)
        question = item["question"]
        if question in seen:
            builder.skip("repeated_questions")
            continue
        seen.add(question)
        cells = [_solution(check, number, column, item.get(column)) for column in MODELS]
        builder.add(
            query_id=external_query_id("gsm8k", "gsm8k", question),
            task="gsm8k",
            domain="math",
            text=question,
            split="test",
            ground_truth=gold.get(question, item.get("ground_truth")),
            metric="is_correct",
            performance=[c[0] for c in cells],
            responses=[c[1] for c in cells],
        )
    builder.nulled(check)
    provenance = {
        "path": str(file),
        "gold_from_test_jsonl": sum(q in gold for q in seen),
        "note": "OpenAI's is_correct labels; no costs or token counts (NaN)",
    }
    return builder.build(source="openai:gsm8k/example_model_solutions", provenance=provenance, incomplete=incomplete)
