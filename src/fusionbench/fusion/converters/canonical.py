"""RoutingData from fusionbench's own format: a canonical-schema responses table, or an export folder.

The pivot is vectorised (dictionary codes, then the routing metrics' one scatter,
:func:`fusionbench.metrics.routing_rows.pivot_cells`): long rows (one per query, model, mode) become
[n_queries, n_candidates] matrices. Rows with ``sample`` other than 0 are left out and
counted; two rows for one cell are an error; a cell without a row or with a null score is NaN and then
handled by ``incomplete`` (error, or a counted drop of the queries or the candidates).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fusionbench.artifacts import ArtifactFormat, read_manifest
from fusionbench.errors import BadInputError
from fusionbench.export import reader
from fusionbench.export.folder import MODELS, config_shards, require_export, response_shards
from fusionbench.fusion.data import Candidate, Incomplete, RoutingData
from fusionbench.metrics.routing_rows import first_appearance, pivot_cells
from fusionbench.schema import MODES

#: the sidecar file a converted export keeps its provenance in (see converters.export)
CONVERSION_FILE = "conversion.json"
#: its artifact manifest (:mod:`fusionbench.artifacts`); one written before it had a ``format`` reads as version 1
CONVERSION_ARTIFACT = ArtifactFormat(
    "fusionbench-conversion", 1, manifest=CONVERSION_FILE, what="a converted export's provenance (conversion.json)"
)
_VALUE_COLUMNS = {"cost": "cost_usd", "judge": "judge_score", "input_tokens": "input_tokens"}
_VALUE_COLUMNS |= {"output_tokens": "output_tokens"}
_KEY_COLUMNS = ["query_id", "task", "domain", "split", "model", "mode", "sample"]
RELEASE_FEATURIZER = {
    "kind": "stored",
    "column": "embedding",
    "model": "allenai/longformer-base-4096",
    "pooling": "cls-global",
}
SYNTHETIC_FEATURIZER = {"kind": "stored", "column": "embedding", "model": "synthetic (random vectors)"}


def _codes(column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, list[Any]]:
    """Dictionary codes of a column and its distinct values."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    encoded = pc.dictionary_encode(array)
    return encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64), encoded.dictionary.to_pylist()


def _floats(table: pa.Table, name: str) -> np.ndarray:
    if name not in table.column_names:
        return np.full(table.num_rows, np.nan)
    return pc.cast(table[name], pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64, copy=False)


def _check_values(table: pa.Table, score_column: str, source: str) -> None:
    """The build's valid ranges (:mod:`fusionbench.build.ranges`) on a table that need not come from a build: the
    first bad row is an error naming the source, column, value, range and the row's query, model and mode."""
    from fusionbench.build.ranges import first_bad

    columns = {score_column: "performance", **{c: c for c in _VALUE_COLUMNS.values()}}
    bad = first_bad({c: (_floats(table, c), field) for c, field in columns.items() if c in table.column_names})
    if bad is not None:
        row, column, message = bad
        key = {c: table[c][row].as_py() for c in ("query_id", "split", "model", "mode")}
        where = f" (query {key['query_id']!r}, split {key['split']!r}, model {key['model']!r}, mode {key['mode']!r})"
        raise BadInputError(source, message + where, column=column)


