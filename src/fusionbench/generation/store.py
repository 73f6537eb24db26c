"""The run folder: ``run.json`` (the run's settings) and Parquet shards, each written atomically.

A shard is written to a temporary name in the folder, fsynced and renamed into place (``os.replace``),
so a run killed at any point leaves whole shards only; leftover temporary files are removed when the
next run starts. An exclusive lock on ``.lock`` (released by the kernel, even on SIGKILL) keeps two runs
from writing the same folder at once.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fusionbench import artifacts
from fusionbench.artifacts import ArtifactFormat
from fusionbench.files import (
    TEMP_PREFIX,
    LockFile,
    atomic_writer,
    ensure_folder,
    open_lock,
    refuse_symlink,
)
from fusionbench.generation.settings import identity_differences, item_key
from fusionbench.schema import RESPONSE_SCHEMA, ROW_KEY, row_keys

MANIFEST = "run.json"
#: The run folder's format (its manifest is ``run.json``).
RUN_FORMAT = ArtifactFormat("fusionbench-generation-run", 1, MANIFEST, "a generation run folder (fusionbench generate)")
SHARD_GLOB = "shard-*.parquet"
#: Run shards: the canonical responses plus run-only columns (``merge_rows`` drops them).
RUN_SCHEMA = pa.schema(
    [
        *RESPONSE_SCHEMA,
        pa.field("finish_reason", pa.string(), metadata={"doc": "stop, length, prompt_too_long or error"}),
        pa.field("latency_s", pa.float64(), metadata={"doc": "seconds from submission to completion"}),
        pa.field("error", pa.string(), metadata={"doc": "why the response is null (engine error, prompt too long)"}),
        pa.field("item_key", pa.string(), metadata={"doc": "hash of (settings hash, query, model, mode, sample)"}),
        pa.field("engine", pa.string(), metadata={"doc": "the engine that wrote the row: vllm, hf, openai, ray/..."}),
        pa.field("reasoning_tokens", pa.int64(), metadata={"doc": "of output_tokens, reasoning (server-reported)"}),
    ],
    metadata=RESPONSE_SCHEMA.metadata,
)
#: The run-only columns a generation run needs to be resumed by key.
_KEY_COLUMNS = [*ROW_KEY, "finish_reason", "error", "item_key"]


class RunSettingsError(ValueError):
    """The run folder holds rows generated with other settings."""


class RunLockedError(RuntimeError):
    """Another process is writing the run folder."""


def _legacy(found: dict[str, Any] | None) -> dict[str, Any] | None:
    """A ``run.json`` written before it had a ``format`` (a ``settings`` object): version 1."""
    return {"format": RUN_FORMAT.tag, **found} if found is not None and "settings" in found else None


def read_manifest(run_dir: Path) -> dict[str, Any]:
    """The run's ``run.json``, checked (:func:`fusionbench.artifacts.read_manifest`); a folder without one is a
    :class:`~fusionbench.artifacts.MissingManifestError` (a FileNotFoundError): not a generation run."""
    return artifacts.read_manifest(run_dir, RUN_FORMAT, legacy=_legacy)


def shard_paths(run_dir: Path) -> list[Path]:
    """The run's shards, oldest first (names start with the writing session's UTC start time)."""
    return sorted(Path(run_dir).glob(SHARD_GLOB))


def failed_rows(table: pa.Table) -> pa.Array:
    """True for the rows with no response because generation failed (an error, or a prompt too long)."""
    too_long = pc.fill_null(pc.equal(table["finish_reason"], "prompt_too_long"), False)
    return pc.or_(pc.is_valid(table["error"]), too_long)


def read_run(run_dir: Path) -> pa.Table:
    """All rows of a run (canonical columns + the run-only ones), one per key, in the order written: of the
    rows of one key, the first generated without an error (a rerun retried a failed one), else the first."""
    read_manifest(run_dir)
    paths = shard_paths(run_dir)
    if not paths:
        return RUN_SCHEMA.empty_table()
    table = pa.concat_tables([pq.read_table(p, schema=RUN_SCHEMA) for p in paths])
    n = table.num_rows
    rank = pc.add(pa.array(range(n), pa.int64()), pc.multiply(failed_rows(table).cast(pa.int64()), n))
    indexed = table.append_column("__rank", rank).append_column("__key", row_keys(table))
    best = indexed.group_by("__key", use_threads=False).aggregate([("__rank", "min")])["__rank_min"]
    if len(best) == n:
        return table
    chosen = pc.subtract(best, pc.multiply(pc.divide(best, n), n))  # the row index back from its rank
    return table.take(pc.take(chosen, pc.sort_indices(chosen)))


def run_keys(run_dir: Path, settings_hash: str) -> set[str]:
    """The item keys of every row written without an error (a failed row is retried by a rerun). Shards of an
    older version, with no ``item_key`` column, have theirs computed from the row (their run.json matched)."""
    keys: set[str] = set()
    for path in shard_paths(run_dir):
        table = pq.read_table(path, columns=_KEY_COLUMNS, schema=RUN_SCHEMA)
        table = table.filter(pc.invert(failed_rows(table)))
        rows = zip(*(table[c].to_pylist() for c in ROW_KEY), strict=True)
        for key, row in zip(table["item_key"].to_pylist(), rows, strict=True):
            keys.add(key if key is not None else item_key(settings_hash, *row))
    return keys


class RunStore:
    """The open run folder of one process: lock, manifest, cleanup and atomic shard writes."""

    def __init__(self, run_dir: Path, *, lock: bool = True, rank: int = 0) -> None:
        self.run_dir = ensure_folder(run_dir, "the run folder")
        self._lock_file = self._lock() if lock else None
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
        self.session = f"{stamp}-{uuid.uuid4().hex[:6]}-r{rank}"
        self.sequence = 0

    def _lock(self) -> LockFile:
        """Take ``.lock`` (opened without following a link, a regular file, never written)."""
        lock = open_lock(self.run_dir / ".lock")
        try:
            locked = lock.try_lock()
        except ImportError:  # no flock on this platform: no protection against concurrent runs
            return lock
        if not locked:
            lock.close()
            raise RunLockedError(f"{self.run_dir}: another fusionbench generate is writing this folder")
        return lock

    def close(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def remove_temp_files(self) -> int:
        """Delete temporary files a killed run left behind (safe: this process holds the lock)."""
        leftovers = list(self.run_dir.glob(f"{TEMP_PREFIX}*"))  # unlink removes a link itself, never its target
        for path in leftovers:
            path.unlink(missing_ok=True)
        return len(leftovers)

    def open_manifest(self, identity: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        """Check the recorded identity against ``identity`` (RunSettingsError naming the differences), or
        write a new ``run.json`` when the folder has none."""
        path = refuse_symlink(self.run_dir / MANIFEST, "the run's manifest")
        if path.is_file():
            manifest = read_manifest(self.run_dir)
            differences = identity_differences(manifest.get("settings", {}), identity)
            if differences:
                raise RunSettingsError(
                    f"{self.run_dir} holds a run with other settings; use another --out or the same settings. "
                    f"Differences: {'; '.join(differences)}"
                )
            return manifest
        if shard_paths(self.run_dir):
            raise RunSettingsError(f"{self.run_dir} has shards but no {MANIFEST}: not a run this version can resume")
        manifest = artifacts.new_manifest(RUN_FORMAT, settings=identity, **extra)
        artifacts.write_manifest(self.run_dir, RUN_FORMAT, manifest)
        return manifest

    def next_shard_name(self) -> str:
        self.sequence += 1
        return f"shard-{self.session}-{self.sequence:05d}.parquet"

    def write_shard(self, table: pa.Table, name: str) -> Path:
        """Write ``table`` (RUN_SCHEMA) as shard ``name``: a new temporary file, fsync, rename (never via a link)."""
        final = self.run_dir / name
        with atomic_writer(final) as handle:
            pq.write_table(table.cast(RUN_SCHEMA), handle, compression="zstd")
        return final
