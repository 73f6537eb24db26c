"""The export folder and everything that reads or changes one.

:mod:`~fusionbench.export.folder` owns the layout, the shard writer and :func:`rewrite` (lock, stage, refresh
the card, swap); :mod:`~fusionbench.export.card` renders the dataset card; :mod:`~fusionbench.export.report`
is the ingestion report; :mod:`~fusionbench.export.stats` summarises shards; :mod:`~fusionbench.export.records`
builds rows for new generations, :mod:`~fusionbench.export.merge` adds them; :mod:`~fusionbench.export.rescore`
rescores; :mod:`~fusionbench.export.push` publishes.
"""

from __future__ import annotations

import warnings
from typing import Any

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

#: Names that lived in the old ``fusionbench.export`` module and moved to :mod:`fusionbench.build`.
_MOVED_TO_BUILD = ("build_export", "BuildResult", "DEFAULT_OUT")


def __getattr__(name: str) -> Any:
    if name in _MOVED_TO_BUILD:
        from importlib import import_module

        warnings.warn(
            f"fusionbench.export.{name} moved to fusionbench.build.{name}; the old name goes in the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(import_module("fusionbench.build"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
