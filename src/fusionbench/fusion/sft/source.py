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
import pyarrow.parquet as pq

from fusionbench.export.folder import QUERIES, config_shards, require_export, task_configs
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


def is_synthetic(export: Path) -> bool:
    """True when the export's card tags it ``synthetic`` (the embedded or a generated sample)."""
    import yaml

    text = (Path(export) / "README.md").read_text(encoding="utf-8")
    if not text.startswith("---"):
        return False
    front = yaml.safe_load(text.split("---", 2)[1]) or {}
    return "synthetic" in (front.get("tags") or [])


def _read(shards: list[Path], columns: Sequence[str], optional: Sequence[str] = ()) -> pa.Table | None:
    if not shards:
        return None
    names = set(pq.read_schema(shards[0]).names)
    missing = [c for c in columns if c not in names]
    if missing:
        raise ValueError(f"{shards[0]}: no column(s) {', '.join(missing)}")
    wanted = [*columns, *(c for c in optional if c in names)]
    return pa.concat_tables([pq.read_table(p, columns=wanted) for p in shards], promote_options="default")


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
    configs = task_configs(export)
    if tasks is not None:
        unknown = sorted(set(tasks) - set(configs))
        if unknown:
            raise ValueError(f"{export}: no task(s) {', '.join(unknown)}; the export has {', '.join(configs)}")
        configs = [c for c in configs if c in set(tasks)]
    shards = [p for config in configs for p in config_shards(export, config, split)]
    responses = _read(shards, [*RESPONSE_COLUMNS, *(["prompt"] * with_prompts), column])
    if responses is None:
        raise FileNotFoundError(f"{export}: no {split} responses (tasks {', '.join(configs)})")
    if column != "performance":
        responses = responses.rename_columns(["performance" if c == column else c for c in responses.column_names])
    if models is not None:
        unknown = sorted(set(models) - set(pc.unique(responses["model"]).to_pylist()))
        if unknown:
            raise ValueError(f"{export}: no {split} rows of model(s) {', '.join(unknown)}")
        responses = responses.filter(pc.is_in(responses["model"], pa.array(list(models), pa.string())))
    if pool is not None:
        responses = responses.filter(pc.is_in(responses["model"], pa.array(sorted(pool), pa.string())))
    query_table = _read(config_shards(export, QUERIES, split), QUERY_COLUMNS, optional=[REFERENCE_COLUMN])
    if query_table is None:
        raise FileNotFoundError(f"{export}: no {split} queries table")
    wanted = set(configs)
    queries = [q for q in query_table.to_pylist() if q["task"] in wanted]
    skipped: dict[str, int] = {}
    test_ids = _read(config_shards(export, QUERIES, "test"), ["query_id"])
    if test_ids is not None:
        in_test = set(test_ids["query_id"].to_pylist())
        leaked = {q["query_id"] for q in queries if q["query_id"] in in_test}
        if leaked:
            skipped["queries_also_in_test"] = len(leaked)
            queries = [q for q in queries if q["query_id"] not in leaked]
            keep = pc.invert(pc.is_in(responses["query_id"], pa.array(sorted(leaked), pa.string())))
            responses = responses.filter(keep)
    return SFTSource(export, split, responses, queries, column, is_synthetic(export), skipped)
