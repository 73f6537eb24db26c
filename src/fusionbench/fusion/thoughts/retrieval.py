"""The k nearest template queries of each query, by cosine similarity, with the exclusions apply needs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: Queries whose similarities are computed in one matrix product.
CHUNK = 1024
STORED = ("embedding", "stored")


class EmbeddingDimensionError(ValueError):
    """The templates' embeddings and the queries' have different dimensions."""


@dataclass
class Neighbours:
    """Per query: the template rows retrieved (best first) and their cosine similarities; counts."""

    indices: list[list[int]]
    similarities: list[list[float]]
    no_features: np.ndarray  # True where the query has no vector (no stored embedding)
    templates: int = 0  # templates with a vector
    templates_without_embedding: int = 0
    excluded_self: int = 0
    excluded_same_text: int = 0
    featurizer_spec: dict[str, Any] | None = None


def _stored(column: pa.ChunkedArray, where: str) -> tuple[np.ndarray, np.ndarray]:
    """(matrix, row has a vector) of a list<float> column; rows without one are zeros."""
    lengths = pc.fill_null(pc.list_value_length(column), 0).to_numpy(zero_copy_only=False)
    widths = sorted(set(lengths[lengths > 0].tolist()))
    if len(widths) > 1:
        raise EmbeddingDimensionError(f"{where}: stored embeddings of different dimensions {widths}")
    if not widths:
        return np.zeros((len(lengths), 0), np.float32), np.zeros(len(lengths), bool)
    ok = lengths == widths[0]
    matrix = np.zeros((len(lengths), widths[0]), np.float32)
    flat = pc.list_flatten(column.filter(pa.array(ok))).to_numpy(zero_copy_only=False)
    matrix[ok] = flat.astype(np.float32).reshape(-1, widths[0])
    finite = np.isfinite(matrix).all(axis=1)
    matrix[~finite] = 0.0
    return matrix, ok & finite


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (a zero row stays zero)."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms > 0, norms, 1.0)


def _vectors(featurizer: str, queries: pa.Table, templates: pa.Table, names: tuple[str, str]) -> tuple[Any, ...]:
    """(query vectors, query has one, template vectors, template has one, featuriser spec), rows L2-normalised."""
    if featurizer in STORED:
        for table, where in ((queries, names[0]), (templates, names[1])):
            if "embedding" not in table.column_names:
                raise ValueError(f"{where}: no 'embedding' column; pass another featuriser (e.g. tfidf)")
        q, q_ok = _stored(queries["embedding"], f"{names[0]} (queries)")
        t, t_ok = _stored(templates["embedding"], f"{names[1]} (templates)")
        if not t_ok.any():
            raise ValueError(f"{names[1]}: no template has a stored embedding; pass another featuriser (e.g. tfidf)")
        if not q_ok.any():
            raise ValueError(f"{names[0]}: no query has a stored embedding; pass another featuriser (e.g. tfidf)")
        if q.shape[1] != t.shape[1]:
            raise EmbeddingDimensionError(
                f"{names[1]}: the templates hold {t.shape[1]}-d query embeddings but the queries of {names[0]} "
                f"{q.shape[1]}-d ones; build the templates from the same export (the same embedder), or retrieve "
                "with another featuriser (featurizer='tfidf', --featurizer tfidf)"
            )
        spec = {"kind": "stored", "column": "embedding", "dim": int(q.shape[1])}
        return _unit_rows(q), q_ok, _unit_rows(t), t_ok, spec
    from sklearn.preprocessing import normalize

    from fusionbench.fusion.features import check_texts, make_featurizer

    model = make_featurizer(featurizer)
    template_texts = check_texts(templates["query"].to_pylist())
    model.fit(template_texts)  # fitted on the template queries only
    q = model.transform(check_texts(queries["query"].to_pylist()))
    t = model.transform(template_texts)
    return normalize(q), np.ones(queries.num_rows, bool), normalize(t), np.ones(templates.num_rows, bool), model.spec()


def nearest_templates(
    queries: pa.Table,
    templates: pa.Table,
    *,
    k: int,
    same_task: bool,
    featurizer: str,
    normalise: Callable[[str | None], str],
    names: tuple[str, str],
) -> Neighbours:
    """The ``k`` most similar templates of each query: never its own id, never a template whose ``normalise``d
    query text equals the query's; within the query's task when ``same_task``."""
    q, q_ok, t, t_ok, spec = _vectors(featurizer, queries, templates, names)
    n = queries.num_rows
    found = Neighbours([[] for _ in range(n)], [[] for _ in range(n)], ~q_ok, featurizer_spec=spec)
    found.templates, found.templates_without_embedding = int(t_ok.sum()), int((~t_ok).sum())
    if templates.num_rows == 0:
        return found
    query_ids = queries["query_id"].to_pylist()
    query_texts = [normalise(x) for x in queries["query"].to_pylist()]
    template_ids = np.asarray(templates["query_id"].to_pylist(), dtype=object)
    template_texts = np.asarray([normalise(x) for x in templates["query"].to_pylist()], dtype=object)
    q_tasks = np.asarray(queries["task"].to_pylist(), dtype=object)
    t_tasks = np.asarray(templates["task"].to_pylist(), dtype=object)
    groups = dict.fromkeys(q_tasks.tolist()) if same_task else {None: None}
    for task in groups:
        rows = np.flatnonzero(q_ok & ((q_tasks == task) if same_task else True))
        cols = np.flatnonzero(t_ok & ((t_tasks == task) if same_task else True))
        if not len(rows) or not len(cols):
            continue
        by_id: dict[str, list[int]] = {}
        by_text: dict[str, list[int]] = {}
        for local, col in enumerate(cols.tolist()):
            by_id.setdefault(template_ids[col], []).append(local)
            by_text.setdefault(template_texts[col], []).append(local)
        block = t[cols]
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            scores = q[chunk] @ block.T
            scores = np.asarray(scores.toarray() if hasattr(scores, "toarray") else scores, dtype=np.float64)
            for r, row in enumerate(chunk.tolist()):
                own = by_id.get(query_ids[row], [])
                same = [c for c in by_text.get(query_texts[row], []) if c not in own]
                found.excluded_self += bool(own)
                found.excluded_same_text += len(same)
                scores[r, own + same] = -np.inf
            top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
            for r, row in enumerate(chunk.tolist()):
                keep = [c for c in top[r].tolist() if np.isfinite(scores[r, c])]
                found.indices[row] = [int(cols[c]) for c in keep]
                found.similarities[row] = [float(scores[r, c]) for c in keep]
    return found
