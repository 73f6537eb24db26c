"""Build an export folder: Parquet shards per config and split, plus the rendered dataset card.

The folder is what ``load_dataset(folder, config)`` and the Hub read. It is written into a hidden
staging folder beside the target and renamed into place only when complete, so a failed or killed
build never leaves a half-written export.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import math
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from fusionbench import card, catalog
from fusionbench.card import sha256_file
from fusionbench.errors import ExportExistsError
from fusionbench.ingest import Ingestor, SliceReopened
from fusionbench.release import SourceFile, resolve_sources
from fusionbench.report import IngestReport
from fusionbench.schema import SPLITS
from fusionbench.slices import Slice
from fusionbench.stats import combine, partial_summary

MAX_ROWS_PER_SHARD = 250_000
ROW_GROUP_ROWS = 4_096
DEFAULT_OUT = Path("fusionbench")
# Columns not worth dictionary encoding: values that rarely repeat (hashed only to fall back to plain), and
# float vectors (hashing millions of floats costs more build time than the smaller file is worth).
_UNIQUE_VALUES = {"response", "judge_output", "embedding", "task_description_embedding"}


@dataclass
class BuildResult:
    """What a build wrote: the folder, the ingestion report and (shard, rows, sha256) per shard."""

    out: Path
    report: IngestReport
    shards: list[tuple[str, int, str]]


def _dictionary_columns(schema: pa.Schema) -> list[str]:
    """Columns worth dictionary-encoding: all but those whose values rarely repeat."""
    return [name for name in schema.names if name not in _UNIQUE_VALUES]


def write_parquet(table: pa.Table, path: Path) -> None:
    """Write one shard the way every fusionbench shard is written: zstd, 4,096-row groups with statistics
    and a page index (so ``filters`` skip row groups), deterministic bytes; atomically (temp file, rename)."""
    temporary = path.with_name(f".tmp-{path.name}")
    pq.write_table(
        table,
        temporary,
        compression="zstd",
        row_group_size=ROW_GROUP_ROWS,
        use_dictionary=_dictionary_columns(table.schema),
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


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside: a build makes ~100k long-lived objects (query records, parsed
    prompts) that every collection would re-scan for nothing (measured: ~10% of a full-size build)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


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

    ``on_progress(stage, done, total)`` is called as files are read (``"read"``: bytes) and slices are written
    (``"write"``: slices written of those met so far). Input grouped by task, as the release is, is written
    slice by slice while it is read; input in any other order is read twice.
    """
    out = Path(out)
    if out.exists() and not overwrite:
        raise ExportExistsError(f"{out} exists; pass overwrite=True (--overwrite) to replace it")
    synthetic = sources is None
    if sources is None:
        from fusionbench.synthetic import SAMPLE_DIR

        sources = [str(SAMPLE_DIR)]
    files = resolve_sources(list(sources))
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_staging(out)
    staging = out.parent / f".{out.name}.partial-{os.getpid()}"
    options = {"lenient": lenient, "models": models, "modes": modes}
    try:
        with _gc_paused():
            build = functools.partial(_build, files, staging, out.name, on_progress=on_progress, options=options)
            try:
                report = IngestReport(synthetic=synthetic)
                shards = build(report)
            except SliceReopened:  # not grouped by task: hold every slice until all files are read
                report = IngestReport(synthetic=synthetic)
                shards = build(report, streaming=False)
        move_into_place(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return BuildResult(out=out, report=report, shards=shards)


def _build(
    files: list[SourceFile],
    staging: Path,
    load_path: str,
    report: IngestReport,
    *,
    on_progress: Callable[[str, int, int], None] | None,
    options: dict,
    streaming: bool = True,
) -> list[tuple[str, int, str]]:
    """Write the export of ``files`` into ``staging`` (responses, queries and models shards, then the card),
    filling ``report``; returns (shard, rows, sha256) per shard."""
    shutil.rmtree(staging, ignore_errors=True)
    scratch = staging / ".scratch"
    scratch.mkdir(parents=True)
    progress = on_progress or (lambda stage, done, total: None)
    ingestor = Ingestor(scratch, report, streaming=streaming, **options)
    finished = []  # futures of (task, split, partial summary, shards), in hand-over order
    workers = min(4, os.cpu_count() or 1)

    def finish(piece: Slice) -> tuple[str, str, pa.Table, list] | None:
        table = ingestor.responses(piece)
        if table.num_rows == 0:
            return None
        shards = write_shards(table, staging / "data" / piece.task, staging, piece.split)
        return piece.task, piece.split, partial_summary(table), shards

    try:
        # slices are finished and compressed on every core while later rows are read and converted
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fusionbench-writer") as writer:

            def hand_over(pieces: list[Slice]) -> None:
                for piece in pieces:
                    finished.append(writer.submit(finish, piece))
                    progress("write", ingestor.slices_done, ingestor.slices_seen)

            def write_queries(split: str, slices_so_far: list[Future]) -> list | None:
                if not any(r is not None and r[1] == split for r in [future.result() for future in slices_so_far]):
                    return None  # no responses left in this split (filtered out): no queries shard either
                return write_shards(ingestor.queries.table(split), staging / "data" / "queries", staging, split)

            queries: dict[str, Future] = {}  # split -> its queries shards, written once its rows are all read
            sizes = [source.path.stat().st_size for source in files]
            total, before = sum(sizes), 0  # progress in bytes of the files (a batch's text bytes, capped per file)
            for done, source in enumerate(files):
                progress("read", before, total)
                read = 0
                for text_bytes in ingestor.add(source):
                    hand_over(ingestor.completed())
                    read = min(read + text_bytes, sizes[done])
                    progress("read", before + read, total)
                before += sizes[done]
                if streaming and (done + 1 == len(files) or files[done + 1].split != source.split):
                    # the split's last file: its queries table is built while the next split is read
                    hand_over(ingestor.completed() + ingestor.end_of_split(source.split))
                    queries[source.split] = writer.submit(write_queries, source.split, list(finished))
            progress("read", total, total)
            hand_over(ingestor.slices())
            results = [r for r in (future.result() for future in finished) if r is not None]
            progress("write", ingestor.slices_done, ingestor.slices_seen)
            partials = [partial for _, _, partial, _ in results]
            shards = [shard for _, _, _, written in results for shard in written]
            ingestor.finish_report()
            for split in sorted({source.split for source in files} - set(queries), key=SPLITS.index):
                queries[split] = writer.submit(write_queries, split, finished)
            summary = combine(partials) if partials else []
            rows_per_model: dict[str, int] = {}
            for row in summary:
                rows_per_model[row["model"]] = rows_per_model.get(row["model"], 0) + row["rows"]
            models_table = ingestor.model_table(rows_per_model)
            shards += [shard for split in SPLITS if split in queries for shard in (queries[split].result() or [])]
        shards += write_shards(models_table, staging / "data" / "models", staging, "train")
        shutil.rmtree(scratch)
        text = card.render(
            summary=summary,
            report=report,
            sheet=catalog.load_price_sheet(),
            load_path=load_path,
            folder=staging,
            checksums=shards,
        )
        (staging / "README.md").write_text(text, encoding="utf-8")
    finally:
        ingestor.close()
    return shards
