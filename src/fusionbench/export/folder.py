"""The export folder: its layout, its shard writer, and the one way to change it (:func:`rewrite`).

Layout (the only place it is spelled)::

    <export>/README.md                                   the dataset card
    <export>/data/<config>/<split>-NNNNN-of-NNNNN.parquet  one folder per task, plus queries/ and models/

Every command that writes an export (build, merge/ingest, rescore, judge) goes through :func:`rewrite`:

1. it takes an exclusive lock on the export (``.<name>.lock`` beside it; a second writer waits for it, or
   fails with :class:`ExportLockedError` after ``wait`` seconds);
2. under the lock, it removes what killed writers left beside the export (staging and swapped-out copies)
   and restores an export that a kill between two renames hid (see :mod:`fusionbench.export.swap`);
3. it yields a staging folder (a copy of the export whose shards are hard links: every shard is replaced
   by rename, never written in place), which the caller changes;
4. it refreshes the card's configs, features and checksums from the shards (unless told not to) and swaps
   the staging folder in atomically: at every instant the path holds either the old or the new export.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from fusionbench.errors import ExportExistsError
from fusionbench.export.swap import clean_leftovers, staging_path, swap_in
from fusionbench.files import atomic_write_text, atomic_writer, ensure_folder, open_lock, refuse_symlink, take_over
from fusionbench.schema import SPLITS, TASKS

README = "README.md"
DATA = "data"
QUERIES = "queries"
MODELS = "models"
MAX_ROWS_PER_SHARD = 250_000
ROW_GROUP_ROWS = 4_096
# Columns not worth dictionary encoding: values that rarely repeat (hashed only to fall back to plain), and
# float vectors (hashing millions of floats costs more build time than the smaller file is worth).
_UNIQUE_VALUES = {"response", "judge_output", "embedding", "task_description_embedding"}

_log = logging.getLogger(__name__)
Checksum = tuple[str, int, str]  # (shard path relative to the export, rows, sha256)


class ExportLockedError(RuntimeError):
    """Another process is writing the export and did not finish within the wait."""


class NotAnExportError(FileNotFoundError):
    """A path that is not a fusionbench export folder."""


# ---- layout -------------------------------------------------------------------------------------------


def config_dir(export: Path, config: str) -> Path:
    """The folder of one config's shards: ``data/<config>``."""
    return Path(export) / DATA / config


def shard_glob(config: str, split: str) -> str:
    """The glob (relative to the export) of one config's shards of one split, as the card's YAML lists it."""
    return f"{DATA}/{config}/{split}-*.parquet"


def all_shards_glob() -> str:
    """The glob (relative to the export) of every shard."""
    return f"{DATA}/**/*.parquet"


def shard_split(shard: Path) -> str:
    """The split a shard holds, from its file name."""
    return shard.name.split("-", 1)[0]


def is_export(path: Path) -> bool:
    """True for a folder holding a card and a ``data/`` folder."""
    path = Path(path)
    return (path / README).is_file() and (path / DATA).is_dir()


def require_export(path: Path) -> Path:
    """``path`` as a Path, or :class:`NotAnExportError` when it is not an export folder."""
    path = Path(path)
    if not is_export(path):
        raise NotAnExportError(f"{path}: not a fusionbench export folder (expected {README} and {DATA}/)")
    return path


def task_order(task: str) -> tuple[int, str]:
    """Sort key of a task config: the release's 14 tasks in their order, then any other task (a converted
    routing dataset's, say) by name."""
    return (TASKS.index(task), "") if task in TASKS else (len(TASKS), task)


def task_configs(export: Path) -> list[str]:
    """The responses configs of an export: every ``data/<task>/`` folder holding shards, in task order."""
    folders = {p.parent.name for p in (Path(export) / DATA).glob("*/*.parquet")} - {QUERIES, MODELS}
    return sorted(folders, key=task_order)


