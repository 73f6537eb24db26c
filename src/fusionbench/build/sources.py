"""Find and read the released files (CSV, JSON Lines, Parquet; local or on the Hub) in bounded batches.

Every batch comes out with all columns as strings, exactly as the release wrote them, so that one
conversion step (:mod:`fusionbench.build.ingest`) serves every format and can name the row of a bad value.
What reading refuses or changes, each error naming the file, data row, line and column
(:mod:`fusionbench.build.positions`):

* text columns must hold text and numeric columns numbers or their text (JSON, Parquet): an int64
  ``response`` is a type mismatch, never cast to text;
* a CSV file must end with a line break: one that does not was cut inside its last record (``0.8`` -> ``0.``);
* in a CSV file whose header line ends in CRLF, every CRLF inside a quoted cell is a line break and reads as LF
  (the file gives the same export as its LF copy); in an LF file a CRLF in a cell is kept as written;
* invalid UTF-8 and malformed records are refused at the record that holds them.
"""

from __future__ import annotations

import glob
import json
import os
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from fusionbench.build.positions import csv_header, find_csv_problem, last_record, open_bytes
from fusionbench.errors import BadInputError
from fusionbench.schema import RELEASE_COLUMNS, RELEASE_REQUIRED_COLUMNS, SPLIT_ALIASES, SPLITS

HUB_RELEASE_ID = "ulab-ai/FusionBench"
_FORMATS = {".csv": "csv", ".gz": "csv", ".jsonl": "json", ".json": "json", ".parquet": "parquet"}
#: Bytes per CSV / JSON block read (Arrow reads several blocks ahead; 4 MiB keeps that readahead small).
BLOCK_BYTES = 4 << 20
#: The largest block a record larger than ``BLOCK_BYTES`` may grow the reads to (Arrow's limit is 2 GiB).
MAX_BLOCK_BYTES = 1 << 30
_BATCH_ROWS = 32_768
#: Release columns that may hold numbers (JSON, Parquet) as well as their text; the others hold text.
NUMERIC_COLUMNS = frozenset(
    {"input_price", "output_price", "input_tokens_num", "output_tokens_num", "performance", "cost", "llm_judge"}
)
TEXT_COLUMNS = tuple(column for column in RELEASE_COLUMNS if column not in NUMERIC_COLUMNS)
#: Columns a release file may lack (null in the export; reported when absent or empty).
OPTIONAL_COLUMNS = tuple(column for column in RELEASE_COLUMNS if column not in RELEASE_REQUIRED_COLUMNS)


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


def _allowed(name: str, type_: pa.DataType) -> bool:
    """Text columns must hold text; numeric columns may hold numbers or their text (``"{'pass@1': 1.0}"``)."""
    if pa.types.is_dictionary(type_):
        type_ = type_.value_type
    if pa.types.is_null(type_) or pa.types.is_string(type_) or pa.types.is_large_string(type_):
        return True
    return name in NUMERIC_COLUMNS and (
        pa.types.is_integer(type_) or pa.types.is_floating(type_) or pa.types.is_decimal(type_)
    )


def _as_strings(batch: pa.RecordBatch, file: str) -> pa.RecordBatch:
    """Every release column as text (numbers become their shortest text); a column of another type is refused,
    never converted silently; columns outside the release's layout are kept by name only (all null)."""
    arrays = []
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        if name not in RELEASE_COLUMNS:
            arrays.append(pa.nulls(len(column), pa.string()))
        elif not _allowed(name, column.type):
            kind = "numbers or their text" if name in NUMERIC_COLUMNS else "text"
            raise BadInputError(file, f"type mismatch: the column holds {column.type}, expected {kind}", column=name)
        elif pa.types.is_string(column.type):
            arrays.append(column)
        else:
            arrays.append(column.cast(pa.string()))
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


def check_header(names: list[str], file: str) -> None:
    """Refuse a file that is not in the release's layout (a foreign file mixed into the sources)."""
    missing = [c for c in RELEASE_REQUIRED_COLUMNS if c not in names]
    if missing:
        known = sum(c in RELEASE_COLUMNS for c in names)
        kind = "not a release file" if known < len(RELEASE_REQUIRED_COLUMNS) else "incomplete release file"
        raise BadInputError(file, f"{kind}: missing required column(s) {', '.join(missing)}")


