"""Routing datasets shipped inside the package: a new user's first router report runs on real data, offline.

``llmrouter`` (the default of ``fusionbench route``): LLMRouter's per-query scores of 9 FusionBench models on
6,108 queries (ulab-uiuc/LLMRouter @ 4e7a796942ce26e9d5f2b93191c7c2585c99c2e3, ``data/dcrouter_preprocessed``
with its query files; MIT licence, kept beside the file with an attribution card). Scores lie in [0, 1]; there
are no costs, token counts or judge scores (NaN, never 0). Its shipped train/test share 119 test queries with
train; the ``release`` split removes them (381 clean test queries).

The file is one Parquet table (``routing.parquet``: one row per query, one ``perf::<candidate>`` column per
candidate, the candidate info and provenance as JSON in the schema metadata): 0.83 MB, where the upstream JSON
is 4.4 MB of scores plus 3.9 MB of query files, and a fusionbench export of the same data 4.1 MB (an export
keeps each text four times: query and prompt, in the responses and the queries configs).
:func:`export` writes it as a fusionbench export folder; :func:`regenerate` rebuilds the file from the
upstream files (``../shared/data/routing/llmrouter``) and :func:`verify` checks the shipped file against them.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from fusionbench.fusion.data import Candidate, RoutingData

FORMAT = "fusionbench-embedded-routing/1"
FOLDER = Path(__file__).parent
DATASETS: dict[str, Path] = {"llmrouter": FOLDER / "llmrouter"}
DEFAULT = "llmrouter"
TABLE = "routing.parquet"
UPSTREAM = {
    "llmrouter": {
        "repository": "ulab-uiuc/LLMRouter",
        "commit": "4e7a796942ce26e9d5f2b93191c7c2585c99c2e3",
        "files": [
            "data/dcrouter_preprocessed/train.json",
            "data/dcrouter_preprocessed/test.json",
            "data/example_data/query_data/default_query_train.jsonl",
            "data/example_data/query_data/default_query_test.jsonl",
        ],
        "licence": "MIT (LICENSE beside the file)",
        "converter": "fusionbench.fusion.converters.llmrouter",
    }
}
_PER_QUERY = {"query_id": "query_ids", "split": "splits", "task": "tasks", "domain": "domains", "query": "texts"}
_PER_QUERY |= {"ground_truth": "ground_truths", "metric": "metrics"}
_PERF = "perf::"


def folder(name: str = DEFAULT) -> Path:
    """The folder of an embedded dataset (its table, LICENSE and README card)."""
    if name not in DATASETS:
        raise ValueError(f"no embedded dataset {name!r}; embedded: {sorted(DATASETS)}")
    return DATASETS[name]


def to_table(data: RoutingData, name: str = DEFAULT) -> pa.Table:
    """The embedded table of ``data``: per-query columns, one performance column per candidate, metadata."""
    for matrix in ("cost", "judge", "input_tokens", "output_tokens"):
        if not np.isnan(getattr(data, matrix)).all():
            raise ValueError(f"the embedded format keeps performance only; the data has {matrix} values")
    columns: dict[str, Any] = {}
    for column, attr in _PER_QUERY.items():
        values = getattr(data, attr)
        if values is not None:
            columns[column] = pa.array([None if v is None else str(v) for v in values], pa.string())
    for j, candidate in enumerate(data.candidates):
        perf = data.performance[:, j]
        columns[_PERF + candidate] = pa.array(perf, mask=np.isnan(perf), type=pa.float64())
    provenance = {k: v for k, v in data.provenance.items() if k not in ("path", "files")}
    meta = {
        "format": FORMAT,
        "name": name,
        "source": data.source,
        "synthetic": data.synthetic,
        "candidate_info": [dataclasses.asdict(c) for c in data.candidate_info],
        "provenance": provenance,
        "upstream": UPSTREAM.get(name, {}),
    }
    return pa.table(columns).replace_schema_metadata({b"fusionbench": json.dumps(meta).encode("utf-8")})


def from_table(table: pa.Table, where: str = "embedded table") -> RoutingData:
    """The RoutingData of an embedded table (see :func:`to_table`)."""
    raw = (table.schema.metadata or {}).get(b"fusionbench")
    meta = json.loads(raw) if raw else {}
    if meta.get("format") != FORMAT:
        raise ValueError(f"{where}: not a fusionbench embedded routing table (format {meta.get('format')!r})")
    info = tuple(Candidate(**c) for c in meta["candidate_info"])
    names = [c.name for c in info]
    perf_columns = [_PERF + n for n in names]
    missing = [c for c in perf_columns if c not in table.column_names]
    if missing:
        raise ValueError(f"{where}: candidate columns {missing} are missing")
    performance = np.column_stack([table[c].to_numpy(zero_copy_only=False).astype(np.float64) for c in perf_columns])
    fields = {attr: table[col].to_pylist() for col, attr in _PER_QUERY.items() if col in table.column_names}
    n, k = performance.shape
    nan = np.full((n, k), np.nan)
    return RoutingData(
        **fields,
        candidates=tuple(names),
        performance=performance,
        cost=nan,
        judge=nan,
        input_tokens=nan,
        output_tokens=nan,
        candidate_info=info,
        source=meta["source"],
        synthetic=bool(meta.get("synthetic")),
        provenance={**meta.get("provenance", {}), "embedded": meta.get("name"), "upstream": meta.get("upstream")},
    )


def load(name: str = DEFAULT) -> RoutingData:
    """The embedded dataset ``name`` as RoutingData (splits ``train``/``test`` as shipped upstream)."""
    path = folder(name) / TABLE
    data = from_table(pq.read_table(path), str(path))
    return dataclasses.replace(data, provenance={**data.provenance, "path": str(path)})


def write(data: RoutingData, path: str | Path, name: str = DEFAULT) -> Path:
    """Write ``data`` as an embedded table (zstd level 19: the smallest file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(to_table(data, name), path, compression="zstd", compression_level=19)
    return path


def regenerate(source: str | Path, out: str | Path | None = None, name: str = DEFAULT) -> RoutingData:
    """Convert the upstream files at ``source`` (e.g. ``../shared/data/routing/llmrouter``) again; with ``out``,
    write the table there (``out`` = :func:`folder` ``/ routing.parquet`` refreshes the shipped file)."""
    from fusionbench.fusion.converters import from_external

    data = from_external(name, source)
    if out is not None:
        write(data, out, name)
    return data


def verify(source: str | Path, name: str = DEFAULT) -> bool:
    """True when the shipped table holds exactly what converting the upstream files at ``source`` gives."""
    return load(name).equals(regenerate(source, name=name))


def export(path: str | Path, name: str = DEFAULT, *, overwrite: bool = False) -> Path:
    """Write the embedded dataset as a fusionbench export folder (``load_dataset(path, "all")`` reads it)."""
    return load(name).write_export(path, overwrite=overwrite)


__all__ = ["DATASETS", "DEFAULT", "export", "folder", "from_table", "load", "regenerate", "to_table", "verify", "write"]
