"""RoutingData to fusionbench's canonical tables and export folder, so that ``load_dataset``, the metrics and
the routers read converted data like any other export.

Every (query, candidate) cell with a value becomes one response row (``sample`` 0); a NaN becomes null (an
unknown cost is null, never 0). The export is written through :func:`fusionbench.export.folder.rewrite`
(locked, staged, swapped in whole) with its card, and ``conversion.json`` (an artifact manifest,
``fusionbench-conversion/1``) keeps the provenance (skip counts, featuriser) that
:func:`fusionbench.fusion.converters.canonical.from_export` restores.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fusionbench._version import __version__
from fusionbench.artifacts import new_manifest, write_manifest
from fusionbench.export import card
from fusionbench.export.folder import MODELS, QUERIES, README, rewrite, shard_glob, write_shards
from fusionbench.fusion.converters.canonical import CONVERSION_ARTIFACT
from fusionbench.fusion.data import RoutingData
from fusionbench.schema import MODEL_SCHEMA, QUERY_SCHEMA, RESPONSE_SCHEMA, SPLITS, column_docs

_CONFIG_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_RESERVED = {QUERIES, MODELS, "all"}


def _floats(values: np.ndarray) -> pa.Array:
    """float64 with null where NaN."""
    return pa.array(values, mask=np.isnan(values), type=pa.float64())


def _ints(values: np.ndarray) -> pa.Array:
    """int64 with null where NaN."""
    return pa.array(np.nan_to_num(values, nan=0).astype(np.int64), mask=np.isnan(values), type=pa.int64())


def _strings(values: Any) -> pa.Array:
    return pa.array([None if v is None else str(v) for v in values], pa.string())


def _constant(value: Any, n: int, type_: pa.DataType) -> pa.Array:
    return pa.repeat(pa.scalar(value, type_), n)


def _empty_lists(n: int) -> pa.Array:
    return pa.ListArray.from_arrays(pa.array(np.zeros(n + 1, dtype=np.int32)), pa.array([], pa.string()))


def _splits(data: RoutingData) -> np.ndarray:
    splits = data.splits if data.splits is not None else np.full(data.n_queries, "test", dtype=object)
    unknown = sorted(set(splits.tolist()) - set(SPLITS))
    if unknown:
        raise ValueError(f"an export holds only the splits {list(SPLITS)}; the data has {unknown}")
    return splits


def to_rows(data: RoutingData) -> tuple[pa.Table, pa.Table, pa.Table]:
    """(responses, queries, models) Tables in RESPONSE_SCHEMA, QUERY_SCHEMA and MODEL_SCHEMA."""
    if any(t is None or t == "" for t in data.texts):
        raise ValueError(f"{data.source}: some queries have no text; an export needs the query text of every row")
    splits = _splits(data)
    present = ~(np.isnan(data.performance) & np.isnan(data.cost) & np.isnan(data.judge))
    if data.responses is not None:
        present |= data.responses != None  # noqa: E711 (element-wise)
    rows, cols = np.nonzero(present)
    info = data.candidate_info
    n_rows = len(rows)
    row_index, col_index = pa.array(rows), pa.array(cols)

    def per_query(values: np.ndarray | None) -> pa.Array:
        return _constant(None, n_rows, pa.string()) if values is None else _strings(values).take(row_index)

    def per_candidate(attribute: str, type_: pa.DataType) -> pa.Array:
        return pa.array([getattr(c, attribute) for c in info], type_).take(col_index)

    judge = data.judge[rows, cols]
    judge_model = data.provenance.get("judge_model")
    columns = {
        "query_id": per_query(data.query_ids),
        "task": per_query(data.tasks),
        "domain": per_query(data.domains),
        "split": per_query(splits),
        "model": per_candidate("model", pa.string()),
        "mode": per_candidate("mode", pa.string()),
        "sample": pa.array(np.zeros(n_rows, dtype=np.int32)),
        "query": per_query(data.texts),
        "prompt": per_query(data.texts),
        "ground_truth": per_query(data.ground_truths),
        "metric": per_query(data.metrics),
        "response": per_query(None) if data.responses is None else _strings(data.responses[rows, cols]),
        "input_tokens": _ints(data.input_tokens[rows, cols]),
        "output_tokens": _ints(data.output_tokens[rows, cols]),
        "token_counter": _constant(data.provenance.get("token_counter"), n_rows, pa.string()),
        "input_price": per_candidate("input_price", pa.float64()),
        "output_price": per_candidate("output_price", pa.float64()),
        "cost_usd": _floats(data.cost[rows, cols]),
        "performance": _floats(data.performance[rows, cols]),
        "judge_score": _floats(judge),
        "judge_model": pa.array(np.full(n_rows, judge_model, dtype=object), pa.string(), mask=np.isnan(judge)),
        "source": _constant(data.source, n_rows, pa.string()),
        "flags": _empty_lists(n_rows),
    }
    responses = pa.Table.from_arrays(list(columns.values()), schema=RESPONSE_SCHEMA)
    counts = np.bincount(rows, minlength=data.n_queries)
    embeddings = (
        None if data.embeddings is None else [None if np.isnan(v).any() else v.tolist() for v in data.embeddings]
    )
    queries = pa.Table.from_pydict(
        {
            "query_id": data.query_ids.tolist(),
            "task": data.tasks.tolist(),
            "domain": data.domains.tolist(),
            "split": splits.tolist(),
            "query": data.texts.tolist(),
            "prompt_direct": data.texts.tolist(),
            "ground_truth": [None] * data.n_queries if data.ground_truths is None else data.ground_truths.tolist(),
            "metric": [None] * data.n_queries if data.metrics is None else data.metrics.tolist(),
            "embedding": [None] * data.n_queries if embeddings is None else embeddings,
            "n_rows": counts.astype(np.int32),
            "flags": _empty_lists(data.n_queries),
        }
        | {name: [None] * data.n_queries for name in QUERY_SCHEMA.names if name not in _QUERY_FILLED},
        schema=QUERY_SCHEMA,
    )
    if data.subjects is not None:  # not in QUERY_SCHEMA: kept as an extra, last column (see the report)
        queries = queries.append_column("subject", pa.array(data.subjects.tolist(), pa.string()))
    per_model: dict[str, Any] = {}
    for j, c in enumerate(info):
        first = per_model.setdefault(c.model, {"candidate": c, "n_rows": 0})
        first["n_rows"] += int(present[:, j].sum())
    models = pa.Table.from_pylist(
        [
            {
                "model": model,
                "generated_by": entry["candidate"].generated_by,
                "id_swapped": bool(entry["candidate"].generated_by)
                and not entry["candidate"].generated_by.endswith("/" + model),
                "size_b": entry["candidate"].size_b,
                "input_price": entry["candidate"].input_price,
                "output_price": entry["candidate"].output_price,
                "price_date": data.provenance.get("price_date"),
                "price_source": data.provenance.get("price_source"),
                "description": entry["candidate"].description,
                "n_rows": entry["n_rows"],
            }
            for model, entry in per_model.items()
        ],
        schema=MODEL_SCHEMA,
    )
    return responses, queries, models


_QUERY_FILLED = {"query_id", "task", "domain", "split", "query", "prompt_direct", "ground_truth", "metric"}
_QUERY_FILLED |= {"embedding", "n_rows", "flags"}


def write_export(data: RoutingData, path: Path, *, overwrite: bool = False) -> Path:
    """Write ``data`` as an export folder at ``path`` (shards per task and split, queries, models, card)."""
    bad = sorted({t for t in map(str, data.tasks.tolist()) if not _CONFIG_NAME.match(t) or t in _RESERVED})
    if bad:
        raise ValueError(f"task names {bad} cannot be config and folder names (reserved: {sorted(_RESERVED)})")
    responses, queries, models = to_rows(data)
    tasks = list(dict.fromkeys(data.tasks.tolist()))
    with rewrite(path, create=True, overwrite=overwrite, refresh_card=False) as staging:
        shards = []
        splits_by_task: dict[str, list[str]] = {}
        for task in tasks:
            for split in SPLITS:
                part = responses.filter(pc.and_(pc.equal(responses["task"], task), pc.equal(responses["split"], split)))
                if part.num_rows:
                    shards += write_shards(part, staging, task, split)
                    splits_by_task.setdefault(task, []).append(split)
        query_splits = [s for s in SPLITS if s in set(queries["split"].to_pylist())]
        for split in query_splits:
            shards += write_shards(queries.filter(pc.equal(queries["split"], split)), staging, QUERIES, split)
        shards += write_shards(models, staging, MODELS, "train")
        conversion = new_manifest(
            CONVERSION_ARTIFACT,
            source=data.source,
            synthetic=data.synthetic,
            featurizer=dict(data.featurizer) if data.featurizer is not None else None,
            provenance=_jsonable(dict(data.provenance)),
        )
        write_manifest(staging, CONVERSION_ARTIFACT, conversion)
        text = render_card(data, responses, splits_by_task, query_splits, staging, shards)
        (staging / README).write_text(text, encoding="utf-8")
    return path


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in value]
    return value.item() if isinstance(value, np.generic) else value


def _configs(splits_by_task: dict[str, list[str]], query_splits: list[str]) -> list[dict[str, Any]]:
    """The card's ``configs``: all (default), one per task (any task name), queries, models."""
    splits = [s for s in SPLITS if any(s in ss for ss in splits_by_task.values())]
    configs: list[dict[str, Any]] = [
        {
            "config_name": "all",
            "default": True,
            "data_files": [
                {"split": s, "path": [shard_glob(t, s) for t, ss in splits_by_task.items() if s in ss]} for s in splits
            ],
        }
    ]
    configs += [
        {"config_name": t, "data_files": [{"split": s, "path": shard_glob(t, s)} for s in ss]}
        for t, ss in splits_by_task.items()
    ]
    configs.append(
        {"config_name": QUERIES, "data_files": [{"split": s, "path": shard_glob(QUERIES, s)} for s in query_splits]}
    )
    configs.append({"config_name": MODELS, "data_files": [{"split": "train", "path": shard_glob(MODELS, "train")}]})
    return configs


