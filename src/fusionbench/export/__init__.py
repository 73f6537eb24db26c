"""The export folder and everything that reads or changes one.

:mod:`~fusionbench.export.folder` owns the layout, the shard writer and :func:`rewrite` (lock, stage, refresh
the card, swap); :mod:`~fusionbench.export.card` renders the dataset card; :mod:`~fusionbench.export.report`
is the ingestion report; :mod:`~fusionbench.export.stats` summarises shards; :mod:`~fusionbench.export.records`
builds rows for new generations, :mod:`~fusionbench.export.merge` adds them; :mod:`~fusionbench.export.rescore`
rescores; :mod:`~fusionbench.export.push` publishes.
"""

from __future__ import annotations

from fusionbench.export.folder import (
    ExportLockedError,
    NotAnExportError,
    config_dir,
    config_shards,
    is_export,
    read_config,
    require_export,
    response_shards,
    rewrite,
    write_parquet,
    write_shards,
)

__all__ = [
    "ExportLockedError",
    "NotAnExportError",
    "config_dir",
    "config_shards",
    "is_export",
    "read_config",
    "require_export",
    "response_shards",
    "rewrite",
    "write_parquet",
    "write_shards",
]
