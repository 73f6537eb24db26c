"""Golden test: ``sft-data --protocol fusionfactory`` gives FusionFactory's ``model_level/sft_data_gen.py`` records.

The blocks below are hand-built 40-row release blocks (an MBPP query and an MMLU query, in the release's row
order: model 1 direct, model 1 think, ...), each planted with the cases that show one of the original's quirks.
The expected records were worked out by hand from the original's rules (listed in
:mod:`fusionbench.fusion.sft.fusionfactory`) and checked once against the original script run on the same file.
The blocks are also used by ``test_sft.py`` to show what the default protocol does instead.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from release_factory import QUERIES, release_rows, write_release

from fusionbench import catalog
from fusionbench.fusion.sft import SFTOptions, TestSplitRefusedError, make_sft_data, select_examples
from fusionbench.fusion.sft.fusionfactory import as_number, as_text, small_models
from fusionbench.fusion.sft.writers import alpaca_records
from fusionbench.prompts import render

MODELS = list(catalog.models())
INSTRUCTION = "Answer the following questions as required."
ADD_CODE = "def add(a, b):\r\n    return a + b"


def row_index(model: str, mode: str) -> int:
    """A model's row in its 40-row block."""
    return 2 * MODELS.index(model) + (mode == "cot")


def _set(rows: list[dict], model: str, mode: str, **cells: str) -> None:
    rows[row_index(model, mode)].update(cells)


def mbpp_block() -> list[dict[str, str]]:
    """MBPP: four correct rows of different lengths (two tied), a duplicate pair, an unscored row with top judge."""
    rows = release_rows("mbpp", performance="0.0")
    for row in rows:
        row.update(output_tokens_num="20", llm_judge="0.3", response=f"[BEGIN]\nreturn a - b\n[DONE] {row['llm']}")
    _set(rows, "gemma-7b", "cot", performance="{'pass@1': 1.0}", output_tokens_num="80", llm_judge="0.6",
         response="Let's see.\n[BEGIN]\nreturn a + b\n[DONE]")  # fmt: skip
    _set(rows, "qwen2-7b-instruct", "cot", performance="{'pass@1': 1.0}", output_tokens_num="50", llm_judge="1.0",
         response="[BEGIN]\nreturn b + a\n[DONE]")  # fmt: skip
    _set(rows, "qwen2.5-7b-instruct", "direct", performance="{'pass@1': 1.0}", output_tokens_num="50",
         llm_judge="0.8", response="[BEGIN]\nreturn sum((a, b))\n[DONE]")  # fmt: skip
    _set(rows, "deepseek-r1", "direct", performance="{'pass@1': 1.0}", output_tokens_num="30", llm_judge="0.8",
         response="[BEGIN]\nreturn a+b\n[DONE]")  # fmt: skip
    _set(rows, "deepseek-r1", "cot", performance="{'pass@1': 1.0}", output_tokens_num="30", llm_judge="0.8",
         response="[BEGIN]\n  return a+b\n[DONE]")  # the same answer, white space aside  # fmt: skip
    _set(rows, "palmyra-creative-122b", "direct", performance="", output_tokens_num="90", llm_judge="1.0",
         response="[BEGIN]\nreturn 3\n[DONE]")  # unscored: NaN performance  # fmt: skip
    return rows


def mmlu_block() -> list[dict[str, str]]:
    """MMLU: three correct rows (two tied on both keys), and a wrong row with the top judge score."""
    rows = release_rows("mmlu", performance="0.0")
    for row in rows:
        row.update(output_tokens_num="20", llm_judge="0.3", response=f"The answer is (A). {row['llm']}")
    _set(rows, "llama-3.1-8b-instruct", "direct", performance="1.0", output_tokens_num="40", llm_judge="0.6",
         response="2 + 2 = 4, so (B).")  # fmt: skip
    _set(rows, "llama-3.1-8b-instruct", "cot", performance="1.0", output_tokens_num="40", llm_judge="0.6",
         response="Two plus two is four: (B)")  # fmt: skip
    _set(rows, "mistral-7b-instruct-v0.3", "direct", performance="1.0", output_tokens_num="10", llm_judge="0.8",
         response="(B)")  # fmt: skip
    _set(rows, "mixtral-8x7b-instruct-v0.1", "cot", performance="0.0", output_tokens_num="60", llm_judge="1.0",
         response="Let me think. 2 + 2 = 22, so (D).")  # fmt: skip
    return rows


