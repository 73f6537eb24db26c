"""Rescoring an export: agreement with the release, disagreements by defect class, and --write."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from datasets import load_dataset

from fusionbench.cli import main
from fusionbench.export.push import verify_export
from fusionbench.export.rescore import CAUSES, RESCORED_COLUMN, explain, rescore_export


@pytest.fixture
def export_copy(sample_export: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(sample_export, tmp_path / "fusionbench"))


def test_rescore_explains_the_planted_release_defects(sample_export: Path) -> None:
    results = rescore_export(sample_export)
    assert set(results) == {
        "gsm8k",
        "math",
        "mbpp",
        "human_eval",
        "commonsense_qa",
        "openbook_qa",
        "arc_challenge",
        "hellaswag",
        "natural_qa",
        "trivia_qa",
        "squad",
        "boolq",
        "mmlu",
        "gpqa",
    }
    for task, result in results.items():
        assert result.rows > 0 and result.scored_both <= result.rows
        assert result.agree + sum(result.reasons.values()) == result.scored_both, task
        assert set(result.reasons) <= set(CAUSES)
    # The sample plants one ARC item with digit labels: every one of its correct answers disagrees.
    assert results["arc_challenge"].reasons["arc-digit-labels"] > 0
    assert results["gsm8k"].reasons["gsm8k-decimal"] > 0  # the 18.5-style item
    assert results["boolq"].reasons["qa-lenient-substring"] > 0  # "untrue" contains "true"
    assert results["arc_challenge"].rescored_mean > results["arc_challenge"].released_mean
    assert 0.9 < results["squad"].agreement <= 1.0


def test_write_adds_the_column_updates_the_card_and_keeps_checksums_valid(export_copy: Path) -> None:
    before = load_dataset(str(export_copy), "gsm8k", split="train")
    assert RESCORED_COLUMN not in before.column_names
    results = rescore_export(export_copy, tasks=["gsm8k", "boolq"], write=True)
    assert set(results) == {"gsm8k", "boolq"}
    after = load_dataset(str(export_copy), "gsm8k", split="train")  # no stale cache: the card changed
    assert RESCORED_COLUMN in after.column_names and after.num_rows == before.num_rows
    scored = [s for s, r in zip(after[RESCORED_COLUMN], after["response"], strict=True) if r is not None]
    assert scored and all(s in (0.0, 1.0) for s in scored)
    assert all(s is None for s, r in zip(after[RESCORED_COLUMN], after["response"], strict=True) if r is None)
    verify_export(export_copy)  # every shard still matches the card's checksums
    text = (export_copy / "README.md").read_text()
    assert text.count("## Rescoring") == 1 and "`gsm8k-decimal`" in text
    rescore_export(export_copy, tasks=["gsm8k"], write=True)  # again: replaced, not duplicated
    text = (export_copy / "README.md").read_text()
    assert text.count("## Rescoring") == 1 and text.count("## Checksums") == 1
    assert load_dataset(str(export_copy), "gsm8k", split="train").column_names.count(RESCORED_COLUMN) == 1
    assert [p.name for p in export_copy.parent.glob(".fusionbench.*")] == [".fusionbench.lock"]  # no staging left


def test_explain_classifies_disagreements() -> None:
    assert explain("arc_challenge", 0.0, 1.0, "(2)", "2", ["arc_digit_labels"]) == "arc-digit-labels"
    assert explain("gsm8k", 0.0, 1.0, "so 18.5", "#### 18.5", []) == "gsm8k-decimal"
    assert explain("gsm8k", 0.0, 1.0, "The answer is 7", "#### 7", []) == "gsm8k-extraction"
    assert explain("boolq", 1.0, 0.0, "That is untrue.", "True", []) == "qa-lenient-substring"
    assert explain("squad", 0.4, 1.0, "x", "x", []) == "qa-token-f1"
    assert explain("mmlu", 0.0, 1.0, "The answer is B", "B", []) == "mc-no-parentheses"
    assert explain("gpqa", 0.0, 1.0, "(C)", "A", ["gpqa_label_unverified"]) == "gpqa-label"
    assert explain("mbpp", 1.0, 0.0, "[BEGIN]x[DONE]", "[]", []) == "code-execution"


def test_cli_rescore(export_copy: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["rescore", str(export_copy), "--tasks", "boolq", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "boolq" in printed and "qa-lenient-substring" in printed
    assert main(["rescore", str(export_copy / "missing")]) == 1