def _csv_batches(path: Path, block: int) -> Iterator[pa.RecordBatch]:
    names = csv_header(path)
    read = pacsv.ReadOptions(block_size=block, column_names=names, skip_rows=1)
    # The release was written by pandas with escapechar='\\': backslashes are doubled.
    parse = pacsv.ParseOptions(escape_char="\\", newlines_in_values=True)
    convert = pacsv.ConvertOptions(
        column_types=dict.fromkeys(names, pa.string()),
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    yield from pacsv.open_csv(path, read_options=read, parse_options=parse, convert_options=convert)


class _SlowJson(Exception):
    """Arrow's JSON reader cannot read this file as it is: read it line by line (exact lines and messages)."""


def _json_batches(path: Path, block: int) -> Iterator[pa.RecordBatch]:
    """Arrow's JSON reader, text columns read as text (no timestamps guessed); numbers stay numbers."""
    with open_bytes(path) as handle:
        first = next((line for line in handle if line.strip()), b"")
    try:
        names = list(json.loads(first))
    except (ValueError, TypeError, RecursionError) as err:  # not JSON, not an object, or nested too deeply
        raise _SlowJson from err
    text = pa.schema([(name, pa.string()) for name in names if name in TEXT_COLUMNS])
    parse = pajson.ParseOptions(explicit_schema=text, unexpected_field_behavior="infer")
    for batch in pajson.open_json(path, read_options=pajson.ReadOptions(block_size=block), parse_options=parse):
        if not all(_allowed(name, type_) for name, type_ in zip(batch.schema.names, batch.schema.types, strict=True)):
            raise _SlowJson  # booleans, lists, guessed timestamps...: the slow reader says which line
        if _invalid_utf8(batch) is not None:
            raise _SlowJson  # Arrow's JSON reader keeps bytes that are not UTF-8: the slow reader names the line
        yield batch


def _invalid_utf8(batch: pa.RecordBatch) -> tuple[str, int] | None:
    """(column, index) of the first text value that is not valid UTF-8 (JSON and Parquet readers keep them)."""
    try:
        batch.validate(full=True)
        return None
    except pa.ArrowInvalid:
        pass
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            for index, value in enumerate(
                column.view(pa.binary() if pa.types.is_string(column.type) else pa.large_binary()).to_pylist()
            ):
                try:
                    (value or b"").decode("utf-8")
                except UnicodeDecodeError:
                    return name, index
    return None


def _json_lines(path: Path) -> Iterator[pa.RecordBatch]:
    """JSON Lines read by Python's ``json``: every value checked against its column, errors naming the line."""
    file = str(path)
    columns: dict[str, list[str | None]] = {}
    row = in_batch = 0
    with open_bytes(path) as handle:
        for line, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            row, in_batch = row + 1, in_batch + 1
            try:
                record = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError as err:
                raise BadInputError(file, f"not valid UTF-8 text (byte {err.start + 1} of line {line})", row) from err
            except json.JSONDecodeError as err:  # its own "line 1" is the line's, not the file's
                message = f"not a JSON line ({err.msg.removesuffix(' at')} at character {err.colno}) (line {line})"
                raise BadInputError(file, message, row=row) from err
            except RecursionError:
                raise BadInputError(file, f"a JSON value nested too deeply (line {line})", row=row) from None
            if not isinstance(record, dict):
                raise BadInputError(file, f"not a JSON object but {type(record).__name__} (line {line})", row=row)
            for name, value in record.items():
                columns.setdefault(name, [None] * (in_batch - 1)).append(_json_text(value, name, file, row, line))
            for values in columns.values():
                if len(values) < in_batch:
                    values.append(None)
            if in_batch == _BATCH_ROWS:
                yield pa.RecordBatch.from_pydict({name: pa.array(v, pa.string()) for name, v in columns.items()})
                columns, in_batch = {name: [] for name in columns}, 0
    if in_batch:
        yield pa.RecordBatch.from_pydict({name: pa.array(v, pa.string()) for name, v in columns.items()})


def _json_text(value: object, name: str, file: str, row: int, line: int) -> str | None:
    """A JSON value as the text a CSV release would hold; anything else than its column's type is an error."""
    if value is None or isinstance(value, str) or name not in RELEASE_COLUMNS:
        return value if isinstance(value, str) else None
    if name in NUMERIC_COLUMNS and isinstance(value, int | float) and not isinstance(value, bool):
        return repr(value)
    kind = "a number or its text" if name in NUMERIC_COLUMNS else "text"
    message = f"type mismatch: {json.dumps(value)[:40]} is {type(value).__name__}, expected {kind} (line {line})"
    raise BadInputError(file, message, row=row, column=name)


def _parquet_batches(path: Path, block: int) -> Iterator[pa.RecordBatch]:
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


def _skip(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
    """``batches`` without their first ``rows`` rows (already read by an earlier attempt)."""
    for batch in batches:
        if rows >= batch.num_rows:
            rows -= batch.num_rows
            continue
        yield batch.slice(rows) if rows else batch
        rows = 0


def _check_line_end(path: Path) -> None:
    """Refuse a CSV file whose last record has no line end: the release ends every record with one, so a
    file that does not is cut short (a download or copy stopped inside the last value: ``0.8`` -> ``0.``).
    Compressed files are not checked (gzip's own trailer catches a cut)."""
    if path.suffix.lower() == ".gz":
        return
    with path.open("rb") as handle:
        handle.seek(-1, os.SEEK_END)
        if handle.read(1) == b"\n":
            return
    row, line = last_record(path)
    if row is None:
        return  # a header alone: "no data rows" says more
    raise BadInputError(
        str(path),
        "the file ends inside its last record, without a line break: it looks cut short (an interrupted download "
        "or copy); release files end every record with one. If the file is complete, end it with a line break"
        + f" (line {line})",
        row=row,
    )


def _uses_crlf(path: Path) -> bool:
    """True when the header line ends in CRLF: every CRLF of the file is then a line break."""
    with open_bytes(path) as handle:
        first = handle.readline(1 << 20)
    return first.endswith(b"\r\n")


def _lf(batch: pa.RecordBatch) -> pa.RecordBatch:
    """CRLF -> LF inside every text cell (a CRLF file's quoted line breaks), as universal newlines read them."""
    arrays = [pc.replace_substring(column, "\r\n", "\n") for column in batch.columns]
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


def _located(source: SourceFile, err: Exception, rows_before: int) -> BadInputError:
    """A read error turned into one naming the record at fault (Arrow only knows the block it failed in)."""
    message = str(err).splitlines()[0]
    if source.format == "csv":
        problem = find_csv_problem(source.path)
        if problem is not None:
            row, line, what, column = problem
            return BadInputError(str(source.path), f"{what} (line {line})", row=row, column=column)
    if "UTF8" in message or "utf-8" in message.lower():
        message = f"not valid UTF-8 text ({message})"
    elif source.format == "csv":
        message = f"truncated or malformed CSV ({message})"
    return BadInputError(str(source.path), f"{message}, after data row {rows_before}", row=None)


def read_batches(source: SourceFile) -> Iterator[tuple[pa.RecordBatch, int]]:
    """Yield (string batch, data rows before it) for one file; errors name the file, row and line.

    A record larger than a read block (a very long response) makes Arrow fail; the file is then read again
    with a block twice as large (up to ``MAX_BLOCK_BYTES``), skipping the rows already yielded.
    """
    file = str(source.path)
    if source.path.stat().st_size == 0:
        raise BadInputError(file, "empty file")
    readers = {"csv": _csv_batches, "json": _json_batches, "parquet": _parquet_batches}
    crlf = False
    if source.format == "csv":
        _check_line_end(source.path)
        crlf = _uses_crlf(source.path)
    offset, block, slow = 0, BLOCK_BYTES, False
    batches = readers[source.format](source.path, block)
    while True:
        try:
            for batch in batches:
                if offset == 0:
                    check_header(batch.schema.names, file)
                if source.format == "parquet" and (invalid := _invalid_utf8(batch)) is not None:
                    raise BadInputError(file, "not valid UTF-8 text", row=offset + invalid[1] + 1, column=invalid[0])
                if batch.num_rows:
                    batch = _as_strings(batch, file)
                    yield _lf(batch) if crlf else batch, offset
                offset += batch.num_rows
            break
        except BadInputError:
            raise
        except (_SlowJson, pa.ArrowInvalid, OSError, UnicodeDecodeError) as err:
            if "straddling object" in str(err) and block < MAX_BLOCK_BYTES and not slow:
                block *= 2
                batches = _skip(readers[source.format](source.path, block), offset)
            elif source.format == "json" and not slow:  # the slow reader names the line at fault, or reads the file
                slow, batches = True, _skip(_json_lines(source.path), offset)
            else:
                raise _located(source, err, offset) from err
    if offset == 0:
        raise BadInputError(file, "no data rows (empty file)")
