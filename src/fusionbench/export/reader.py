"""The one reader of an export's response rows and queries: :func:`read_split` (configs, split, columns,
filters, with the queries) and :func:`read_queries`.

Every fusion step that starts from an export folder (the routing converter, thought templates, SFT data) reads
through here, straight from the shards with pyarrow: only the columns asked for are read, and ``filters`` skip
row groups. ``fusionbench.load`` reads the same shards through ``datasets``' own Parquet builder instead (a
``datasets.Dataset`` with its cache), and the two agree row for row (``tests/test_export_reader.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fusionbench.errors import BadInputError
from fusionbench.export.folder import QUERIES, README, config_shards, require_export, task_configs
from fusionbench.schema import SPLIT_ALIASES, SPLITS


@dataclass(frozen=True)
class ExportSplit:
    """What :func:`read_split` read: the response ``rows`` of ``configs`` (in task order, then shard order), the
    ``queries`` table (None when not asked for, or when the export has no queries of the split) and the shards."""

    export: Path
    split: str | None
    configs: tuple[str, ...]
    rows: pa.Table
    queries: pa.Table | None
    shards: tuple[Path, ...]


def canonical_split(split: str) -> str:
    """The canonical split name of ``split`` (``partial_test`` -> ``test``); ValueError when it is none."""
    canonical = SPLIT_ALIASES.get(split)
    if canonical not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}, not {split!r}")
    return canonical


def _read_shards(
    shards: Sequence[Path], columns: Sequence[str] | None, required: Sequence[str], filters: Any
) -> pa.Table:
    """The shards as one table: ``columns`` (those a shard has; None: all), ``required`` ones in every shard
    (:class:`BadInputError` naming the first shard without them)."""
    parts = []
    for shard in shards:
        names = pq.read_schema(shard).names
        missing = [c for c in required if c not in names]
        if missing:
            raise BadInputError(
                str(shard), f"no column(s) {', '.join(missing)}; is this an export built by fusionbench?"
            )
        wanted = None if columns is None else [c for c in dict.fromkeys([*columns, *required]) if c in names]
        parts.append(pq.read_table(shard, columns=wanted, filters=filters))
    return pa.concat_tables(parts, promote_options="default")


def read_queries(
    export: str | Path,
    split: str | None = None,
    *,
    tasks: Sequence[str] | None = None,
    columns: Sequence[str] | None = None,
    required: Sequence[str] = (),
) -> pa.Table | None:
    """The queries table of ``split`` of an export (None: every split), or None when it has no such shards.

    ``columns``: those to read where present (None: all); ``required``: columns every shard must have;
    ``tasks``: keep only the queries of these tasks.
    """
    export = require_export(Path(export))
    split = canonical_split(split) if split is not None else None
    shards = config_shards(export, QUERIES, split)
    if not shards:
        return None
    wanted = None if columns is None else [*columns, *(["task"] if tasks is not None else [])]
    table = _read_shards(shards, wanted, required, None)
    if tasks is not None:
        table = table.filter(pc.is_in(table["task"], value_set=pa.array(list(tasks), pa.string())))
        if columns is not None and "task" not in columns:
            table = table.drop_columns(["task"])
    return table


def read_split(
    export: str | Path,
    split: str | None = None,
    *,
    configs: Sequence[str] | None = None,
    columns: Sequence[str] | None = None,
    required: Sequence[str] = (),
    filters: Any = None,
    with_queries: bool = False,
    query_columns: Sequence[str] | None = None,
    query_required: Sequence[str] = (),
) -> ExportSplit:
    """The response rows of ``split`` (None: every split) of an export folder, and its queries if asked.

    ``configs``: the task configs to read (None: every one the export has; a name the export lacks is a
    ValueError naming the export's configs); the queries are then restricted to those tasks too.
    ``columns``: the columns to read where a shard has them (None: all); ``required``: columns every shard must
    have (:class:`~fusionbench.errors.BadInputError` naming the shard). ``filters``: pyarrow filter tuples or
    an expression, applied while reading. ``with_queries``: read the split's queries (``query_columns``,
    ``query_required`` as for the rows). No response shard at all is a FileNotFoundError.
    """
    export = require_export(Path(export))
    split = canonical_split(split) if split is not None else None
    present = task_configs(export)
    if configs is None:
        chosen = present
    else:
        unknown = sorted(set(configs) - set(present))
        if unknown:
            raise ValueError(f"{export}: no task(s) {', '.join(unknown)}; the export has {', '.join(present)}")
        chosen = [c for c in present if c in set(configs)]
    shards = [p for config in chosen for p in config_shards(export, config, split)]
    if not shards:
        raise FileNotFoundError(f"{export}: no {split or 'any'} responses for tasks {', '.join(chosen) or 'none'}")
    rows = _read_shards(shards, columns, required, filters)
    queries = None
    if with_queries:
        tasks = None if configs is None else chosen
        queries = read_queries(export, split, tasks=tasks, columns=query_columns, required=query_required)
    return ExportSplit(export, split, tuple(chosen), rows, queries, tuple(shards))


def is_synthetic(export: str | Path) -> bool:
    """True when the export's card tags it ``synthetic`` (the embedded sample, or a generated one)."""
    import yaml

    text = (Path(export) / README).read_text(encoding="utf-8")
    if not text.startswith("---"):
        return False
    front = yaml.load(text.split("---", 2)[1], Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
    return "synthetic" in (front.get("tags") or [])
