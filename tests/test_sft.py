"""``fusionbench sft-data``, default protocol: selection per query_id, the original's quirks fixed, bad input.

The hand-built blocks of ``test_sft_fusionfactory.py`` are reused, so each test shows what the default protocol
does where the original does something else.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from release_factory import write_release
from test_sft_fusionfactory import (
    ADD_CODE,
    INSTRUCTION,
    MBPP,
    MMLU,
    MMLU_DIRECT,
    mbpp_block,
    mmlu_block,
    response,
    row_index,
    write_blocks,
)

from fusionbench.errors import ExportExistsError
from fusionbench.fusion.sft import SFTOptions, TestSplitRefusedError, make_sft_data, select_examples
from fusionbench.fusion.sft.examples import strip_cot_trigger
from fusionbench.fusion.sft.lengths import TokenCounter
from fusionbench.prompts import QueryFields, render

MBPP_DIRECT = render("mbpp", QueryFields("Write a function add(a, b).", test_list=["assert add(1, 2) == 3"]), "direct")


@pytest.fixture(scope="module")
def blocks_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fusionbench.build import build_export

    folder = tmp_path_factory.mktemp("sft-blocks")
    return build_export([str(write_blocks(folder, trailing=0))], folder / "export").out


@pytest.fixture(scope="module")
def tiny_tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tiny_model import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def references(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MBPP-format file: the blocks' query with its solution, and an item whose id matches another text."""
    path = tmp_path_factory.mktemp("refs") / "mbpp.jsonl"
    items = [
        {"task_id": 7, "text": "Write a function add(a, b).", "code": ADD_CODE, "test_list": []},
        {"task_id": 1, "text": "Write a function to reverse a string.", "code": "def rev(s): return s[::-1]"},
    ]
    path.write_text("".join(json.dumps(item) + "\n" for item in items), encoding="utf-8")
    return path


def _picked(examples) -> list[tuple]:
    return [(e.task, e.kind, e.model, e.mode, e.input, e.output) for e in examples]


def _response(block: list[dict], task: str, model: str, mode: str, text_input: str) -> tuple:
    return (task, "response", model, mode, text_input, response(block, model, mode))


# ------------------------------------------------------------------ selection
def test_perf_the_default_protocol_fixes_the_quirks(blocks_export: Path) -> None:
    """Direct prompt as every input, no test code as a target, duplicates skipped, ties to the shorter response."""
    result = select_examples(blocks_export, SFTOptions(select="perf", top_k=3))
    assert _picked(result.examples) == [
        # no reference solution: no MBPP ground-truth example (the original's is the test code)
        _response(MBPP, "mbpp", "deepseek-r1", "cot", MBPP_DIRECT),  # 30 tokens: the shortest; its direct twin skipped
        _response(MBPP, "mbpp", "qwen2-7b-instruct", "cot", MBPP_DIRECT),  # 50 tokens, tied: by model name
        _response(MBPP, "mbpp", "qwen2.5-7b-instruct", "direct", MBPP_DIRECT),
        ("mmlu", "ground_truth", None, None, MMLU_DIRECT, "(B)"),
        # mistral's "(B)" (10 tokens, ranked first) is the ground-truth example again: skipped as a duplicate
        _response(MMLU, "mmlu", "llama-3.1-8b-instruct", "cot", MMLU_DIRECT),  # tied on both: cot before direct
        _response(MMLU, "mmlu", "llama-3.1-8b-instruct", "direct", MMLU_DIRECT),
    ]
    skipped = result.report.skipped
    assert skipped["ground_truth_without_reference"] == 1 and skipped["duplicate_responses"] == 2
    assert skipped["unscored_responses"] == 1  # palmyra's null performance: not selectable
    assert skipped["wrong_responses"] == (40 - 6) + (40 - 3)
    assert {e.rank for e in result.examples if e.kind == "ground_truth"} == {None}
    assert [e.rank for e in result.examples if e.task == "mbpp"] == [0, 2, 3]  # rank 1 was the duplicate