def write_blocks(folder: Path, *, trailing: int = 7, name: str = "train.csv") -> Path:
    """The two blocks, then ``trailing`` rows of a GSM8K query (fewer than 40: the original ignores them)."""
    return write_release(folder / name, mbpp_block() + mmlu_block() + release_rows("gsm8k")[:trailing])


def _prompts(task: str) -> tuple[str, str]:
    return render(task, QUERIES[task][0], "direct"), render(task, QUERIES[task][0], "cot")


MBPP_DIRECT, MBPP_COT = _prompts("mbpp")
MMLU_DIRECT, MMLU_COT = _prompts("mmlu")
MBPP_GOLD = "[BEGIN]\n ['assert add(1, 2) == 3'] \n[DONE]"  # the test code as the target (quirk)


def record(text: str, output: str) -> dict[str, str]:
    return {"instruction": INSTRUCTION, "input": text, "output": output}


def without_trigger(prompt: str) -> str:
    """The original's case-sensitive removal: the trigger's dot stays."""
    return prompt.replace("Let's think step by step", "")


def response(block: list[dict], model: str, mode: str) -> str:
    return block[row_index(model, mode)]["response"]


MBPP, MMLU = mbpp_block(), mmlu_block()
EXPECTED: dict[tuple[str, int, str], list[dict[str, str]]] = {
    # perf: (performance, output tokens) descending, ties to the longer response, then file order
    ("perf", 3, "all"): [
        record(without_trigger(MBPP_COT), MBPP_GOLD),  # from gemma's think row: "\n." is left of the trigger
        record(MBPP_COT, response(MBPP, "gemma-7b", "cot")),  # 80 tokens: the longest correct response first
        record(MBPP_COT, response(MBPP, "qwen2-7b-instruct", "cot")),  # tied with qwen2.5 at 50: file order
        record(MBPP_DIRECT, response(MBPP, "qwen2.5-7b-instruct", "direct")),
        record(MMLU_DIRECT, "(B)"),
        record(MMLU_DIRECT, response(MMLU, "llama-3.1-8b-instruct", "direct")),  # tied on both keys: file order
        record(MMLU_COT, response(MMLU, "llama-3.1-8b-instruct", "cot")),
        record(MMLU_DIRECT, response(MMLU, "mistral-7b-instruct-v0.3", "direct")),
    ],
    # top 5 reaches both DeepSeek rows: the same answer twice (no de-duplication), then stops at the first 0
    ("perf", 5, "all"): [
        record(without_trigger(MBPP_COT), MBPP_GOLD),
        record(MBPP_COT, response(MBPP, "gemma-7b", "cot")),
        record(MBPP_COT, response(MBPP, "qwen2-7b-instruct", "cot")),
        record(MBPP_DIRECT, response(MBPP, "qwen2.5-7b-instruct", "direct")),
        record(MBPP_DIRECT, response(MBPP, "deepseek-r1", "direct")),
        record(MBPP_COT, response(MBPP, "deepseek-r1", "cot")),
        record(MMLU_DIRECT, "(B)"),
        record(MMLU_DIRECT, response(MMLU, "llama-3.1-8b-instruct", "direct")),
        record(MMLU_COT, response(MMLU, "llama-3.1-8b-instruct", "cot")),
        record(MMLU_DIRECT, response(MMLU, "mistral-7b-instruct-v0.3", "direct")),
    ],
    # judge: the unscored palmyra row (judge 1.0, 90 tokens) comes first and is emitted (NaN is not 0); in MMLU
    # the wrong mixtral row has the top judge score: the walk stops there, after the ground truth only
    ("judge", 3, "all"): [
        record(MBPP_DIRECT, MBPP_GOLD),
        record(MBPP_DIRECT, response(MBPP, "palmyra-creative-122b", "direct")),
        record(MBPP_COT, response(MBPP, "qwen2-7b-instruct", "cot")),
        record(MBPP_DIRECT, response(MBPP, "qwen2.5-7b-instruct", "direct")),
        record(without_trigger(MMLU_COT), "(B)"),
    ],
    # the small pool skips palmyra and deepseek (over 12B) everywhere, the ground truth's row included
    ("judge", 3, "small"): [
        record(without_trigger(MBPP_COT), MBPP_GOLD),
        record(MBPP_COT, response(MBPP, "qwen2-7b-instruct", "cot")),
        record(MBPP_DIRECT, response(MBPP, "qwen2.5-7b-instruct", "direct")),
        record(MBPP_COT, response(MBPP, "gemma-7b", "cot")),
        record(MMLU_DIRECT, "(B)"),  # the wrong mixtral row (47B) is skipped: the walk goes on
        record(MMLU_DIRECT, response(MMLU, "mistral-7b-instruct-v0.3", "direct")),
        record(MMLU_DIRECT, response(MMLU, "llama-3.1-8b-instruct", "direct")),
        record(MMLU_COT, response(MMLU, "llama-3.1-8b-instruct", "cot")),
    ],
    # hybrid: (performance, judge) descending, tokens play no part
    ("hybrid", 3, "all"): [
        record(without_trigger(MBPP_COT), MBPP_GOLD),
        record(MBPP_COT, response(MBPP, "qwen2-7b-instruct", "cot")),
        record(MBPP_DIRECT, response(MBPP, "qwen2.5-7b-instruct", "direct")),
        record(MBPP_DIRECT, response(MBPP, "deepseek-r1", "direct")),
        record(MMLU_DIRECT, "(B)"),
        record(MMLU_DIRECT, response(MMLU, "mistral-7b-instruct-v0.3", "direct")),
        record(MMLU_DIRECT, response(MMLU, "llama-3.1-8b-instruct", "direct")),
        record(MMLU_COT, response(MMLU, "llama-3.1-8b-instruct", "cot")),
    ],
    # label only ("baseline"): the ground truths, the whole list repeated k + 1 = 4 times
    ("label-only", 3, "all"): [record(without_trigger(MBPP_COT), MBPP_GOLD), record(MMLU_DIRECT, "(B)")] * 4,
}


