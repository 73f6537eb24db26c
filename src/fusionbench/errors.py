"""Errors raised on bad input: each names the file, and where it can, the row and the column."""

from __future__ import annotations


class BadInputError(ValueError):
    """Input that cannot be ingested. ``row`` is the 1-based data row (header excluded)."""

    def __init__(self, file: str, message: str, row: int | None = None, column: str | None = None) -> None:
        self.file, self.row, self.column, self.message = file, row, column, message
        where = file
        if row is not None:
            where += f", row {row}"
        if column is not None:
            where += f", column {column!r}"
        super().__init__(f"{where}: {message}")


class ExportExistsError(FileExistsError):
    """The output folder exists and overwriting was not asked for."""
