"""The ``datasets`` builder for FusionBench: one config per task, ``all``, ``queries`` and ``models``.

datasets 5 no longer runs loading scripts, so the builder is used directly (or via
:func:`fusionbench.load`)::

    from fusionbench.fusionbench_dataset import FusionBench
    builder = FusionBench(config_name="gsm8k", source=["path/to/release/*.csv"], modes=["cot"])
    builder.download_and_prepare()
    ds = builder.as_dataset()

It ingests the release with the same code as ``fusionbench build`` (into a cached export folder
keyed by the source files and parameters) and reads the config's shards from there.
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
import pyarrow.parquet as pq
from datasets.builder import Key

from fusionbench.release import resolve_sources
from fusionbench.schema import MODEL_SCHEMA, QUERY_SCHEMA, RESPONSE_SCHEMA, SPLITS, TASKS

CONFIG_NAMES: tuple[str, ...] = (*TASKS, "all", "queries", "models")


@dataclass
class FusionBenchConfig(datasets.BuilderConfig):
    """A config plus the build parameters: release source(s) and model/mode filters."""

    source: Sequence[str] | None = None
    models: Sequence[str] | None = None
    modes: Sequence[str] | None = None
    lenient: bool = False


def _schema(config_name: str) -> pa.Schema:
    return {"queries": QUERY_SCHEMA, "models": MODEL_SCHEMA}.get(config_name, RESPONSE_SCHEMA)


class FusionBench(datasets.ArrowBasedBuilder):
    """LLMFusionBench responses of 20 LLMs on 14 tasks, direct and chain-of-thought."""

    BUILDER_CONFIG_CLASS = FusionBenchConfig
    BUILDER_CONFIGS: ClassVar[list[FusionBenchConfig]] = [FusionBenchConfig(name=name) for name in CONFIG_NAMES]
    DEFAULT_CONFIG_NAME = "all"

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(
            description=__doc__,
            features=datasets.Features.from_arrow_schema(_schema(self.config.name)),
            homepage="https://huggingface.co/datasets/ulab-ai/FusionBench",
        )

    def _export_dir(self) -> Path:
        """Build (once) the export for this builder's parameters and return its folder."""
        from fusionbench.export import build_export

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
        data = self._export_dir() / "data"
        name = self.config.name
        folders = [data / t for t in TASKS] if name == "all" else [data / name]
        generators = []
        for split in SPLITS:
            files = sorted(str(p) for folder in folders for p in folder.glob(f"{split}-*.parquet"))
            if files:
                generators.append(datasets.SplitGenerator(name=split, gen_kwargs={"files": files}))
        if not generators:
            raise ValueError(f"config {name!r}: no rows in this export (filtered out, or task absent from the source)")
        return generators

    def _generate_tables(self, files: list[str]):
        for file_index, file in enumerate(files):
            for batch_index, batch in enumerate(pq.ParquetFile(file).iter_batches(batch_size=8_192)):
                yield Key(file_index, batch_index), pa.Table.from_batches([batch])


def load_queries(export: str | None = None) -> datasets.DatasetDict:
    """The ``queries`` config, every split, from ``export``: an export folder (``fusionbench build --out``),
    release files (paths, folders, globs; built on the fly), a Hub id of an export, or None (the
    embedded synthetic sample)."""
    if not export:
        return load("queries")
    path = Path(export).expanduser()
    if path.is_dir() and (path / "README.md").is_file() and (path / "data" / "queries").is_dir():
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
    cache_dir: str | None = None,
    streaming: bool = False,
) -> datasets.Dataset | datasets.DatasetDict | datasets.IterableDataset | datasets.IterableDatasetDict:
    """Load a FusionBench config straight from release files (default: the embedded synthetic sample)."""
    if config not in CONFIG_NAMES:
        raise ValueError(f"unknown config {config!r}; expected one of {', '.join(CONFIG_NAMES)}")
    builder = FusionBench(
        config_name=config,
        cache_dir=cache_dir,
        source=[source] if isinstance(source, str) else (list(source) if source else None),
        models=list(models) if models else None,
        modes=list(modes) if modes else None,
    )
    if streaming:
        return builder.as_streaming_dataset(split=split)
    builder.download_and_prepare()
    return builder.as_dataset(split=split)
