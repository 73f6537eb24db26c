"""The add-a-model loop: lm-eval sample logs -> scored, priced rows merged into an export, idempotently."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from datasets import load_dataset
from tiny_model import build_tiny_llama
from transformers import AutoTokenizer

from fusionbench.build import build_export
from fusionbench.cli import main
from fusionbench.errors import BadInputError
from fusionbench.export.push import verify_export
from fusionbench.harness.logs import ingest_lm_eval_run


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny") / "tiny-llama")


@pytest.fixture
def export(tmp_path: Path) -> Path:
    return build_export(None, tmp_path / "export").out


def _write_run(
    run: Path, tiny: Path, docs: list[dict], task: str, answers: list[str], extra: dict | None = None
) -> None:
    """A run folder exactly as lm-eval --log_samples writes it (see lm_eval/loggers/evaluation_tracker.py)."""
    folder = run / "tiny-llama"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results_2026-11-24T05-00-00.000001.json").write_text(
        json.dumps({"config": {"model": "hf", "model_args": f"pretrained={tiny},dtype=float32"}})
    )
    with (folder / f"samples_{task}_2026-11-24T05-00-00.000001.jsonl").open("w") as handle:
        for doc_id, (doc, answer) in enumerate(zip(docs, answers, strict=True)):
            prompt = doc["prompt_cot"] if task.endswith("_cot") else doc["prompt_direct"]
            sample = {
                "doc_id": doc_id,
                "doc": {**doc, **(extra or {})},
                "target": doc["ground_truth"],
                "arguments": {"gen_args_0": {"arg_0": prompt, "arg_1": {"max_gen_toks": 16}}},
                "resps": [[answer]],
                "filtered_resps": [answer],
                "filter": "none",
                "metrics": ["acc"],
                "acc": 0.0,
            }
            handle.write(json.dumps(sample) + "\n")


def _docs(export: Path, task: str) -> list[dict]:
    queries = load_dataset(str(export), "queries", split="test")
    return [q for q in queries if q["task"] == task]


def test_ingest_scores_prices_counts_tokens_and_is_idempotent(export: Path, tiny: Path, tmp_path: Path) -> None:
    docs = _docs(export, "gsm8k")
    gold = docs[0]["ground_truth"].split("####")[-1].strip()
    run = tmp_path / "run"
    _write_run(run, tiny, docs, "fusionbench_gsm8k", [f"So the answer is {gold}."])
    _write_run(run, tiny, docs, "fusionbench_gsm8k_cot", ["I do not know."])
    before = load_dataset(str(export), "gsm8k", split="test").num_rows

    sheet = tmp_path / "prices.json"
    sheet.write_text(json.dumps({"name": "test", "date": "2026-11", "source": "test sheet",
                                 "prices": {"tiny-llama": {"input": 1.0, "output": 2.0}}}))  # fmt: skip
    report = ingest_lm_eval_run(run, export, "tiny-llama", prices=str(sheet))
    assert (report.rows_added, report.rows_replaced, report.unknown_queries) == (2, 0, 0)

    rows = load_dataset(str(export), "gsm8k", split="test")
    assert rows.num_rows == before + 2
    mine = {r["mode"]: r for r in rows if r["model"] == "tiny-llama"}
    tokenizer = AutoTokenizer.from_pretrained(str(tiny))
    direct = mine["direct"]
    assert direct["prompt"] == docs[0]["prompt_direct"] and mine["cot"]["prompt"] == docs[0]["prompt_cot"]
    assert direct["input_tokens"] == len(tokenizer(docs[0]["prompt_direct"], add_special_tokens=False)["input_ids"])
    assert direct["output_tokens"] == len(tokenizer(direct["response"], add_special_tokens=False)["input_ids"])
    assert direct["token_counter"] == str(tiny)
    assert direct["cost_usd"] == pytest.approx((direct["input_tokens"] * 1.0 + direct["output_tokens"] * 2.0) / 1e6)
    assert direct["performance"] == 1.0 and mine["cot"]["performance"] == 0.0  # our scorer, not the log's acc
    assert direct["source"].startswith("lm-eval:run/") and direct["split"] == "test"

    models = {m["model"]: m for m in load_dataset(str(export), "models", split="train")}
    assert models["tiny-llama"]["generated_by"] == str(tiny) and models["tiny-llama"]["n_rows"] == 2
    assert models["tiny-llama"]["input_price"] == 1.0 and models["tiny-llama"]["price_source"] == "test sheet"
    verify_export(export)
    assert "| tiny-llama | cot | 1 |" in (export / "README.md").read_text()

    again = ingest_lm_eval_run(run, export, "tiny-llama", prices=str(sheet))  # same run again: replaced
    assert (again.rows_added, again.rows_replaced) == (0, 2)
    assert load_dataset(str(export), "gsm8k", split="test").num_rows == before + 2
    card = (export / "README.md").read_text()
    assert card.count("## Added runs") == 1 and card.count("lm-eval run `run`") == 2


def test_ingest_without_prices_keeps_cost_null_and_warns(export: Path, tiny: Path, tmp_path: Path) -> None:
    docs = _docs(export, "mbpp")
    run = tmp_path / "run"
    _write_run(run, tiny, docs, "fusionbench_mbpp", ["[BEGIN]\ndef nothing():\n    pass\n[DONE]"])
    with pytest.warns(UserWarning, match="no price for tiny-llama"):
        ingest_lm_eval_run(run, export, "tiny-llama")
    row = next(r for r in load_dataset(str(export), "mbpp", split="test") if r["model"] == "tiny-llama")
    assert row["cost_usd"] is None and row["input_price"] is None and row["performance"] == 0.0


def test_new_rows_of_a_known_model_keep_its_catalogue_facts(export: Path, tiny: Path, tmp_path: Path) -> None:
    """A run under a name the export has (new samples of gemma-7b, say) keeps the model's size and the release's
    prices where the run says nothing about them."""
    before = {m["model"]: m for m in load_dataset(str(export), "models", split="train")}["gemma-7b"]
    run = tmp_path / "run"
    _write_run(run, tiny, _docs(export, "boolq"), "fusionbench_boolq", ["True"])
    with pytest.warns(UserWarning, match="no price for gemma-7b"):
        report = ingest_lm_eval_run(run, export, "gemma-7b")
    assert (report.rows_added, report.rows_replaced) == (0, 1)  # the same (query, model, mode, sample) key
    after = {m["model"]: m for m in load_dataset(str(export), "models", split="train")}["gemma-7b"]
    assert (after["size_b"], after["input_price"], after["output_price"]) == (
        before["size_b"], before["input_price"], before["output_price"],
    )  # fmt: skip
    assert after["generated_by"] == str(tiny) and after["n_rows"] == before["n_rows"]


def test_unknown_queries_are_counted_and_skipped(export: Path, tiny: Path, tmp_path: Path) -> None:
    docs = _docs(export, "boolq")
    run = tmp_path / "run"
    _write_run(run, tiny, docs, "fusionbench_boolq", ["True"], extra={"query_id": "0000000000000000"})
    report = ingest_lm_eval_run(run, export, "tiny-llama")
    assert report.unknown_queries == 1 and report.rows_added == 0


def test_bad_logs_name_the_file_and_line(export: Path, tiny: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    _write_run(run, tiny, _docs(export, "gsm8k"), "fusionbench_gsm8k", ["7"])
    log = next(run.rglob("samples_*.jsonl"))
    log.write_text(log.read_text() + "{not json\n")
    with pytest.raises(BadInputError, match=r"samples_fusionbench_gsm8k_.*\.jsonl, line 2: not a JSON line"):
        ingest_lm_eval_run(run, export, "tiny-llama")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no samples_fusionbench"):
        ingest_lm_eval_run(tmp_path / "empty", export, "tiny-llama")


def test_cli_ingest(export: Path, tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = tmp_path / "run"
    _write_run(run, tiny, _docs(export, "gsm8k"), "fusionbench_gsm8k", ["7"])
    assert main(["ingest", str(run), "--model", "tiny-llama", "--into", str(export)]) == 0
    assert "1 rows added" in capsys.readouterr().err


def test_unknown_task_names_the_file_and_line(export: Path, tiny: Path, tmp_path: Path) -> None:
    docs = _docs(export, "gsm8k")
    run = tmp_path / "run"
    _write_run(run, tiny, docs, "fusionbench_quac", ["7"])  # not one of the 14 tasks
    log = next(run.rglob("samples_*.jsonl"))
    with pytest.raises(BadInputError, match="unknown task 'quac' in the file name") as caught:
        ingest_lm_eval_run(run, export, "tiny-llama")
    assert caught.value.file == str(log)

    log.unlink()
    _write_run(run, tiny, docs, "fusionbench_gsm8k", ["7"], extra={"task": "quac"})
    log = next(run.rglob("samples_*.jsonl"))
    with pytest.raises(
        BadInputError, match=r"jsonl, line 1, column 'doc.task': unknown task 'quac' in the doc of a gsm8k samples file"
    ) as caught:
        ingest_lm_eval_run(run, export, "tiny-llama")
    assert (caught.value.file, caught.value.line, caught.value.column) == (str(log), 1, "doc.task")