def response_shards(export: Path, tasks: Iterable[str] | None = None) -> list[Path]:
    """The responses shards (``data/<task>/*.parquet``), in task order; only ``tasks`` if given."""
    wanted = set(tasks) if tasks is not None else None
    configs = [t for t in task_configs(export) if wanted is None or t in wanted]
    return [shard for task in configs for shard in sorted(config_dir(export, task).glob("*.parquet"))]


def config_shards(export: Path, config: str, split: str | None = None) -> list[Path]:
    """The shards of one config (``queries``, ``models`` or a task), of one split or all, in split order."""
    shards = config_dir(export, config).glob(f"{split or '*'}-*.parquet")
    return sorted(shards, key=lambda p: (SPLITS.index(shard_split(p)) if shard_split(p) in SPLITS else 99, p.name))


def read_config(export: Path, config: str, columns: list[str] | None = None) -> pa.Table | None:
    """Every shard of one config as one table (None when it has none)."""
    shards = config_shards(export, config)
    if not shards:
        return None
    return pa.concat_tables([pq.read_table(p, columns=columns) for p in shards], promote_options="default")


def all_shards(export: Path) -> list[Path]:
    """Every shard of the export."""
    return sorted(Path(export).glob(all_shards_glob()))


# ---- writing shards -----------------------------------------------------------------------------------


def _dictionary_columns(schema: pa.Schema) -> list[str]:
    """Columns worth dictionary-encoding: all but those whose values rarely repeat."""
    return [name for name in schema.names if name not in _UNIQUE_VALUES]


def write_parquet(table: pa.Table, path: Path) -> None:
    """Write one shard the way every fusionbench shard is written: zstd, 4,096-row groups with statistics
    and a page index (so ``filters`` skip row groups), deterministic bytes; atomically (a new temporary file,
    never through a link, then a rename), so a hard-linked copy of the old file is never changed."""
    with atomic_writer(path, durable=False) as handle:
        pq.write_table(
            table,
            handle,
            compression="zstd",
            row_group_size=ROW_GROUP_ROWS,
            use_dictionary=_dictionary_columns(table.schema),
            write_statistics=True,
            write_page_index=True,
        )


def write_shards(table: pa.Table, export: Path, config: str, split: str) -> list[Checksum]:
    """Write ``table`` as the ``<split>-NNNNN-of-NNNNN.parquet`` shards of ``config``; same input, same bytes."""
    from fusionbench.export.card import sha256_file

    folder = ensure_folder(config_dir(export, config), "a config folder of the export")
    count = max(1, math.ceil(table.num_rows / MAX_ROWS_PER_SHARD))
    written = []
    for index in range(count):
        part = table.slice(index * MAX_ROWS_PER_SHARD, MAX_ROWS_PER_SHARD)
        path = folder / f"{split}-{index:05d}-of-{count:05d}.parquet"
        write_parquet(part, path)
        written.append((path.relative_to(export).as_posix(), part.num_rows, sha256_file(path)))
    return written


def replace_shards(table: pa.Table, export: Path, config: str, split: str) -> list[Checksum]:
    """Remove a config's shards of ``split`` and write ``table`` in their place (nothing when it is empty)."""
    for shard in config_shards(export, config, split):
        shard.unlink()
    return write_shards(table, export, config, split) if table.num_rows else []


# ---- the one way to change an export ------------------------------------------------------------------


def lock_path(export: Path) -> Path:
    """The lock file of an export (beside it: the export itself is swapped, a lock inside would move)."""
    export = Path(export)
    return export.parent / f".{export.name}.lock"


