"""Add new response rows (a new model, new samples, a regenerated task) to an existing export.

Used by ``fusionbench ingest`` (lm-eval logs and generation runs).
Rows are keyed by ``schema.ROW_KEY`` (query_id, split, model, mode, sample): adding the same rows again replaces them,
never duplicates them. The export is rewritten in a staging copy and swapped in whole.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fusionbench.export import card
from fusionbench.export.folder import (
    MODELS,
    QUERIES,
    README,
    config_shards,
    read_config,
    replace_shards,
    response_shards,
    rewrite,
    shard_split,
)
from fusionbench.export.stats import export_summary
from fusionbench.schema import MODEL_SCHEMA, QUERY_SCHEMA, RESPONSE_SCHEMA, SPLITS, row_keys

_SORT = [("model", "ascending"), ("mode", "ascending"), ("query_id", "ascending"), ("sample", "ascending")]


@dataclass
class MergeReport:
    """What a merge did."""

    source: str
    rows_offered: int = 0
    rows_added: int = 0
    rows_replaced: int = 0
    unknown_queries: int = 0  # rows whose (split, query_id) is not in the export's queries: skipped
    failed_rows: int = 0  # generation rows with no response (engine error, prompt too long): skipped, not scored
    tasks: Counter[str] = field(default_factory=Counter)
    models: list[str] = field(default_factory=list)
    dropped_columns: set[str] = field(default_factory=set)  # e.g. a stale rescored_performance


def merge_rows(
    export_dir: Path, rows: pa.Table, models: list[dict], *, source: str, label: str | None = None
) -> MergeReport:
    """Add ``rows`` (canonical responses) and upsert ``models`` (partial models-table rows) into an export."""
    export_dir = Path(export_dir)
    rows = rows.select(RESPONSE_SCHEMA.names).cast(RESPONSE_SCHEMA)
    report = MergeReport(source=source, rows_offered=rows.num_rows, models=sorted({m["model"] for m in models}))
    with rewrite(export_dir) as staging:  # locked: the export is read inside, so no other writer's rows are lost
        queries = read_config(staging, QUERIES, columns=["split", "query_id"])
        if queries is None:
            raise FileNotFoundError(f"{export_dir}: no queries table; is this an export folder built by fusionbench?")
        known = pc.binary_join_element_wise(queries["split"], queries["query_id"], "\x1f")
        offered = pc.binary_join_element_wise(rows["split"], rows["query_id"], "\x1f")
        valid = pc.is_in(offered, value_set=known)
        report.unknown_queries = rows.num_rows - pc.sum(valid).as_py() if rows.num_rows else 0
        rows = rows.filter(valid)
        for task in pc.unique(rows["task"]).to_pylist():
            new = rows.filter(pc.equal(rows["task"], task))
            old = read_config(staging, task)
            if old is not None:
                replaced = pc.is_in(row_keys(old), value_set=row_keys(new))
                report.rows_replaced += pc.sum(replaced).as_py()
                report.dropped_columns |= set(old.column_names) - set(RESPONSE_SCHEMA.names)
                old = old.filter(pc.invert(replaced)).select(RESPONSE_SCHEMA.names).cast(RESPONSE_SCHEMA)
            merged = new if old is None else pa.concat_tables([old, new])
            report.tasks[task] += new.num_rows
            for split in SPLITS:
                replace_shards(merged.filter(pc.equal(merged["split"], split)).sort_by(_SORT), staging, task, split)
        report.rows_added = rows.num_rows - report.rows_replaced
        _update_side_tables(staging, models)
        summary = export_summary(staging)
        text = (staging / README).read_text(encoding="utf-8")
        for heading, body in card.summary_sections(summary).items():
            text = card.replace_section(text, heading, body, before="Checksums")
        text = card.replace_section(text, "Added runs", _added_runs(text, report, label), before="Checksums")
        (staging / README).write_text(text, encoding="utf-8")
    return report


def _update_side_tables(staging: Path, models: list[dict]) -> None:
    """Recount rows per model and per query; upsert the new models."""
    responses = pa.concat_tables(
        [pq.read_table(p, columns=["query_id", "split", "model"]) for p in response_shards(staging)]
    )
    per_model = dict(
        zip(*responses.group_by("model").aggregate([("model", "count")]).to_pydict().values(), strict=True)
    )
    old_models = read_config(staging, MODELS)
    by_name = {m["model"]: m for m in (old_models.to_pylist() if old_models is not None else [])}
    for model in models:  # upsert: a known model keeps what the new row does not say (size, the release's prices)
        known = by_name.get(model["model"], {})
        given = {key: value for key, value in model.items() if value is not None}
        by_name[model["model"]] = {**dict.fromkeys(MODEL_SCHEMA.names), "id_swapped": False, **known, **given}
    model_rows = [{**m, "n_rows": per_model.get(name, 0)} for name, m in by_name.items()]
    replace_shards(pa.Table.from_pylist(model_rows, schema=MODEL_SCHEMA), staging, MODELS, "train")

    keys = pc.binary_join_element_wise(responses["split"], responses["query_id"], "\x1f")
    counts = keys.value_counts()
    count_of = dict(zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True))
    for split in sorted({shard_split(p) for p in config_shards(staging, QUERIES)}, key=SPLITS.index):
        table = pa.concat_tables([pq.read_table(p) for p in config_shards(staging, QUERIES, split)])
        query_keys = pc.binary_join_element_wise(table["split"], table["query_id"], "\x1f").to_pylist()
        n_rows = pa.array(np.array([count_of.get(k, 0) for k in query_keys], dtype=np.int32))
        table = table.set_column(table.schema.get_field_index("n_rows"), QUERY_SCHEMA.field("n_rows"), n_rows)
        replace_shards(table, staging, QUERIES, split)


def _added_runs(text: str, report: MergeReport, label: str | None) -> str:
    """The 'Added runs' section: the rows already there plus one for this merge."""
    header = "| source | models | rows added | rows replaced | unknown queries skipped |\n|---|---|---|---|---|"
    start = text.find("## Added runs\n")
    previous = []
    if start >= 0:
        section = text[start:].split("\n## ", 1)[0]
        previous = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| source")]
    row = (
        f"| {label or report.source} | {', '.join(report.models)} | {report.rows_added:,} | "
        f"{report.rows_replaced:,} | {report.unknown_queries:,} |"
    )
    intro = "Rows added to this export after it was built (`fusionbench ingest`)."
    return "\n".join([intro, "", header, *previous, row])