def _pivot(
    table: pa.Table,
    *,
    score_column: str,
    model_order: Sequence[str] = (),
    with_responses: bool = False,
    source: str = "table",
) -> dict[str, Any]:
    """The RoutingData fields that come from long response rows (plus ``skipped`` counts)."""
    missing = [c for c in [*_KEY_COLUMNS, score_column] if c not in table.column_names and c != "sample"]
    if missing:
        raise ValueError(f"responses table lacks the columns {missing} (canonical schema: fusionbench.schema)")
    _check_values(table, score_column, source)
    skipped: dict[str, int] = {}
    if "sample" in table.column_names:
        first_sample = pc.equal(table["sample"], 0)
        if (others := table.num_rows - pc.sum(first_sample).as_py()) > 0:
            skipped["rows_sample_not_0"] = others
            table = table.filter(first_sample)
    if table.num_rows == 0:
        raise ValueError("no response rows to pivot")
    split_codes, split_values = _codes(table["split"])
    qid_codes, qid_values = _codes(table["query_id"])
    row_of, first_rows = first_appearance(qid_codes * len(split_values) + split_codes)
    model_codes, model_values = _codes(table["model"])
    mode_codes, mode_values = _codes(table["mode"])
    cand_of, cand_first = first_appearance(model_codes * len(mode_values) + mode_codes)
    pairs = [(model_values[model_codes[r]], mode_values[mode_codes[r]]) for r in cand_first]
    position = {m: i for i, m in enumerate(model_order)}
    order = sorted(
        range(len(pairs)),
        key=lambda j: (
            position.get(pairs[j][0], len(position)),
            MODES.index(pairs[j][1]) if pairs[j][1] in MODES else len(MODES),
            j,
        ),
    )
    remap = np.empty(len(order), dtype=np.int64)
    remap[order] = np.arange(len(order))
    cand_of, pairs = remap[cand_of], [pairs[j] for j in order]
    n, k = len(first_rows), len(pairs)
    flat = row_of * k + cand_of
    values = {name: _floats(table, column) for name, column in {"performance": score_column, **_VALUE_COLUMNS}.items()}
    matrices, r = pivot_cells(row_of, cand_of, (n, k), values)
    if r is not None:
        raise ValueError(
            f"two rows for query {qid_values[qid_codes[r]]!r} (split {split_values[split_codes[r]]!r}) and candidate "
            f"{'/'.join(pairs[cand_of[r]])!r}; keep one row per (query, model, mode, sample)"
        )
    fields: dict[str, Any] = dict(matrices)
    for name, column in (("tasks", "task"), ("domains", "domain")):
        codes, values = _codes(table[column])
        per_query = codes[first_rows]
        if (codes != per_query[row_of]).any():
            r = int(np.flatnonzero(codes != per_query[row_of])[0])
            raise ValueError(f"query {qid_values[qid_codes[r]]!r} has two values of {column!r}")
        fields[name] = np.array(values, dtype=object)[per_query]
    fields["query_ids"] = np.array(qid_values, dtype=object)[qid_codes[first_rows]]
    fields["splits"] = np.array(split_values, dtype=object)[split_codes[first_rows]]
    if with_responses and "response" in table.column_names:
        responses = np.full(n * k, None, dtype=object)
        responses[flat] = table["response"].to_numpy(zero_copy_only=False)
        fields["responses"] = responses.reshape(n, k)
    if "query" in table.column_names:
        fields["texts"] = table["query"].take(pa.array(first_rows)).to_numpy(zero_copy_only=False)
    fields["pairs"] = pairs
    fields["skipped"] = skipped
    return fields


def _candidates(pairs: list[tuple[str, str]], models: pa.Table | None) -> tuple[Candidate, ...]:
    rows = {r["model"]: r for r in (models.to_pylist() if models is not None else [])}
    out = []
    for model, mode in pairs:
        info = rows.get(model, {})
        out.append(
            Candidate(
                f"{model}/{mode}",
                model,
                mode,
                size_b=info.get("size_b"),
                input_price=info.get("input_price"),
                output_price=info.get("output_price"),
                description=info.get("description"),
                generated_by=info.get("generated_by"),
            )
        )
    return tuple(out)


