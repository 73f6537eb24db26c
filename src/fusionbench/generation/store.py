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
from fusionbench.generation.settings import identity_differences
from fusionbench.schema import RESPONSE_SCHEMA, ROW_KEY, row_keys

MANIFEST = "run.json"
#: The run folder's format (its manifest is ``run.json``).
RUN_FORMAT = ArtifactFormat("fusionbench-generation-run", 1, MANIFEST, "a generation run folder (fusionbench generate)")
SHARD_GLOB = "shard-*.parquet"
#: Run shards: the canonical responses plus two run-only columns (``merge_rows`` drops them).
RUN_SCHEMA = RESPONSE_SCHEMA.append(
    pa.field("finish_reason", pa.string(), metadata={"doc": "why generation stopped: stop, length, prompt_too_long"})
).append(pa.field("latency_s", pa.float64(), metadata={"doc": "seconds from submission to completion"}))


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


def read_run(run_dir: Path) -> pa.Table:
    """All rows of a run (canonical columns + finish_reason, latency_s), deduplicated by key, first kept."""
    read_manifest(run_dir)
    paths = shard_paths(run_dir)
    if not paths:
        return RUN_SCHEMA.empty_table()
    table = pa.concat_tables([pq.read_table(p, schema=RUN_SCHEMA) for p in paths])
    indexed = table.append_column("__row", pa.array(range(table.num_rows), pa.int64()))
    indexed = indexed.append_column("__key", row_keys(table))
    first = indexed.group_by("__key", use_threads=False).aggregate([("__row", "min")])["__row_min"]
    if len(first) == table.num_rows:
        return table
    return table.take(pc.take(first, pc.sort_indices(first)))


def run_keys(run_dir: Path) -> set[tuple[str, str, str, str, int]]:
    """(query_id, split, model, mode, sample) of every row already written."""
    keys: set[tuple[str, str, str, str, int]] = set()
    for path in shard_paths(run_dir):
        table = pq.read_table(path, columns=list(ROW_KEY))
        keys.update(zip(*(table[c].to_pylist() for c in ROW_KEY), strict=True))
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