def test_judge_and_hybrid_never_stop_at_a_wrong_row(blocks_export: Path) -> None:
    """The original stops MMLU at the wrong top-judge row (ground truth only); here wrong rows are not selectable."""
    options = SFTOptions(select="judge", top_k=3, tasks=("mmlu",), include_ground_truth=False)
    judge = select_examples(blocks_export, options).examples
    assert [(e.model, e.mode) for e in judge if e.kind == "response"] == [
        ("mistral-7b-instruct-v0.3", "direct"),  # judge 0.8
        ("llama-3.1-8b-instruct", "cot"),  # 0.6, 40 tokens each: by model, then mode
        ("llama-3.1-8b-instruct", "direct"),
    ]
    hybrid = select_examples(blocks_export, SFTOptions(select="hybrid", top_k=2, tasks=("mbpp",))).examples
    assert [(e.model, e.mode, e.judge) for e in hybrid] == [
        ("qwen2-7b-instruct", "cot", 1.0),
        ("deepseek-r1", "cot", 0.8),  # judge 0.8 three times: 30 tokens before qwen2.5's 50
    ]


def test_reference_solutions_are_the_code_targets(blocks_export: Path, references: Path) -> None:
    result = select_examples(blocks_export, SFTOptions(select="label-only", references=(references,)))
    (mbpp, mmlu) = result.examples
    assert (mbpp.task, mbpp.output) == ("mbpp", "[BEGIN]\ndef add(a, b):\n    return a + b\n[DONE]")
    assert mbpp.input == MBPP_DIRECT and mbpp.reference == "MBPP code" and mbpp.instruction == INSTRUCTION
    assert (mmlu.output, mmlu.reference) == ("(B)", "release ground_truth")
    assert result.report.references == {"matched": 1}


def test_an_id_that_names_another_problem_is_not_trusted(tmp_path: Path, references: Path) -> None:
    """The blocks' MBPP query has task_id Mbpp/1; the file's item 1 is another problem: no target, counted."""
    other = tmp_path / "mbpp.jsonl"
    other.write_text(references.read_text(encoding="utf-8").splitlines()[1] + "\n", encoding="utf-8")
    from fusionbench.build import build_export

    export = build_export([str(write_blocks(tmp_path, trailing=0))], tmp_path / "export").out
    result = select_examples(export, SFTOptions(select="label-only", references=(other,)))
    assert [e.task for e in result.examples] == ["mmlu"]
    assert result.report.references == {"id_text_mismatch": 1}
    assert result.report.tasks_without_examples == ["mbpp"]


def test_over_length_examples_are_dropped_counted_and_replaced(tmp_path: Path, tiny_tokenizer: Path) -> None:
    from fusionbench.build import build_export

    rows = mbpp_block()
    rows[row_index("deepseek-r1", "cot")]["response"] = "[BEGIN]\n" + "x = 1\n" * 200 + "return a+b\n[DONE]"
    export = build_export([str(write_release(tmp_path / "train.csv", rows))], tmp_path / "export").out
    counter = TokenCounter(str(tiny_tokenizer))
    result = select_examples(export, SFTOptions(top_k=3, tokenizer=counter, max_tokens=400))
    assert [(e.model, e.mode) for e in result.examples] == [
        ("deepseek-r1", "direct"),  # its cot twin (ranked first) is over 400 tokens: dropped, the next one moves up
        ("qwen2-7b-instruct", "cot"),
        ("qwen2.5-7b-instruct", "direct"),
    ]
    assert result.report.skipped["over_length"] == 1 and result.report.max_tokens == 400
    prompt_tokens = counter.count([f"{INSTRUCTION}\n{MBPP_DIRECT}"])[0]
    for example in result.examples:
        assert example.input_tokens == prompt_tokens
        assert example.output_tokens == counter.count([example.output])[0]
        assert example.input_tokens + example.output_tokens <= 400
    long = rows[row_index("deepseek-r1", "cot")]["response"]
    assert prompt_tokens + counter.count([long])[0] > 400


