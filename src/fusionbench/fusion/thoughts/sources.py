"""What thought templates are built from and applied to: one split's response rows and queries.

:func:`from_export` reads an export folder (only the columns selection needs, and the queries table);
:func:`from_routing_data` takes a :class:`~fusionbench.fusion.data.RoutingData` with responses (e.g. OpenAI's
GSM8K solutions, :func:`fusionbench.fusion.converters.from_external`). Each query's ``question`` is the text the
prompts show for it: the query's direct prompt (as FusionFactory, whose ``query`` column is the released
prompt), or the bare question where there is no prompt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fusionbench.export import reader
from fusionbench.export.folder import QUERIES
from fusionbench.fusion.data import RoutingData
from fusionbench.fusion.thoughts.selection import ROW_COLUMNS

#: The queries columns a template build keeps (besides the question text).
QUERY_COLUMNS: tuple[str, ...] = ("query_id", "task", "split", "query", "embedding")


@dataclass(frozen=True)
class ThoughtSource:
    """One split's candidate response rows (:data:`~.selection.ROW_COLUMNS`) and its queries
    (:data:`QUERY_COLUMNS` + ``question``), and the name of where they come from."""

    rows: pa.Table
    queries: pa.Table
    split: str
    name: str


def _require_queries(export: str | Path, split: str, table: pa.Table | None) -> pa.Table:
    if table is None:
        raise FileNotFoundError(f"{export}: no {split!r} queries (data/{QUERIES}/{split}-*.parquet)")
    return table


def read_queries(export: str | Path, split: str, tasks: Sequence[str] | None = None) -> pa.Table:
    """The queries table of one split of an export (every column), optionally only ``tasks``."""
    return _require_queries(export, reader.canonical_split(split), reader.read_queries(export, split, tasks=tasks))


def with_question(queries: pa.Table, prompt_mode: str = "direct") -> pa.Table:
    """``queries`` with a ``question`` column: ``prompt_<prompt_mode>``, or the bare query where it is null."""
    column = f"prompt_{prompt_mode}"
    prompts = queries[column] if column in queries.column_names else queries["query"]
    question = pc.coalesce(prompts, queries["query"])
    if "question" in queries.column_names:
        queries = queries.drop_columns(["question"])
    return queries.append_column("question", pc.cast(question, pa.string()))


def from_export(export: str | Path, split: str = "train", *, tasks: Sequence[str] | None = None) -> ThoughtSource:
    """The response rows and queries of ``split`` of an export folder (only ``tasks``, if given)."""
    read = reader.read_split(export, split, configs=tasks, columns=ROW_COLUMNS, required=ROW_COLUMNS, with_queries=True)
    split = read.split or split
    queries = with_question(_require_queries(export, split, read.queries))
    keep = [c for c in (*QUERY_COLUMNS, "question") if c in queries.column_names]
    return ThoughtSource(read.rows, queries.select(keep), split, str(read.export.resolve()))


def from_routing_data(data: RoutingData, split: str | None = None) -> ThoughtSource:
    """The rows of a :class:`RoutingData` built ``with_responses`` (one split: ``split``, or its only one)."""
    if data.responses is None:
        raise ValueError(f"{data.source}: the data has no response texts; build it with with_responses=True")
    if data.splits is not None:
        present = sorted(set(data.splits.tolist()))
        if split is None and len(present) > 1:
            raise ValueError(f"{data.source}: the data has the splits {present}; name one")
        if split is not None:
            data = data.split(split)
        split = split or present[0]
    split = reader.canonical_split(split or "train")
    n, k = data.n_queries, data.n_candidates
    flat_query = np.repeat(np.arange(n), k)
    flat_candidate = np.tile(np.arange(k), n)
    rows = pa.table(
        {
            "query_id": pa.array(data.query_ids.astype(str)[flat_query]),
            "task": pa.array(data.tasks.astype(str)[flat_query]),
            "model": pa.array([data.candidate_info[j].model for j in flat_candidate.tolist()]),
            "mode": pa.array([data.candidate_info[j].mode for j in flat_candidate.tolist()]),
            "sample": pa.array(np.zeros(n * k, dtype=np.int32)),
            "performance": pa.array(data.performance.reshape(-1), from_pandas=True),
            "judge_score": pa.array(data.judge.reshape(-1), from_pandas=True),
            "cost_usd": pa.array(data.cost.reshape(-1), from_pandas=True),
            "response": pa.array(data.responses.reshape(-1).tolist(), pa.string()),
        }
    )
    embeddings = None
    if data.embeddings is not None:
        embeddings = [None if np.isnan(v).any() else v.tolist() for v in data.embeddings]
    queries = pa.table(
        {
            "query_id": pa.array(data.query_ids.astype(str)),
            "task": pa.array(data.tasks.astype(str)),
            "split": pa.array([split] * n),
            "query": pa.array(data.texts.tolist(), pa.string()),
            "embedding": pa.array(embeddings or [None] * n, pa.list_(pa.float32())),
            "question": pa.array(data.texts.tolist(), pa.string()),
        }
    )
    return ThoughtSource(rows, queries, split, data.source)
