"""The valid ranges of numeric values (:data:`fusionbench.schema.VALID_RANGES`) and their messages, shared by every
input path.

The build checks whole Arrow columns (:mod:`fusionbench.build.ingest`); the converters of public routing datasets
check value by value (:class:`ValueCheck`) and :meth:`RoutingData.from_arrays` whole matrices (:func:`bad_cells`).
All three word a bad value the same way: the file, the row (or line), the column, the value as written and the
valid range, e.g. ``data.csv, row 7, column 'cost': out of the valid range >= 0: '-1.5'``. A missing value
(empty, ``nan``, ``None``, ``null``) is null, never an error; ``inf`` is not a number. With ``lenient`` a bad value
becomes null (NaN) and is counted per column instead.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from numbers import Real
from typing import Any

import numpy as np

from fusionbench.errors import BadInputError
from fusionbench.schema import VALID_RANGES

#: A decimal number as the build accepts it (no ``inf``, ``nan``, hex or underscores).
NUMBER = r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$"
_NUMBER = re.compile(NUMBER)
#: Cell texts that mean "no value".
MISSING_TEXTS = frozenset({"", "nan", "NaN", "None", "none", "null"})
#: Fields whose values must be whole numbers.
WHOLE_FIELDS = frozenset({"input_tokens", "output_tokens"})
NOT_A_NUMBER = "not a number"
INFINITE = "not a number (infinite)"
NOT_WHOLE = "token count is not a whole number"
#: Each numeric release column's valid range: that of the export column it becomes.
RELEASE_RANGES: dict[str, tuple[float, float]] = {
    release: VALID_RANGES[export]
    for release, export in {
        "input_tokens_num": "input_tokens",
        "output_tokens_num": "output_tokens",
        "input_price": "input_price",
        "output_price": "output_price",
        "cost": "cost_usd",
        "performance": "performance",
        "llm_judge": "judge_score",
    }.items()
}


def range_text(low: float, high: float) -> str:
    """``[0, 1]`` for a closed range, ``>= 0`` for one without an upper bound."""
    return f"[{low:g}, {high:g}]" if high < math.inf else f">= {low:g}"


def out_of_range(field: str) -> str:
    """The message of a value outside the valid range of ``field`` (a key of ``VALID_RANGES``)."""
    return f"out of the valid range {range_text(*VALID_RANGES[field])}"


def problem(value: float, field: str) -> str | None:
    """What is wrong with a parsed value of ``field`` (None when nothing is; NaN is a missing value)."""
    if math.isnan(value):
        return None
    if math.isinf(value):
        return INFINITE
    low, high = VALID_RANGES[field]
    if not low <= value <= high:
        return out_of_range(field)
    if field in WHOLE_FIELDS and value != math.floor(value):
        return NOT_WHOLE
    return None


def bad_cells(values: np.ndarray, field: str) -> np.ndarray:
    """A mask of the cells of a float array that :func:`problem` refuses (infinite, out of range, fractional
    token counts); NaN cells are missing values, not bad ones."""
    low, high = VALID_RANGES[field]
    with np.errstate(invalid="ignore"):
        bad = np.isinf(values) | (values < low) | (values > high)
        if field in WHOLE_FIELDS:
            bad |= np.isfinite(values) & (values != np.floor(values))
    return bad


class ValueCheck:
    """Parses and checks the numeric values of one input file. A bad value raises :class:`BadInputError` naming
    the file, row or line, column, value and valid range; with ``lenient`` it becomes NaN and is counted in
    ``invalid_values`` (out of range) or ``unparsed_values`` (not a number), per column, as the build counts."""

    def __init__(self, file: object, *, lenient: bool = False) -> None:
        self.file, self.lenient = str(file), lenient
        self.invalid_values: Counter[str] = Counter()
        self.unparsed_values: Counter[str] = Counter()

    def value(self, value: Any, field: str, *, column: str, row: int | None = None, line: int | None = None) -> float:
        """``value`` (a number, a numeric text, or None/NaN/an empty text for missing) as a float in the valid range
        of ``field`` (a key of ``VALID_RANGES``); ``column`` is the input's own column name."""
        number, message = _parse(value)
        if message is None:
            message = problem(number, field)
        if message is None:
            return number
        if not self.lenient:
            raise BadInputError(self.file, f"{message}: {value!r}", row=row, column=column, line=line)
        unparsed = message in (NOT_A_NUMBER, INFINITE, NOT_WHOLE)
        (self.unparsed_values if unparsed else self.invalid_values)[column] += 1
        return math.nan

    def counts(self) -> dict[str, dict[str, int]]:
        """The values set to null, per column: ``{"invalid_values": {...}, "unparsed_values": {...}}`` (empty
        mappings left out), for a converter's ``provenance["skipped"]``."""
        out = {"invalid_values": dict(self.invalid_values), "unparsed_values": dict(self.unparsed_values)}
        return {name: counts for name, counts in out.items() if counts}