def test_token_counts_match_the_transformers_tokenizer(tiny_tokenizer: Path) -> None:
    from transformers import AutoTokenizer

    texts = ["Answer the following questions as required.\nWhat is 2 + 2?", "[BEGIN]\nreturn a + b\n[DONE]", ""]
    loaded = AutoTokenizer.from_pretrained(str(tiny_tokenizer))
    expected = [len(ids) for ids in loaded(texts, add_special_tokens=False)["input_ids"]]
    assert TokenCounter(str(tiny_tokenizer)).count(texts).tolist() == expected
    assert TokenCounter(loaded).count(texts).tolist() == expected


def test_small_pool_and_model_choice(blocks_export: Path) -> None:
    small = select_examples(blocks_export, SFTOptions(pool="small", top_k=1, tasks=("mbpp",))).examples
    assert [(e.model, e.mode) for e in small] == [("qwen2-7b-instruct", "cot")]  # deepseek (671B) is not small
    only = select_examples(blocks_export, SFTOptions(models=("gemma-7b",), tasks=("mbpp",), top_k=5))
    assert [(e.model, e.mode) for e in only.examples] == [("gemma-7b", "cot")]
    options = SFTOptions(models=("gemma-7b",), tasks=("mmlu",), include_ground_truth=False)
    nothing = select_examples(blocks_export, options)  # gemma is wrong on the MMLU query
    assert nothing.examples == [] and nothing.report.tasks_without_examples == ["mmlu"]
    assert nothing.report.skipped["queries_without_correct_response"] == 1


def test_strip_cot_trigger_gives_the_direct_prompt_for_the_release_templates() -> None:
    fields = {
        "mbpp": QueryFields("Write a function add(a, b).", test_list=["assert add(1, 2) == 3"]),
        "mmlu": QueryFields("What is 2 + 2?", choices=["3", "4"], choice_labels=["A", "B"]),
        "natural_qa": QueryFields("who wrote hamlet"),
        "squad": QueryFields("Who?", context="Ann did."),
        "hellaswag": QueryFields("A man walks.", choices=["in", "out"], choice_labels=["A", "B"]),
    }
    for task, query in fields.items():
        assert strip_cot_trigger(render(task, query, "cot")).rstrip() == render(task, query, "direct").rstrip(), task


# ------------------------------------------------------------------ written files
def test_written_files_load_and_agree(blocks_export: Path, tiny_tokenizer: Path, tmp_path: Path) -> None:
    from datasets import load_dataset

    out = tmp_path / "sft"
    (out).mkdir()
    (out / "dataset_info.json").write_text(json.dumps({"alpaca_en_demo": {"file_name": "x.json"}}), encoding="utf-8")
    result = make_sft_data(blocks_export, out, top_k=2, tokenizer=str(tiny_tokenizer))
    files = result.files
    alpaca = json.loads(files.alpaca.read_text(encoding="utf-8"))
    assert files.alpaca.name == "fusionbench_perf_top2.json" and len(alpaca) == result.report.examples == 5
    assert alpaca[0] == {"instruction": INSTRUCTION, "input": MBPP_DIRECT, "output": result.examples[0].output}
    sharegpt = json.loads(files.sharegpt.read_text(encoding="utf-8"))
    assert [c["conversations"] for c in sharegpt] == [
        [{"from": "human", "value": f"{r['instruction']}\n{r['input']}"}, {"from": "gpt", "value": r["output"]}]
        for r in alpaca
    ]
    info = json.loads(files.dataset_info.read_text(encoding="utf-8"))
    assert info["alpaca_en_demo"] == {"file_name": "x.json"}  # an existing entry is kept
    assert info["fusionbench_perf_top2"] == {
        "file_name": "fusionbench_perf_top2.json",
        "columns": {"prompt": "instruction", "query": "input", "response": "output"},
    }
    assert info["fusionbench_perf_top2_sharegpt"]["formatting"] == "sharegpt"
    hf = load_dataset(str(files.hf), split="train")
    assert [{k: row[k] for k in ("instruction", "input", "output")} for row in hf] == alpaca
    assert hf["kind"] == [e.kind for e in result.examples] and hf["query_id"] == [e.query_id for e in result.examples]
    card = (files.hf / "README.md").read_text(encoding="utf-8")
    assert "config_name: default" in card and "synthetic" not in card.split("---")[1]
    provenance = pq.read_table(files.provenance).to_pylist()
    assert [p["example"] for p in provenance] == list(range(5))
    for row, example in zip(provenance, result.examples, strict=True):
        assert (row["query_id"], row["model"], row["mode"], row["kind"]) == (
            example.query_id, example.model, example.mode, example.kind,
        )  # fmt: skip
        assert row["input_tokens"] > 0 and row["output_tokens"] > 0 and row["token_counter"] == str(tiny_tokenizer)
    assert provenance[0]["performance"] == 1.0 and provenance[0]["judge"] == 0.8
    report = json.loads(files.report.read_text(encoding="utf-8"))
    assert report["per_task"]["mmlu"] == {
        "queries": 1, "queries_with_examples": 1, "response_examples": 2, "ground_truth_examples": 1, "examples": 3,
    }  # fmt: skip
    assert report["tokenizer"] == str(tiny_tokenizer) and report["max_tokens"] == 2048
    with pytest.raises(ExportExistsError, match="overwrite"):
        make_sft_data(blocks_export, out, top_k=2)
    again = make_sft_data(blocks_export, out, top_k=2, overwrite=True)
    assert json.loads(again.files.alpaca.read_text(encoding="utf-8"))[1:] == alpaca[1:]


