"""Which responses a thought template is built from: the top correct responses of a model pool, per query.

FusionFactory's ``find_best_performers`` (``thought_level/thought_template_gen.py``), with its defects fixed:

* ``perf``: sort by (performance desc, cost asc) and keep ``top_n``;
* ``judge``: sort by (judge score desc, cost asc) and keep ``top_n``;
* ``hybrid`` (the release's): the top ``stage1`` (5) by ``perf``, re-sorted by ``judge``, keep ``top_n`` (3).

Only correct responses count (performance > 0, a non-empty response): FusionFactory kept wrong ones when fewer
than five were right. A query without any is skipped and counted. A missing judge score or cost sorts last,
never as 0. Ties are broken by model, mode and sample, so the choice does not depend on the files' row order.
Both modes of a query are candidates together (rows are grouped by ``query_id``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fusionbench import catalog

STRATEGIES: tuple[str, ...] = ("hybrid", "perf", "judge")
#: The pools FusionFactory and fusionbench name: ``small`` = the release's models of at most 12B parameters.
SMALL_MODEL_MAX_B = 12.0
#: The columns selection reads (``response`` is checked for emptiness).
ROW_COLUMNS: tuple[str, ...] = (
    "query_id",
    "task",
    "model",
    "mode",
    "sample",
    "performance",
    "judge_score",
    "cost_usd",
    "response",
)


def small_models() -> tuple[str, ...]:
    """The catalogue's models with at most 12B parameters (the release's 10 "small" models)."""
    return tuple(name for name, info in catalog.models().items() if info.size_b <= SMALL_MODEL_MAX_B)


def resolve_pool(pool: str | Sequence[str]) -> tuple[str, ...] | None:
    """``"small"`` -> the 10 small models, ``"all"`` -> None (every model), ``"a,b"`` or a list -> those models."""
    if isinstance(pool, str):
        if pool == "small":
            return small_models()
        if pool == "all":
            return None
        pool = [p.strip() for p in pool.split(",") if p.strip()]
    names = tuple(dict.fromkeys(str(p) for p in pool))
    if not names:
        raise ValueError("the model pool is empty; give 'small', 'all' or model names")
    return names


@dataclass(frozen=True)
class SelectionSettings:
    """How the top responses of a query are chosen."""

    strategy: str = "hybrid"
    top_n: int = 3
    stage1: int = 5  # hybrid: how many the performance sort keeps before the judge sort
    pool: tuple[str, ...] | None = None  # None: every model

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"unknown selection {self.strategy!r}; expected one of {', '.join(STRATEGIES)}")
        if self.top_n < 1 or self.stage1 < 1:
            raise ValueError("top_n and stage1 must be >= 1")
        if self.strategy == "hybrid" and self.stage1 < self.top_n:
            raise ValueError(f"hybrid selection keeps top_n={self.top_n} of stage1={self.stage1}: need stage1 >= top_n")

    def describe(self) -> str:
        """E.g. ``"hybrid(stage1=5,top_n=3)"``: the templates table's ``selection`` value."""
        stage = f"stage1={self.stage1}," if self.strategy == "hybrid" else ""
        return f"{self.strategy}({stage}top_n={self.top_n})"


@dataclass
class Selection:
    """The chosen rows: for each selected query (in ``query_ids`` order) the row indices, best first."""

    query_ids: list[str]
    rows: list[np.ndarray]
    queries: int = 0  # distinct queries offered
    no_correct: int = 0  # skipped: no correct response from the pool
    absent_models: list[str] = field(default_factory=list)  # models of the pool without any row here
    by_task: dict[str, Counter[str]] = field(default_factory=dict)  # task -> {queries, no_correct, selected}


def _sort_keys(table: pa.Table, key: str) -> tuple[np.ndarray, np.ndarray]:
    """(primary, secondary) ascending keys for ``perf`` or ``judge``: -score then cost, NaN last in both."""
    column = "performance" if key == "perf" else "judge_score"
    score = pc.cast(table[column], pa.float64()).to_numpy(zero_copy_only=False)
    cost = pc.cast(table["cost_usd"], pa.float64()).to_numpy(zero_copy_only=False)
    return np.where(np.isnan(score), np.inf, -score), np.where(np.isnan(cost), np.inf, cost)


def _first_per_group(group: np.ndarray, order: np.ndarray, keep: int) -> np.ndarray:
    """The first ``keep`` positions of ``order`` within each run of equal ``group[order]`` values."""
    sorted_groups = group[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_groups)) + 1]
    run_start = np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    return order[np.arange(len(order)) - run_start < keep]


