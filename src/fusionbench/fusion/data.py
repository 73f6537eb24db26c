"""RoutingData: the one in-memory view of routing data that every router, split and report reads.

Per query (row): ``query_ids``, ``tasks``, ``domains``, ``texts``, and optionally the shipped ``splits``,
``subjects`` (a finer label within a task, e.g. the MMLU subject), ``ground_truths``, ``metrics`` and stored
``embeddings``. Per (query, candidate) cell: ``performance``, ``cost`` (USD), ``judge``, ``input_tokens``,
``output_tokens`` as float arrays of shape [n, k], NaN where absent (a missing cost is NaN, never 0). Per
candidate: ``candidates`` (names, ``"model/mode"`` by default) and ``candidate_info``.

A row is identified by (split, query_id): the same query may occur once in each shipped split (the release
and LLMRouter both have such cross-split queries; :mod:`fusionbench.fusion.splits` ``release`` removes
them from test). Build one from an export or a canonical-schema table (:mod:`.converters.canonical`), from
plain arrays (:meth:`RoutingData.from_arrays`) or from a public routing dataset
(:func:`fusionbench.fusion.converters.from_external`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fusionbench.metrics.routing_rows import Incomplete  # the one vocabulary of a missing cell
from fusionbench.schema import MODES, TASK_DOMAINS

#: RoutingData field -> the export column it comes from (named in errors about missing values)
COLUMNS: dict[str, str] = {
    "performance": "performance",
    "cost": "cost_usd",
    "judge": "judge_score",
    "input_tokens": "input_tokens",
    "output_tokens": "output_tokens",
    "embeddings": "embedding",
}
_CELL_FIELDS = ("performance", "cost", "judge", "input_tokens", "output_tokens")
_QUERY_FIELDS = ("query_ids", "tasks", "domains", "texts", "splits", "subjects", "ground_truths", "metrics")


class MissingValuesError(ValueError):
    """A value a computation needs is missing (NaN) for some queries or candidates."""


class IncompleteDataError(ValueError):
    """Some (query, candidate) cells have no performance, and ``incomplete="error"`` was asked for."""


@dataclass(frozen=True)
class Candidate:
    """What is known about one candidate: its model, mode, size and prices (USD per million tokens)."""

    name: str
    model: str
    mode: str = "direct"
    size_b: float | None = None
    input_price: float | None = None
    output_price: float | None = None
    description: str | None = None
    generated_by: str | None = None

    @classmethod
    def from_name(cls, name: str, **info: Any) -> Candidate:
        """``"m/cot"`` -> model m, mode cot; a name without a known mode suffix is a model in direct mode."""
        model, _, mode = name.rpartition("/")
        return cls(name, model, mode, **info) if model and mode in MODES else cls(name, name, "direct", **info)


def _object_array(values: Iterable[Any] | None, n: int) -> np.ndarray:
    """A 1-d object array of ``values`` (``n`` Nones when None)."""
    items = [None] * n if values is None else list(values)
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


@dataclass(frozen=True, eq=False)
class RoutingData:
    """Queries x candidates with performance, cost, judge and token matrices; see the module docstring."""

    query_ids: np.ndarray
    tasks: np.ndarray
    domains: np.ndarray
    texts: np.ndarray
    candidates: tuple[str, ...]
    performance: np.ndarray
    cost: np.ndarray
    judge: np.ndarray
    input_tokens: np.ndarray
    output_tokens: np.ndarray
    candidate_info: tuple[Candidate, ...]
    splits: np.ndarray | None = None
    subjects: np.ndarray | None = None
    ground_truths: np.ndarray | None = None
    metrics: np.ndarray | None = None
    embeddings: np.ndarray | None = None
    #: what the embeddings are, e.g. {"kind": "stored", "column": "embedding", "model": ..., "pooling": ...}
    featurizer: Mapping[str, Any] | None = None
    #: response texts [n, k] (object, None where absent); only when asked for (they are large)
    responses: np.ndarray | None = None
    source: str = "arrays"
    #: synthetic data: reports must print a "synthetic, do not report" banner
    synthetic: bool = False
    #: where the data came from and what was skipped on the way (``skipped``: {reason: count})
    provenance: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n, k = len(self.query_ids), len(self.candidates)
        for name in _QUERY_FIELDS:
            value = getattr(self, name)
            if value is not None or name == "texts":
                array = _object_array(value, n)
                if len(array) != n:
                    raise ValueError(f"{name} has {len(array)} entries for {n} queries")
                object.__setattr__(self, name, array)
        object.__setattr__(self, "candidates", tuple(str(c) for c in self.candidates))
        if len(set(self.candidates)) != k:
            raise ValueError(f"candidate names repeat: {sorted(self.candidates)}")
        if [c.name for c in self.candidate_info] != list(self.candidates):
            raise ValueError("candidate_info must list one Candidate per candidate, in the same order")
        for name in _CELL_FIELDS:
            matrix = np.asarray(getattr(self, name), dtype=np.float64)
            if matrix.shape != (n, k):
                raise ValueError(f"{name} has shape {matrix.shape}, expected [n_queries, n_candidates] = {(n, k)}")
            if np.isinf(matrix).any():
                raise ValueError(f"{name} has infinite values; a missing value must be NaN")
            object.__setattr__(self, name, matrix)
        if self.embeddings is not None:
            emb = np.asarray(self.embeddings, dtype=np.float32)
            if emb.ndim != 2 or emb.shape[0] != n:
                raise ValueError(f"embeddings have shape {emb.shape}, expected [{n}, d]")
            object.__setattr__(self, "embeddings", emb)
        if self.responses is not None and np.shape(self.responses) != (n, k):
            raise ValueError(f"responses have shape {np.shape(self.responses)}, expected {(n, k)}")
        keys = self.keys
        if len(set(keys)) != n:
            first = next(key for key, count in zip(*np.unique(keys, return_counts=True), strict=True) if count > 1)
            raise ValueError(f"query {first!r} occurs twice (a query may occur once per split)")

    # ---- shape and identity -------------------------------------------------------------------------
    @property
    def n_queries(self) -> int:
        """The number of queries (rows of the matrices)."""
        return len(self.query_ids)

    @property
    def n_candidates(self) -> int:
        """The number of candidates (columns of the matrices)."""
        return len(self.candidates)

    def __len__(self) -> int:
        return self.n_queries

    def __repr__(self) -> str:
        flag = ", synthetic" if self.synthetic else ""
        return f"RoutingData({self.n_queries:,} queries x {self.n_candidates} candidates, source={self.source!r}{flag})"

    @property
    def keys(self) -> np.ndarray:
        """Row keys: ``"<split>:<query_id>"``, or the query id when the data has no splits."""
        if self.splits is None:
            return self.query_ids.astype(str)
        return np.array([f"{s}:{q}" for s, q in zip(self.splits, self.query_ids, strict=True)], dtype=str)

    @property
    def models(self) -> tuple[str, ...]:
        """The model of each candidate."""
        return tuple(c.model for c in self.candidate_info)

    # ---- constructors -------------------------------------------------------------------------------
    @classmethod
    def from_arrays(
        cls,
        performance: Any,
        cost: Any = None,
        *,
        query_ids: Sequence[str] | None = None,
        tasks: Sequence[str] | None = None,
        texts: Sequence[str | None] | None = None,
        candidates: Sequence[str] | None = None,
        incomplete: Incomplete = "error",
        lenient: bool = False,
        **fields: Any,
    ) -> RoutingData:
        """From plain [n, k] matrices. Defaults: ids ``q000000``..., task ``"default"``, candidates ``c0``...,
        cost NaN (unknown). ``fields``: any other field (judge, input_tokens, splits, embeddings, ...). Values must
        be in the build's valid ranges (:mod:`fusionbench.build.ranges`; NaN is missing): the first bad row is an
        error naming row, matrix, value and range, or with ``lenient`` NaN, counted in ``provenance["skipped"]``."""
        perf = np.array(performance, dtype=np.float64)
        if perf.ndim != 2:
            raise ValueError(f"performance must be a [n_queries, n_candidates] matrix, not shape {perf.shape}")
        n, k = perf.shape
        names = [f"c{j}" for j in range(k)] if candidates is None else [str(c) for c in candidates]
        task_list = ["default"] * n if tasks is None else [str(t) for t in tasks]
        nan = np.full((n, k), np.nan)
        for name in ("judge", "input_tokens", "output_tokens"):
            if fields.get(name) is None:
                fields[name] = nan
        if fields.get("domains") is None:
            fields["domains"] = [TASK_DOMAINS.get(t, "other") for t in task_list]
        if fields.get("candidate_info") is None:
            fields["candidate_info"] = tuple(Candidate.from_name(c) for c in names)
        from fusionbench.build.ranges import check_matrices  # here: importing fusionbench.build loads the build

        ids = [f"q{i:06d}" for i in range(n)] if query_ids is None else [str(q) for q in query_ids]
        fields |= {"performance": perf, "cost": nan if cost is None else cost}
        cells = {name: np.array(fields[name], dtype=np.float64) for name in _CELL_FIELDS}
        checked = {name: values for name, values in cells.items() if values.shape == (n, k) and len(ids) == n}
        nulled = check_matrices(checked, COLUMNS, file="RoutingData.from_arrays", queries=ids, candidates=names,
                                lenient=lenient)  # fmt: skip
        data = cls(query_ids=ids, tasks=task_list, texts=texts, candidates=tuple(names), **(fields | checked))
        return (data.with_skipped(**nulled) if nulled else data).resolve_incomplete(incomplete)

    @classmethod
    def from_table(cls, table: Any, queries: Any = None, **options: Any) -> RoutingData:
        """From a canonical-schema responses table (pyarrow Table or datasets.Dataset); see
        :func:`fusionbench.fusion.converters.canonical.from_table` for the options."""
        from fusionbench.fusion.converters.canonical import from_table

        return from_table(table, queries, **options)

    @classmethod
    def from_export(cls, path: str | Path, split: str | None = None, **options: Any) -> RoutingData:
        """From an export folder; see :func:`fusionbench.fusion.converters.canonical.from_export`."""
        from fusionbench.fusion.converters.canonical import from_export

        return from_export(path, split, **options)

    @classmethod
    def from_external(cls, kind: str, path: str | Path, **options: Any) -> RoutingData:
        """From a public routing dataset; see :func:`fusionbench.fusion.converters.from_external`."""
        from fusionbench.fusion.converters import from_external

        return from_external(kind, path, **options)

    # ---- selections ---------------------------------------------------------------------------------
    @classmethod
    def concat(cls, parts: Sequence[RoutingData], *, source: str | None = None) -> RoutingData:
        """One dataset of ``parts`` with the same candidates (a train and a test file, one file per task)."""
        from fusionbench.fusion.converters.combine import concat

        return concat(parts, source=source)

    def take(self, indices: Sequence[int] | np.ndarray) -> RoutingData:
        """The rows at ``indices`` (a boolean mask also works), in that order."""
        idx = np.asarray(indices)
        idx = np.flatnonzero(idx) if idx.dtype == bool else idx.astype(np.int64).reshape(-1)
        changes: dict[str, Any] = {name: getattr(self, name)[idx] for name in _CELL_FIELDS}
        for name in (*_QUERY_FIELDS, "embeddings", "responses"):
            value = getattr(self, name)
            if value is not None:
                changes[name] = value[idx]
        return dataclasses.replace(self, **changes)

    def subset(self, query_ids: Iterable[str], *, split: str | None = None) -> RoutingData:
        """The rows of ``query_ids`` (in the data's order); ``split`` restricts to one shipped split."""
        wanted = {str(q) for q in query_ids}
        mask = np.isin(self.query_ids.astype(str), list(wanted))
        if split is not None:
            mask &= self._split_mask(split)
        unknown = wanted - set(self.query_ids[mask].astype(str))
        if unknown:
            raise KeyError(f"{len(unknown)} query ids are not in the data, e.g. {sorted(unknown)[:3]}")
        return self.take(mask)

    def split(self, name: str) -> RoutingData:
        """The rows of one shipped split (``"train"`` or ``"test"``)."""
        return self.take(self._split_mask(name))

    def _split_mask(self, name: str) -> np.ndarray:
        if self.splits is None:
            raise ValueError(f"{self.source}: the data has no shipped splits")
        return self.splits == name

    def _candidate_indices(self, names: Iterable[str]) -> list[int]:
        """Indices of candidates named by candidate name or by model (every mode of it)."""
        out: list[int] = []
        for name in names:
            hits = [j for j, c in enumerate(self.candidate_info) if name in (c.name, c.model)]
            if not hits:
                raise KeyError(f"no candidate or model {name!r}; candidates are {list(self.candidates)}")
            out += [j for j in hits if j not in out]
        return out

    def select_candidates(self, names: Iterable[str]) -> RoutingData:
        """Only the candidates named (by candidate name or model), in the order given."""
        return self._columns(self._candidate_indices(names))

    def without_candidates(self, names: Iterable[str]) -> RoutingData:
        """Every candidate except those named (by candidate name, or by model for all its modes)."""
        drop = set(self._candidate_indices(names))
        return self._columns([j for j in range(self.n_candidates) if j not in drop])

    def _columns(self, cols: list[int]) -> RoutingData:
        if not cols:
            raise ValueError("no candidate left")
        changes: dict[str, Any] = {name: getattr(self, name)[:, cols] for name in _CELL_FIELDS}
        if self.responses is not None:
            changes["responses"] = self.responses[:, cols]
        changes["candidates"] = tuple(self.candidates[j] for j in cols)
        changes["candidate_info"] = tuple(self.candidate_info[j] for j in cols)
        return dataclasses.replace(self, **changes)

    def with_model_names(self) -> RoutingData:
        """Candidates named by their model alone (an error if a model has more than one mode here)."""
        models = self.models
        repeated = sorted({m for m in models if models.count(m) > 1})
        if repeated:
            raise ValueError(f"models with several modes cannot be named by model alone: {repeated}; pick a mode")
        info = tuple(dataclasses.replace(c, name=c.model) for c in self.candidate_info)
        return dataclasses.replace(self, candidates=models, candidate_info=info)

    def subjects_as_tasks(self) -> RoutingData:
        """The data with each query's subject as its task (per-subject routing, e.g. the 57 MMLU subjects)."""
        if self.subjects is None:
            raise ValueError(f"{self.source}: the data has no subjects")
        return dataclasses.replace(self, tasks=self.subjects)

    def masked(self, candidates: Iterable[str], keep_rows: np.ndarray) -> RoutingData:
        """The data with every cell of ``candidates`` set to NaN except in the rows of ``keep_rows`` (a mask):
        how a split hides an unseen model's labels (leave-one-model-out with k labelled queries)."""
        cols = self._candidate_indices(candidates)
        hide = ~np.asarray(keep_rows, dtype=bool)
        changes = {}
        for name in _CELL_FIELDS:
            matrix = getattr(self, name).copy()
            matrix[np.ix_(hide, cols)] = np.nan
            changes[name] = matrix
        return dataclasses.replace(self, **changes)

    # ---- missing values -----------------------------------------------------------------------------
    def require(self, *names: str) -> None:
        """Raise :class:`MissingValuesError` naming the column when any of ``names`` (e.g. ``"cost"``) has a
        missing value; cost-aware metrics and routers call it instead of treating NaN as 0."""
        for name in names:
            if name == "embeddings":
                if self.embeddings is None or np.isnan(self.embeddings).any():
                    raise MissingValuesError(
                        f"{self.source}: no stored embeddings (column 'embedding') for some queries"
                    )
                continue
            missing = np.isnan(getattr(self, name))
            if missing.any():
                cols = [self.candidates[j] for j in np.flatnonzero(missing.any(axis=0))]
                raise MissingValuesError(
                    f"{self.source}: {name} (column {COLUMNS[name]!r}) is missing for {int(missing.sum()):,} of "
                    f"{missing.size:,} (query, candidate) cells, candidates {cols[:5]}{'...' * (len(cols) > 5)}; "
                    "a missing value is never read as 0"
                )

    def resolve_incomplete(self, incomplete: Incomplete = "error") -> RoutingData:
        """Deal with cells without performance: raise, or drop (and count) the queries or the candidates."""
        missing = np.isnan(self.performance)
        if not missing.any():
            return self
        bad_rows, bad_cols = missing.any(axis=1), missing.any(axis=0)
        q, c = int(bad_rows.sum()), int(bad_cols.sum())
        if incomplete == "error":
            i, j = np.argwhere(missing)[0]
            raise IncompleteDataError(
                f"{self.source}: {int(missing.sum()):,} (query, candidate) cells have no performance (no row, or a "
                f"null/NaN score), e.g. query {self.query_ids[i]!r} ({self.tasks[i]}) x {self.candidates[j]!r}; "
                f"pass incomplete='drop_queries' to drop the {q:,} queries or 'drop_candidates' to drop the "
                f"{c:,} candidates"
            )
        if incomplete == "drop_queries":
            if q == self.n_queries:
                raise IncompleteDataError(f"{self.source}: every query has a missing cell; nothing is left")
            kept = self.take(~bad_rows)
            return kept.with_skipped(queries_incomplete=q, dropped_query_ids=[str(k) for k in self.keys[bad_rows][:50]])
        if incomplete == "drop_candidates":
            if c == self.n_candidates:
                raise IncompleteDataError(f"{self.source}: every candidate has a missing cell; nothing is left")
            dropped = [self.candidates[j] for j in np.flatnonzero(bad_cols)]
            kept = self._columns(list(np.flatnonzero(~bad_cols)))
            return kept.with_skipped(candidates_incomplete=c, dropped_candidates=dropped)
        raise ValueError(f"incomplete must be 'error', 'drop_queries' or 'drop_candidates', not {incomplete!r}")

    def with_skipped(self, **skipped: Any) -> RoutingData:
        """The data with ``skipped`` counts (and lists) added to ``provenance["skipped"]``."""
        merged = {**self.provenance.get("skipped", {}), **skipped}
        return dataclasses.replace(self, provenance={**self.provenance, "skipped": merged})

    # ---- output -------------------------------------------------------------------------------------
    def to_rows(self) -> tuple[Any, Any, Any]:
        """(responses, queries, models) pyarrow Tables in the canonical schema; see
        :func:`fusionbench.fusion.converters.export.to_rows`."""
        from fusionbench.fusion.converters.export import to_rows

        return to_rows(self)

    def write_export(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write the data as a fusionbench export folder (shards and card) that ``load_dataset`` reads."""
        from fusionbench.fusion.converters.export import write_export

        return write_export(self, Path(path), overwrite=overwrite)

    def equals(self, other: RoutingData) -> bool:
        """Same rows, candidates, values (NaN equal to NaN), provenance-free fields and flags."""
        if not isinstance(other, RoutingData) or self.candidates != other.candidates:
            return False
        if self.candidate_info != other.candidate_info or (self.source, self.synthetic) != (
            other.source,
            other.synthetic,
        ):
            return False
        for name in (*_QUERY_FIELDS, *_CELL_FIELDS, "embeddings", "responses"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if (mine is None) != (theirs is None):
                return False
            if mine is not None and not _same(mine, theirs):
                return False
        return True


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    if a.shape != b.shape:
        return False
    if a.dtype.kind == "f" and b.dtype.kind == "f":
        return bool(np.array_equal(a, b, equal_nan=True))
    return all(x == y or (x is None and y is None) for x, y in zip(a.ravel().tolist(), b.ravel().tolist(), strict=True))
