"""RoutingData: construction from arrays, tables and exports; selections; missing values; export round trip."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from fusionbench.export.folder import response_shards
from fusionbench.fusion import RoutingData
from fusionbench.fusion.data import Candidate, IncompleteDataError, MissingValuesError
from fusionbench.metrics.routing import matrices_from_rows


def _responses(export: Path, split: str | None = None) -> pa.Table:
    shards = [p for p in response_shards(export) if split is None or p.name.startswith(f"{split}-")]
    return pa.concat_tables([pq.read_table(p) for p in shards])


def _cells(table: pa.Table) -> dict[tuple[str, str], tuple]:
    """{(query_id, model): (performance, cost_usd)} of response rows."""
    columns = [table[c].to_pylist() for c in ("query_id", "model", "performance", "cost_usd")]
    return {(q, m): (p, c) for q, m, p, c in zip(*columns, strict=True)}


def _toy(n: int = 6, k: int = 3, seed: int = 0, **fields) -> RoutingData:
    rng = np.random.default_rng(seed)
    return RoutingData.from_arrays(
        rng.integers(0, 2, size=(n, k)).astype(float),
        rng.uniform(1e-5, 1e-3, size=(n, k)),
        query_ids=[f"id{i}" for i in range(n)],
        tasks=["gsm8k" if i % 2 else "mmlu" for i in range(n)],
        texts=[f"question number {i}?" for i in range(n)],
        candidates=[f"m{j}/direct" for j in range(k)],
        **fields,
    )


# ---- from_arrays and validation ------------------------------------------------------------------------
def test_from_arrays_defaults_unknown_cost_is_nan_and_refused():
    data = RoutingData.from_arrays([[1.0, 0.0], [0.5, 1.0]])
    assert data.query_ids.tolist() == ["q000000", "q000001"]
    assert data.candidates == ("c0", "c1") and data.tasks.tolist() == ["default", "default"]
    assert np.isnan(data.cost).all() and np.isnan(data.judge).all()
    with pytest.raises(MissingValuesError, match=r"'cost_usd'.*4 of 4"):
        data.require("cost")
    data.require("performance")


def test_candidate_names_parse_model_and_mode():
    assert Candidate.from_name("gpt-4/cot") == Candidate("gpt-4/cot", "gpt-4", "cot")
    org = Candidate.from_name("mistralai/Mixtral-8x7B")  # a '/' inside the model name is not a mode
    assert (org.model, org.mode) == ("mistralai/Mixtral-8x7B", "direct")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"performance": [[1.0, np.inf]]}, "infinite"),
        ({"performance": [[1.0, 0.0]], "cost": [[1.0]]}, r"cost has shape \(1, 1\)"),
        ({"performance": [[1.0], [0.0]], "query_ids": ["a", "a"]}, "occurs twice"),
        ({"performance": [[1.0, 0.0]], "candidates": ["x", "x"]}, "repeat"),
        ({"performance": [1.0, 0.0]}, "matrix"),
    ],
)
def test_bad_arrays_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RoutingData.from_arrays(**kwargs)


def test_nan_performance_error_or_counted_drop():
    perf = np.array([[1.0, 0.0, 1.0], [np.nan, 1.0, 0.0], [0.0, 1.0, np.nan], [1.0, 1.0, 1.0]])
    with pytest.raises(IncompleteDataError, match=r"2 \(query, candidate\) cells.*'q000001'.*drop the 2 queries"):
        RoutingData.from_arrays(perf)
    by_query = RoutingData.from_arrays(perf, incomplete="drop_queries")
    assert by_query.query_ids.tolist() == ["q000000", "q000003"]
    assert by_query.provenance["skipped"]["queries_incomplete"] == 2
    by_candidate = RoutingData.from_arrays(perf, incomplete="drop_candidates")
    assert by_candidate.candidates == ("c1",)
    assert by_candidate.provenance["skipped"]["dropped_candidates"] == ["c0", "c2"]
    with pytest.raises(IncompleteDataError, match="every query"):
        RoutingData.from_arrays([[np.nan, 1.0]], incomplete="drop_queries")


# ---- selections --------------------------------------------------------------------------------------
def test_take_subset_and_candidate_selections_keep_fields_aligned():
    data = _toy(embeddings=np.arange(12, dtype=np.float32).reshape(6, 2), subjects=list("abcdef"))
    part = data.subset(["id4", "id1"])
    assert part.query_ids.tolist() == ["id1", "id4"]  # data order
    assert part.embeddings.tolist() == [[2.0, 3.0], [8.0, 9.0]] and part.subjects.tolist() == ["b", "e"]
    np.testing.assert_array_equal(part.performance, data.performance[[1, 4]])
    with pytest.raises(KeyError, match="1 query ids"):
        data.subset(["id1", "nope"])
    fewer = data.without_candidates(["m1/direct"])
    assert fewer.candidates == ("m0/direct", "m2/direct")
    np.testing.assert_array_equal(fewer.cost, data.cost[:, [0, 2]])
    assert data.without_candidates(["m0"]).candidates == ("m1/direct", "m2/direct")  # by model
    with pytest.raises(KeyError, match="no candidate or model 'zz'"):
        data.without_candidates(["zz"])
    assert data.with_model_names().candidates == ("m0", "m1", "m2")
    assert data.subjects_as_tasks().tasks.tolist() == list("abcdef")
    assert data.take(np.array([True, False] * 3)).query_ids.tolist() == ["id0", "id2", "id4"]


def test_masked_hides_a_candidate_outside_the_kept_rows():
    data = _toy()
    keep = np.array([True, False, False, True, False, False])
    hidden = data.masked(["m2/direct"], keep)
    assert np.isnan(hidden.performance[~keep, 2]).all() and np.isnan(hidden.cost[~keep, 2]).all()
    np.testing.assert_array_equal(hidden.performance[keep], data.performance[keep])
    np.testing.assert_array_equal(hidden.performance[:, :2], data.performance[:, :2])


def test_with_model_names_refuses_two_modes_of_a_model():
    data = RoutingData.from_arrays([[1.0, 0.0]], candidates=["m/direct", "m/cot"])
    with pytest.raises(ValueError, match="several modes"):
        data.with_model_names()


# ---- from an export and from tables ------------------------------------------------------------------
def test_from_export_matches_an_independent_pivot(sample_export):
    data = RoutingData.from_export(sample_export, "train", incomplete="drop_queries")
    assert data.synthetic and data.featurizer["kind"] == "stored"
    rows = _responses(sample_export, "train")
    reference = matrices_from_rows(rows, incomplete="drop_queries")
    assert sorted(data.query_ids.tolist()) == sorted(reference.query_ids)
    assert set(data.candidates) == set(reference.candidates)
    order = [data.query_ids.tolist().index(q) for q in reference.query_ids]
    cols = [data.candidates.index(c) for c in reference.candidates]
    np.testing.assert_allclose(data.performance[np.ix_(order, cols)], reference.performance)
    np.testing.assert_allclose(data.cost[np.ix_(order, cols)], reference.cost)
    assert data.provenance["skipped"]["queries_incomplete"] == len(reference.dropped_query_ids)
    # candidates in catalogue order, direct before cot, with the models table's facts
    assert data.candidates[:2] == ("qwen2-7b-instruct/direct", "qwen2-7b-instruct/cot")
    assert data.candidate_info[0].size_b == 7.0 and data.candidate_info[0].input_price is not None


def test_from_export_texts_and_embeddings_come_from_the_queries_table(sample_export):
    data = RoutingData.from_export(sample_export, incomplete="drop_queries")
    queries = pa.concat_tables([pq.read_table(p) for p in sorted((sample_export / "data/queries").glob("*.parquet"))])
    by_key = {(r["split"], r["query_id"]): r for r in queries.to_pylist()}
    for i in (0, len(data) - 1):
        row = by_key[(data.splits[i], data.query_ids[i])]
        assert data.texts[i] == row["query"] and data.ground_truths[i] == row["ground_truth"]
        np.testing.assert_allclose(data.embeddings[i], row["embedding"], rtol=1e-6)
    assert set(data.splits.tolist()) == {"train", "test"}


def test_from_export_incomplete_default_is_an_error_naming_the_cell(sample_export):
    missing = matrices_from_rows(_responses(sample_export), incomplete="drop_queries").n_missing_cells
    with pytest.raises(IncompleteDataError, match=rf"{missing} \(query, candidate\) cells have no performance"):
        RoutingData.from_export(sample_export)
    dropped = RoutingData.from_export(sample_export, incomplete="drop_candidates")
    assert dropped.provenance["skipped"]["candidates_incomplete"] == len(
        dropped.provenance["skipped"]["dropped_candidates"]
    )


def test_from_export_refuses_a_missing_score_column_and_a_bad_split(sample_export):
    with pytest.raises(ValueError, match=r"rescored_performance.*fusionbench rescore --write"):
        RoutingData.from_export(sample_export, score_column="rescored_performance")
    with pytest.raises(ValueError, match="split must be one of"):
        RoutingData.from_export(sample_export, "validation")


def test_from_export_one_mode_named_by_model(sample_export):
    data = RoutingData.from_export(sample_export, mode="cot", candidates="model", incomplete="drop_queries")
    assert data.n_candidates == 20 and all("/" not in c for c in data.candidates)
    assert {c.mode for c in data.candidate_info} == {"cot"}


def test_from_table_accepts_a_dataset_and_counts_extra_samples(sample_export):
    from datasets import Dataset

    rows = _responses(sample_export, "test")
    index = rows.schema.get_field_index("sample")
    extra = rows.slice(0, 5).set_column(index, rows.schema.field(index), pa.array([1] * 5, pa.int32()))
    table = pa.concat_tables([rows, extra])
    from_arrow = RoutingData.from_table(table, incomplete="drop_queries")
    from_dataset = RoutingData.from_table(Dataset(table), incomplete="drop_queries")
    assert from_arrow.equals(from_dataset)
    assert from_arrow.provenance["skipped"]["rows_sample_not_0"] == 5
    duplicated = pa.concat_tables([rows, rows.slice(0, 1)])
    with pytest.raises(ValueError, match="two rows for query"):
        RoutingData.from_table(duplicated)
    with pytest.raises(ValueError, match="lacks the columns"):
        RoutingData.from_table(rows.drop_columns(["mode"]))


def test_score_column_choice(sample_export):
    rows = _responses(sample_export, "test")
    flipped = rows.append_column("rescored_performance", pc.subtract(1.0, rows["performance"]))
    plain = RoutingData.from_table(flipped, incomplete="drop_queries")
    rescored = RoutingData.from_table(flipped, score_column="rescored_performance", incomplete="drop_queries")
    np.testing.assert_allclose(rescored.performance, 1.0 - plain.performance)


# ---- back out: rows and an export ----------------------------------------------------------------------
def test_to_rows_is_canonical_and_keeps_unknown_cost_null():
    cost = np.full((6, 3), np.nan)
    cost[0, 0] = 2e-4
    data = dataclasses.replace(_toy(), cost=cost, source="toy:arrays")
    responses, queries, models = data.to_rows()
    from fusionbench.schema import MODEL_SCHEMA, QUERY_SCHEMA, RESPONSE_SCHEMA

    assert responses.schema.equals(RESPONSE_SCHEMA) and queries.schema.equals(QUERY_SCHEMA)
    assert models.schema.equals(MODEL_SCHEMA)
    assert responses.num_rows == 18 and responses["cost_usd"].null_count == 17
    assert set(responses["mode"].to_pylist()) == {"direct"} and set(responses["source"].to_pylist()) == {"toy:arrays"}
    assert queries["n_rows"].to_pylist() == [3] * 6


def test_write_export_round_trips_through_load_dataset_and_from_export(tmp_path):
    from datasets import load_dataset

    cost = _toy().cost.copy()
    cost[2, 1] = np.nan
    data = dataclasses.replace(_toy(), cost=cost, splits=["train"] * 4 + ["test"] * 2, source="toy:arrays")
    out = data.write_export(tmp_path / "toy")
    back = RoutingData.from_export(out)
    position = {key: i for i, key in enumerate(back.keys)}
    assert back.take([position[k] for k in data.keys]).equals(data)
    loaded = load_dataset(str(out), "all")
    expected = data.to_rows()[0]
    for split in ("train", "test"):
        want = expected.filter(pc.equal(expected["split"], split))
        got = loaded[split].with_format("arrow")[:]
        assert _cells(got) == _cells(want) and len(_cells(got)) == got.num_rows
    with pytest.raises(FileExistsError):
        data.write_export(out)


def test_write_export_needs_texts_and_export_splits(tmp_path):
    with pytest.raises(ValueError, match="no text"):
        RoutingData.from_arrays([[1.0]]).write_export(tmp_path / "a")
    with pytest.raises(ValueError, match=r"task names \['all'\] cannot be"):
        dataclasses.replace(_toy(), tasks=["all"] * 6).write_export(tmp_path / "c")
    with pytest.raises(ValueError, match="only the splits"):
        dataclasses.replace(_toy(), splits=["dev"] * 6).write_export(tmp_path / "b")


def test_queries_table_gaps_are_counted_not_filled(sample_export):
    rows = _responses(sample_export, "test")
    queries = pq.read_table(next((sample_export / "data/queries").glob("test-*.parquet")))
    embedding = queries["embedding"].to_pylist()
    embedding[1] = None
    queries = queries.set_column(queries.schema.get_field_index("embedding"), "embedding", [embedding])
    queries = queries.slice(1)  # the first query has no queries row
    data = RoutingData.from_table(rows, queries, incomplete="drop_queries")
    skipped = data.provenance["skipped"]
    assert skipped["queries_without_queries_row"] == 1 and skipped["queries_without_embedding"] == 2
    dropped_id = rows["query_id"][0].as_py()
    assert dropped_id not in queries["query_id"].to_pylist()  # the sliced-off queries row
    row = data.query_ids.tolist().index(dropped_id)
    assert data.texts[row] == rows["query"][0].as_py() and np.isnan(data.embeddings[row]).all()
    assert data.ground_truths[row] is None
    with pytest.raises(MissingValuesError, match="embedding"):
        data.require("embeddings")
