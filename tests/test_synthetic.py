"""The synthetic release generator: the shipped sample, determinism, the release's format and every planted quirk.

Files are read back with the csv module only, so these checks do not depend on the ingestion code.
"""

from __future__ import annotations

import ast
import csv
import re
import subprocess
import sys
from collections import Counter
from importlib import resources
from pathlib import Path

import pytest

from fusionbench import catalog
from fusionbench.prompts import parse, render
from fusionbench.schema import RELEASE_COLUMNS, RELEASE_METRICS, TASKS, THINK_SUFFIX, split_model_mode
from fusionbench.synthetic import FILES, SAMPLE_ARGS, SAMPLE_DIR, generate_release, regenerate_sample

Rows = list[dict[str, str]]
MODELS = list(catalog.models())
LLMS = [name + suffix for name in MODELS for suffix in ("", THINK_SUFFIX)]
EMPTY_ON_FAILURE = ("input_price", "output_price", "input_tokens_num", "output_tokens_num", "performance", "cost")
PASS, FAIL = "{'pass@1': 1.0}", "{'pass@1': 0.0}"


def read(path: Path) -> Rows:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle, escapechar="\\")
        header = next(reader)
        assert tuple(header) == RELEASE_COLUMNS
        return [dict(zip(header, row, strict=True)) for row in reader]


def blocks(rows: Rows) -> list[Rows]:
    """Consecutive rows of one query: a block starts at each row that carries a query embedding."""
    out: list[Rows] = []
    for row in rows:
        if row["query_embedding"]:
            out.append([])
        out[-1].append(row)
    return out


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Rows]:
    out = tmp_path_factory.mktemp("synthetic")
    counts = generate_release(out, **SAMPLE_ARGS)
    data = {split: read(out / name) for split, name in FILES.items()}
    assert counts == {FILES[split]: len(rows) for split, rows in data.items()}
    return data


def test_shipped_sample_is_what_the_generator_writes(tmp_path: Path) -> None:
    counts = regenerate_sample(tmp_path)
    for name in FILES.values():
        assert (tmp_path / name).read_bytes() == (SAMPLE_DIR / name).read_bytes(), f"run regenerate_sample(): {name}"
        assert resources.files("fusionbench.synthetic").joinpath("sample", name).is_file()
    assert sum(counts.values()) == 41 * 40  # 14 train x 2 + 13 test x 1 queries, -1 missing, +1 duplicate
    assert sum((SAMPLE_DIR / name).stat().st_size for name in FILES.values()) < 2_000_000


def test_same_arguments_give_identical_bytes(tmp_path: Path) -> None:
    for folder, seed in (("a", 7), ("b", 7), ("c", 8)):
        generate_release(tmp_path / folder, 3, 2, seed=seed)
    for name in FILES.values():
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
        assert (tmp_path / "a" / name).read_bytes() != (tmp_path / "c" / name).read_bytes()
    with pytest.raises(ValueError, match="train_queries"):
        generate_release(tmp_path / "d", 1, 1)


