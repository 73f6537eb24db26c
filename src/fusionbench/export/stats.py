"""Where an export's responses shards are, and their summary statistics (for the card and ``fusionbench info``)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from fusionbench.export.folder import response_shards

#: Measured columns summed per group; ``rescored_performance`` (``fusionbench rescore --write``) is null when absent.
_SUMMED = ["performance", "rescored_performance", "cost_usd", "judge_score", "input_tokens", "output_tokens"]
_KEYS = ["task", "split", "model", "mode"]


def partial_summary(table: pa.Table) -> pa.Table:
    """Per (task, split, model, mode): rows, and sum and count of each measured column (a column the table
    does not have counts no values)."""
    for column in _SUMMED:
        if column not in table.column_names:
            table = table.append_column(column, pa.nulls(table.num_rows, pa.float64()))
    aggregations = [("query_id", "count")]
    for column in _SUMMED:
        aggregations += [(column, "sum"), (column, "count")]
    return table.group_by(_KEYS, use_threads=False).aggregate(aggregations)


def combine(partials: list[pa.Table]) -> list[dict]:
    """Merge partial summaries into rows with means; a mean over no values is None."""
    merged = pa.concat_tables(partials).group_by(_KEYS, use_threads=False)
    names = ["query_id_count"] + [f"{c}_{a}" for c in _SUMMED for a in ("sum", "count")]
    table = merged.aggregate([(name, "sum") for name in names])
    rows = []
    for row in table.to_pylist():
        out = {key: row[key] for key in _KEYS}
        out["rows"] = row["query_id_count_sum"]
        for column in _SUMMED:
            total, count = row[f"{column}_sum_sum"], row[f"{column}_count_sum"]
            out[f"{column}_total"] = total
            out[f"{column}_count"] = count
            out[f"{column}_mean"] = (total / count) if count else None
        rows.append(out)
    return rows


def export_summary(export_dir: Path) -> list[dict]:
    """Read every responses shard of an export (only the needed columns) and summarise it."""
    shards = response_shards(export_dir)
    if not shards:
        raise FileNotFoundError(f"{export_dir}: no responses shards under data/ (is this an export folder?)")
    schemas = [pq.read_schema(p) for p in shards]
    schema = pa.unify_schemas(
        schemas, promote_options="permissive"
    )  # a column only some shards have is null in the rest
    columns = [c for c in ["query_id", *_KEYS, *_SUMMED] if c in schema.names]
    table = pads.dataset([str(p) for p in shards], schema=schema, format="parquet").to_table(columns=columns)
    return combine([partial_summary(table)])


def by(rows: list[dict], keys: list[str]) -> list[dict]:
    """Re-aggregate combined rows over fewer keys."""
    groups: dict[tuple, dict] = {}
    for row in rows:
        key = tuple(row[k] for k in keys)
        group = groups.setdefault(key, {**dict(zip(keys, key, strict=True)), "rows": 0})
        group["rows"] += row["rows"]
        for column in _SUMMED:
            for part in ("total", "count"):
                name = f"{column}_{part}"
                group[name] = (group.get(name) or 0) + (row[name] or 0)
    for group in groups.values():
        for column in _SUMMED:
            count = group[f"{column}_count"]
            group[f"{column}_mean"] = group[f"{column}_total"] / count if count else None
    return list(groups.values())


def fmt(value: float | None, digits: int = 3) -> str:
    """A mean for a table cell; '—' when there is none."""
    return "—" if value is None else f"{value:.{digits}f}"
