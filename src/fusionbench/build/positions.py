"""Where in a release file something is: the line of a data row, and the first malformed record of a CSV.

Only errors pay for these: each re-reads the file with Python's own ``csv`` / ``json`` parsers (a few
seconds for the full-size release), so the normal path stays Arrow's. A *data row* is 1-based and counts
records after the header (blank lines skipped, as Arrow does); a *line* is the file's 1-based line, as an
editor shows it (a CSV record with quoted line breaks spans several lines).
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from fusionbench.errors import BadInputError

#: The release was written by pandas with ``escapechar='\\'`` (quotes doubled, backslashes escaped).
CSV_DIALECT = {"escapechar": "\\", "doublequote": True, "strict": True}


@contextlib.contextmanager
def open_bytes(path: Path) -> Iterator[IO[bytes]]:
    """The file's bytes, decompressed when it ends in ``.gz``."""
    with gzip.open(path, "rb") if path.suffix.lower() == ".gz" else path.open("rb") as handle:
        yield handle


@contextlib.contextmanager
def _unlimited_fields() -> Iterator[None]:
    """Python's csv refuses fields over 128 KiB by default; a release response can be far larger."""
    previous = csv.field_size_limit(sys.maxsize)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def csv_header(path: Path) -> list[str]:
    """The column names of a CSV file (its first record)."""
    with open_bytes(path) as raw, _unlimited_fields():
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="surrogateescape", newline="")
        return next(csv.reader(text, **CSV_DIALECT), [])


class MalformedRecord(csv.Error):
    """A record Python's csv cannot parse; ``row`` and ``line`` say where it starts."""

    def __init__(self, message: str, row: int, line: int) -> None:
        super().__init__(message)
        self.row, self.line = row, line


def csv_records(path: Path) -> Iterator[tuple[int, int, list[str]]]:
    """(data row, first line, fields) of every record after the header. Invalid UTF-8 bytes come through as
    lone surrogates (see :func:`has_invalid_utf8`); a malformed record raises :class:`MalformedRecord`."""
    with open_bytes(path) as raw, _unlimited_fields():
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="surrogateescape", newline="")
        reader = csv.reader(text, **CSV_DIALECT)
        next(reader, None)
        row, line = 0, reader.line_num
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as err:
                raise MalformedRecord(str(err), row + 1, line + 1) from err
            start, line = line + 1, reader.line_num
            if fields:  # a blank line is no record
                row += 1
                yield row, start, fields


def last_record(path: Path) -> tuple[int | None, int | None]:
    """(data row, first line) of the file's last record, even a malformed one; (None, None) without records."""
    last: tuple[int | None, int | None] = (None, None)
    try:
        for row, line, _ in csv_records(path):
            last = (row, line)
    except MalformedRecord as err:
        return err.row, err.line
    return last


def has_invalid_utf8(text: str) -> bool:
    """True when ``text`` holds bytes that were not UTF-8 (decoded with ``errors='surrogateescape'``)."""
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def find_csv_problem(path: Path) -> tuple[int, int, str, str | None] | None:
    """(data row, line, what is wrong, column) of the first record that is not valid UTF-8, has another number
    of fields than the header or cannot be parsed at all (a quote left open at the end: a cut file)."""
    names = csv_header(path)
    try:
        for row, line, fields in csv_records(path):
            bad = [position for position, value in enumerate(fields) if has_invalid_utf8(value)]
            if bad:
                column = names[bad[0]] if bad[0] < len(names) else None
                return row, line, "not valid UTF-8 text", column
            if len(fields) != len(names):
                what = f"{len(fields)} fields where the header has {len(names)}: the record is cut short or malformed"
                return row, line, what, None
    except MalformedRecord as err:
        return err.row, err.line, f"malformed CSV ({err}); the file may be cut short", None
    return None


def line_of_row(path: Path, row: int) -> int | None:
    """The line on which data row ``row`` starts (CSV and JSON Lines; None for Parquet or past the end)."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".gz"):
        with contextlib.suppress(MalformedRecord):
            for found, line, _ in csv_records(path):
                if found == row:
                    return line
        return None
    if suffix in (".jsonl", ".json"):
        with open_bytes(path) as handle:
            found = 0
            for line, text in enumerate(handle, start=1):
                found += bool(text.strip())
                if found == row:
                    return line
    return None


def bad_value(path: Path, row: int, message: str, column: str | None = None) -> BadInputError:
    """An error naming the file, the data row, its line (when the format has lines) and the column."""
    line = line_of_row(path, row)
    return BadInputError(str(path), message + (f" (line {line})" if line is not None else ""), row=row, column=column)
