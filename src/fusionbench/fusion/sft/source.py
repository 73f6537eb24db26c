"""What SFT data is made from: one split of an export, its responses and its queries (the test split refused).

Only the columns selection needs are read. Train queries that also occur in the test split (by ``query_id``)
are left out and counted: fine-tuning on them would leak the test set into the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from fusionbench.export import reader
from fusionbench.export.folder import require_export, task_configs
from fusionbench.schema import SPLIT_ALIASES, score_column

RESPONSE_COLUMNS = (
    "query_id", "task", "split", "model", "mode", "response", "judge_score", "output_tokens", "source",
)  # fmt: skip
QUERY_COLUMNS = (
    "query_id", "task", "split", "query", "prompt_direct", "prompt_cot", "ground_truth", "source_task_id",
    "function_stub", "entry_point",
)  # fmt: skip
#: an optional queries-table column: a reference solution of a code query, filled at build time
REFERENCE_COLUMN = "reference_solution"


class TestSplitRefusedError(ValueError):
    """SFT data was asked for from the test split, which is held out for evaluation."""

    __test__ = False  # not a pytest test class


@dataclass
class SFTSource:
    """An export's rows of one split: ``responses`` (the response rows, the chosen score as ``performance``)
    and ``queries`` (one dict per query, in the export's order), plus what was left out."""

    export: Path
    split: str
    responses: pa.Table
    queries: list[dict]
    score_column: str
    synthetic: bool
    skipped: dict[str, int] = field(default_factory=dict)


def refuse_test_split(split: str) -> str:
    """The canonical split name; the test split (``test``, ``partial_test``) is an error."""
    canonical = SPLIT_ALIASES.get(split)
    if canonical is None:
        raise ValueError(f"unknown split {split!r}; SFT data comes from the train split")
    if canonical == "test":
        raise TestSplitRefusedError(
            f"refusing to make SFT data from the {split!r} split: it is held out to evaluate the fine-tuned model; "
            "use --split train"
        )
    return canonical


def read_export(
    export: str | Path,
    split: str = "train",
    *,
    tasks: Sequence[str] | None = None,
    models: Sequence[str] | None = None,
    score: str = "performance",
    pool: frozenset[str] | None = None,
    with_prompts: bool = False,
) -> SFTSource:
    """Read one split of an export for SFT selection (see the module docstring).

    ``tasks`` and ``models`` restrict the rows (an unknown name is an error), so does ``pool`` (a set of model
    names; those absent are no error); ``with_prompts``: read each row's ``prompt`` too; ``score``: ``performance`` (as
    released) or ``rescored_performance`` (``fusionbench rescore --write``), read as ``performance``.
    """
    export = require_export(Path(export))
    split = refuse_test_split(split)
    column = score_column(score)
    wanted = [*RESPONSE_COLUMNS, *(["prompt"] * with_prompts), column]
    read = reader.read_split(
        export,
        split,
        configs=task_configs(export) if tasks is None else tasks,
        columns=wanted,
        required=wanted,
        with_queries=True,
        query_columns=[*QUERY_COLUMNS, REFERENCE_COLUMN],
        query_required=QUERY_COLUMNS,
    )
    responses = read.rows
    if column != "performance":
        responses = responses.rename_columns(["performance" if c == column else c for c in responses.column_names])
    if models is not None:
        unknown = sorted(set(models) - set(pc.unique(responses["model"]).to_pylist()))
        if unknown:
            raise ValueError(f"{export}: no {split} rows of model(s) {', '.join(unknown)}")
        responses = responses.filter(pc.is_in(responses["model"], pa.array(list(models), pa.string())))
    if pool is not None:
        responses = responses.filter(pc.is_in(responses["model"], pa.array(sorted(pool), pa.string())))
    if read.queries is None:
        raise FileNotFoundError(f"{export}: no {split} queries table")
    queries = read.queries.to_pylist()
    skipped: dict[str, int] = {}
    test_ids = reader.read_queries(export, "test", columns=["query_id"], required=["query_id"])
    if test_ids is not None:
        in_test = set(test_ids["query_id"].to_pylist())
        leaked = {q["query_id"] for q in queries if q["query_id"] in in_test}
        if leaked:
            skipped["queries_also_in_test"] = len(leaked)
            queries = [q for q in queries if q["query_id"] not in leaked]
            keep = pc.invert(pc.is_in(responses["query_id"], pa.array(sorted(leaked), pa.string())))
            responses = responses.filter(keep)
    return SFTSource(export, split, responses, queries, column, reader.is_synthetic(export), skipped)