def test_blocks_rows_and_columns(release: dict[str, Rows]) -> None:
    sheet, infos = catalog.load_price_sheet(), catalog.models()
    for split, rows in release.items():
        expected_tasks = [t for t in TASKS if not (split == "test" and t == "gpqa")]
        per_task = SAMPLE_ARGS["train_queries"] if split == "train" else SAMPLE_ARGS["test_queries"]
        assert [b[0]["task_name"] for b in blocks(rows)] == [t for t in expected_tasks for _ in range(per_task)]
        for block in blocks(rows):
            first, task = block[0], block[0]["task_name"]
            assert first["task_description_embedding"] and first["llm"] == MODELS[0]
            assert all(not r["query_embedding"] and not r["task_description_embedding"] for r in block[1:])
            assert len({r["task_description"] for r in block}) == 1 and first["task_description"]
            assert {r["metric"] for r in block} == {RELEASE_METRICS[task]}
            assert len({r["ground_truth"] for r in block}) == 1
            pattern = {"mbpp": r"Mbpp/\d+", "human_eval": r"HumanEval/\d+"}.get(task, "")
            assert all(re.fullmatch(pattern, r["task_id"]) for r in block)
        for row in rows:
            model, _ = split_model_mode(row["llm"])
            assert row["llm_description"] == infos[model].description
            assert row["llm_judge"] in {"0.0", "0.3", "0.6", "0.8", "1.0"}
            if not row["response"]:
                continue
            price_in, price_out = sheet.price(model)
            assert (float(row["input_price"]), float(row["output_price"])) == (price_in, price_out)
            tokens_in, tokens_out = int(row["input_tokens_num"]), int(row["output_tokens_num"])
            assert tokens_in > 0 and tokens_out > 0
            assert float(row["cost"]) == tokens_in * price_in + tokens_out * price_out  # micro-dollars
            if row["task_name"] not in ("mbpp", "human_eval"):
                assert row["performance"] in ("1.0", "0.0")


def test_embeddings_are_768_values_on_first_rows(release: dict[str, Rows]) -> None:
    for rows in release.values():
        for block in blocks(rows):
            for text in (block[0]["query_embedding"], block[0]["task_description_embedding"]):
                assert text.startswith("tensor([[") and text.endswith("]])")
                values = re.findall(r"-?\d+\.\d+", text)
                assert len(values) == 768 and all(len(v.split(".")[1]) == 4 for v in values)


def test_exactly_one_missing_row_in_train_and_one_duplicate_in_test(release: dict[str, Rows]) -> None:
    train, test = blocks(release["train"]), blocks(release["test"])
    assert Counter(map(len, train)) == {40: len(train) - 1, 39: 1}
    assert Counter(map(len, test)) == {40: len(test) - 1, 41: 1}
    short = next(b for b in train if len(b) == 39)
    assert len(set(LLMS) - {r["llm"] for r in short}) == 1
    assert all(a != b for a, b in zip(release["train"], release["train"][1:], strict=False))
    twins = [i for i, (a, b) in enumerate(zip(release["test"], release["test"][1:], strict=False)) if a == b]
    assert len(twins) == 1
    for block in train + test:
        assert [r["llm"] for r in block if len(block) == 40] in ([], LLMS)


def test_failed_generations_have_empty_fields(release: dict[str, Rows]) -> None:
    for rows in release.values():
        failed = [r for r in rows if r["response"] == ""]
        assert len(failed) == 2 and len({split_model_mode(r["llm"])[0] for r in failed}) == 1
        assert {split_model_mode(r["llm"])[1] for r in failed} == {"direct", "cot"}
        assert all(r[c] == "" for r in failed for c in EMPTY_ON_FAILURE)


def _program(row: dict[str, str]) -> str:
    """The program the release ran for a code row: its extraction rules, rebuilt independently here."""
    response, gold = row["response"], row["ground_truth"]
    if row["task_name"] == "mbpp":
        match = re.search(r"\[BEGIN\](.*?)(?:\[DONE\]|\[Done\]|$)", response, re.S | re.I)
        code = match.group(1).strip() if match else response.strip()
        return code + "\n" + "\n".join(ast.literal_eval(gold)) + "\n"
    raw = re.search(r"\[BEGIN\](.*?)(?:\[DONE\]|$)", response, re.S | re.I).group(1).strip()
    body = raw if raw.startswith("def ") else "    " + raw.replace("\n", "\n    ")
    stub = parse("human_eval", row["query"]).function_stub
    entry_point = re.findall(r"(?m)^def (\w+)", stub)[-1]
    return f"{stub}{body}\n{gold}\ncheck({entry_point})\n"


