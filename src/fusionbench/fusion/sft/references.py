"""Reference solutions of the code tasks, attached to an export's queries by their text.

The release has no solution for its code queries (its ``ground_truth`` is the test code). The benchmarks' own
files have one: HumanEval's ``canonical_solution`` (a function body, beside ``task_id`` and ``prompt``) and MBPP's
``code`` (a full function, beside ``task_id`` and ``text``). A query gets a solution when its text is the
benchmark item's text (white space normalised): HumanEval's ``prompt`` is the query's function stub, MBPP's
``text`` its question. The benchmark's id alone is never trusted: an item whose id matches a query's
``source_task_id`` but whose text differs is counted (``id_text_mismatch``) and not used, since its solution
solves another problem. A queries table with a ``reference_solution`` column needs no file.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from fusionbench.errors import BadInputError
from fusionbench.files import read_jsonl

HUMANEVAL = "HumanEval canonical_solution"
MBPP = "MBPP code"
QUERIES_COLUMN = "queries reference_solution"
#: benchmark -> (task, id field, text field, solution field)
_KINDS: dict[str, tuple[str, str, str, str]] = {
    HUMANEVAL: ("human_eval", "task_id", "prompt", "canonical_solution"),
    MBPP: ("mbpp", "task_id", "text", "code"),
}


def _text_key(text: str) -> str:
    return " ".join(text.replace("\r\n", "\n").split())


def _id_key(task: str, value: object) -> str | None:
    """``HumanEval/12`` / ``12`` / ``Mbpp/12`` -> ``task:12``; None when there is no number."""
    match = re.search(r"(\d+)\s*$", str(value)) if value is not None else None
    return f"{task}:{int(match.group(1))}" if match else None


@dataclass(frozen=True)
class Reference:
    """One benchmark item's solution."""

    task: str
    item_id: str
    text: str
    solution: str
    origin: str


@dataclass
class ReferenceIndex:
    """Reference solutions by (task, normalised text) and by (task, id); see the module docstring."""

    by_text: dict[tuple[str, str], Reference] = field(default_factory=dict)
    by_id: dict[str, Reference] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    @classmethod
    def from_files(cls, paths: Iterable[str | Path]) -> ReferenceIndex:
        """Read HumanEval and MBPP JSON Lines files (which is which is told by their fields)."""
        index = cls()
        for path in paths:
            index.add_file(Path(path))
        return index

    def add_file(self, path: Path) -> None:
        """Add every item of one HumanEval or MBPP JSON Lines file; a bad line is an error naming it."""
        for line_number, item in read_jsonl(path):
            self._add(item, path, line_number)
        self.files.append(str(path))

    def _add(self, item: object, path: Path, line_number: int) -> None:
        kinds = [k for k, (_, _, text, sol) in _KINDS.items() if isinstance(item, dict) and {text, sol} <= set(item)]
        if not kinds:
            raise BadInputError(
                str(path),
                f"line {line_number}: neither a HumanEval item (prompt, canonical_solution) nor an MBPP item "
                "(text, code)",
            )
        task, id_field, text_field, solution_field = _KINDS[kinds[0]]
        text, solution = item[text_field], item[solution_field]
        if not isinstance(text, str) or not isinstance(solution, str):
            raise BadInputError(str(path), f"line {line_number}: {text_field} and {solution_field} must be text")
        reference = Reference(task, str(item.get(id_field)), text, solution, kinds[0])
        self.by_text.setdefault((task, _text_key(text)), reference)
        if (key := _id_key(task, item.get(id_field))) is not None:
            self.by_id.setdefault(key, reference)

    def __len__(self) -> int:
        return len(self.by_text)

    def match(self, query: Mapping[str, object]) -> tuple[Reference | None, str]:
        """The reference of one query (a queries-table row) and how it went: ``matched``, ``id_text_mismatch``
        (the id names an item with another text) or ``unmatched``."""
        task = str(query.get("task"))
        texts = [query.get("function_stub"), query.get("query")] if task == "human_eval" else [query.get("query")]
        for text in texts:
            if isinstance(text, str) and (found := self.by_text.get((task, _text_key(text)))) is not None:
                return found, "matched"
        by_id = self.by_id.get(_id_key(task, query.get("source_task_id")) or "")
        return None, "id_text_mismatch" if by_id is not None else "unmatched"


def attach(queries: list[dict], index: ReferenceIndex | None) -> Counter:
    """Set ``reference_solution`` and ``reference`` (its origin) on each code query; return the outcome counts.

    A query that already has a ``reference_solution`` (a column of the queries table) keeps it."""
    outcomes: Counter = Counter()
    for query in queries:
        if query.get("task") not in {task for task, *_ in _KINDS.values()}:
            continue
        if query.get("reference_solution"):
            query["reference"] = QUERIES_COLUMN
            outcomes["from_queries_table"] += 1
            continue
        if index is None:
            outcomes["no_reference_file"] += 1
            continue
        found, outcome = index.match(query)
        outcomes[outcome] += 1
        if found is not None:
            query["reference_solution"], query["reference"] = found.solution, found.origin
    return outcomes
