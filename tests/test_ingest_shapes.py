"""``fusionbench ingest`` of lm-eval sample logs whose records have another shape than lm-eval writes (a JSON list, a
number for ``resps``, a value nested thousands deep, ...): one error naming the file, line and field, no traceback,
and the export left as it was."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from datasets import load_dataset
from tiny_model import build_tiny_llama

from fusionbench.build import build_export
from fusionbench.cli import main

TASK = "fusionbench_gsm8k"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny") / "tiny-llama")


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_export(None, tmp_path_factory.mktemp("export") / "export").out


@pytest.fixture(scope="module")
def doc(export: Path) -> dict:
    return next(q for q in load_dataset(str(export), "queries", split="test") if q["task"] == "gsm8k")


def _sample(doc: dict, /, **changes: object) -> dict:
    """One sample as lm-eval --log_samples writes it (lm_eval/loggers/evaluation_tracker.py)."""
    sample = {
        "doc_id": 0,
        "doc": doc,
        "target": doc["ground_truth"],
        "arguments": {"gen_args_0": {"arg_0": doc["prompt_direct"], "arg_1": {"max_gen_toks": 16}}},
        "resps": [["The answer is 7."]],
        "filtered_resps": ["The answer is 7."],
        "filter": "none",
        "metrics": ["acc"],
        "acc": 0.0,
    }
    return sample | changes


def _run(folder: Path, tiny: Path, lines: list[str]) -> Path:
    """A run folder with lm-eval's results file and a samples file of ``lines``; returns the samples file."""
    run = folder / "tiny-llama"
    run.mkdir(parents=True)
    (run / "results_2026-11-24T05-00-00.000001.json").write_text(
        json.dumps({"config": {"model": "hf", "model_args": f"pretrained={tiny},dtype=float32"}})
    )
    log = run / f"samples_{TASK}_2026-11-24T05-00-00.000001.jsonl"
    log.write_text("".join(line + "\n" for line in lines))
    return log


def _digest(folder: Path) -> str:
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return hashlib.sha256(b"".join(p.name.encode() + p.read_bytes() for p in files)).hexdigest()


BAD_LINES = {
    "a JSON list": (
        lambda doc: json.dumps([1, 2, 3]),
        ", column 'sample': expected a JSON object per line, not [1, 2, 3]",
    ),
    "resps a number": (
        lambda doc: json.dumps(_sample(doc, resps=12345)),
        ", column 'resps': expected a list of generated texts ([[TEXT, ...]]), not 12345",
    ),
    "resps of numbers": (
        lambda doc: json.dumps(_sample(doc, resps=[[1, 2]])),
        ", column 'resps': expected a list of generated texts ([[TEXT, ...]]), not [[1, 2]]",
    ),
    "deeply nested": (lambda doc: "[" * 100_000 + "]" * 100_000, ": a JSON value nested too deeply"),
    "doc a text": (
        lambda doc: json.dumps(_sample(doc, doc="gsm8k")),
        ", column 'doc': expected the task's document (an object), not 'gsm8k'",
    ),
    "arguments a number": (
        lambda doc: json.dumps(_sample(doc, arguments=5)),
        ", column 'arguments': expected {'gen_args_0': {'arg_0': PROMPT, ...}} or [[PROMPT, ...]], not 5",
    ),
    "query a number": (
        lambda doc: json.dumps(_sample({**doc, "query": 17})),
        ", column 'doc.query': expected a text, not 17",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_ingest_names_file_and_line_of_a_record_of_another_shape(
    case: str, export: Path, tiny: Path, doc: dict, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    make, message = BAD_LINES[case]
    log = _run(tmp_path / "run", tiny, [json.dumps(_sample(doc)), make(doc)])
    before = _digest(export)
    code = main(["ingest", str(tmp_path / "run"), "--model", "tiny-llama", "--into", str(export)])
    err = capsys.readouterr().err
    assert code == 1, err
    squeezed = "".join(err.split())  # rich folds a long path anywhere: compare without white space
    assert "".join(f"error: {log}, line 2{message}".split()) in squeezed
    assert "Traceback" not in err
    assert _digest(export) == before  # nothing was merged


def test_a_well_shaped_log_still_ingests(export: Path, tiny: Path, doc: dict, tmp_path: Path, capsys) -> None:
    """The checks refuse shapes, not values: lm-eval's older ``arguments`` list and a flat ``resps`` list are read."""
    older = _sample(doc, arguments=[[doc["prompt_direct"], {"max_gen_toks": 16}]], resps=["7"])
    _run(tmp_path / "run", tiny, [json.dumps(older)])
    copy = build_export(None, tmp_path / "copy").out
    assert main(["ingest", str(tmp_path / "run"), "--model", "tiny-llama", "--into", str(copy)]) == 0
    assert "1 rows added" in " ".join(capsys.readouterr().err.split())


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[" * 100_000 + "]" * 100_000, ": not an lm-eval results file (RecursionError)"),
        ('{"config": {"model_args": 5}}', ", column 'config.model_args': expected 'k=v,...' or an object, not 5"),
        ("{cut", ": not an lm-eval results file (JSONDecodeError)"),
    ],
)
def test_ingest_names_a_results_file_of_another_shape(
    content: str, message: str, export: Path, tiny: Path, doc: dict, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    _run(tmp_path / "run", tiny, [json.dumps(_sample(doc))])
    results = next((tmp_path / "run").rglob("results_*.json"))
    results.write_text(content)
    assert main(["ingest", str(tmp_path / "run"), "--model", "tiny-llama", "--into", str(export)]) == 1
    assert "".join(f"error: {results}{message}".split()) in "".join(capsys.readouterr().err.split())