@contextlib.contextmanager
def locked(export: Path, wait: float | None = None) -> Iterator[None]:
    """Hold the export's exclusive write lock. ``wait``: seconds to wait for another writer (None: forever);
    then :class:`ExportLockedError`. The lock dies with its process: a killed writer never leaves it held.

    The lock file is opened without following a link and must be a regular file (:func:`fusionbench.files.open_lock`);
    its holder's note is written only into a lock file this process created (one left by another process is
    replaced by a new one, never truncated: it may be a hard link to a file that is not fusionbench's)."""
    path = lock_path(export)
    path.parent.mkdir(parents=True, exist_ok=True)  # the folders above the export are the user's to link
    lock = open_lock(path)
    try:
        deadline = None if wait is None else time.monotonic() + wait
        told = False
        while True:
            if lock.try_lock() and lock.is_current():
                break
            if not lock.is_current():  # its holder replaced it: wait on the file the path names now
                lock.close()
                lock = open_lock(path)
                continue
            note = lock.read_note()
            holder = note if note.startswith("pid ") else "another process"
            if deadline is not None and time.monotonic() >= deadline:
                raise ExportLockedError(f"{export} is being written by {holder}; wait for it to finish and run again")
            if not told:
                _log.warning("%s is being written by %s; waiting for it to finish", export, holder)
                told = True
            time.sleep(0.1)
        if not lock.created:
            lock = take_over(lock)
        if lock.created:
            command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:2]]) if sys.argv and sys.argv[0] else "python"
            lock.write_note(f"pid {os.getpid()} ({command})\n")
        try:
            yield
        finally:
            if lock.created:
                with contextlib.suppress(OSError):
                    lock.write_note("")
    finally:
        lock.close()


def _check_target(export: Path, *, create: bool, overwrite: bool) -> None:
    refuse_symlink(export, "the export folder")
    if export.exists() and not export.is_dir():
        raise ExportExistsError(f"{export} exists and is not a folder; refusing to replace it")
    if not create:
        require_export(export)
    elif export.exists():
        if not overwrite:
            raise ExportExistsError(f"{export} exists; pass overwrite=True (--overwrite) to replace it")
        if any(export.iterdir()) and not is_export(export):
            raise ExportExistsError(f"{export} is a folder but not a fusionbench export; refusing to replace it")


def _copy_for_rewrite(export: Path, staging: Path) -> None:
    """Copy the export into ``staging``; shards are hard links (they are only ever replaced by rename). A link
    inside the export is refused, naming it: a copy would take in (and a later write change) what it points to."""
    for root, folders, files in os.walk(export):
        for name in [*folders, *files]:
            refuse_symlink(Path(root) / name, "an entry of the export")

    def link_or_copy(source: str, target: str) -> object:
        if source.endswith(".parquet"):
            try:
                os.link(source, target)
                return target
            except OSError:
                pass
        return shutil.copy2(source, target)

    shutil.copytree(export, staging, copy_function=link_or_copy)


@contextlib.contextmanager
def rewrite(
    export: Path,
    *,
    create: bool = False,
    overwrite: bool = False,
    refresh_card: bool = True,
    wait: float | None = None,
) -> Iterator[Path]:
    """Change an export as a whole: yields a staging folder, then swaps it in (see the module docstring).

    ``create``: write a new export (the staging folder starts empty; an existing one needs ``overwrite`` and
    must be an export). Otherwise the staging folder starts as a copy of the export. ``refresh_card``: refresh
    the card's configs, features and checksums from the staged shards before the swap. On any error, or a
    kill, the export at the path is the old one.
    """
    export = Path(export)
    if create and export.exists():
        _check_target(export, create=create, overwrite=overwrite)  # refuse before touching anything
    elif export.is_symlink() or (export.exists() and not export.is_dir()):
        _check_target(export, create=create, overwrite=overwrite)
    with locked(export, wait=wait):
        clean_leftovers(export)  # may restore an export that a killed writer hid; refuses links
        _check_target(export, create=create, overwrite=overwrite)
        staging = refuse_symlink(staging_path(export), "the staging folder")
        shutil.rmtree(staging, ignore_errors=True)
        try:
            if create:
                staging.mkdir()
            else:
                _copy_for_rewrite(export, staging)
            yield staging
            if refresh_card:
                from fusionbench.export.card import refresh

                readme = staging / README
                atomic_write_text(readme, refresh(readme.read_text(encoding="utf-8"), staging))
            swap_in(staging, export)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