def render_card(
    data: RoutingData,
    responses: pa.Table,
    splits_by_task: dict[str, list[str]],
    query_splits: list[str],
    folder: Path,
    shards: list[tuple[str, int, str]],
) -> str:
    """The card of a converted export: front matter with configs and features, provenance, checksums."""
    from datasets import DatasetInfo, Features
    from datasets.info import DatasetInfosDict
    from huggingface_hub import DatasetCardData

    meta = DatasetCardData(
        license="other",
        pretty_name=f"{data.source} (converted by fusionbench)",
        tags=["llm-routing", "fusionbench", "converted", *(["synthetic"] * data.synthetic)],
        configs=_configs(splits_by_task, query_splits),
    )
    infos = {}
    for config in meta.configs:
        patterns = [p for entry in config["data_files"] for p in np.atleast_1d(entry["path"]).tolist()]
        files = sorted({f for pattern in patterns for f in folder.glob(pattern)})
        if files:
            infos[config["config_name"]] = DatasetInfo(
                features=Features.from_arrow_schema(pq.read_schema(files[0])),
                download_size=sum(f.stat().st_size for f in files),
                config_name=config["config_name"],
            )
    DatasetInfosDict(infos).to_dataset_card_data(meta)
    counts = responses.group_by(["task", "split"]).aggregate([("query_id", "count_distinct"), ("query_id", "count")])
    rows = [
        f"| {r['task']} | {r['split']} | {r['query_id_count_distinct']:,} | {r['query_id_count']:,} |"
        for r in counts.sort_by([("task", "ascending"), ("split", "ascending")]).to_pylist()
    ]
    provenance = json.dumps(_jsonable(dict(data.provenance)), indent=2, sort_keys=True)
    columns = "\n".join(f"| `{n}` | `{t}` | {d} |" for n, t, d in column_docs(RESPONSE_SCHEMA))
    notice = "> **Synthetic data: do not report results on it.**\n\n" if data.synthetic else ""
    body = f"""# {data.source}: routing data converted by fusionbench

{notice}Converted by `fusionbench.fusion.converters` (fusionbench {__version__}) from `{data.source}`: one
response row per (query, candidate) with a value, `mode="direct"` unless the source has modes, `sample` 0,
and null wherever the source has no value (an unknown cost is null, never 0). The column `source` names
the origin. Read it back with `RoutingData.from_export(path)` or `load_dataset(path, "all")`.

## Rows per task and split

| task | split | queries | rows |
|---|---|---|---|
{chr(10).join(rows)}

## Conversion

```json
{provenance}
```

## Columns

| column | type | meaning |
|---|---|---|
{columns}

## Checksums

{card.checksums_table(sorted(shards))}
"""
    return f"---\n{meta.to_yaml()}\n---\n\n{body}"
