"""Long response rows pivoted to the query x candidate matrices that the routing metrics and routers read."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

_ROW_COLUMNS = ("query_id", "task", "model", "mode", "performance", "cost_usd")


def candidate_name(model: str, mode: str) -> str:
    """``"<model>/<mode>"``."""
    return f"{model}/{mode}"


@dataclass(frozen=True)
class RoutingMatrices:
    """Pivoted rows. Unpacks as ``query_ids, tasks, candidates, performance, cost``.

    ``n_missing_cells`` counts (query, candidate) cells with no row or a null/NaN performance or cost;
    ``dropped_query_ids`` lists the queries left out for having such a cell (with ``incomplete="drop"``).
    """

    query_ids: list[str]
    tasks: list[str]
    candidates: list[str]
    performance: np.ndarray
    cost: np.ndarray
    n_missing_cells: int = 0
    dropped_query_ids: list[str] = field(default_factory=list)

    def __iter__(self) -> Iterator[Any]:
        return iter((self.query_ids, self.tasks, self.candidates, self.performance, self.cost))


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


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def matrices_from_rows(
    rows: Any,
    *,
    incomplete: Literal["drop", "keep"] = "drop",
    price_sheet: Any = None,
    score_column: str = "performance",
) -> RoutingMatrices:
    """Pivot long rows (query_id, task, model, mode, performance, cost_usd) to query x candidate matrices.

    Queries and candidates keep their order of first appearance. A missing cell (no row, or a null/NaN
    performance or cost) is NaN and counted. ``incomplete="drop"`` (default) leaves out every query with
    a missing cell (listed in ``dropped_query_ids``), so the matrices are complete; ``"keep"`` keeps the
    NaNs (the routing metrics reject them; use it to inspect). With ``price_sheet`` (a PriceSheet, or a
    shipped sheet name or JSON path), cost is recomputed from ``input_tokens``/``output_tokens`` under
    that sheet instead of read from ``cost_usd``. ``score_column``: the score routed on, ``performance`` (the
    release's) or ``rescored_performance`` (ours, after ``fusionbench rescore --write``). Two rows for the same
    (query, candidate) are an error (filter to one ``sample`` first).
    """
    names = [score_column if n == "performance" else n for n in _ROW_COLUMNS]
    if price_sheet is not None:
        names = [n for n in names if n != "cost_usd"] + ["input_tokens", "output_tokens"]
    cols = _columns(rows, names)
    cols["performance"] = cols.pop(score_column)
    if price_sheet is not None:
        from fusionbench.metrics.cost import row_costs

        costs = row_costs(cols["model"], cols["input_tokens"], cols["output_tokens"], price_sheet, "exclude")
        cols["cost_usd"] = [float(c) for c in costs]
    query_index: dict[str, int] = {}
    cand_index: dict[str, int] = {}
    tasks: list[str] = []
    cells: dict[tuple[int, int], tuple[Any, Any]] = {}
    for qid, task, model, mode, perf, cost in zip(*(cols[n] for n in _ROW_COLUMNS), strict=True):
        q = query_index.setdefault(qid, len(query_index))
        if q == len(tasks):
            tasks.append(task)
        elif tasks[q] != task:
            raise ValueError(f"query {qid!r} has two tasks: {tasks[q]!r} and {task!r}")
        c = cand_index.setdefault(candidate_name(model, mode), len(cand_index))
        if (q, c) in cells:
            raise ValueError(f"two rows for query {qid!r} and candidate {candidate_name(model, mode)!r}")
        cells[(q, c)] = (perf, cost)
    shape = (len(query_index), len(cand_index))
    performance, cost = np.full(shape, np.nan), np.full(shape, np.nan)
    for (q, c), (perf, price) in cells.items():
        performance[q, c] = np.nan if _missing(perf) else float(perf)
        cost[q, c] = np.nan if _missing(price) else float(price)
    missing = np.isnan(performance) | np.isnan(cost)
    query_ids = list(query_index)
    dropped: list[str] = []
    if incomplete == "drop":
        keep = ~missing.any(axis=1)
        dropped = [qid for qid, k in zip(query_ids, keep, strict=True) if not k]
        query_ids = [qid for qid, k in zip(query_ids, keep, strict=True) if k]
        tasks = [t for t, k in zip(tasks, keep, strict=True) if k]
        performance, cost = performance[keep], cost[keep]
    elif incomplete != "keep":
        raise ValueError(f"incomplete must be 'drop' or 'keep', not {incomplete!r}")
    return RoutingMatrices(query_ids, tasks, list(cand_index), performance, cost, int(missing.sum()), dropped)