def _with_queries(fields: dict[str, Any], queries: pa.Table | None) -> None:
    """Texts, ground truths, metrics, subjects and embeddings from a queries table, joined on (split, id)."""
    if queries is None or queries.num_rows == 0:
        return
    index = {
        (s, q): i
        for i, (s, q) in enumerate(zip(queries["split"].to_pylist(), queries["query_id"].to_pylist(), strict=True))
    }
    rows = [index.get(key, -1) for key in zip(fields["splits"], fields["query_ids"], strict=True)]
    found = np.array(rows) >= 0
    if not found.all():
        fields["skipped"]["queries_without_queries_row"] = int((~found).sum())
    source = np.array(rows)[found]  # the queries-table row of each found query

    def pick(values: np.ndarray, fill: Any) -> np.ndarray:
        if found.all():
            return values[source]
        out = np.full((len(rows), *values.shape[1:]), fill, dtype=values.dtype)
        out[found] = values[source]
        return out

    optional = (("ground_truths", "ground_truth"), ("metrics", "metric"), ("subjects", "subject"))
    for name, column in (("texts", "query"), *optional):
        # an optional column that is null everywhere stays None, as it was before export
        if column in queries.column_names and (name == "texts" or queries[column].null_count < queries.num_rows):
            values = pick(queries[column].to_numpy(zero_copy_only=False).astype(object), None)
            if name == "texts" and "texts" in fields:  # a query without a queries row keeps its rows' text
                values[~found] = fields["texts"][~found]
            fields[name] = values
    if "embedding" in queries.column_names and queries["embedding"].null_count < queries.num_rows:
        vectors = queries["embedding"].combine_chunks()
        lengths = pc.cast(pc.list_value_length(vectors), pa.float64()).to_numpy(zero_copy_only=False)
        width = int(np.nanmax(lengths))
        complete = lengths == width  # False for null (NaN) and for short vectors
        flat = vectors.filter(pa.array(complete)).flatten().to_numpy(zero_copy_only=False).reshape(-1, width)
        if complete.all():
            table = flat
        else:
            table = np.full((queries.num_rows, width), np.nan, dtype=np.float32)
            table[complete] = flat
        embeddings = pick(table, np.nan)
        if np.isnan(embeddings).any():
            fields["skipped"]["queries_without_embedding"] = int(np.isnan(embeddings).any(axis=1).sum())
        fields["embeddings"] = embeddings


def _finish(
    fields: dict[str, Any],
    models: pa.Table | None,
    *,
    candidates: Literal["model/mode", "model"],
    incomplete: Incomplete,
    source: str,
    provenance: dict[str, Any],
    **extra: Any,
) -> RoutingData:
    pairs, skipped = fields.pop("pairs"), fields.pop("skipped")
    data = RoutingData(
        **fields,
        candidates=tuple(f"{m}/{mode}" for m, mode in pairs),
        candidate_info=_candidates(pairs, models),
        source=source,
        provenance={**provenance, "skipped": {**provenance.get("skipped", {}), **skipped}},
        **extra,
    )
    if candidates == "model":
        data = data.with_model_names()
    elif candidates != "model/mode":
        raise ValueError(f"candidates must be 'model/mode' or 'model', not {candidates!r}")
    return data.resolve_incomplete(incomplete)


def _arrow(table: Any, columns: Sequence[str] | None = None) -> pa.Table:
    """A pyarrow Table of a Table or datasets.Dataset, with only ``columns`` (those it has)."""
    if hasattr(table, "with_format") and hasattr(table, "select_columns"):  # datasets.Dataset
        keep = [c for c in columns or table.column_names if c in table.column_names]
        return table.select_columns(keep).with_format("arrow")[:]
    if not isinstance(table, pa.Table):
        raise TypeError(f"expected a pyarrow.Table or datasets.Dataset, not {type(table).__name__}")
    return table.select([c for c in columns or table.column_names if c in table.column_names])


def from_table(
    table: Any,
    queries: Any = None,
    *,
    score_column: Literal["performance", "rescored_performance"] = "performance",
    candidates: Literal["model/mode", "model"] = "model/mode",
    mode: str | None = None,
    incomplete: Incomplete = "error",
    models: Any = None,
    source: str = "table",
    with_responses: bool = False,
) -> RoutingData:
    """RoutingData from canonical-schema response rows (pyarrow Table or datasets.Dataset).

    ``queries`` (a queries table) supplies texts, ground truths and embeddings; ``models`` the candidate
    info. ``mode`` keeps only that mode's rows (needed for ``candidates="model"`` when both modes exist).
    """
    wanted = [*_KEY_COLUMNS, score_column, *_VALUE_COLUMNS.values(), "query", *(["response"] * with_responses)]
    rows = _arrow(table, wanted)
    if mode is not None:
        rows = rows.filter(pc.equal(rows["mode"], mode))
    model_table = _arrow(models) if models is not None else None
    order = model_table["model"].to_pylist() if model_table is not None else ()
    fields = _pivot(rows, score_column=score_column, model_order=order, with_responses=with_responses, source=source)
    _with_queries(fields, _arrow(queries) if queries is not None else None)
    provenance = {"kind": "table", "score_column": score_column, "mode": mode}
    return _finish(
        fields, model_table, candidates=candidates, incomplete=incomplete, source=source, provenance=provenance
    )


