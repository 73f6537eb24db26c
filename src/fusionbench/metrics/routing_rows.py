"""The one pivot from long response rows to the query x candidate matrices the routing metrics read.

:func:`pivot_cells` is the vectorised scatter (row and candidate codes -> ``[n, k]`` matrices, NaN where no row,
the first duplicate cell reported) that both :func:`matrices_from_rows` here and fusion's canonical converter
(``fusionbench.fusion.converters.canonical``) use. A missing cell is handled by one vocabulary,
:data:`INCOMPLETE`: ``"error"`` (the default everywhere), ``"drop_queries"`` or ``"drop_candidates"`` (a counted
drop). :class:`RoutingMatrices` is the matrix type of :mod:`fusionbench.metrics.routing`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

_ROW_COLUMNS = ("query_id", "task", "model", "mode", "performance", "cost_usd")
Incomplete = Literal["error", "drop_queries", "drop_candidates"]
#: what to do with a (query, candidate) cell that has no value: one vocabulary for the metrics and fusion
INCOMPLETE: tuple[str, ...] = ("error", "drop_queries", "drop_candidates")
_RENAMED_INCOMPLETE = {"drop": "drop_queries"}


def candidate_name(model: str, mode: str) -> str:
    """``"<model>/<mode>"``."""
    return f"{model}/{mode}"


def check_incomplete(incomplete: str) -> Incomplete:
    """``incomplete`` checked against :data:`INCOMPLETE`; the old ``"drop"`` warns and means ``"drop_queries"``."""
    if incomplete in _RENAMED_INCOMPLETE:
        new = _RENAMED_INCOMPLETE[incomplete]
        warnings.warn(f"incomplete={incomplete!r} is now incomplete={new!r}", DeprecationWarning, stacklevel=3)
        return new  # type: ignore[return-value]
    if incomplete == "keep":
        raise ValueError(
            "incomplete='keep' was removed: the routing metrics need complete matrices; pass 'error' (default), "
            "'drop_queries' or 'drop_candidates' (n_missing_cells counts the missing cells either way)"
        )
    if incomplete not in INCOMPLETE:
        raise ValueError(f"incomplete must be one of {list(INCOMPLETE)}, not {incomplete!r}")
    return incomplete  # type: ignore[return-value]


@dataclass(frozen=True)
class RoutingMatrices:
    """Query x candidate matrices. Unpacks as ``query_ids, tasks, candidates, performance, cost``.

    ``n_missing_cells`` counts (query, candidate) cells with no row or a null/NaN performance or cost;
    ``dropped_query_ids`` and ``dropped_candidates`` list what was left out for such a cell.
    """

    query_ids: list[str]
    tasks: list[str]
    candidates: list[str]
    performance: np.ndarray
    cost: np.ndarray
    n_missing_cells: int = 0
    dropped_query_ids: list[str] = field(default_factory=list)
    dropped_candidates: list[str] = field(default_factory=list)

    def __iter__(self) -> Iterator[Any]:
        return iter((self.query_ids, self.tasks, self.candidates, self.performance, self.cost))


def first_appearance(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(group index of each row, first row of each group) of integer codes, groups numbered by first appearance."""
    unique, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty(len(unique), dtype=np.int64)
    rank[order] = np.arange(len(unique))
    return rank[inverse.reshape(-1)], first[order]


def factorize(values: Sequence[Hashable]) -> tuple[np.ndarray, list[Any]]:
    """Codes of ``values`` numbered by first appearance, and the distinct values in that order."""
    index: dict[Any, int] = {}
    codes = np.fromiter((index.setdefault(v, len(index)) for v in values), dtype=np.int64, count=len(values))
    return codes, list(index)


def pivot_cells(
    row_of: np.ndarray, cand_of: np.ndarray, shape: tuple[int, int], columns: Mapping[str, np.ndarray]
) -> tuple[dict[str, np.ndarray], int | None]:
    """Scatter per-row values into ``shape`` matrices (NaN where no row); and the first row that repeats a
    (query, candidate) cell, or None. ``row_of``/``cand_of``: each row's query and candidate index."""
    n, k = shape
    flat = np.asarray(row_of, dtype=np.int64) * k + np.asarray(cand_of, dtype=np.int64)
    counts = np.bincount(flat, minlength=n * k)
    duplicate = int(np.flatnonzero(counts[flat] > 1)[0]) if (counts > 1).any() else None
    out = {}
    for name, values in columns.items():
        matrix = np.full(n * k, np.nan)
        matrix[flat] = values
        out[name] = matrix.reshape(n, k)
    return out, duplicate


