"""The embedded default dataset (LLMRouter's 9 models x 6,108 queries): shipped in the package, so these tests
never skip, except the check against the upstream files in ../shared."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from fusionbench.fusion import RoutingData, embedded, splits
from fusionbench.fusion.evaluation.inputs import load_data
from fusionbench.fusion.evaluation.protocols import has_cost


@pytest.fixture(scope="module")
def data() -> RoutingData:
    return embedded.load()


def test_what_the_card_says(data):
    assert (data.n_queries, data.n_candidates) == (6108, 9)
    assert dict(zip(*np.unique(data.splits, return_counts=True), strict=True)) == {"test": 500, "train": 5608}
    assert len(set(data.tasks.tolist())) == 14 and not data.synthetic
    assert np.nanmin(data.performance) == 0.0 and np.nanmax(data.performance) == 1.0
    assert not np.isnan(data.performance).any()
    assert np.isnan(data.cost).all() and np.isnan(data.judge).all() and not has_cost(data)  # NaN, never 0
    spec = splits.release(data)
    assert spec.counts() == {"train": 5608, "val": 0, "test": 381} and spec.meta["removed_from_test"] == 119
    assert data.provenance["upstream"]["commit"] == "4e7a796942ce26e9d5f2b93191c7c2585c99c2e3"
    assert load_data(None).equals(data)  # `fusionbench route` without --data reads it


def test_licence_card_and_size_ship_with_it():
    folder = embedded.folder()
    licence = (folder / "LICENSE").read_text(encoding="utf-8")
    assert licence.startswith("MIT License") and "U Lab @UIUC" in licence
    card = (folder / "README.md").read_text(encoding="utf-8")
    for fact in ("4e7a796942ce26e9d5f2b93191c7c2585c99c2e3", "ulab-uiuc/LLMRouter", "6,108", "119", "no cost"):
        assert fact.lower() in card.lower(), fact
    size = (folder / embedded.TABLE).stat().st_size
    assert size < 1_000_000  # the upstream JSON is 4.4 MB of scores (+ 3.9 MB of query files)
    metadata = pq.read_schema(folder / embedded.TABLE).metadata
    assert b"fusionbench" in metadata


def test_round_trips_and_refusals(data, tmp_path):
    table = embedded.to_table(data)
    assert embedded.from_table(table).equals(data)
    with pytest.raises(ValueError, match="not a fusionbench embedded routing table"):
        embedded.from_table(table.replace_schema_metadata({}))
    priced = RoutingData.from_arrays(np.ones((2, 2)), np.full((2, 2), 1e-4))
    with pytest.raises(ValueError, match="keeps performance only; the data has cost"):
        embedded.to_table(priced)
    with pytest.raises(ValueError, match="no embedded dataset 'nope'"):
        embedded.load("nope")
    written = embedded.write(data.take(range(50)), tmp_path / "small.parquet")
    assert embedded.from_table(pq.read_table(written)).equals(data.take(range(50)))


def test_export_folder_reads_back(data, tmp_path):
    small = data.take(np.flatnonzero(np.isin(data.tasks, ["gsm8k", "mmlu"])))
    small.write_export(tmp_path / "export")
    back = RoutingData.from_export(tmp_path / "export")
    order = {key: i for i, key in enumerate(back.keys)}  # the export lists rows per task shard
    back = back.take([order[key] for key in small.keys])
    np.testing.assert_array_equal(back.performance, small.performance)
    assert back.candidates == small.candidates and np.isnan(back.cost).all()


def test_the_shipped_file_equals_a_fresh_conversion(shared_data):
    assert embedded.verify(shared_data / "routing" / "llmrouter")
