"""Loading FusionBench configs: from release files (built on the fly into a cached export), an export folder,
or a Hub id of an export; ``fusionbench.load`` is :func:`load`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import datasets

from fusionbench.export.folder import QUERIES, config_shards, is_export
from fusionbench.fusionbench_dataset import CONFIG_NAMES, FusionBench


def load_queries_dataset(export: str | None = None) -> datasets.DatasetDict:
    """The ``queries`` config, every split, from ``export``: an export folder (``fusionbench build --out``),
    release files (paths, folders, globs; built on the fly), a Hub id of an export, or None (the
    embedded synthetic sample)."""
    if not export:
        return load("queries")
    path = Path(export).expanduser()
    if is_export(path) and config_shards(path, QUERIES):
        return datasets.load_dataset(str(path.resolve()), "queries")
    if path.exists() or any(ch in export for ch in "*?["):
        return load("queries", source=str(path))
    return datasets.load_dataset(export, "queries")


def load(
    config: str = "all",
    *,
    source: Sequence[str] | str | None = None,
    models: Sequence[str] | None = None,
    modes: Sequence[str] | None = None,
    split: str | None = None,
    filters: Any = None,
    columns: Sequence[str] | None = None,
    cache_dir: str | None = None,
    streaming: bool = False,
) -> datasets.Dataset | datasets.DatasetDict | datasets.IterableDataset | datasets.IterableDatasetDict:
    """Load a FusionBench config from release files (default: the embedded synthetic sample) or an export folder.

    ``filters`` (pyarrow filter tuples or an expression, e.g. ``[("model", "==", "deepseek-r1")]``) and
    ``columns`` are datasets' own Parquet options: row groups of other models are skipped, not read.
    ``models``/``modes`` filter at build time (release files only).
    """
    if config not in CONFIG_NAMES:
        raise ValueError(f"unknown config {config!r}; expected one of {', '.join(CONFIG_NAMES)}")
    reader = {"filters": filters, "columns": list(columns) if columns else None}
    if isinstance(source, (str, Path)) and is_export(Path(source)):
        if models or modes:
            raise ValueError("models= and modes= filter release files at build time; on an export, use filters=")
        folder = str(Path(source).resolve())
        return datasets.load_dataset(folder, config, split=split, cache_dir=cache_dir, streaming=streaming, **reader)
    builder = FusionBench(
        config_name=config,
        cache_dir=cache_dir,
        source=[str(source)] if isinstance(source, (str, Path)) else (list(source) if source else None),
        models=list(models) if models else None,
        modes=list(modes) if modes else None,
        **reader,
    )
    if streaming:
        return builder.as_streaming_dataset(split=split)
    builder.download_and_prepare()
    return builder.as_dataset(split=split)