def incomplete_keep(missing: np.ndarray, incomplete: str) -> tuple[np.ndarray, np.ndarray]:
    """(rows to keep, candidates to keep) of a ``[n, k]`` missing-cell mask under ``incomplete``; raises under
    ``"error"`` when a cell is missing, and when a drop would leave nothing."""
    incomplete = check_incomplete(incomplete)
    rows, cols = np.ones(missing.shape[0], bool), np.ones(missing.shape[1], bool)
    if not missing.any():
        return rows, cols
    if incomplete == "error":
        i, j = (int(v) for v in np.argwhere(missing)[0])
        raise ValueError(
            f"{int(missing.sum()):,} (query, candidate) cells have no value (first: row {i}, candidate {j}); pass "
            f"incomplete='drop_queries' to drop the {int(missing.any(axis=1).sum()):,} queries or 'drop_candidates' "
            f"to drop the {int(missing.any(axis=0).sum()):,} candidates"
        )
    keep = ~missing.any(axis=1) if incomplete == "drop_queries" else ~missing.any(axis=0)
    if not keep.any():
        raise ValueError(f"every {'query' if incomplete == 'drop_queries' else 'candidate'} has a missing cell")
    return (keep, cols) if incomplete == "drop_queries" else (rows, keep)


def _columns(rows: Any, names: Sequence[str]) -> dict[str, list]:
    """Columns of a pyarrow Table, datasets.Dataset, pandas DataFrame, dict of lists or list of dicts."""
    if hasattr(rows, "select_columns") and hasattr(rows, "with_format"):  # datasets.Dataset
        rows = rows.select_columns(list(names)).with_format("arrow")[:]
    if hasattr(rows, "column") and hasattr(rows, "schema"):  # pyarrow.Table
        return {n: rows.column(n).to_pylist() for n in names}
    if hasattr(rows, "to_dict") and hasattr(rows, "columns"):  # pandas.DataFrame
        rows = rows.to_dict("list")
    if isinstance(rows, Mapping):
        return {n: list(rows[n]) for n in names}
    rows = list(rows)
    return {n: [row[n] for row in rows] for n in names}


def _floats(values: Sequence[Any]) -> np.ndarray:
    return np.array([np.nan if v is None or (isinstance(v, float) and math.isnan(v)) else float(v) for v in values])


def matrices_from_rows(
    rows: Any,
    *,
    incomplete: Incomplete = "error",
    price_sheet: Any = None,
    score_column: str = "performance",
) -> RoutingMatrices:
    """Pivot long rows (query_id, task, model, mode, performance, cost_usd) to query x candidate matrices.

    Queries and candidates keep their order of first appearance. A missing cell (no row, or a null/NaN
    performance or cost) is counted (``n_missing_cells``) and handled by ``incomplete`` (:data:`INCOMPLETE`):
    ``"error"`` (default) raises, ``"drop_queries"``/``"drop_candidates"`` leave out every query/candidate with
    a missing cell (listed in ``dropped_query_ids``/``dropped_candidates``). With ``price_sheet`` (a
    PriceSheet, or a shipped sheet name or JSON path), cost is recomputed from ``input_tokens``/``output_tokens``
    under that sheet instead of read from ``cost_usd``. ``score_column``: the score routed on, ``performance``
    (the release's) or ``rescored_performance`` (ours, after ``fusionbench rescore --write``). Two rows for the
    same (query, candidate) are an error (filter to one ``sample`` first).
    """
    incomplete = check_incomplete(incomplete)
    names = [score_column if n == "performance" else n for n in _ROW_COLUMNS]
    if price_sheet is not None:
        names = [n for n in names if n != "cost_usd"] + ["input_tokens", "output_tokens"]
    cols = _columns(rows, names)
    cols["performance"] = cols.pop(score_column)
    if price_sheet is not None:
        from fusionbench.metrics.cost import row_costs

        costs = row_costs(cols["model"], cols["input_tokens"], cols["output_tokens"], price_sheet, "exclude")
        cols["cost_usd"] = [float(c) for c in costs]
    row_of, query_ids = factorize(cols["query_id"])
    cand_of, candidates = factorize([candidate_name(m, d) for m, d in zip(cols["model"], cols["mode"], strict=True)])
    values = {"performance": _floats(cols["performance"]), "cost": _floats(cols["cost_usd"])}
    shape = (len(query_ids), len(candidates))
    matrices, duplicate = pivot_cells(row_of, cand_of, shape, values)
    if duplicate is not None:
        qid, cand = cols["query_id"][duplicate], candidates[cand_of[duplicate]]
        raise ValueError(f"two rows for query {qid!r} and candidate {cand!r}")
    tasks: list[Any] = [None] * len(query_ids)
    for q, task in zip(row_of.tolist(), cols["task"], strict=True):
        if tasks[q] is None:
            tasks[q] = task
        elif tasks[q] != task:
            raise ValueError(f"query {query_ids[q]!r} has two tasks: {tasks[q]!r} and {task!r}")
    performance, cost = matrices["performance"], matrices["cost"]
    missing = np.isnan(performance) | np.isnan(cost)
    keep_rows, keep_cols = incomplete_keep(missing, incomplete)
    return RoutingMatrices(
        [q for q, k in zip(query_ids, keep_rows, strict=True) if k],
        [t for t, k in zip(tasks, keep_rows, strict=True) if k],
        [c for c, k in zip(candidates, keep_cols, strict=True) if k],
        performance[keep_rows][:, keep_cols],
        cost[keep_rows][:, keep_cols],
        int(missing.sum()),
        [q for q, k in zip(query_ids, keep_rows, strict=True) if not k],
        [c for c, k in zip(candidates, keep_cols, strict=True) if not k],
    )