def test_the_synthetic_sample_is_marked_synthetic(sample_export: Path, tmp_path: Path) -> None:
    result = make_sft_data(sample_export, tmp_path / "sft", select="label-only")
    assert result.report.synthetic
    front = (result.files.hf / "README.md").read_text(encoding="utf-8").split("---")[1]
    assert "- synthetic" in front
    assert result.files.alpaca.name == "fusionbench_label_only.json"
    assert set(result.report.tasks_without_examples) == {"mbpp", "human_eval"}  # no reference solutions


# ------------------------------------------------------------------ bad input
def test_the_test_split_is_refused(blocks_export: Path) -> None:
    for split in ("test", "partial_test"):
        with pytest.raises(TestSplitRefusedError, match="held out to evaluate"):
            select_examples(blocks_export, SFTOptions(split=split))


def test_train_queries_also_in_test_are_left_out(tmp_path: Path) -> None:
    from fusionbench.build import build_export

    train = write_release(tmp_path / "train.csv", mbpp_block() + mmlu_block())
    test = write_release(tmp_path / "partial_test.csv", mmlu_block())
    export = build_export([str(train), str(test)], tmp_path / "export").out
    result = select_examples(export, SFTOptions(top_k=1))
    assert {e.task for e in result.examples} == {"mbpp"}
    assert result.report.skipped["queries_also_in_test"] == 1 and "mmlu" not in result.report.per_task