@pytest.fixture(scope="module")
def release_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_blocks(tmp_path_factory.mktemp("ff-release"))


@pytest.fixture(scope="module")
def blocks_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The two blocks (no trailing rows) built into an export with the real build."""
    from fusionbench.build import build_export

    folder = tmp_path_factory.mktemp("ff-export")
    return build_export([str(write_blocks(folder, trailing=0))], folder / "export").out


def _records(data: Path | list[Path], select: str, top_k: int, pool: str) -> list[dict[str, str]]:
    options = SFTOptions(protocol="fusionfactory", select=select, top_k=top_k, pool=pool)
    result = select_examples(data, options)
    return alpaca_records(result.examples) * result.report.repeats


@pytest.mark.parametrize(("select", "top_k", "pool"), list(EXPECTED))
def test_records_from_the_release_file_are_the_originals(release_file: Path, select: str, top_k: int, pool: str):
    assert _records([release_file], select, top_k, pool) == EXPECTED[(select, top_k, pool)]


@pytest.mark.parametrize(("select", "top_k", "pool"), list(EXPECTED))
def test_records_from_an_export_of_the_same_blocks_are_the_same(blocks_export: Path, select, top_k, pool) -> None:
    """An export's rows are put back in the release's order, so the fixed blocks are the same queries."""
    assert _records(blocks_export, select, top_k, pool) == EXPECTED[(select, top_k, pool)]


def test_provenance_names_the_rows_and_queries(release_file: Path, blocks_export: Path) -> None:
    """Each record's query id is the build's, from a release file as from an export; models and ranks too."""
    options = SFTOptions(protocol="fusionfactory", select="perf", top_k=3)
    from_file, from_export = select_examples([release_file], options), select_examples(blocks_export, options)
    ids = [e.query_id for e in from_file.examples]
    assert None not in ids and ids == [e.query_id for e in from_export.examples]
    assert [(e.model, e.mode, e.rank, e.kind) for e in from_file.examples[:4]] == [
        ("gemma-7b", "cot", None, "ground_truth"),
        ("gemma-7b", "cot", 0, "response"),
        ("qwen2-7b-instruct", "cot", 1, "response"),
        ("qwen2.5-7b-instruct", "direct", 2, "response"),
    ]
    assert from_file.examples[0].reference == "release ground_truth (test code)"
    assert from_file.examples[1].source == f"{release_file.name}:{row_index('gemma-7b', 'cot') + 1}"
    assert {t: c.queries_with_examples for t, c in from_file.report.per_task.items()} == {"mbpp": 1, "mmlu": 1}
    with pytest.raises(ValueError, match="no train rows of model"):
        select_examples([release_file], SFTOptions(protocol="fusionfactory", models=("gpt-5",)))


def test_the_written_file_and_its_report(release_file: Path, tmp_path: Path) -> None:
    result = make_sft_data([release_file], tmp_path / "sft", protocol="fusionfactory", select="label-only", top_k=3)
    assert result.files.alpaca.name == "baseline_sft_top_3.json"  # the original's file name
    assert json.loads(result.files.alpaca.read_text(encoding="utf-8")) == EXPECTED[("label-only", 3, "all")]
    report = result.report
    assert report.examples == 8 and report.repeats == 4
    assert report.skipped["trailing_rows"] == 7  # the 7 GSM8K rows after the last full block
    assert {t: c.ground_truth_examples for t, c in report.per_task.items()} == {"mbpp": 1, "mmlu": 1}
    provenance = json.loads(result.files.report.read_text(encoding="utf-8"))
    assert provenance["protocol"] == "fusionfactory" and provenance["skipped"]["trailing_rows"] == 7


def test_a_missing_row_shifts_every_later_block(tmp_path: Path) -> None:
    """Fixed 40-row chunks: with one MBPP row missing, the first block ends with the MMLU query's first row and
    the MMLU query's other 39 rows are left over: it gives no example at all."""
    path = write_release(tmp_path / "train.csv", mbpp_block()[:-1] + mmlu_block())
    result = select_examples([path], SFTOptions(protocol="fusionfactory", select="perf", top_k=1))
    assert [(e.task, e.kind) for e in result.examples] == [("mbpp", "ground_truth"), ("mbpp", "response")]
    assert result.report.skipped["trailing_rows"] == 39
    assert result.report.per_task["mbpp"].queries == 1 and "mmlu" not in result.report.per_task


