"""Routing-data converters and ``RoutingData.from_arrays`` apply the build's valid ranges (``schema.VALID_RANGES``)
with the build's messages: file, row (or line), column, value, valid range. Each test writes a small input in the
source's real format to tmp_path and converts it for real, through ``from_external`` or the CLI."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from fusionbench.cli import main
from fusionbench.errors import BadInputError
from fusionbench.fusion import RoutingData
from fusionbench.fusion.converters import from_external
from fusionbench.fusion.evaluation.trained import CONTEXT

MODELS = ("model-a", "model-b")


# ---- RouterBench's wide CSV -----------------------------------------------------------------------------------
def _routerbench(path: Path, changes: dict[tuple[int, str], str] | None = None, rows: int = 10) -> Path:
    """A RouterBench wide CSV (``sample_id, prompt, eval_name, <model>, <model>|model_response,
    <model>|total_cost``), its cells as RouterBench writes them; ``changes``: (data row, column) -> cell text."""
    header = ["", "sample_id", "prompt", "eval_name", *MODELS]
    header += [f"{m}|model_response" for m in MODELS] + [f"{m}|total_cost" for m in MODELS]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, header)
        writer.writeheader()
        for i in range(1, rows + 1):
            row = {"": str(i - 1), "sample_id": f"winogrande.dev.{i}", "eval_name": "winogrande"}
            row["prompt"] = f"['Sentence {i}: the trophy does not fit in the case.\\nA. x\\nB. y']"
            for j, model in enumerate(MODELS):
                row[model] = "1.0" if (i + j) % 2 else "0.0"
                row[f"{model}|model_response"] = f"A\n(answer {i})"
                row[f"{model}|total_cost"] = f"{1.5e-05 * (j + 1):.8f}"
            for (number, column), value in (changes or {}).items():
                if number == i:
                    row[column] = value
            writer.writerow(row)
    return path


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("model-a|total_cost", "-1.5", "out of the valid range >= 0: '-1.5'"),
        ("model-b", "7", "out of the valid range [0, 1]: '7'"),
        ("model-a", "-1", "out of the valid range [0, 1]: '-1'"),
        ("model-b|total_cost", "inf", "not a number (infinite): 'inf'"),
        ("model-a", "high", "not a number: 'high'"),
    ],
)
def test_routerbench_refuses_values_out_of_range(tmp_path: Path, column: str, value: str, message: str) -> None:
    path = _routerbench(tmp_path / "rb.csv", {(7, column): value})
    with pytest.raises(BadInputError) as caught:
        from_external("routerbench", path)
    error = caught.value
    assert (error.file, error.row, error.column) == (str(path), 7, column)
    assert str(error) == f"{path}, row 7, column {column!r}: {message}"


def test_routerbench_reports_the_first_bad_row(tmp_path: Path) -> None:
    """A cost on row 7 comes before a correctness on row 9, though correctness columns are read first."""
    path = _routerbench(tmp_path / "rb.csv", {(9, "model-a"): "2", (7, "model-b|total_cost"): "-0.25"})
    with pytest.raises(BadInputError) as caught:
        from_external("routerbench", path)
    assert (caught.value.row, caught.value.column) == (7, "model-b|total_cost")


def test_routerbench_lenient_nulls_and_counts(tmp_path: Path) -> None:
    bad = {(3, "model-a|total_cost"): "-1.5", (5, "model-b"): "7", (6, "model-a"): "inf"}
    path = _routerbench(tmp_path / "rb.csv", bad)
    data = from_external("routerbench", path, lenient=True, incomplete="drop_queries")
    skipped = data.provenance["skipped"]
    assert skipped["invalid_values"] == {"model-a|total_cost": 1, "model-b": 1}
    assert skipped["unparsed_values"] == {"model-a": 1}
    assert skipped["queries_incomplete"] == 2  # rows 5 and 6 lost a performance: dropped, counted
    assert len(data) == 8 and np.isnan(data.cost[2, 0]) and np.nanmin(data.cost) > 0
    assert set(np.unique(data.performance)) == {0.0, 1.0}


def test_routerbench_good_values_are_read_exactly(tmp_path: Path) -> None:
    data = from_external("routerbench", _routerbench(tmp_path / "rb.csv"))
    assert data.cost[0].tolist() == [1.5e-05, 3e-05] and data.performance[0].tolist() == [1.0, 0.0]


def test_cli_route_benchmark_names_file_row_column_value_and_range(tmp_path: Path, capsys) -> None:
    path = _routerbench(tmp_path / "rb.csv", {(7, "model-a|total_cost"): "-1.5"})
    code = main(
        ["route", "benchmark", "--data", f"routerbench={path}", "--routers", "knn", "--report", str(tmp_path / "o")]
    )
    err = " ".join(capsys.readouterr().err.split())
    assert code == 1
    assert f"{path}, row 7, column 'model-a|total_cost': out of the valid range >= 0: '-1.5'" in err
    assert not (tmp_path / "o").exists()


# ---- LLMRouter / RouterDC JSON ------------------------------------------------------------------------------
def _llmrouter(root: Path, scores: dict[int, dict[str, object]] | None = None) -> Path:
    """LLMRouter's ``data/`` layout: ``dcrouter_preprocessed/{train,test}.json`` and the query JSONL files."""
    for split in ("train", "test"):
        items, queries = [], []
        for i in range(1, 6):
            question = f"{split} question {i}: what is {i} + {i}?"
            items.append({"question": question, "scores": {"model-a": 1.0, "model-b": 0.0}, "cluster_id": 0})
            queries.append({"task_name": "gsm8k", "query": question, "ground_truth": str(2 * i), "metric": "GSM8K"})
        if split == "test":
            for number, changed in (scores or {}).items():
                items[number - 1]["scores"].update(changed)
        folder = root / "data" / "dcrouter_preprocessed"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{split}.json").write_text(json.dumps(items))
        query_folder = root / "data" / "example_data" / "query_data"
        query_folder.mkdir(parents=True, exist_ok=True)
        (query_folder / f"default_query_{split}.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    return root


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (7, "out of the valid range [0, 1]: 7"),
        (-1, "out of the valid range [0, 1]: -1"),
        (math.inf, "not a number (infinite): inf"),
    ],
)
def test_llmrouter_refuses_scores_out_of_range(tmp_path: Path, value: float, message: str) -> None:
    root = _llmrouter(tmp_path / "llmrouter", {4: {"model-b": value}})
    with pytest.raises(BadInputError) as caught:
        from_external("llmrouter", root)
    test_json = root / "data" / "dcrouter_preprocessed" / "test.json"
    assert str(caught.value) == f"{test_json}, row 4, column 'scores.model-b': {message}"