def test_unknown_names_and_wrong_sources_are_errors(blocks_export: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no task"):
        select_examples(blocks_export, SFTOptions(tasks=("gsm8k",)))
    with pytest.raises(ValueError, match="no train rows of model"):
        select_examples(blocks_export, SFTOptions(models=("gpt-5",)))
    with pytest.raises(ValueError, match="rescored_performance"):
        select_examples(blocks_export, SFTOptions(score="rescored"))
    with pytest.raises(ValueError, match="not a fusionbench export folder"):
        select_examples([write_blocks(tmp_path)], SFTOptions())
    with pytest.raises(ValueError, match="needs --tokenizer"):
        select_examples(blocks_export, SFTOptions(max_tokens=100))
    with pytest.raises(ValueError, match="unknown selection"):
        select_examples(blocks_export, SFTOptions(select="best"))


def test_a_bad_reference_file_names_its_line(blocks_export: Path, tmp_path: Path) -> None:
    from fusionbench.errors import BadInputError

    bad = tmp_path / "refs.jsonl"
    bad.write_text('{"text": "x", "code": "y"}\n{"prompt": "no solution"}\n', encoding="utf-8")
    with pytest.raises(BadInputError, match=r"refs.jsonl: line 2: neither a HumanEval item"):
        select_examples(blocks_export, SFTOptions(references=(bad,)))
    bad.write_text("{not json\n", encoding="utf-8")
    with pytest.raises(BadInputError, match=r"refs\.jsonl, line 1: not a JSON line"):
        select_examples(blocks_export, SFTOptions(references=(bad,)))


# ------------------------------------------------------------------ command line
def test_cli_reports_tasks_without_examples(blocks_export: Path, tmp_path: Path, capsys) -> None:
    from fusionbench.cli import main

    out = tmp_path / "sft"
    assert main(["sft-data", "--data", str(blocks_export), "--out", str(out), "--select", "label-only"]) == 0
    captured = capsys.readouterr()
    assert "tasks without any example: mbpp" in captured.err
    assert json.loads((out / "report.json").read_text(encoding="utf-8"))["tasks_without_examples"] == ["mbpp"]
    assert main(["sft-data", "--data", str(blocks_export), "--out", str(out), "--split", "test"]) == 1
    assert "held out to evaluate" in " ".join(capsys.readouterr().err.split())


# ------------------------------------------------------------------ real reference solutions
def _code_rows(task: str, fields: QueryFields, gold: str, task_id: str) -> list[dict[str, str]]:
    rows = mbpp_block()
    for row in rows:
        mode = "cot" if row["llm"].endswith("_think") else "direct"
        row.update(task_name=task, task_id=task_id, query=render(task, fields, mode), ground_truth=gold)
    return rows


def test_real_humaneval_and_mbpp_solutions_pass_their_tests(shared_data: Path, tmp_path: Path) -> None:
    """Queries that are real HumanEval / MBPP items get their canonical solutions, which pass the scorer."""
    from fusionbench.build import build_export
    from fusionbench.metrics import score
    from fusionbench.schema import SCORER_FIELDS

    humaneval_file, mbpp_file = shared_data / "code" / "HumanEval.jsonl", shared_data / "code" / "mbpp.jsonl"
    humaneval = [json.loads(line) for line in humaneval_file.read_text(encoding="utf-8").splitlines()[:2]]
    mbpp = [json.loads(line) for line in mbpp_file.read_text(encoding="utf-8").splitlines()[:2]]
    rows = []
    for item in mbpp:
        fields = QueryFields(item["text"], test_list=item["test_list"])
        rows += _code_rows("mbpp", fields, repr(item["test_list"]), str(item["task_id"]))
    for item in humaneval:
        fields = QueryFields(item["prompt"], function_stub=item["prompt"])
        rows += _code_rows("human_eval", fields, item["test"], item["task_id"])
    export = build_export([str(write_release(tmp_path / "train.csv", rows))], tmp_path / "export").out
    result = select_examples(export, SFTOptions(select="label-only", references=(humaneval_file, mbpp_file)))
    assert result.report.references == {"matched": 4}
    queries = {q["query_id"]: q for q in pq.read_table(export / "data" / "queries").to_pylist()}
    assert len(result.examples) == 4
    for example in result.examples:
        query = queries[example.query_id]
        fields = {k: query[k] for k in SCORER_FIELDS}
        assert score(example.task, example.output, query["ground_truth"], **fields) == 1.0, example.output
        assert example.output.startswith("[BEGIN]\n") and query["ground_truth"] not in example.output


def test_the_synthetic_sample_ids_do_not_pick_real_solutions(shared_data: Path, sample_export: Path) -> None:
    """The sample's code queries reuse real ids (HumanEval/0, Mbpp/1) for other problems: none gets a solution."""
    code = shared_data / "code"
    options = SFTOptions(select="label-only", references=(code / "HumanEval.jsonl", code / "mbpp.jsonl"))
    result = select_examples(sample_export, options)
    assert result.report.references == {"id_text_mismatch": 4}
    assert {e.task for e in result.examples} & {"mbpp", "human_eval"} == set()
