"""The judge rubric prompt, the judge-output parser, and calibration (AUROC, Spearman)."""

from __future__ import annotations

import math

import pytest

from fusionbench.metrics import JUDGE_ANCHORS, auroc, judge_prompt, judge_summary, parse_judge_output, spearman


def test_prompt_carries_the_rubric_and_the_row() -> None:
    prompt = judge_prompt("What is 2+2?", "It is 4.", "4")
    for part in ("Correctness", "Thought Process", "Training Data Quality", "<answer>SCORE</answer>"):
        assert part in prompt
    for anchor in ("- 0:", "- 0.3:", "- 0.6:", "- 0.8:", "- 1.0:"):
        assert anchor in prompt
    assert "Query: What is 2+2?\nGround Truth: 4\nResponse: It is 4." in prompt
    assert JUDGE_ANCHORS == (0.0, 0.3, 0.6, 0.8, 1.0)


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("<answer>0.8</answer>", 0.8),
        ("Good reasoning.\n<answer> 1.0 </answer>", 1.0),
        ("<ANSWER>0.3</ANSWER>", 0.3),
        ("Echo: <answer>SCORE</answer> ... final <answer>0.6</answer>", 0.6),
        ("<answer>Score: 0.3</answer>", 0.3),
        ("<answer>0.8 (good thought process)</answer>", 0.8),
        ("<answer>0.8", 0.8),  # cut off before the closing tag
        ("0.6", 0.6),
        (".8", 0.8),
        ("80%", 0.8),
        ("<answer>60%</answer>", 0.6),
        ("4/5", 0.8),
        ("4 out of 5", 0.8),
        ("The final score: **0.6**.", 0.6),
        (1, 1.0),
        (0.3, 0.3),
    ],
)
def test_parser_reads(output: object, expected: float) -> None:
    assert parse_judge_output(output) == pytest.approx(expected)


@pytest.mark.parametrize(
    "output",
    [
        "",
        "   ",
        None,
        float("nan"),
        "<answer>high</answer>",  # malformed
        "<answer></answer>",
        "The response is good.",
        "<answer>1.5</answer>",  # out of range: rejected, not clamped
        "120%",
        "-0.2",
        "6/5",
        "3/0",
        2.0,
        "<answer>0.8</answer><answer>x</answer>",  # the last answer counts
    ],
)
def test_parser_rejects(output: object) -> None:
    assert parse_judge_output(output) is None


def test_auroc_on_known_cases() -> None:
    # The classic example: 3 of the 4 (positive, negative) pairs are ordered right.
    assert auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(0.75)
    assert auroc([0.2, 0.9], [False, True]) == 1.0
    assert auroc([0.9, 0.2], [False, True]) == 0.0
    assert auroc([0.5, 0.5, 0.5], [0, 1, 1]) == 0.5  # ties count half
    assert auroc([0.1, 0.2], [1, 1]) is None  # one class only


def test_spearman_on_a_known_case() -> None:
    rho, p_value = spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7])
    # ranks of y: 1, 2, 3.5, 5, 3.5 -> Pearson of the ranks
    assert rho == pytest.approx(0.8207826816681233)
    assert 0 < p_value < 1
    assert spearman([1, 2, 3], [4, 4, 4]) == (None, None)
    assert spearman([1], [2]) == (None, None)


def test_summary_counts_failures_and_calibrates() -> None:
    outputs = ["<answer>0.8</answer>", "<answer>1.0</answer>", "0", "<answer>0.3</answer>", "garbage", None]
    performance = [1.0, 1.0, 0.0, 0.0, 1.0, None]
    r = judge_summary(outputs, performance)
    assert r["n"] == 6 and r["n_parsed"] == 4 and r["n_failed"] == 2
    assert r["coverage"] == pytest.approx(4 / 6)
    assert r["mean"] == pytest.approx((0.8 + 1.0 + 0.0 + 0.3) / 4)  # failures are not zeros
    assert r["anchor_rate"] == 1.0
    assert r["n_calibration"] == 4
    assert r["auroc"] == 1.0  # both correct rows score above both incorrect ones
    assert r["mean_when_correct"] == pytest.approx(0.9) and r["mean_when_incorrect"] == pytest.approx(0.15)
    assert r["spearman"] == pytest.approx(spearman([0.8, 1.0, 0.0, 0.3], [1, 1, 0, 0])[0])
    empty = judge_summary([])
    assert empty["mean"] is None and empty["coverage"] is None and "auroc" not in empty
    assert math.isclose(judge_summary(["0.45"])["anchor_rate"], 0.0)
