"""Converters of public routing datasets (../shared/data/routing, ../shared/data/gsm8k): counts, values, bad input,
and the export round trip. Expected counts are the issue's targets; each value test recomputes its expectation
from the raw files with plain json/csv code."""

from __future__ import annotations

import csv
import json
import pickle
import shutil
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from fusionbench.errors import BadInputError
from fusionbench.fusion import RoutingData
from fusionbench.fusion.converters import CONVERTERS, from_external
from fusionbench.fusion.data import MissingValuesError
from fusionbench.schema import TASKS


@pytest.fixture(scope="module")
def routing(shared_data: Path) -> Path:
    return shared_data / "routing"


@pytest.fixture(scope="module")
def llmrouter(routing: Path) -> RoutingData:
    return from_external("llmrouter", routing / "llmrouter")


def _roundtrip(data: RoutingData, out: Path) -> RoutingData:
    back = RoutingData.from_export(data.write_export(out), with_responses=data.responses is not None)
    position = {key: i for i, key in enumerate(back.keys)}
    return back.take([position[k] for k in data.keys])


# ---- LLMRouter / RouterDC --------------------------------------------------------------------------------
def test_llmrouter_counts_models_and_tasks(llmrouter, routing):
    assert len(llmrouter.split("train")) == 5_608 and len(llmrouter.split("test")) == 500
    assert llmrouter.n_candidates == 9 and len(set(llmrouter.models)) == 9
    tasks = set(llmrouter.tasks.tolist())
    assert {"agentverse-logicgrid", "agentverse-mgsm", "commongen"} <= tasks  # kept as their own tasks
    assert tasks - {"agentverse-logicgrid", "agentverse-mgsm", "commongen"} <= set(TASKS)
    assert llmrouter.provenance["texts_under_two_tasks"] == {"train": 6, "test": 0}
    raw = json.loads((routing / "llmrouter/data/dcrouter_preprocessed/test.json").read_text())
    first = raw[0]
    row = next(i for i, t in enumerate(llmrouter.texts) if t == first["question"] and llmrouter.splits[i] == "test")
    assert llmrouter.performance[row].tolist() == [first["scores"][m] for m in llmrouter.models]


def test_llmrouter_has_no_costs_and_cost_use_is_refused(llmrouter):
    assert np.isnan(llmrouter.cost).all()
    with pytest.raises(MissingValuesError, match="cost_usd"):
        llmrouter.require("cost")
    info = llmrouter.candidate_info[0]
    assert info.size_b is not None and info.input_price is not None  # from the FusionBench catalogue


def test_llmrouter_export_round_trip(llmrouter, tmp_path):
    import pyarrow as pa
    from datasets import load_dataset

    assert _roundtrip(llmrouter, tmp_path / "llmrouter").equals(llmrouter)
    loaded = load_dataset(str(tmp_path / "llmrouter"), "all")
    assert loaded["train"].num_rows == 5_608 * 9 and loaded["test"].num_rows == 500 * 9
    assert set(loaded["test"]["cost_usd"]) == {None}
    expected = llmrouter.to_rows()[0]
    got = pa.concat_tables([loaded[s].with_format("arrow")[:] for s in ("train", "test")])
    keys = [("split", "ascending"), ("query_id", "ascending"), ("model", "ascending")]
    columns = [c for c in expected.column_names if c != "flags"]
    assert got.sort_by(keys).select(columns).to_pylist() == expected.sort_by(keys).select(columns).to_pylist()
    agentverse = load_dataset(str(tmp_path / "llmrouter"), "agentverse-mgsm", split="test")
    assert agentverse.num_rows == 50 * 9


# ---- RouteLLM ---------------------------------------------------------------------------------------------
def test_routellm_mmlu_counts_and_decontamination(routing):
    full = from_external("routellm-mmlu", routing / "routellm", decontaminate=False)
    clean = from_external("routellm-mmlu", routing / "routellm")
    assert len(full) == 14_042 and len(clean) == 14_037
    assert clean.provenance["skipped"]["contaminated"] == 5 and clean.n_candidates == 2
    assert len(set(full.subjects.tolist())) == 57 and set(full.tasks.tolist()) == {"mmlu"}
    assert full.provenance["repeated_within_subject"] == 27
    per_subject = full.subjects_as_tasks()
    assert len(set(per_subject.tasks.tolist())) == 57
    raw = Counter()
    for path in (routing / "routellm/routellm/evals/mmlu/responses").glob("*.csv"):
        with path.open(newline="") as handle:
            for row in csv.DictReader(handle):
                raw["gpt4"] += row["gpt-4-1106-preview"] == "True"
    assert full.performance[:, full.models.index("gpt-4-1106-preview")].sum() == raw["gpt4"]


def test_routellm_gsm8k_counts_and_responses(routing, tmp_path):
    full = from_external("routellm-gsm8k", routing / "routellm", decontaminate=False)
    clean = from_external("routellm-gsm8k", routing / "routellm")
    assert len(full) == 1_319 and len(clean) == 1_319 - 12 and full.n_candidates == 2
    assert all(g is not None and "####" in g for g in full.ground_truths)
    assert full.responses is not None and full.responses[0, 1].startswith("Janet uses 3 eggs")
    assert _roundtrip(clean, tmp_path / "gsm8k").equals(clean)


