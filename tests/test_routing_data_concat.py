"""RoutingData.concat: parts with the same candidates become one dataset (a train file and a test file); other
candidates, a query repeated in one split, or embeddings on some parts only are refused."""

from __future__ import annotations

import numpy as np
import pytest

from fusionbench.fusion import RoutingData, splits


def _part(ids: list[str], split: str, candidates=("a", "b"), embeddings: bool = False) -> RoutingData:
    perf = np.arange(len(ids) * len(candidates), dtype=float).reshape(len(ids), -1) % 2
    fields = {"splits": [split] * len(ids)}
    if embeddings:
        fields["embeddings"] = np.ones((len(ids), 3))
    return RoutingData.from_arrays(
        perf, candidates=list(candidates), tasks=["t"] * len(ids), texts=[f"text {q}" for q in ids],
        query_ids=ids, **fields,
    )  # fmt: skip


def test_concat_keeps_rows_values_and_splits() -> None:
    train, test = _part(["q1", "q2", "q3"], "train"), _part(["q4", "q5"], "test")
    both = RoutingData.concat([train, test])
    assert both.n_queries == 5
    assert both.query_ids.tolist() == ["q1", "q2", "q3", "q4", "q5"]
    np.testing.assert_array_equal(both.performance, np.vstack([train.performance, test.performance]))
    assert both.splits.tolist() == ["train"] * 3 + ["test"] * 2
    assert np.isnan(both.cost).all()  # unknown cost stays unknown
    tr, _, te = splits.apply(both, splits.release(both))  # the shipped splits work as any converter's
    assert tr.n_queries == 3 and te.n_queries == 2


def test_concat_refuses_what_cannot_be_one_dataset() -> None:
    with pytest.raises(ValueError, match="candidates"):
        RoutingData.concat([_part(["q1"], "train"), _part(["q2"], "test", candidates=("a", "c"))])
    with pytest.raises(ValueError, match="occurs twice"):
        RoutingData.concat([_part(["q1"], "train"), _part(["q1"], "train")])
    with pytest.raises(ValueError, match="embeddings"):
        RoutingData.concat([_part(["q1"], "train", embeddings=True), _part(["q2"], "test")])
    with pytest.raises(ValueError, match="nothing"):
        RoutingData.concat([])
    same_id_other_split = RoutingData.concat([_part(["q1"], "train"), _part(["q1"], "test")])
    assert same_id_other_split.n_queries == 2  # one query per split, as a converter may give (release drops it)
