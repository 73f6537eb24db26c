"""One supervised fine-tuning example, and how a query's ground truth becomes a training target.

An example is Alpaca-shaped (``instruction``, ``input``, ``output``) and carries its provenance: the query, the
response row it came from (model, mode, scores, rank) or, for a ground-truth example, where the answer came from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any, Literal

from fusionbench.prompts import COT_TRIGGER
from fusionbench.schema import CODE_TASKS, MULTIPLE_CHOICE_TASKS

#: FusionFactory's instruction for every example (``model_level/sft_data_gen.py``).
INSTRUCTION = "Answer the following questions as required."
ExampleKind = Literal["response", "ground_truth"]
#: where a ground-truth target came from (the provenance table's ``reference`` column)
REFERENCE_RELEASE = "release ground_truth"
REFERENCE_TEST_CODE = "release ground_truth (test code)"
#: The chain-of-thought trigger at the end of a prompt, with the release's trailing dot and indentation.
_COT_TAIL = re.compile(r"[ \t]*\n?[ \t]*" + re.escape(COT_TRIGGER) + r"\.?[ \t]*\n?[ \t]*\Z")


@dataclass(slots=True)
class Example:
    """One training example and where it came from (its token counts are set once counted)."""

    instruction: str
    input: str
    output: str
    task: str
    kind: ExampleKind
    query_id: str | None = None
    split: str | None = None
    model: str | None = None
    mode: str | None = None
    #: 0 for the best-ranked response of its query; None for a ground-truth example
    rank: int | None = None
    performance: float | None = None
    judge: float | None = None
    #: ground-truth examples: where the answer came from (e.g. "HumanEval canonical_solution")
    reference: str | None = None
    #: the export row's ``source`` or the release file and row
    source: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None

    @property
    def prompt(self) -> str:
        """The user turn as LLaMA-Factory's Alpaca converter builds it: instruction, a line break, the input."""
        return f"{self.instruction}\n{self.input}" if self.input else self.instruction

    def provenance(self) -> dict[str, Any]:
        """Everything but the texts (one row of ``provenance.parquet``)."""
        return {name: getattr(self, name) for name in PROVENANCE_FIELDS}


def code_target(code: str) -> str:
    """A code answer in the format the release's prompts ask for and its scorer reads: ``[BEGIN] ... [DONE]``."""
    return "[BEGIN]\n" + code.replace("\r\n", "\n").strip("\n") + "\n[DONE]"


def ground_truth_target(task: str, ground_truth: str | None, reference_solution: str | None) -> str | None:
    """The target of a query's ground-truth example (None when it has none).

    Multiple choice: the gold letter as ``(X)``, the form the scorer reads. Code: the reference solution in
    ``[BEGIN] ... [DONE]`` (the release's ``ground_truth`` of a code task is its test code, never a target).
    Anything else: the released ground truth (GSM8K's and MATH's full worked solutions, QA answers).
    """
    if task in CODE_TASKS:
        return code_target(reference_solution) if reference_solution and reference_solution.strip() else None
    if ground_truth is None or not ground_truth.strip():
        return None
    if task in MULTIPLE_CHOICE_TASKS:
        return f"({ground_truth.strip()})"
    return ground_truth


def strip_cot_trigger(prompt: str) -> str:
    """A chain-of-thought prompt without its trailing "Let's think step by step" (dot and indentation too)."""
    return _COT_TAIL.sub("", prompt)


def normalised(text: str) -> str:
    """The text with every run of white space as one space, stripped: what two duplicate responses share."""
    return " ".join(text.split())


#: the fields of an example that are not its texts
PROVENANCE_FIELDS: tuple[str, ...] = tuple(
    f.name for f in fields(Example) if f.name not in ("instruction", "input", "output")
)
