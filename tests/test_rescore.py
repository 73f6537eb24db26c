"""Rescoring an export: agreement with the release, disagreements by defect class, and --write."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from datasets import load_dataset
from release_factory import release_rows, write_release

from fusionbench.build import build_export
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
    assert results["arc_challenge"].rescored_mean > results["arc_challenge"].released_mean
    assert 0.9 < results["squad"].agreement <= 1.0


@pytest.fixture
def planted_export(tmp_path: Path) -> Path:
    """A hand-made release whose release-scoring defects have known counts (see each block's comment)."""
    arc = release_rows("arc_challenge", performance="0.0")
    for row in arc:  # digit labels: every answer "(2)" is right, the release's letter regex scored all 40 as 0
        row["response"] = "The answer is (2)."
    gsm8k = release_rows("gsm8k", performance="1.0")
    for row in gsm8k:
        row["ground_truth"], row["response"] = "18 / 2 + 9.5 = 18.5\n#### 18.5", "The answer is 18.5."
    for row in gsm8k[:2]:  # "185" is read as 185 = 18.5 with its point stripped: the release accepted it
        row["response"] = "The answer is 185."
    gsm8k[2].update(response="The answer is 18.50.", performance="0.0")  # "1850" != "185": the release rejected it
    for row in gsm8k[3:5]:  # no response: the release still stored a score; ours is null
        row.update(response="", performance="0.0")
    boolq = release_rows("boolq", performance="1.0")
    for row in boolq:
        row["response"] = "True."
    for row in boolq[:2]:  # "untrue" contains "true": the release accepted two wrong answers
        row["response"] = "That is untrue."
    source = write_release(tmp_path / "release" / "train.csv", arc + gsm8k + boolq)
    return build_export([str(source)], tmp_path / "fusionbench").out


def test_rescore_counts_every_planted_defect_exactly(planted_export: Path) -> None:
    results = rescore_export(planted_export, write=True)
    assert dict(results["arc_challenge"].reasons) == {"arc-digit-labels": 40}
    assert (results["arc_challenge"].agree, results["arc_challenge"].scored_both) == (0, 40)
    assert dict(results["gsm8k"].reasons) == {"gsm8k-decimal": 3}
    gsm8k = results["gsm8k"]
    assert (gsm8k.rows, gsm8k.scored_both, gsm8k.agree, gsm8k.released_only, gsm8k.ours_only) == (40, 38, 35, 2, 0)
    assert dict(results["boolq"].reasons) == {"qa-lenient-substring": 2}
    assert (results["boolq"].agree, results["boolq"].scored_both) == (38, 40)
    assert results["gsm8k"].released_mean == pytest.approx(37 / 40)  # stored 1.0 but rows 2-4 (0.0)
    rows = load_dataset(str(planted_export), "gsm8k", split="train")
    rescored = dict(zip(rows["response"], rows[RESCORED_COLUMN], strict=True))
    assert rescored[None] is None  # no response: null, never 0
    assert (rescored["The answer is 185."], rescored["The answer is 18.50."], rescored["The answer is 18.5."]) == (
        0.0, 1.0, 1.0,
    )  # fmt: skip


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
