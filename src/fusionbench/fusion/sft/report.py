"""What an SFT selection did: examples per task, tasks left without any, and every skip, counted."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from fusionbench.fusion.sft.examples import Example

#: skip reason -> what it means (the report's legend)
SKIP_REASONS: dict[str, str] = {
    "over_length": "examples over --max-tokens (prompt + answer, counted by the tokenizer): dropped",
    "over_length_kept": "examples over --max-tokens kept, as the original protocol keeps them",
    "duplicate_responses": "responses equal (white space aside) to an earlier example of the same query",
    "wrong_responses": "response rows with performance 0 (not selectable)",
    "unscored_responses": "response rows with a null performance (not selectable)",
    "missing_responses": "response rows with a null or empty response (not selectable)",
    "queries_without_correct_response": "queries with no selectable response",
    "ground_truth_without_reference": "code queries without a reference solution: no ground-truth example",
    "ground_truth_missing": "queries with a null ground truth: no ground-truth example",
    "queries_also_in_test": "train queries that are also in the test split: left out",
    "responses_without_query": "response rows whose query is not in the queries table: ignored",
    "input_from_stripped_prompt": "queries without prompt_direct: the input is prompt_cot without its trigger",
    "blocks_stopped_at_wrong_row": "40-row blocks whose walk stopped at a row with performance 0 (original protocol)",
    "trailing_rows": "rows after the last full 40-row block (the original protocol reads whole blocks only)",
    "credential_responses": "correct responses holding a credential-like string (token, key, private key): not "
    "selectable, the next-ranked response takes the place (--keep-credentials keeps them)",
    "credential_examples": "examples whose target or input holds a credential-like string: dropped "
    "(--keep-credentials keeps them)",
}
#: the skip reasons of credential-like strings (see :mod:`fusionbench.fusion.sft.secrets`)
CREDENTIAL_SKIPS = ("credential_responses", "credential_examples")


@dataclass
class TaskCounts:
    """One task's numbers."""

    queries: int = 0
    queries_with_examples: int = 0
    response_examples: int = 0
    ground_truth_examples: int = 0

    @property
    def examples(self) -> int:
        return self.response_examples + self.ground_truth_examples


@dataclass
class SFTReport:
    """Counts of one ``sft-data`` run (written as ``report.json``)."""

    protocol: str
    select: str
    top_k: int
    source: str
    split: str
    pool: str = "all"
    models: list[str] | None = None
    score_column: str = "performance"
    tokenizer: str | None = None
    max_tokens: int | None = None
    synthetic: bool = False
    examples: int = 0
    per_task: dict[str, TaskCounts] = field(default_factory=dict)
    skipped: Counter = field(default_factory=Counter)
    references: dict[str, int] = field(default_factory=dict)
    #: label-only under the original protocol: the list is repeated top_k + 1 times
    repeats: int = 1
    #: credential-like strings found, per kind (responses, targets and distinct inputs; dropped, or kept with
    #: keep_credentials): see :mod:`fusionbench.fusion.sft.secrets`
    credentials: dict[str, int] = field(default_factory=dict)
    #: examples kept although they hold a credential-like string (keep_credentials)
    credentials_kept: int = 0

    @property
    def credentials_dropped(self) -> int:
        """Responses and examples left out for holding a credential-like string."""
        return sum(self.skipped.get(reason, 0) for reason in CREDENTIAL_SKIPS)

    @property
    def tasks_without_examples(self) -> list[str]:
        """Tasks that have queries in the source but no example."""
        return [task for task, counts in self.per_task.items() if counts.queries and not counts.examples]

    def count_examples(self, examples: Iterable[Example], queries_per_task: dict[str, int]) -> None:
        """Fill the per-task counts from the final examples (before any repetition)."""
        self.per_task = {task: TaskCounts(queries=n) for task, n in queries_per_task.items()}
        with_examples: dict[str, set] = {}
        total = 0
        for example in examples:
            counts = self.per_task.setdefault(example.task, TaskCounts())
            if example.kind == "ground_truth":
                counts.ground_truth_examples += 1
            else:
                counts.response_examples += 1
            with_examples.setdefault(example.task, set()).add(example.query_id)
            total += 1
        for task, keys in with_examples.items():
            self.per_task[task].queries_with_examples = len(keys)
        self.examples = total * self.repeats

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        data = asdict(self)
        data["per_task"] = {t: {**asdict(c), "examples": c.examples} for t, c in self.per_task.items()}
        data["skipped"] = dict(sorted(self.skipped.items()))
        data["tasks_without_examples"] = self.tasks_without_examples
        data["credentials_dropped"] = self.credentials_dropped
        return data

    def to_json(self) -> str:
        """The report as indented JSON text."""
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    def markdown(self) -> str:
        """The report as Markdown tables (the HF card's body and the command's summary)."""
        lines = [
            "| task | queries | with examples | response examples | ground-truth examples |",
            "|---|---|---|---|---|",
        ]
        for task, c in self.per_task.items():
            row = [task, c.queries, c.queries_with_examples, c.response_examples, c.ground_truth_examples]
            lines.append("| " + " | ".join(f"{v:,}" if isinstance(v, int) else str(v) for v in row) + " |")
        if self.tasks_without_examples:
            lines += ["", f"**Tasks without any example:** {', '.join(self.tasks_without_examples)}."]
        if self.credentials_kept:
            found = ", ".join(f"{kind} {n:,}" for kind, n in sorted(self.credentials.items()))
            lines += ["", f"**{self.credentials_kept:,} examples hold a credential-like string, kept:** {found}."]
        if self.skipped:
            lines += ["", "| skipped | count | meaning |", "|---|---|---|"]
            lines += [f"| {k} | {v:,} | {SKIP_REASONS.get(k, '')} |" for k, v in sorted(self.skipped.items()) if v]
        return "\n".join(lines)