def test_llmrouter_lenient_nulls_and_counts(tmp_path: Path) -> None:
    root = _llmrouter(tmp_path / "llmrouter", {2: {"model-a": -1}, 3: {"model-b": 7}})
    data = from_external("llmrouter", root, lenient=True, incomplete="drop_queries")
    skipped = data.provenance["skipped"]
    assert skipped["invalid_values"] == {"scores.model-a": 1, "scores.model-b": 1}
    assert skipped["queries_incomplete"] == 2 and len(data) == 8


# ---- OpenAI's GSM8K solutions -----------------------------------------------------------------------------------
def _solutions(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))
    return path


def _solution_line(i: int, is_correct: object = True) -> str:
    cells = {c: {"is_correct": True, "solution": f"{i} + {i} = {2 * i}"} for c in ("6b_finetuning", "6b_verification")}
    cells |= {c: {"is_correct": False, "solution": "42"} for c in ("175b_finetuning", "175b_verification")}
    cells["6b_verification"]["is_correct"] = is_correct
    return json.dumps({"question": f"What is {i} + {i}?", "ground_truth": f"#### {2 * i}", **cells})


@pytest.mark.parametrize(("value", "message"), [(7, "[0, 1]: 7"), (-1, "[0, 1]: -1")])
def test_gsm8k_solutions_refuses_is_correct_out_of_range(tmp_path: Path, value: int, message: str) -> None:
    lines = [_solution_line(1), "", _solution_line(2), _solution_line(3, value)]
    path = _solutions(tmp_path / "gsm8k" / "example_model_solutions.jsonl", lines)
    with pytest.raises(BadInputError) as caught:
        from_external("gsm8k-solutions", path.parent)
    assert str(caught.value) == f"{path}, line 4, column '6b_verification.is_correct': out of the valid range {message}"


def test_gsm8k_solutions_record_shapes_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "gsm8k" / "example_model_solutions.jsonl"
    for bad, message in (
        ('["What is 1 + 1?"]', "line 2: expected an object with a 'question' text"),
        ("12345", "line 2: expected an object with a 'question' text"),
        ("[" * 100_000 + "]" * 100_000, "line 2: "),
    ):
        _solutions(path, [_solution_line(1), bad])
        with pytest.raises(BadInputError) as caught:
            from_external("gsm8k-solutions", path.parent)
        assert str(caught.value).startswith(f"{path}, {message}")