def test_the_test_split_is_refused(tmp_path: Path) -> None:
    path = write_blocks(tmp_path, name="partial_test.csv")
    with pytest.raises(TestSplitRefusedError, match="held out"):
        select_examples([path], SFTOptions(protocol="fusionfactory"))
    with pytest.raises(TestSplitRefusedError):
        select_examples([f"test={write_blocks(tmp_path / 'x')}"], SFTOptions(protocol="fusionfactory"))


def test_options_the_original_does_not_have_are_refused(release_file: Path) -> None:
    with pytest.raises(ValueError, match="does not take"):
        select_examples([release_file], SFTOptions(protocol="fusionfactory", include_ground_truth=False))
    with pytest.raises(ValueError, match="does not take"):
        select_examples([release_file], SFTOptions(protocol="fusionfactory", references=("x.jsonl",)))


def test_cells_are_read_as_the_original_reads_them() -> None:
    assert as_number("{'pass@1': 1.0}") == 1.0 and as_number("{'pass@1': np.float64(0.5)}") == 0.5
    assert as_number(" 0.8 ") == 0.8
    for unreadable in ("", "NaN", "{'acc': 1}", "oops", None):
        assert as_number(unreadable) != as_number(unreadable)  # NaN
    assert [as_text(v) for v in (None, "", "NA", "None", "n/a", "0")] == ["nan"] * 5 + ["0"]
    assert as_text("a\\b", escaped=True) == "a\\\\b"  # the release CSV's escaped backslash, read without unescaping
    assert small_models() == frozenset(MODELS[:10])  # the original's SMALL_MODEL list


def test_backslashes_stay_doubled_as_the_original_reads_the_csv(tmp_path: Path) -> None:
    rows = release_rows("math", performance="1.0")
    path = write_release(tmp_path / "train.csv", rows)
    (gold, *_) = select_examples([path], SFTOptions(protocol="fusionfactory", top_k=1)).examples
    assert gold.output == QUERIES["math"][1].replace("\\", "\\\\")  # "It is $\\\\boxed{1}$."
