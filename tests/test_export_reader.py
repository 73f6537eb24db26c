"""The one reader of an export split (fusionbench.export.reader): it agrees with ``fusionbench.load`` (datasets'
own Parquet builder) on the sample export, and the fusion steps that read through it get the same rows."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from fusionbench.errors import BadInputError
from fusionbench.export import reader
from fusionbench.export.folder import task_configs
from fusionbench.loading import load


def _sorted(table: pa.Table, keys: list[str]) -> pa.Table:
    return table.sort_by([(k, "ascending") for k in keys])


@pytest.mark.parametrize("split", ["train", "test"])
def test_read_split_agrees_with_the_datasets_loader(sample_export: Path, tmp_path: Path, split: str) -> None:
    read = reader.read_split(sample_export, split, with_queries=True)
    loaded = load("all", source=sample_export, split=split, cache_dir=str(tmp_path / "cache"))
    assert read.rows.num_rows == loaded.num_rows > 0
    assert set(read.rows.column_names) == set(loaded.column_names)
    keys = ["query_id", "model", "mode", "sample"]
    ours = _sorted(read.rows.select(["query_id", "model", "mode", "sample", "performance"]), keys)
    theirs = _sorted(loaded.with_format("arrow")[:].select(ours.column_names), keys)
    assert ours.to_pylist() == theirs.to_pylist()
    queries = load("queries", source=sample_export, split=split, cache_dir=str(tmp_path / "cache"))
    assert read.queries is not None and read.queries.num_rows == queries.num_rows
    assert sorted(read.queries["query_id"].to_pylist()) == sorted(queries["query_id"])
    # the query join: every response row's (split, query_id) has its queries row, with the same task
    joined = read.rows.select(["query_id", "task"]).join(
        read.queries.select(["query_id", "task"]).rename_columns(["query_id", "query_task"]), "query_id"
    )
    assert joined.num_rows == read.rows.num_rows
    assert pc.all(pc.equal(joined["task"], joined["query_task"])).as_py()
    assert read.split == split and read.configs == tuple(task_configs(sample_export))


def test_configs_columns_filters_and_required_columns(sample_export: Path) -> None:
    read = reader.read_split(
        sample_export,
        "partial_test",  # an alias of test
        configs=["mmlu", "gsm8k"],
        columns=["query_id", "task", "model", "no_such_column"],
        filters=[("mode", "=", "direct")],
        with_queries=True,
        query_columns=["query_id", "split"],
    )
    assert read.split == "test" and read.configs == ("gsm8k", "mmlu")  # task order, not the order asked
    assert read.rows.column_names == ["query_id", "task", "model"]  # a column no shard has is left out
    plain = pa.concat_tables(
        pq.read_table(p, filters=[("mode", "=", "direct")]) for p in read.shards
    )  # the same shards read plainly
    assert read.rows.num_rows == plain.num_rows > 0 and set(pc.unique(read.rows["task"]).to_pylist()) == {
        "gsm8k",
        "mmlu",
    }
    assert read.queries is not None and read.queries.column_names == ["query_id", "split"]
    everything = reader.read_queries(sample_export, "test")
    assert everything is not None
    in_tasks = pc.sum(pc.is_in(everything["task"], pa.array(["gsm8k", "mmlu"]))).as_py()
    assert read.queries.num_rows == in_tasks < everything.num_rows  # the queries follow the configs
    with pytest.raises(BadInputError, match=r"gsm8k/test-00000-of-00001\.parquet: no column\(s\) nope"):
        reader.read_split(sample_export, "test", configs=["gsm8k"], required=["nope"])
    with pytest.raises(ValueError, match=r"no task\(s\) nope; the export has"):
        reader.read_split(sample_export, "test", configs=["nope"])
    with pytest.raises(ValueError, match="split must be one of"):
        reader.read_split(sample_export, "dev")


def test_an_export_without_responses_or_queries_of_a_split(sample_export: Path, tmp_path: Path) -> None:
    export = tmp_path / "export"
    shutil.copytree(sample_export, export)
    for shard in (export / "data").glob("*/test-*.parquet"):
        shard.unlink()
    with pytest.raises(FileNotFoundError, match="no test responses"):
        reader.read_split(export, "test")
    assert reader.read_split(export, "train", with_queries=True).queries is not None
    assert reader.read_queries(export, "test") is None
    assert reader.read_split(export).split is None  # every split


def test_the_fusion_readers_read_through_it(sample_export: Path) -> None:
    """The routing converter, thought sources and SFT source give the rows the reader gives."""
    from fusionbench.fusion.converters.canonical import from_export
    from fusionbench.fusion.sft.source import read_export
    from fusionbench.fusion.thoughts.sources import from_export as thought_source

    read = reader.read_split(sample_export, "train", with_queries=True)
    assert read.queries is not None
    first = pc.equal(read.rows["sample"], 0)
    data = from_export(sample_export, "train", incomplete="drop_queries")
    dropped = data.provenance["skipped"].get("queries_incomplete", 0)
    assert data.n_queries + dropped == len(set(read.rows.filter(first)["query_id"].to_pylist()))
    assert data.synthetic is reader.is_synthetic(sample_export) is True
    source = thought_source(sample_export, "train")
    assert source.rows.num_rows == read.rows.num_rows and source.queries.num_rows == read.queries.num_rows
    sft = read_export(sample_export, "train")
    leaked = sft.skipped.get("queries_also_in_test", 0)
    assert len(sft.queries) + leaked == read.queries.num_rows
