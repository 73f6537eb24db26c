"""Build an export folder: Parquet shards per config and split, plus the rendered dataset card.

The folder is what ``load_dataset(folder, config)`` and the Hub read. It is written through
:func:`fusionbench.export.folder.rewrite` (locked, staged beside the target, swapped in whole), so a failed
or killed build never leaves a half-written export.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from fusionbench import catalog
from fusionbench.build.ingest import Ingestor, SliceReopened
from fusionbench.build.slices import Slice
from fusionbench.build.sources import SourceFile, resolve_sources
from fusionbench.export import card
from fusionbench.export.folder import MODELS, QUERIES, README, rewrite, write_shards
from fusionbench.export.report import IngestReport
from fusionbench.export.stats import combine, partial_summary
from fusionbench.schema import SPLITS

DEFAULT_OUT = Path("fusionbench")


@dataclass
class BuildResult:
    """What a build wrote: the folder, the ingestion report and (shard, rows, sha256) per shard."""

    out: Path
    report: IngestReport
    shards: list[tuple[str, int, str]]


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
    from fusionbench.synthetic import SAMPLE_DIR, is_synthetic_release

    out = Path(out)
    files = resolve_sources([str(SAMPLE_DIR)] if sources is None else list(sources))
    synthetic = any(is_synthetic_release(f.path.parent) for f in files)  # the sample, or a full-size synthetic release
    options = {"lenient": lenient, "models": models, "modes": modes}
    with rewrite(out, create=True, overwrite=overwrite, refresh_card=False) as staging, _gc_paused():
        build = functools.partial(_build, files, staging, out.name, on_progress=on_progress, options=options)
        try:
            report = IngestReport(synthetic=synthetic)
            shards = build(report)
        except SliceReopened:  # not grouped by task: hold every slice until all files are read
            report = IngestReport(synthetic=synthetic)
            shards = build(report, streaming=False)
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
    for child in staging.iterdir():  # a second pass starts afresh; the staging folder itself stays (it is ours,
        if child.is_dir() and not child.is_symlink():  # and a name freed for a moment could be taken by a link)
            shutil.rmtree(child)
        else:
            child.unlink()
    scratch = staging / ".scratch"
    scratch.mkdir()
    progress = on_progress or (lambda stage, done, total: None)
    ingestor = Ingestor(scratch, report, streaming=streaming, **options)
    finished = []  # futures of (task, split, partial summary, shards), in hand-over order
    workers = min(4, os.cpu_count() or 1)

    def finish(piece: Slice) -> tuple[str, str, pa.Table, list] | None:
        table = ingestor.responses(piece)
        if table.num_rows == 0:
            return None
        shards = write_shards(table, staging, piece.task, piece.split)
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
                return write_shards(ingestor.queries.table(split), staging, QUERIES, split)

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
        shards += write_shards(models_table, staging, MODELS, "train")
        shutil.rmtree(scratch)
        text = card.render(
            summary=summary,
            report=report,
            sheet=catalog.load_price_sheet(),
            load_path=load_path,
            folder=staging,
            checksums=shards,
        )
        (staging / README).write_text(text, encoding="utf-8")
    finally:
        ingestor.close()
    return shards