# ---- RouteLLM's MT-Bench judgements -----------------------------------------------------------------------------
def test_routellm_mt_bench_refuses_a_bad_grade(tmp_path: Path) -> None:
    folder = tmp_path / "mt_bench"
    folder.mkdir()
    questions = [{"question_id": i, "category": "writing", "turns": [f"Write {i}.", "Again."]} for i in (1, 2)]
    (folder / "question.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions))
    for score, message in (
        ('"high"', "line 3, column 'score': not a number: 'high'"),
        ("Infinity", "line 3, column 'score': grade inf outside 1-10"),
        ("[1]", "line 3, column 'score': not a number: [1]"),
    ):
        lines = [
            json.dumps({"question_id": q, "model": m, "turn": t, "score": 5})
            for q in (1, 2)
            for m in ("mistralai/Mixtral-8x7B-Instruct-v0.1", "gpt-4-1106-preview")
            for t in (1, 2)
        ]
        lines[2] = lines[2].replace('"score": 5', f'"score": {score}')
        (folder / "judgements.jsonl").write_text("\n".join(lines) + "\n")
        with pytest.raises(BadInputError) as caught:
            from_external("routellm-mt_bench", folder, decontaminate=False)
        assert str(caught.value).startswith(f"{folder / 'judgements.jsonl'}, {message}")


# ---- RoutingData.from_arrays ------------------------------------------------------------------------------------
def _arrays(n: int = 12) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.integers(0, 2, (n, 3)).astype(float), rng.uniform(1e-5, 1e-3, (n, 3))


def test_from_arrays_refuses_the_first_bad_row_with_the_build_message() -> None:
    performance, cost = _arrays()
    cost[6, 1] = -1.5  # row 7
    performance[8, 2] = 7  # row 9, though performance is checked before cost
    with pytest.raises(BadInputError) as caught:
        RoutingData.from_arrays(performance, cost)
    assert (caught.value.row, caught.value.column) == (7, "cost")
    assert str(caught.value) == (
        "RoutingData.from_arrays, row 7, column 'cost': out of the valid range >= 0: -1.5 "
        "(query 'q000006', candidate 'c1')"
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("performance", -1.0, "out of the valid range [0, 1]: -1.0"),
        ("judge", 7.0, "out of the valid range [0, 1]: 7.0"),
        ("cost", math.inf, "not a number (infinite): inf"),
        ("performance", -math.inf, "not a number (infinite): -inf"),
        ("output_tokens", 2.5, "token count is not a whole number: 2.5"),
    ],
)
def test_from_arrays_names_row_and_column(field: str, value: float, message: str) -> None:
    performance, cost = _arrays()
    values = {"performance": performance, "cost": cost, "judge": np.full_like(cost, 0.5)}
    values["output_tokens"] = np.full_like(cost, 10.0)
    values[field][3, 0] = value
    with pytest.raises(BadInputError) as caught:
        RoutingData.from_arrays(values.pop("performance"), values.pop("cost"), **values)
    assert str(caught.value).startswith(f"RoutingData.from_arrays, row 4, column {field!r}: {message} (query")


def test_from_arrays_nan_is_missing_and_lenient_nulls_and_counts() -> None:
    performance, cost = _arrays()
    cost[0, 0] = np.nan  # missing: no error
    assert np.isnan(RoutingData.from_arrays(performance, cost).cost[0, 0])
    cost[1, 1], cost[2, 2], performance[5, 0] = -1.5, math.inf, 7
    data = RoutingData.from_arrays(performance, cost, lenient=True, incomplete="drop_queries")
    skipped = data.provenance["skipped"]
    assert skipped["invalid_values"] == {"cost": 1, "performance": 1}
    assert skipped["unparsed_values"] == {"cost": 1}
    assert skipped["queries_incomplete"] == 1 and len(data) == 11
    assert np.isnan(data.cost[1, 1]) and np.isnan(data.cost[2, 2]) and np.nanmin(data.cost) >= 0
    assert cost[1, 1] == -1.5  # the caller's array is not changed


def test_cli_route_lenient_nulls_counts_and_says_so(tmp_path: Path, capsys) -> None:
    path = _routerbench(tmp_path / "rb.csv", {(7, "model-a|total_cost"): "-1.5", (9, "model-b"): "7"}, rows=60)
    args = ["route", "train", "--data", f"routerbench={path}", "--router", "knn", "--out", str(tmp_path / "knn")]
    assert main([*args, "--lenient", "--incomplete", "drop_queries"]) == 0, capsys.readouterr().err
    err = " ".join(capsys.readouterr().err.split())
    assert "'invalid_values': {'model-a|total_cost': 1, 'model-b': 1}" in err and "'queries_incomplete': 1" in err
    assert json.loads((tmp_path / "knn" / CONTEXT).read_text())["lenient"] is True  # eval/predict reload it so


