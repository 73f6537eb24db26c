"""Generate new responses into the benchmark: ``fusionbench generate`` (vLLM or transformers).

``generate(GenerationSettings(...))`` writes a resumable run folder of scored, priced Parquet shards;
``read_run(run_dir)`` reads it back; ``add_run(run_dir, export_dir)`` merges it into an export.
Multi-node serving and scale-out: see README.md in this folder.
"""

from fusionbench.generation.command import add_generate_arguments, run_from_args, settings_from_args
from fusionbench.generation.engines import EngineUnavailableError
from fusionbench.generation.items import RunSummary
from fusionbench.generation.runner import add_run, generate, run_queries
from fusionbench.generation.settings import GenerationSettings, SamplingSettings, ShardSpec
from fusionbench.generation.store import RUN_SCHEMA, RunLockedError, RunSettingsError, read_manifest, read_run

__all__ = [
    "RUN_SCHEMA",
    "EngineUnavailableError",
    "GenerationSettings",
    "RunLockedError",
    "RunSettingsError",
    "RunSummary",
    "SamplingSettings",
    "ShardSpec",
    "add_generate_arguments",
    "add_run",
    "generate",
    "read_manifest",
    "read_run",
    "run_from_args",
    "run_queries",
    "settings_from_args",
]
