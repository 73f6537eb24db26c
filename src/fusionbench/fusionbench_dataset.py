"""The ``datasets`` builder for FusionBench: one config per task, ``all``, ``queries`` and ``models``.

datasets 5 no longer runs loading scripts, so the builder is used directly (or via
:func:`fusionbench.load`)::

    from fusionbench.fusionbench_dataset import FusionBench
    builder = FusionBench(config_name="gsm8k", source=["path/to/release/*.csv"], modes=["cot"])
    builder.download_and_prepare()
    ds = builder.as_dataset()

It ingests the release with the same code as ``fusionbench build`` (into a cached export folder
keyed by the source files and parameters) and reads the config's shards from there with the
``datasets`` Parquet builder, so ``filters`` and ``columns`` work as they do on an export.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import datasets
import pyarrow as pa
from datasets.packaged_modules.parquet.parquet import Parquet, ParquetConfig

from fusionbench.build.sources import resolve_sources
from fusionbench.export.folder import MODELS, QUERIES, config_shards
from fusionbench.schema import MODEL_SCHEMA, QUERY_SCHEMA, RESPONSE_SCHEMA, SPLITS, TASKS

CONFIG_NAMES: tuple[str, ...] = (*TASKS, "all", "queries", "models")


@dataclass
class FusionBenchConfig(ParquetConfig):
    """A config plus the build parameters (release source(s), model/mode filters) and the Parquet reader's
    options (``filters``, ``columns``, ``batch_size``, ...)."""

    source: Sequence[str] | None = None
    models: Sequence[str] | None = None
    modes: Sequence[str] | None = None
    lenient: bool = False


def _schema(config_name: str) -> pa.Schema:
    return {QUERIES: QUERY_SCHEMA, MODELS: MODEL_SCHEMA}.get(config_name, RESPONSE_SCHEMA)


class FusionBench(Parquet):
    """LLMFusionBench responses of 20 LLMs on 14 tasks, direct and chain-of-thought."""

    BUILDER_CONFIG_CLASS = FusionBenchConfig
    BUILDER_CONFIGS: ClassVar[list[FusionBenchConfig]] = [FusionBenchConfig(name=name) for name in CONFIG_NAMES]
    DEFAULT_CONFIG_NAME = "all"

    def _info(self) -> datasets.DatasetInfo:
        schema = _schema(self.config.name)
        if self.config.columns is not None:
            unknown = sorted(set(self.config.columns) - set(schema.names))
            if unknown:
                raise ValueError(f"config {self.config.name!r} has no column(s) {unknown}; it has {schema.names}")
            schema = pa.schema([schema.field(name) for name in self.config.columns])
        return datasets.DatasetInfo(
            description=__doc__,
            features=datasets.Features.from_arrow_schema(schema),
            homepage="https://huggingface.co/datasets/ulab-ai/FusionBench",
        )

    def _export_dir(self) -> Path:
        """Build (once) the export for this builder's parameters and return its folder."""
        from fusionbench.build import build_export

        sources = list(self.config.source) if self.config.source else None
        files = resolve_sources(sources) if sources else []
        fingerprint = json.dumps(
            {
                "files": [
                    (str(f.path.resolve()), f.split, f.path.stat().st_size, f.path.stat().st_mtime_ns) for f in files
                ],
                "models": sorted(self.config.models or []),
                "modes": sorted(self.config.modes or []),
                "lenient": self.config.lenient,
                "sample": sources is None,
            },
            sort_keys=True,
        )
        digest = hashlib.sha256(fingerprint.encode()).hexdigest()[:16]
        out = Path(self._cache_dir_root) / "fusionbench_exports" / digest
        if not (out / "README.md").is_file():
            build_export(
                sources,
                out,
                overwrite=True,
                lenient=self.config.lenient,
                models=self.config.models,
                modes=self.config.modes,
            )
        return out

    def _split_generators(self, dl_manager: datasets.DownloadManager) -> list[datasets.SplitGenerator]:
        export = self._export_dir()
        name = self.config.name
        configs = list(TASKS) if name == "all" else [name]
        files = {split: [str(p) for c in configs for p in config_shards(export, c, split)] for split in SPLITS}
        self.config.data_files = {split: paths for split, paths in files.items() if paths}
        if not self.config.data_files:
            raise ValueError(f"config {name!r}: no rows in this export (filtered out, or task absent from the source)")
        return super()._split_generators(dl_manager)