def select_responses(table: pa.Table, settings: SelectionSettings) -> Selection:
    """The top responses per query of ``table`` (columns :data:`ROW_COLUMNS`); see the module docstring.

    Queries come out grouped by task in the order the tasks first appear, each task's queries by query id.
    """
    missing = [c for c in ROW_COLUMNS if c not in table.column_names]
    if missing:
        raise ValueError(f"candidate rows lack the columns {missing}")
    query_ids = table["query_id"].to_numpy(zero_copy_only=False).astype(str)
    tasks = table["task"].to_numpy(zero_copy_only=False).astype(str)
    selection = Selection([], [])
    first_task = dict.fromkeys(tasks.tolist())
    offered = dict(zip(query_ids.tolist(), tasks.tolist(), strict=True))
    selection.queries = len(offered)
    for task in first_task:
        selection.by_task[task] = Counter()
    for task in offered.values():
        selection.by_task[task]["queries"] += 1
    perf = pc.cast(table["performance"], pa.float64()).to_numpy(zero_copy_only=False)
    has_text = pc.fill_null(pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(table["response"])), 0), False)
    eligible = (perf > 0) & has_text.to_numpy(zero_copy_only=False)
    if settings.pool is not None:
        present = set(pc.unique(table["model"]).to_pylist())
        selection.absent_models = [m for m in settings.pool if m not in present]
        eligible &= pc.is_in(table["model"], value_set=pa.array(settings.pool)).to_numpy(zero_copy_only=False)
    candidates = np.flatnonzero(eligible)
    sub = table.take(pa.array(candidates))
    query_codes = np.unique(query_ids[candidates], return_inverse=True)[1].reshape(-1)
    tie = np.lexsort(
        (
            sub["sample"].to_numpy(zero_copy_only=False),
            sub["mode"].to_numpy(zero_copy_only=False).astype(str),
            sub["model"].to_numpy(zero_copy_only=False).astype(str),
        )
    )
    tie_rank = np.empty(len(tie), dtype=np.int64)
    tie_rank[tie] = np.arange(len(tie))
    first_key = "judge" if settings.strategy == "judge" else "perf"
    primary, secondary = _sort_keys(sub, first_key)
    order = np.lexsort((tie_rank, secondary, primary, query_codes))
    stage = settings.stage1 if settings.strategy == "hybrid" else settings.top_n
    kept = _first_per_group(query_codes, order, stage)
    if settings.strategy == "hybrid":
        judge_primary, judge_secondary = _sort_keys(sub, "judge")
        again = np.lexsort((tie_rank[kept], judge_secondary[kept], judge_primary[kept], query_codes[kept]))
        kept = _first_per_group(query_codes, kept[again], settings.top_n)
    chosen = candidates[kept]
    chosen_queries = query_ids[chosen]
    by_query: dict[str, list[int]] = {}
    for row, qid in zip(chosen.tolist(), chosen_queries.tolist(), strict=True):
        by_query.setdefault(qid, []).append(row)
    for task in first_task:
        for qid in sorted(q for q, t in offered.items() if t == task):
            if qid in by_query:
                selection.query_ids.append(qid)
                selection.rows.append(np.asarray(by_query[qid], dtype=np.int64))
                selection.by_task[task]["selected"] += 1
            else:
                selection.no_correct += 1
                selection.by_task[task]["no_correct"] += 1
    return selection


def limit_per_task(selection: Selection, tasks_of: dict[str, str], queries_per_task: int | None) -> Selection:
    """The first ``queries_per_task`` selected queries of each task (by query id); None keeps all."""
    if queries_per_task is None:
        return selection
    if queries_per_task < 1:
        raise ValueError("queries_per_task must be >= 1 (or None for all)")
    taken: Counter[str] = Counter()
    keep = []
    for i, qid in enumerate(selection.query_ids):
        taken[tasks_of[qid]] += 1
        if taken[tasks_of[qid]] <= queries_per_task:
            keep.append(i)
    for counter in selection.by_task.values():
        counter["selected"] = min(counter["selected"], queries_per_task)
    return Selection(
        [selection.query_ids[i] for i in keep],
        [selection.rows[i] for i in keep],
        queries=selection.queries,
        no_correct=selection.no_correct,
        absent_models=selection.absent_models,
        by_task=selection.by_task,
    )
