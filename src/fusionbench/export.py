"""Build an export folder: Parquet shards per config and split, plus the rendered dataset card.

The folder is what ``load_dataset(folder, config)`` and the Hub read. It is written into a hidden
staging folder beside the target and renamed into place only when complete, so a failed or killed
build never leaves a half-written export.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from fusionbench import card, catalog
from fusionbench.card import sha256_file
from fusionbench.errors import ExportExistsError
from fusionbench.ingest import Ingestor
from fusionbench.release import resolve_sources
from fusionbench.report import IngestReport
from fusionbench.stats import combine, partial_summary

MAX_ROWS_PER_SHARD = 250_000
ROW_GROUP_ROWS = 4_096
DEFAULT_OUT = Path("fusionbench")


@dataclass
class BuildResult:
    """What a build wrote: the folder, the ingestion report and (shard, rows, sha256) per shard."""

    out: Path
    report: IngestReport
    shards: list[tuple[str, int, str]]


def write_parquet(table: pa.Table, path: Path) -> None:
    """Write one shard the way every fusionbench shard is written: zstd, 4,096-row groups with statistics
    and a page index (so ``filters`` skip row groups), deterministic bytes; atomically (temp file, rename)."""
    temporary = path.with_name(f".tmp-{path.name}")
    pq.write_table(
        table,
        temporary,
        compression="zstd",
        row_group_size=ROW_GROUP_ROWS,
        write_statistics=True,
        write_page_index=True,
    )
    os.replace(temporary, path)


def write_shards(table: pa.Table, folder: Path, root: Path, split: str) -> list[tuple[str, int, str]]:
    """Write ``table`` as ``<split>-NNNNN-of-NNNNN.parquet`` shards; same input, same bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    count = max(1, math.ceil(table.num_rows / MAX_ROWS_PER_SHARD))
    written = []
    for index in range(count):
        part = table.slice(index * MAX_ROWS_PER_SHARD, MAX_ROWS_PER_SHARD)
        path = folder / f"{split}-{index:05d}-of-{count:05d}.parquet"
        write_parquet(part, path)
        written.append((path.relative_to(root).as_posix(), part.num_rows, sha256_file(path)))
    return written


def _remove_stale_staging(out: Path) -> None:
    for stale in out.parent.glob(f".{out.name}.partial-*"):
        pid = stale.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def move_into_place(staging: Path, out: Path) -> None:
    if out.exists():
        trash = out.parent / f".{out.name}.old-{os.getpid()}"
        out.rename(trash)
        staging.rename(out)
        shutil.rmtree(trash)
    else:
        staging.rename(out)


def build_export(
    sources: Iterable[str] | None,
    out: Path = DEFAULT_OUT,
    *,
    overwrite: bool = False,
    lenient: bool = False,
    models: Iterable[str] | None = None,
    modes: Iterable[str] | None = None,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> BuildResult:
    """Ingest release files (``None``: the embedded synthetic sample) and write an export to ``out``.

    ``on_progress(stage, done, total)`` is called as files are read and slices are written.
    """
    out = Path(out)
    if out.exists() and not overwrite:
        raise ExportExistsError(f"{out} exists; pass overwrite=True (--overwrite) to replace it")
    report = IngestReport(synthetic=sources is None)
    if sources is None:
        from fusionbench.synthetic import SAMPLE_DIR

        sources = [str(SAMPLE_DIR)]
    files = resolve_sources(list(sources))
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_staging(out)
    staging = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    scratch = staging / ".scratch"
    scratch.mkdir(parents=True)
    progress = on_progress or (lambda stage, done, total: None)
    ingestor = Ingestor(scratch, report, lenient=lenient, models=models, modes=modes)
    try:
        for done, source in enumerate(files):
            progress("read", done, len(files))
            ingestor.add(source)
        progress("read", len(files), len(files))
        shards, partials, splits_by_task = [], [], {}
        slices = ingestor.slices()
        with ThreadPoolExecutor(
            max_workers=min(4, os.cpu_count() or 1), thread_name_prefix="fusionbench-writer"
        ) as writer:
            written = []  # shards are compressed on every core while the next slices are prepared
            for done, (task, split) in enumerate(slices):
                progress("write", done, len(slices))
                table = ingestor.responses(task, split)
                if table.num_rows == 0:
                    continue
                splits_by_task.setdefault(task, []).append(split)
                written.append(writer.submit(write_shards, table, staging / "data" / task, staging, split))
                partials.append(partial_summary(table))
            for future in written:
                shards += future.result()
        progress("write", len(slices), len(slices))
        ingestor.finish_report()
        for split in sorted({s for ss in splits_by_task.values() for s in ss}):
            shards += write_shards(ingestor.query_table(split), staging / "data" / "queries", staging, split)
        summary = combine(partials) if partials else []
        rows_per_model: dict[str, int] = {}
        for row in summary:
            rows_per_model[row["model"]] = rows_per_model.get(row["model"], 0) + row["rows"]
        shards += write_shards(ingestor.model_table(rows_per_model), staging / "data" / "models", staging, "train")
        shutil.rmtree(scratch)
        text = card.render(
            summary=summary,
            report=report,
            sheet=catalog.load_price_sheet(),
            load_path=out.name,
        )
        (staging / "README.md").write_text(card.refresh(text, staging), encoding="utf-8")
        move_into_place(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        ingestor.close()
    return BuildResult(out=out, report=report, shards=shards)
