"""What every converter of an external routing dataset shares: query ids, path lookup, and a builder that
collects queries and their per-candidate values into a :class:`RoutingData`."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fusionbench.build.ranges import ValueCheck
from fusionbench.errors import BadInputError
from fusionbench.files import read_jsonl
from fusionbench.fusion.data import Candidate, Incomplete, RoutingData
from fusionbench.schema import TASK_DOMAINS


def external_query_id(kind: str, task: str, text: str, key: str = "") -> str:
    """Stable 16-hex-digit id of an external query: SHA-256 of (source kind, task, key, text). ``key``
    separates queries whose text repeats inside one task (e.g. an MMLU subject and occurrence)."""
    return hashlib.sha256("\x1f".join(["external", kind, task, key, text]).encode("utf-8")).hexdigest()[:16]


def find_file(root: Path, *relative: str) -> Path:
    """``root`` itself when it is a file, else the first of ``root / r`` that exists."""
    root = Path(root)
    if root.is_file():
        return root
    for rel in relative:
        if (root / rel).exists():
            return root / rel
    raise FileNotFoundError(f"{root}: none of {list(relative)} found")


def read_gold(path: Path) -> dict[str, str]:
    """{question: answer} of a GSM8K ``test.jsonl``; a record of another shape names the file and line."""
    gold: dict[str, str] = {}
    for number, record in read_jsonl(path):
        if not isinstance(record, dict) or not all(isinstance(record.get(k), str) for k in ("question", "answer")):
            raise BadInputError(str(path), "expected an object with 'question' and 'answer' texts", line=number)
        gold[record["question"]] = record["answer"]
    return gold


def domain_of(task: str, extra: dict[str, str] | None = None) -> str:
    """A task's domain: FusionBench's for its 14 tasks, ``extra`` for the converter's own, else "other"."""
    return TASK_DOMAINS.get(task) or (extra or {}).get(task, "other")


@dataclass
class Builder:
    """Collects one row per query (with its values per candidate) and builds the RoutingData."""

    kind: str
    candidate_info: list[Candidate]
    with_responses: bool = False
    rows: dict[str, list[Any]] = field(default_factory=dict)
    cells: dict[str, list[Sequence[float]]] = field(default_factory=dict)
    responses: list[Sequence[str | None]] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)

    def add(
        self,
        *,
        query_id: str,
        task: str,
        domain: str,
        text: str,
        split: str,
        performance: Sequence[float],
        cost: Sequence[float] | None = None,
        subject: str | None = None,
        ground_truth: str | None = None,
        metric: str | None = None,
        responses: Sequence[str | None] | None = None,
        judge: Sequence[float] | None = None,
        input_tokens: Sequence[float] | None = None,
        output_tokens: Sequence[float] | None = None,
    ) -> None:
        """One query. A value sequence has one entry per candidate (NaN/None where absent)."""
        k = len(self.candidate_info)
        values = {"query_ids": query_id, "tasks": task, "domains": domain, "texts": text, "splits": split}
        values |= {"subjects": subject, "ground_truths": ground_truth, "metrics": metric}
        for name, value in values.items():
            self.rows.setdefault(name, []).append(value)
        missing = [np.nan] * k
        for name, seq in (
            ("performance", performance),
            ("cost", cost),
            ("judge", judge),
            ("input_tokens", input_tokens),
            ("output_tokens", output_tokens),
        ):
            seq = missing if seq is None else [np.nan if v is None else float(v) for v in seq]
            if len(seq) != k:
                raise ValueError(f"{self.kind}: query {query_id}: {len(seq)} {name} values for {k} candidates")
            self.cells.setdefault(name, []).append(seq)
        if self.with_responses:
            self.responses.append(list(responses) if responses is not None else [None] * k)

    def skip(self, reason: str, count: int = 1) -> None:
        """Count ``count`` inputs left out for ``reason`` (reported in provenance["skipped"])."""
        self.skipped[reason] += count

    def nulled(self, check: ValueCheck) -> None:
        """Count the values a lenient check set to null: ``provenance["skipped"]["invalid_values"]`` (out of
        range) and ``["unparsed_values"]`` (not a number), per column, as the build's report counts them."""
        for name, counts in check.counts().items():
            merged = Counter(self.skipped.get(name, {}))
            merged.update(counts)
            self.skipped[name] = dict(merged)  # type: ignore[assignment]

    def build(
        self, *, source: str, provenance: dict[str, Any], incomplete: Incomplete = "error", **fields: Any
    ) -> RoutingData:
        """The RoutingData of every query added; optional per-query fields that are all None are left out."""
        if not self.rows:
            raise ValueError(f"{self.kind}: no queries found in {source}")
        k = len(self.candidate_info)
        per_query = {
            name: values
            for name, values in self.rows.items()
            if name in ("query_ids", "tasks", "domains", "texts") or any(v is not None for v in values)
        }
        matrices = {name: np.asarray(rows, dtype=np.float64).reshape(-1, k) for name, rows in self.cells.items()}
        responses = None
        if self.with_responses:
            responses = np.empty((len(self.responses), k), dtype=object)
            responses[:] = self.responses
        data = RoutingData(
            **per_query,
            **matrices,
            candidates=tuple(c.name for c in self.candidate_info),
            candidate_info=tuple(self.candidate_info),
            responses=responses,
            source=source,
            provenance={"kind": self.kind, **provenance, "skipped": dict(self.skipped)},
            **fields,
        )
        return data.resolve_incomplete(incomplete)
