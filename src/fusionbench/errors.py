"""Errors raised on bad input: each names the file, and where it can, the row and the column."""

from __future__ import annotations


class BadInputError(ValueError):
    """Input that cannot be ingested. ``row`` is the 1-based data row (header excluded), ``line`` the 1-based line
    of the file (they differ in a CSV with a header or with line breaks inside cells; a JSON Lines file has lines)."""

    def __init__(
        self, file: str, message: str, row: int | None = None, column: str | None = None, line: int | None = None
    ) -> None:
        self.file, self.row, self.column, self.message, self.line = file, row, column, message, line
        where = file
        if row is not None:
            where += f", row {row}" + (f" (line {line})" if line is not None and line != row else "")
        elif line is not None:
            where += f", line {line}"
        if column is not None:
            where += f", column {column!r}"
        super().__init__(f"{where}: {message}")


class ExportExistsError(FileExistsError):
    """The output folder exists and overwriting was not asked for."""
