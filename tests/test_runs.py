"""`fusionbench ingest`: which folders are runs, and the clear errors for those that are not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fusionbench.cli import main
from fusionbench.runs import NotARunError, ingest_run, run_kind


def test_run_kind_detects_both_kinds(tmp_path: Path) -> None:
    lm_eval = tmp_path / "lm_eval" / "model_dir"
    lm_eval.mkdir(parents=True)
    (lm_eval / "samples_fusionbench_gsm8k_2026-12-01T10-00-00.000.jsonl").write_text("{}\n")
    generate = tmp_path / "generate"
    generate.mkdir()
    (generate / "run.json").write_text(json.dumps({"settings": {}}))
    assert run_kind(tmp_path / "lm_eval") == "lm-eval"  # samples files are found below the output path
    assert run_kind(generate) == "generate"


def test_folders_that_are_not_runs_say_why(tmp_path: Path) -> None:
    with pytest.raises(NotARunError, match="no such folder"):
        run_kind(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotARunError, match=r"no samples_.*jsonl files"):
        run_kind(tmp_path / "empty")
    other = tmp_path / "other_tasks"
    other.mkdir()
    (other / "samples_hellaswag_2026-12-01T10-00-00.000.jsonl").write_text("{}\n")
    with pytest.raises(NotARunError, match="not of fusionbench_\\* tasks"):
        run_kind(other)


def test_an_lm_eval_run_needs_the_model_name(tmp_path: Path, sample_export: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "samples_fusionbench_gsm8k_2026-12-01T10-00-00.000.jsonl").write_text("{}\n")
    with pytest.raises(ValueError, match="pass --model NAME"):
        ingest_run(run, sample_export)


def test_cli_ingest_of_a_non_run_exits_1_with_the_reason(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "notes").mkdir()
    assert main(["ingest", str(tmp_path / "notes"), "--into", str(tmp_path / "export")]) == 1
    message = " ".join(capsys.readouterr().err.split())
    assert "neither a fusionbench generate run" in message and "nor an lm-eval run" in message