def test_routellm_lenient_nulls_and_counts(tmp_path: Path) -> None:
    folder = tmp_path / "mmlu"
    (folder / "responses").mkdir(parents=True)
    with (folder / "responses" / "mmlu_toy.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["prompt", "mistralai/Mixtral-8x7B-Instruct-v0.1", "gpt-4-1106-preview"])
        writer.writerows([[f"Q{i}?\nA. x\nAnswer:", "True", "False"] for i in range(1, 4)])
        writer.writerow(["Q4?\nA. y\nAnswer:", "7", "True"])
    with pytest.raises(BadInputError, match=r"mmlu_toy.csv, row 4, column 'mistralai/Mixtral-8x7B-Instruct-v0.1'"):
        from_external("routellm-mmlu", folder, decontaminate=False)
    data = from_external("routellm-mmlu", folder, decontaminate=False, lenient=True, incomplete="drop_queries")
    assert data.provenance["skipped"]["unparsed_values"] == {"mistralai/Mixtral-8x7B-Instruct-v0.1": 1}
    assert len(data) == 3


# ---- canonical tables that need not come from a build -------------------------------------------------------------
def test_from_table_refuses_the_first_bad_row_of_a_table(tmp_path: Path) -> None:
    import pyarrow as pa

    performance, cost = _arrays()
    responses, queries, models = RoutingData.from_arrays(
        performance, cost, candidates=["m/direct", "n/cot", "o/direct"], texts=[f"query {i}?" for i in range(12)]
    ).to_rows()
    rows = responses.to_pylist()
    rows[20]["cost_usd"], rows[25]["performance"] = -1.5, 7.0  # the cost's row comes first
    table = pa.Table.from_pylist(rows, schema=responses.schema)
    with pytest.raises(BadInputError) as caught:
        RoutingData.from_table(table, queries, models=models, source="hub:org/data")
    expected = rows[20]
    assert str(caught.value) == (
        f"hub:org/data, column 'cost_usd': out of the valid range >= 0: -1.5 (query {expected['query_id']!r}, "
        f"split {expected['split']!r}, model {expected['model']!r}, mode {expected['mode']!r})"
    )
    rows[20]["cost_usd"] = math.inf
    with pytest.raises(BadInputError, match=r"column 'cost_usd': not a number \(infinite\): inf"):
        RoutingData.from_table(pa.Table.from_pylist(rows, schema=responses.schema), queries, models=models)


def test_files_beside_the_data_are_checked_too(tmp_path: Path) -> None:
    """GSM8K's test.jsonl beside the solutions, and an LLMRouter score file nested thousands deep."""
    path = _solutions(tmp_path / "gsm8k" / "example_model_solutions.jsonl", [_solution_line(1)])
    gold = tmp_path / "gsm8k" / "test.jsonl"
    gold.write_text(json.dumps({"question": "What is 1 + 1?", "answer": "#### 2"}) + "\n" + '["no"]\n')
    with pytest.raises(BadInputError) as caught:
        from_external("gsm8k-solutions", path.parent)
    assert str(caught.value) == f"{gold}, line 2: expected an object with 'question' and 'answer' texts"
    root = _llmrouter(tmp_path / "llmrouter")
    scores = root / "data" / "dcrouter_preprocessed" / "train.json"
    scores.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(BadInputError, match=r"train\.json: a JSON value nested too deeply"):
        from_external("llmrouter", root)


def test_routellm_question_and_contamination_records_of_another_shape(tmp_path: Path) -> None:
    folder = tmp_path / "mt_bench"
    folder.mkdir()
    (folder / "question.jsonl").write_text(json.dumps({"question_id": 1, "turns": ["Write."]}) + "\n[1, 2]\n")
    (folder / "judgements.jsonl").write_text("")
    with pytest.raises(BadInputError) as caught:
        from_external("routellm-mt_bench", folder, decontaminate=False)
    assert str(caught.value) == (
        f"{folder / 'question.jsonl'}, line 2: expected an object with 'question_id' and 'turns' (a list of texts)"
    )
    (folder / "question.jsonl").write_text(json.dumps({"question_id": 1, "turns": ["Write."]}) + "\n")
    (folder / "contaminated_prompts.jsonl").write_text('{"eval_prompt": 12345}\n')
    with pytest.raises(BadInputError) as caught:
        from_external("routellm-mt_bench", folder)
    assert (
        str(caught.value)
        == f"{folder / 'contaminated_prompts.jsonl'}, line 1: expected an object with the text field 'eval_prompt'"
    )