def _parse(value: Any) -> tuple[float, str | None]:
    """(the value as a float, None) or (NaN, why it is not a number)."""
    if value is None:
        return math.nan, None
    if isinstance(value, bool | np.bool_):
        return float(value), None
    if isinstance(value, Real):
        return float(value), None
    if isinstance(value, str):
        text = value.strip()
        if text in MISSING_TEXTS:
            return math.nan, None
        if _NUMBER.match(text):
            return float(text), None
        if text.lstrip("+-").lower() in ("inf", "infinity"):
            return math.nan, INFINITE
    return math.nan, NOT_A_NUMBER


def check_matrices(
    matrices: dict[str, np.ndarray],
    fields: dict[str, str],
    *,
    file: str,
    queries: list[str],
    candidates: list[str],
    lenient: bool = False,
) -> dict[str, dict[str, int]]:
    """Check [queries, candidates] float matrices in place: ``matrices[name]`` against the valid range of
    ``fields[name]``. The first bad **row** (over every matrix) is an error naming ``file``, the 1-based row, the
    matrix as its column, the value, the valid range, the query and the candidate; with ``lenient`` every bad cell
    becomes NaN and the counts per matrix are returned (``{"invalid_values": ..., "unparsed_values": ...}``)."""
    bad = {name: bad_cells(values, fields[name]) for name, values in matrices.items()}
    if not lenient:
        firsts = [(int(rows[0]), name) for name, mask in bad.items() if len(rows := np.flatnonzero(mask.any(axis=1)))]
        if firsts:
            row, name = min(firsts, key=lambda first: first[0])
            column = int(np.flatnonzero(bad[name][row])[0])
            value = float(matrices[name][row, column])
            where = f" (query {queries[row]!r}, candidate {candidates[column]!r})"
            raise BadInputError(file, f"{problem(value, fields[name])}: {value!r}{where}", row=row + 1, column=name)
        return {}
    counts: dict[str, dict[str, int]] = {"invalid_values": {}, "unparsed_values": {}}
    for name, mask in bad.items():
        if mask.any():
            values = matrices[name]
            low, high = VALID_RANGES[fields[name]]
            with np.errstate(invalid="ignore"):
                outside = int((mask & np.isfinite(values) & ((values < low) | (values > high))).sum())
            counts["invalid_values"][name] = outside
            counts["unparsed_values"][name] = int(mask.sum()) - outside
            values[mask] = np.nan
    return {kind: {k: v for k, v in found.items() if v} for kind, found in counts.items() if any(found.values())}


def first_bad(columns: dict[str, tuple[np.ndarray, str]]) -> tuple[int, str, str] | None:
    """The first bad row over several columns of one table: ``columns`` maps a column name to (its float values,
    the ``VALID_RANGES`` key it is checked against). (0-based row, column, "message: value"), or None."""
    found = []
    for column, (values, field) in columns.items():
        rows = np.flatnonzero(bad_cells(values, field))
        if len(rows):
            found.append((int(rows[0]), column, field, float(values[rows[0]])))
    if not found:
        return None
    row, column, field, value = min(found, key=lambda item: item[0])
    return row, column, f"{problem(value, field)}: {value!r}"
