"""Ingestion of release files: every quirk converted, detected and flagged, on hand-made files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datasets import load_dataset
from release_factory import EMBEDDING, release_rows, write_release

from fusionbench.build import build_export
from fusionbench.build.embeddings import parse_embedding, parse_embeddings
from fusionbench.build.sources import resolve_sources


def _rows(folder: Path, config: str) -> list[dict]:
    return [
        row for path in sorted((folder / "data" / config).glob("*.parquet")) for row in pq.read_table(path).to_pylist()
    ]


@pytest.fixture
def quirky_release(tmp_path: Path) -> Path:
    train = [r for task in ("gsm8k", "arc_challenge", "mbpp", "boolq") for r in release_rows(task)]
    del train[7]  # one missing row: the gsm8k query has 39 rows
    train[84]["response"] = ""  # a failed generation, written as "" by the release code
    train[84]["performance"] = train[84]["cost"] = train[84]["input_tokens_num"] = train[84]["output_tokens_num"] = ""
    test = release_rows("boolq")
    test.insert(3, dict(test[2]))  # an exact duplicate row
    write_release(tmp_path / "release" / "train.csv", train)
    write_release(tmp_path / "release" / "partial_test.csv", test)
    return tmp_path / "release"


def test_quirks_are_converted_and_flagged(quirky_release: Path, tmp_path: Path) -> None:
    result = build_export([str(quirky_release)], tmp_path / "out")
    report = result.report
    assert report.rows_read == 39 + 40 * 3 + 41
    assert report.duplicates_dropped == 1
    assert report.rows_written == report.rows_read - 1
    assert dict(report.queries_not_40_rows) == {39: 1}
    assert report.missing_responses == 1
    assert report.arc_digit_label_queries == 1
    assert report.swapped_model_rows == 4 * 4 + 4  # 2 models x 2 modes, 4 train queries and 1 test query
    assert report.cost_mismatch_rows == 0 and report.price_mismatch_rows == 0

    gsm8k = _rows(result.out, "gsm8k")
    assert len(gsm8k) == 39 and all("rows_not_40" in r["flags"] for r in gsm8k)
    assert {r["mode"] for r in gsm8k} == {"direct", "cot"}
    assert not any(r["model"].endswith("_think") for r in gsm8k)
    assert all(r["split"] == "train" and r["sample"] == 0 and r["token_counter"] == "gpt2" for r in gsm8k)
    assert gsm8k[0]["query"] == "Ann has 3 apples and buys 4. How many now?"

    mbpp = _rows(result.out, "mbpp")
    assert {r["performance"] for r in mbpp if r["response"]} == {1.0}  # "{'pass@1': 1.0}" -> 1.0
    failed = [r for r in mbpp if r["response"] is None]
    assert len(failed) == 1 and "missing_response" in failed[0]["flags"]
    assert failed[0]["performance"] is None and failed[0]["cost_usd"] is None and failed[0]["input_tokens"] is None

    row = next(r for r in _rows(result.out, "arc_challenge") if r["model"] == "deepseek-r1" and r["mode"] == "direct")
    assert row["cost_usd"] == pytest.approx((10 * 0.55 + 20 * 2.19) / 1e6)
    assert "arc_digit_labels" in row["flags"]
    swapped = [r for r in _rows(result.out, "boolq") if r["model"] == "llama3-70b-instruct"]
    assert swapped and all("model_id_swapped" in r["flags"] for r in swapped)

    test_rows = [r for r in _rows(result.out, "boolq") if r["split"] == "test"]
    assert len(test_rows) == 40 and sum("duplicate" in r["flags"] for r in test_rows) == 1

    queries = {q["task"] + "/" + q["split"]: q for q in _rows(result.out, "queries")}
    mbpp_query = queries["mbpp/train"]
    assert mbpp_query["test_list"] == ["assert add(1, 2) == 3"] and mbpp_query["source_task_id"] == "Mbpp/1"
    assert len(mbpp_query["embedding"]) == 768 and len(mbpp_query["task_description_embedding"]) == 768
    assert mbpp_query["prompt_cot"].endswith("Let's think step by step.") and mbpp_query["n_rows"] == 40
    assert queries["arc_challenge/train"]["choice_labels"] == ["1", "2", "3", "4"]
    assert queries["boolq/train"]["context"] == "The sky is blue on clear days."
    assert queries["gsm8k/train"]["flags"] == ["rows_not_40"]
    assert report.queries_in_both_splits == 1  # the boolq query is in both files

    models = {m["model"]: m for m in _rows(result.out, "models")}
    assert len(models) == 20
    assert models["llama-3.1-70b-instruct"]["generated_by"] == "meta/llama3-70b-instruct"
    assert models["llama3-70b-instruct"]["generated_by"] == "meta/llama-3.1-8b-instruct"
    assert models["llama3-70b-instruct"]["id_swapped"] and not models["deepseek-r1"]["id_swapped"]
    assert models["deepseek-r1"]["output_price"] == 2.19 and models["deepseek-r1"]["price_date"]


def test_filters_by_model_and_mode(quirky_release: Path, tmp_path: Path) -> None:
    result = build_export([str(quirky_release)], tmp_path / "out", models=["deepseek-r1", "gemma-7b"], modes=["cot"])
    rows = _rows(result.out, "boolq")
    assert {r["model"] for r in rows} == {"deepseek-r1", "gemma-7b"} and {r["mode"] for r in rows} == {"cot"}
    # Counts and flags are computed before filtering: the gsm8k query still shows its missing row.
    assert all("rows_not_40" in r["flags"] for r in _rows(result.out, "gsm8k"))
    assert load_dataset(str(result.out), "all", split="train").num_rows == 4 * 2  # 4 tasks x 2 models x 1 mode


def test_json_lines_and_parquet_sources_give_the_same_export(tmp_path: Path) -> None:
    import pyarrow as pa

    rows = release_rows("gsm8k")
    write_release(tmp_path / "csv" / "train.csv", rows)
    (tmp_path / "jsonl").mkdir()
    with (tmp_path / "jsonl" / "train.jsonl").open("w") as handle:
        for row in rows:
            typed = {**row, "input_tokens_num": int(row["input_tokens_num"]), "cost": float(row["cost"])}
            handle.write(json.dumps(typed) + "\n")
    (tmp_path / "parquet").mkdir()
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "parquet" / "train.parquet")
    exports = [build_export([str(tmp_path / fmt)], tmp_path / f"out-{fmt}") for fmt in ("csv", "jsonl", "parquet")]
    tables = [_rows(e.out, "gsm8k") for e in exports]
    for table in tables[1:]:
        assert [{k: v for k, v in r.items() if k != "source"} for r in table] == [
            {k: v for k, v in r.items() if k != "source"} for r in tables[0]
        ]


def test_split_is_inferred_from_file_names_or_given(tmp_path: Path) -> None:
    write_release(tmp_path / "a" / "partial_test.csv", release_rows("gsm8k"))
    write_release(tmp_path / "a" / "train-0001.csv", release_rows("gsm8k"))
    assert [f.split for f in resolve_sources([str(tmp_path / "a")])] == ["train", "test"]  # splits in SPLITS order
    assert [f.split for f in resolve_sources([f"partial_test={tmp_path}/a/train-0001.csv"])] == ["test"]
    with pytest.raises(ValueError, match="unknown split"):
        resolve_sources([f"dev={tmp_path}/a/train-0001.csv"])
    with pytest.raises(FileNotFoundError, match="no release files"):
        resolve_sources([str(tmp_path / "nothing-*.csv")])


def test_embedding_text_forms() -> None:
    assert parse_embedding(EMBEDDING).shape == (768,)
    assert parse_embedding("tensor([0.5, -1.25])").tolist() == [0.5, -1.25]
    assert parse_embedding("tensor([[ 1.0000e-01,\n         2.0000e+00]], device='cuda:0')").tolist() == pytest.approx(
        [0.1, 2.0]
    )
    assert parse_embedding("[1, 2, 3]").tolist() == [1, 2, 3]
    for bad in ("tensor([0.5, abc])", "tensor(", "hello", "tensor([])", "tensor([nan, 1.0])"):
        assert parse_embedding(bad) is None, bad


def test_embedding_batches_agree_across_parsing_paths() -> None:
    """Torch-printed cells take a fast path; a batch mixing in other shapes takes the general one. Same values."""
    torch_cells = ["tensor([[-0.1512,  0.0546,\n         -0.0475]])", "tensor([[ 1.0000e-01, 2.5]])", "tensor([[7]])"]
    fast = parse_embeddings(pa.array(torch_cells))
    mixed = parse_embeddings(pa.array([*torch_cells, "[1, 2]", "tensor([[1., 2.],\n [3., 4.]])", "tensor([[]])"]))
    expected = [[-0.1512, 0.0546, -0.0475], [0.1, 2.5], [7.0]]
    for vectors in (fast, mixed[:3]):
        assert [v.tolist() for v in vectors] == [pytest.approx(e) for e in expected]
        assert all(v.dtype == np.float32 for v in vectors)
    assert mixed[3].tolist() == [1, 2] and mixed[4].tolist() == [1, 2, 3, 4] and mixed[5] is None
    assert parse_embeddings(pa.array(["tensor([[0.5, oops]])", None], pa.string())) == [None, None]


def test_hub_dataset_id_source_downloads_then_ingests(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Hub cannot be reached here: only snapshot_download (its HTTP client) is replaced."""
    import huggingface_hub

    calls = []

    def snapshot_download(repo_id, **kwargs):
        calls.append((repo_id, kwargs["repo_type"]))
        folder = tmp_path / "hub-cache"
        write_release(folder / "data" / "train.csv", release_rows("gsm8k"))
        write_release(folder / "data" / "partial_test.csv", release_rows("boolq"))
        return str(folder)

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    result = build_export(["ulab-ai/FusionBench"], tmp_path / "out")
    assert calls == [("ulab-ai/FusionBench", "dataset")]
    assert load_dataset(str(result.out), "boolq", split="test").num_rows == 40