def test_routellm_mt_bench_judgements_normalised(routing):
    data = from_external("routellm-mt-bench", routing / "routellm")
    everything = from_external("routellm-mt_bench", routing / "routellm", decontaminate=False)
    assert len(everything) == 80 and len(data) == 72
    assert np.nanmin(data.performance) >= 0 and np.nanmax(data.performance) <= 1
    np.testing.assert_array_equal(data.performance, data.judge)
    judgements = [json.loads(line) for line in (routing / "routellm/routellm/evals/mt_bench/judgements.jsonl").open()]
    grades = [j["score"] for j in judgements if j["question_id"] == 81 and j["model"] == "gpt-4-1106-preview"]
    row = next(i for i, t in enumerate(everything.texts) if t.startswith("Compose an engaging travel blog post"))
    assert everything.performance[row, 1] == pytest.approx(np.mean([(g - 1) / 9 for g in grades]))


# ---- RouterBench --------------------------------------------------------------------------------------------
def test_routerbench_excerpt_all_models_with_costs(routing):
    data = from_external("routerbench", routing / "routerbench-format/winograde_test_head60.csv")
    assert len(data) == 60 and data.n_candidates == 11
    assert np.isfinite(data.cost).all() and (data.cost > 0).all()
    data.require("cost")
    assert set(np.unique(data.performance)) <= {0.0, 1.0}
    assert set(data.tasks.tolist()) == {"winogrande"} and set(data.domains.tolist()) == {"commonsense"}
    assert data.texts[0].startswith("Please answer with the letter") and data.responses[0, 0] is not None


def test_routerbench_pickle_needs_trust(routing, tmp_path):
    import pandas as pd

    frame = pd.read_csv(routing / "routerbench-format/winograde_test_head60.csv")
    path = tmp_path / "routerbench.pkl"
    with path.open("wb") as handle:
        pickle.dump(frame, handle)
    with pytest.raises(PermissionError, match="runs code"):
        from_external("routerbench", path)
    trusted = from_external("routerbench", path, trust=True)
    csv_data = from_external("routerbench", routing / "routerbench-format/winograde_test_head60.csv")
    np.testing.assert_array_equal(trusted.performance, csv_data.performance)


# ---- OpenAI GSM8K solutions ------------------------------------------------------------------------------------
def test_gsm8k_solutions(shared_data, tmp_path):
    data = from_external("gsm8k-solutions", shared_data / "gsm8k")
    assert len(data) == 1_319 and data.n_candidates == 4
    correct = Counter()
    for line in (shared_data / "gsm8k/example_model_solutions.jsonl").open():
        item = json.loads(line)
        for column in ("6b_finetuning", "175b_verification"):
            correct[column] += item[column]["is_correct"]
    assert data.performance[:, 0].sum() == correct["6b_finetuning"]
    assert data.performance[:, 3].sum() == correct["175b_verification"]
    assert [c.size_b for c in data.candidate_info] == [6.0, 6.0, 175.0, 175.0]
    assert all(g.split("####")[-1].strip() for g in data.ground_truths)
    assert _roundtrip(data, tmp_path / "gsm8k-solutions").equals(data)


# ---- registry and bad input -----------------------------------------------------------------------------------
def test_registry_names_every_kind():
    assert {"routerbench", "llmrouter", "routellm-mmlu", "routellm-gsm8k", "gsm8k-solutions"} <= set(CONVERTERS)
    with pytest.raises(ValueError, match="unknown external format 'nope'"):
        from_external("nope", ".")
    with pytest.raises(FileNotFoundError):
        from_external("llmrouter", "/no/such/folder")


def _copy_llmrouter(routing: Path, tmp_path: Path) -> Path:
    target = tmp_path / "llmrouter"
    shutil.copytree(routing / "llmrouter", target)
    for path in target.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return target


def test_llmrouter_bad_json_names_file_and_row(routing, tmp_path):
    root = _copy_llmrouter(routing, tmp_path)
    test_json = root / "data/dcrouter_preprocessed/test.json"
    items = json.loads(test_json.read_text())
    items[2]["scores"]["gemma-2-9b-it"] = "high"
    test_json.write_text(json.dumps(items))
    with pytest.raises(BadInputError, match=r"test.json, row 3: score of 'gemma-2-9b-it' is not a number"):
        from_external("llmrouter", root)
    del items[2]["scores"]["gemma-2-9b-it"]  # a model missing for one query: counted, the user chooses
    test_json.write_text(json.dumps(items))
    with pytest.raises(ValueError, match="1 \\(query, candidate\\) cells have no performance"):
        from_external("llmrouter", root)
    dropped = from_external("llmrouter", root, incomplete="drop_queries")
    assert len(dropped) == 6_107 and dropped.provenance["skipped"]["queries_incomplete"] == 1
    assert from_external("llmrouter", root, incomplete="drop_candidates").n_candidates == 8


def test_routellm_bad_correctness_names_row_and_column(routing, tmp_path):
    folder = tmp_path / "mmlu"
    (folder / "responses").mkdir(parents=True)
    shutil.copy(routing / "routellm/routellm/evals/mmlu/contaminated_prompts.jsonl", folder)
    csv.field_size_limit(sys.maxsize)
    with (folder / "responses/mmlu_toy.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["prompt", "mistralai/Mixtral-8x7B-Instruct-v0.1", "gpt-4-1106-preview"])
        writer.writerow(["Q1?\nA. x\nAnswer:", "True", "False"])
        writer.writerow(["Q2?\nA. y\nAnswer:", "maybe", "True"])
    with pytest.raises(BadInputError, match=r"mmlu_toy.csv, row 2, column 'mistralai/Mixtral-8x7B-Instruct-v0.1'"):
        from_external("routellm-mmlu", folder)