def test_code_performance_is_a_dict_string_and_really_runs(release: dict[str, Rows]) -> None:
    programs: dict[str, str] = {}
    for rows in release.values():
        code_rows = [r for r in rows if r["task_name"] in ("mbpp", "human_eval") and r["response"]]
        assert {r["performance"] for r in code_rows} == {PASS, FAIL}
        for task in ("mbpp", "human_eval"):
            assert {r["performance"] for r in code_rows if r["task_name"] == task} == {PASS, FAIL}
        for row in code_rows:
            programs.setdefault(_program(row), row["performance"])
    assert len(programs) >= 8
    for program, performance in programs.items():
        done = subprocess.run([sys.executable, "-c", program], capture_output=True, timeout=30)
        assert (done.returncode == 0) == (performance == PASS), program


def test_prompts_parse_back(release: dict[str, Rows]) -> None:
    for rows in release.values():
        for block in blocks(rows):
            task = block[0]["task_name"]
            fields = parse(task, block[0]["query"])
            assert fields is not None and fields.question
            for row in block:
                assert row["query"] == render(task, fields, split_model_mode(row["llm"])[1])


def test_arc_item_with_digit_labels_never_scores(release: dict[str, Rows]) -> None:
    digit = [b for b in blocks(release["train"]) if b[0]["task_name"] == "arc_challenge"]
    digit = [b for b in digit if parse("arc_challenge", b[0]["query"]).choice_labels == ["1", "2", "3", "4"]]
    assert digit
    for block in digit:
        assert {r["performance"] for r in block if r["response"]} == {"0.0"}
        assert any(f"({block[0]['ground_truth']})" in r["response"] for r in block)


SUBJECT_STYLE = re.compile(
    r"What is the value of x|What is \d+% of|An object with a mass|What is the mass of|What is the decimal value"
    r"|What is the capital of"
)


def test_mmlu_train_is_auxiliary_train_style_and_test_is_subject_style(release: dict[str, Rows]) -> None:
    for split, rows in release.items():
        questions = [parse("mmlu", b[0]["query"]).question for b in blocks(rows) if b[0]["task_name"] == "mmlu"]
        assert questions
        assert all(bool(SUBJECT_STYLE.match(q)) == (split == "test") for q in questions), questions


def test_gsm8k_decimal_answer_is_misscored_both_ways(release: dict[str, Rows]) -> None:
    rows = [r for r in release["train"] if r["task_name"] == "gsm8k" and r["response"]]
    decimal = [r for r in rows if "." in r["ground_truth"].split("####")[-1]]
    assert decimal

    def last_number(text: str) -> float:
        return float(re.findall(r"-?\d+(?:\.\d+)?", text.replace(",", ""))[-1])

    gold = float(decimal[0]["ground_truth"].split("####")[-1])
    assert any(r["performance"] == "1.0" and last_number(r["response"]) != gold for r in decimal)  # "185" vs 18.5
    assert any(r["performance"] == "0.0" and last_number(r["response"]) == gold for r in decimal)  # "18.50" vs 18.5


def test_boolq_untrue_counts_as_true(release: dict[str, Rows]) -> None:
    rows = [r for r in release["train"] if r["task_name"] == "boolq"]
    assert {r["ground_truth"] for r in rows} <= {"True", "False"}
    assert any(
        r["ground_truth"] == "True" and r["response"].startswith("False") and "untrue" in r["response"]
        and r["performance"] == "1.0"
        for r in rows
    )  # fmt: skip


def test_gpqa_only_in_train_and_judge_tracks_correctness(release: dict[str, Rows]) -> None:
    assert any(r["task_name"] == "gpqa" for r in release["train"])
    assert not any(r["task_name"] == "gpqa" for r in release["test"])
    rows = [r for r in release["train"] if r["performance"] in ("1.0", "0.0")]
    mean = {p: sum(float(r["llm_judge"]) for r in rows if r["performance"] == p) for p in ("1.0", "0.0")}
    count = Counter(r["performance"] for r in rows)
    assert mean["1.0"] / count["1.0"] > mean["0.0"] / count["0.0"] + 0.3