def test_unreachable_hub_gives_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub

    from fusionbench.build.sources import SourceUnavailableError

    def offline(repo_id, **kwargs):
        raise ConnectionError("Name or service not known")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    with pytest.raises(SourceUnavailableError, match="could not download the dataset 'ulab-ai/FusionBench'"):
        build_export(["ulab-ai/FusionBench"], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_every_advertised_detection_is_counted_exactly(tmp_path: Path) -> None:
    """One planted case of each defect the README lists, and the exact count it gives in the report."""
    gsm8k, arc, mmlu, gpqa, math = (release_rows(t) for t in ("gsm8k", "arc_challenge", "mmlu", "gpqa", "math"))
    del gsm8k[11]  # a query with 39 rows
    gsm8k[20]["response"] = ""  # a failed generation
    math = [{**row, "query": "Compute 1 + 1, please."} for row in math]  # one prompt outside the math template
    arc[9]["cost"] = "123.0"  # cost != tokens x prices
    price_in = float(arc[13]["input_price"]) * 2  # a price that is not the sheet's (the cost agrees with it)
    arc[13].update(input_price=repr(price_in), cost=repr(10 * price_in + 20 * float(arc[13]["output_price"])))
    train = gsm8k + arc + mmlu + gpqa + math
    test = release_rows("mmlu") + release_rows("gpqa") + release_rows("boolq")
    test.insert(7, dict(test[6]))  # a duplicate row
    test[84]["llm"], test[85]["llm"] = "my-model", "my-model_think"  # a model that is not in the catalogue
    write_release(tmp_path / "release" / "train.csv", train)
    write_release(tmp_path / "release" / "partial_test.csv", test)
    train[0]["input_tokens_num"] = "many"
    write_release(tmp_path / "lenient" / "train.csv", train)  # an unparseable value (lenient build)

    report = build_export([str(tmp_path / "release")], tmp_path / "out").report
    assert report.missing_responses == 1
    assert report.duplicates_dropped == 1
    assert dict(report.queries_not_40_rows) == {39: 1}
    assert report.arc_digit_label_queries == 1
    assert report.swapped_model_rows == 4 * 8  # 2 models x 2 modes in each of the 8 queries
    assert report.mmlu_auxiliary_train_queries == 1  # the train MMLU query, not the test one
    assert report.gpqa_queries == 2  # one per split
    assert report.unparsed_prompts == 1
    assert (report.cost_mismatch_rows, report.price_mismatch_rows) == (1, 1)
    assert report.queries_in_both_splits == 2  # the mmlu and gpqa queries (boolq is only in test)
    assert report.unknown_models == {"my-model"}
    assert dict(report.unparsed_values) == {}
    lenient = build_export([str(tmp_path / "lenient")], tmp_path / "out-lenient", lenient=True).report
    assert dict(lenient.unparsed_values) == {"input_tokens_num": 1}

    queries = {(q["task"], q["split"]): q for q in _rows(tmp_path / "out", "queries")}
    assert queries[("mmlu", "train")]["flags"] == ["mmlu_auxiliary_train"] and queries[("mmlu", "test")]["flags"] == []
    assert queries[("gpqa", "test")]["flags"] == ["gpqa_label_unverified"]
    assert queries[("math", "train")]["flags"] == ["unparsed_prompt"]
    assert queries[("math", "train")]["query"] == "Compute 1 + 1, please."
    card = (tmp_path / "out" / "README.md").read_text()
    for line in (
        "| rows whose cost != tokens x prices | 1 |",
        "| rows whose prices differ from the price sheet | 1 |",
        "| MMLU train queries from auxiliary_train | 1 |",
        "| GPQA queries (answer letter unverified) | 2 |",
        "| prompts not matching the task template | 1 |",
        "| models not in the catalogue | my-model |",
        "| queries present in both train and test | 2 |",
    ):
        assert line in card, line