def from_export(
    path: str | Path,
    split: str | None = None,
    *,
    score_column: Literal["performance", "rescored_performance"] = "performance",
    candidates: Literal["model/mode", "model"] = "model/mode",
    mode: str | None = None,
    tasks: Sequence[str] | None = None,
    incomplete: Incomplete = "error",
    with_responses: bool = False,
) -> RoutingData:
    """RoutingData from an export folder (``data/<task>/`` shards, ``data/queries``, ``data/models``).

    Only the needed columns are read. ``split``: ``"train"`` or ``"test"`` (None: both; a query in both
    splits is then two rows). ``tasks`` restricts to those task folders.
    """
    export = require_export(Path(path))
    wanted = [*_KEY_COLUMNS, score_column, *_VALUE_COLUMNS.values(), "source", *(["response"] * with_responses)]
    try:
        read = reader.read_split(
            export,
            split,
            configs=tasks,
            columns=wanted,
            required=[score_column],
            filters=[("mode", "=", mode)] if mode is not None else None,
            with_queries=True,
            query_columns=["query_id", "split", "query", "ground_truth", "metric", "subject", "embedding"],
        )
    except BadInputError as err:  # a responses shard without the score column
        hint = " (run `fusionbench rescore --write` on them, or pass tasks=)" if score_column != "performance" else ""
        lacking = {
            shard.parent.name
            for shard in response_shards(export, tasks)
            if (split is None or shard.name.startswith(f"{split}-")) and score_column not in pq.read_schema(shard).names
        } or {Path(err.file).parent.name}
        names = ", ".join(sorted(lacking))
        raise ValueError(f"{export}: no column {score_column!r} in the shards of {names}{hint}") from None
    split, table = read.split, read.rows
    models = pq.read_table(m) if (m := config_shards(export, MODELS)) and len(m) == 1 else None
    order = models["model"].to_pylist() if models is not None else ()
    fields = _pivot(
        table, score_column=score_column, model_order=order, with_responses=with_responses, source=str(export)
    )
    _with_queries(fields, read.queries)
    sources = pc.unique(table["source"]).to_pylist() if "source" in table.column_names else []
    conversion = read_conversion(export) if (export / CONVERSION_FILE).is_file() else {}
    synthetic = reader.is_synthetic(export)
    featurizer = conversion.get("featurizer")
    if "embeddings" in fields and featurizer is None:
        featurizer = SYNTHETIC_FEATURIZER if synthetic else RELEASE_FEATURIZER
    provenance = {**conversion.get("provenance", {}), "export": str(export), "split": split}
    provenance |= {"score_column": score_column, "mode": mode, "sources": sources}
    return _finish(
        fields,
        models,
        candidates=candidates,
        incomplete=incomplete,
        source=sources[0] if len(sources) == 1 else f"export:{export}",
        provenance=provenance,
        synthetic=synthetic,
        featurizer=featurizer,
    )


def _legacy_conversion(found: dict[str, Any] | None) -> dict[str, Any] | None:
    """A ``conversion.json`` written before it had a ``format`` (its ``provenance``): version 1."""
    if found is not None and "provenance" in found:
        return {"format": f"{CONVERSION_ARTIFACT.name}/1", **found}
    return None


def read_conversion(export: str | Path) -> dict[str, Any]:
    """The checked ``conversion.json`` of a converted export: a damaged or foreign one, or one of a newer version,
    is an :class:`~fusionbench.artifacts.ArtifactFormatError` naming the file."""
    return read_manifest(export, CONVERSION_ARTIFACT, legacy=_legacy_conversion)
