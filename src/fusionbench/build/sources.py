"""Find and read the released files (CSV, JSON Lines, Parquet; local or on the Hub) in bounded batches.

Every batch comes out with all columns as strings, exactly as the release wrote them, so that one
conversion step (:mod:`fusionbench.build.ingest`) serves every format and can name the row of a bad value.
"""

from __future__ import annotations

import glob
import os
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from fusionbench.errors import BadInputError
from fusionbench.schema import RELEASE_COLUMNS, RELEASE_REQUIRED_COLUMNS, SPLIT_ALIASES, SPLITS

HUB_RELEASE_ID = "ulab-ai/FusionBench"
_FORMATS = {".csv": "csv", ".gz": "csv", ".jsonl": "json", ".json": "json", ".parquet": "parquet"}
#: Bytes per CSV / JSON block read (Arrow reads several blocks ahead; 4 MiB keeps that readahead small).
BLOCK_BYTES = 4 << 20
_BATCH_ROWS = 32_768


class SourceUnavailableError(OSError):
    """A Hub source could not be fetched."""


@dataclass(frozen=True)
class SourceFile:
    """One release file and the split its rows belong to."""

    path: Path
    split: str

    @property
    def format(self) -> str:
        return _FORMATS[self.path.suffix.lower()]


def infer_split(path: Path) -> str:
    """``partial_test``/``test`` in the file name -> ``test``; anything else -> ``train``."""
    return "test" if "test" in path.name.lower() else "train"


def _expand(pattern: str) -> list[Path]:
    path = Path(pattern)
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and _is_release_file(p))
    matches = sorted(Path(p) for p in glob.glob(pattern, recursive=True))
    return [p for p in matches if p.is_file()]


def _is_release_file(path: Path) -> bool:
    return path.suffix.lower() in _FORMATS and not path.name.startswith(".")


def looks_like_hub_id(source: str) -> bool:
    """``org/name`` that is not a local path."""
    parts = source.split("/")
    return len(parts) == 2 and all(parts) and not os.path.exists(source) and not glob.has_magic(source)


def download_hub_release(repo_id: str, revision: str | None = None) -> Path:
    """Download a release's data files from the Hub (needs network) and return the local folder."""
    from huggingface_hub import snapshot_download

    try:
        folder = snapshot_download(
            repo_id,
            repo_type="dataset",
            revision=revision,
            allow_patterns=["*.csv", "*.csv.gz", "*.jsonl", "*.json", "*.parquet"],
        )
    except Exception as err:  # the Hub client raises many kinds of network and auth errors
        raise SourceUnavailableError(
            f"could not download the dataset {repo_id!r} from the Hugging Face Hub ({type(err).__name__}: {err}). "
            "Without network access, download the release files elsewhere and pass their paths to --source."
        ) from err
    return Path(folder)


def resolve_sources(sources: list[str]) -> list[SourceFile]:
    """Turn paths, globs, folders, ``split=path`` pairs or a Hub id into a sorted list of files."""
    files: list[SourceFile] = []
    for source in sources:
        split = None
        if "=" in source.split("/")[0]:
            split_name, source = source.split("=", 1)
            if split_name not in SPLIT_ALIASES:
                raise ValueError(f"unknown split {split_name!r} in {split_name}={source}")
            split = SPLIT_ALIASES[split_name]
        paths = _expand(str(download_hub_release(source)) if looks_like_hub_id(source) else source)
        if not paths:
            raise FileNotFoundError(f"no release files match {source!r}")
        for path in paths:
            if not _is_release_file(path):
                raise BadInputError(str(path), f"unsupported file type; expected one of {sorted(_FORMATS)}")
            files.append(SourceFile(path, split or infer_split(path)))
    unique = {f.path.resolve(): f for f in files}
    return sorted(unique.values(), key=lambda f: (SPLITS.index(f.split), str(f.path)))


def _as_strings(batch: pa.RecordBatch, file: str) -> pa.RecordBatch:
    """Cast every column to string (numbers from JSON/Parquet become their shortest text)."""
    arrays = []
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            arrays.append(column.cast(pa.string()))
        elif pa.types.is_null(column.type):
            arrays.append(pa.nulls(len(column), pa.string()))
        else:
            try:
                arrays.append(column.cast(pa.string()))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
                raise BadInputError(file, f"cannot read values as text: {err}", column=name) from err
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


def check_header(names: list[str], file: str) -> None:
    """Refuse a file that is not in the release's layout (a foreign file mixed into the sources)."""
    missing = [c for c in RELEASE_REQUIRED_COLUMNS if c not in names]
    if missing:
        known = sum(c in RELEASE_COLUMNS for c in names)
        kind = "not a release file" if known < len(RELEASE_REQUIRED_COLUMNS) else "incomplete release file"
        raise BadInputError(file, f"{kind}: missing required column(s) {', '.join(missing)}")


def _csv_batches(path: Path) -> Iterator[pa.RecordBatch]:
    read = pacsv.ReadOptions(block_size=BLOCK_BYTES)
    # The release was written by pandas with escapechar='\\': backslashes are doubled.
    parse = pacsv.ParseOptions(escape_char="\\", newlines_in_values=True)
    header = pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=1 << 16), parse_options=parse)
    names = header.schema.names
    header.close()
    convert = pacsv.ConvertOptions(
        column_types=dict.fromkeys(names, pa.string()),
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    reader = pacsv.open_csv(path, read_options=read, parse_options=parse, convert_options=convert)
    yield from reader


def _json_batches(path: Path) -> Iterator[pa.RecordBatch]:
    yield from pajson.open_json(path, read_options=pajson.ReadOptions(block_size=BLOCK_BYTES))


def _parquet_batches(path: Path) -> Iterator[pa.RecordBatch]:
    yield from pq.ParquetFile(path).iter_batches(batch_size=_BATCH_ROWS)


def prefetched(items: Iterator, depth: int = 2) -> Iterator:
    """Run ``items`` in a background thread, ``depth`` items ahead (Arrow's parsers release the GIL)."""
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                buffer.put((item, None))
        except BaseException as err:  # handed to the consumer, raised there
            buffer.put((None, err))
        buffer.put((done, None))

    thread = threading.Thread(target=produce, name="fusionbench-reader", daemon=True)
    thread.start()
    try:
        while True:
            item, error = buffer.get()
            if error is not None:
                raise error
            if item is done:
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full buffer
            try:
                buffer.get_nowait()
            except queue.Empty:
                thread.join(0.01)


def read_batches(source: SourceFile) -> Iterator[tuple[pa.RecordBatch, int]]:
    """Yield (string batch, data rows before it) for one file; errors name the file."""
    file = str(source.path)
    if source.path.stat().st_size == 0:
        raise BadInputError(file, "empty file")
    readers = {"csv": _csv_batches, "json": _json_batches, "parquet": _parquet_batches}
    offset = 0
    try:
        for batch in readers[source.format](source.path):
            if offset == 0:
                check_header(batch.schema.names, file)
            if batch.num_rows:
                yield _as_strings(batch, file), offset
            offset += batch.num_rows
    except BadInputError:
        raise
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as err:
        message = str(err).splitlines()[0]
        if "UTF8" in message or "utf-8" in message.lower():
            message = f"not valid UTF-8 text ({message})"
        elif source.format == "csv" and ("Expected" in message or "quote" in message.lower()):
            message = f"truncated or malformed CSV ({message})"
        raise BadInputError(file, message, row=offset + 1) from err
    if offset == 0:
        raise BadInputError(file, "no data rows (empty file)")
