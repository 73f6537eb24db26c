"""Putting routing data together: :func:`concat` of several RoutingData (train and test files, one file per task),
:func:`dedupe` of texts repeated within a split (counted), :func:`binarize` of a probability-valued score."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from fusionbench.fusion.leakage import normalized_texts

DEDUPE = ("error", "first")


def concat(parts: Sequence[Any], *, source: str | None = None) -> Any:
    """One RoutingData of ``parts`` (same candidates in the same order), rows in order. A query may occur once per
    split (as within one RoutingData); embeddings must be on every part or none."""
    from fusionbench.fusion.data import _CELL_FIELDS, _QUERY_FIELDS, RoutingData

    parts = list(parts)
    if not parts:
        raise ValueError("nothing to concatenate")
    first = parts[0]
    for i, part in enumerate(parts[1:], 1):
        if part.candidates != first.candidates:
            raise ValueError(
                f"part {i} ({part.source}) has candidates {list(part.candidates)}; part 0 ({first.source}) has "
                f"{list(first.candidates)}: select the same candidates first (select_candidates)"
            )
    fields: dict[str, Any] = {n: np.concatenate([getattr(p, n) for p in parts]) for n in _CELL_FIELDS}
    for name in (*_QUERY_FIELDS, "embeddings", "responses"):
        values = [getattr(p, name) for p in parts]
        if all(v is None for v in values):
            continue
        if name == "embeddings" and any(v is None for v in values):
            raise ValueError("embeddings are on some parts only: featurise the texts instead (tfidf or st)")
        if name == "responses":
            values = [np.full((p.n_queries, p.n_candidates), None, dtype=object) if v is None else v
                      for p, v in zip(parts, values, strict=True)]  # fmt: skip
        else:
            values = [
                np.full(p.n_queries, None, dtype=object) if v is None else v for p, v in zip(parts, values, strict=True)
            ]
        fields[name] = np.concatenate(values)
    skipped: dict[str, Any] = {}
    for part in parts:
        for reason, count in part.provenance.get("skipped", {}).items():
            skipped[reason] = skipped.get(reason, 0) + count if isinstance(count, int) else count
    provenance = {"kind": "concat", "parts": [p.source for p in parts], "skipped": skipped}
    return RoutingData(
        **fields,
        candidates=first.candidates,
        candidate_info=first.candidate_info,
        featurizer=first.featurizer,
        source=source or "+".join(dict.fromkeys(p.source for p in parts)),
        synthetic=any(p.synthetic for p in parts),
        provenance=provenance,
    )


def dedupe(data: Any, how: str = "error") -> Any:
    """Rows whose normalised text repeats within a split (same task): ``how="error"`` refuses them naming the
    first; ``"first"`` keeps the first and drops the others, counted in ``provenance["skipped"]["duplicate_texts"]``
    (per split)."""
    if how not in DEDUPE:
        raise ValueError(f"dedupe must be one of {DEDUPE}, not {how!r}")
    splits = data.splits if data.splits is not None else np.full(data.n_queries, "", dtype=object)
    seen: dict[tuple[str, str, str], int] = {}
    drop = np.zeros(data.n_queries, dtype=bool)
    counts: dict[str, int] = {}
    for i, (split, task, text) in enumerate(zip(splits, data.tasks, normalized_texts(data.texts), strict=True)):
        if not text:
            continue
        key = (str(split), str(task), text)
        if key in seen:
            if how == "error":
                raise ValueError(
                    f"{data.source}: query {data.query_ids[i]} repeats the text of query "
                    f"{data.query_ids[seen[key]]} in split {split or '(none)'!r}: pass dedupe='first' (--dedupe "
                    "first) to keep the first and count the others"
                )
            drop[i] = True
            counts[str(split) or "all"] = counts.get(str(split) or "all", 0) + 1
        else:
            seen[key] = i
    if not drop.any():
        return data
    return data.take(~drop).with_skipped(duplicate_texts=counts)


def binarize(data: Any, threshold: float = 0.0) -> Any:
    """Performance as 1.0 where the score is above ``threshold`` and 0.0 elsewhere (NaN stays NaN): for data that
    stores the probability of the right answer where the field counts a query correct when it is > 0 (or > 0.5)."""
    perf = data.performance
    out = np.where(np.isnan(perf), np.nan, (perf > threshold).astype(np.float64))
    provenance = {**data.provenance, "binarized": {"threshold": float(threshold), "rule": "score > threshold"}}
    return dataclasses.replace(data, performance=out, provenance=provenance)
