"""GSM8K scoring: which number is the final answer, on hand-made cases and on the real GSM8K data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fusionbench.metrics import extract_number, gold_number, score, score_batch, score_details


def _jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.mark.parametrize(
    ("response", "gold", "expected"),
    [
        ("She pays $18.5 in total.", "#### 18.5", 1.0),
        ("She pays $18.5 in total.", "#### 185", 0.0),  # the release compared "185"
        ("The temperature drops to -3 degrees.", "#### -3", 1.0),
        ("The temperature drops to −3 degrees.", "#### -3", 1.0),
        ("The temperature drops to −3 degrees.", "#### 3", 0.0),
        ("It costs $1,234.", "#### 1234", 1.0),
        ("It costs 1,234,567 dollars.", "#### 1234567", 1.0),
        ("So the answer is $18.50.", "18.5", 1.0),
        ("3 + 4 = 7 apples, so 7.", "7", 1.0),
        ("He has 50% of 8 = 4 left", "4", 1.0),
        ("no numbers at all", "4", 0.0),
        ("0.5 of them", "#### .5", 1.0),
        ("5 boxes", 5, 1.0),  # a numeric gold
        ("5 boxes", 5.0000001, 1.0),  # within 1e-6
        ("5 boxes", 5.001, 0.0),
        ("10000001 people", "#### 10000000", 0.0),  # no relative tolerance hides a wrong digit
        ("123456789.0000001", "#### 123456789", 1.0),
        ("0.0000001", 1e-7, 1.0),  # a float gold is compared as a number, not as its repr "1e-07"
        ("5 boxes", "no gold number here", 0.0),
    ],
)
def test_gsm8k_rules(response: str, gold: object, expected: float) -> None:
    assert score("gsm8k", response, gold) == expected


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        # each answer marker beats the last number of the text, and the last marker of a kind beats the first
        ("#### 42\nThe 7 dwarves agree.", 42.0),
        ("A first guess: #### 3\nOn reflection the total is 4.\n#### 5\nCheck: 2 + 3", 5.0),
        ("#### \nno number after the marker, so the last number counts: 8", 8.0),
        ("####\nwe have 7 apples\nand 8 pears", 8.0),  # only the marker's own line
        ("####7, not 3", 7.0),
        ("The answer is 12; more than that cannot be determined.", 12.0),  # declining after the number
        ("First 3 then 5.\nA: 12\nCheck: 2 + 10", 12.0),
        ("A: 3\nWait, I made a mistake.\nA: 9\nCheck: 4 + 5", 9.0),
        ("**A:** 7 and then 2 more", 7.0),
        ("So the answer is 12 cookies. Note 5 were eaten.", 12.0),
        ("The answer is 4. Hmm, no. The answer is 6. Check: 1 + 5", 6.0),
        ("ANSWER: 11, from 3 + 8", 11.0),
        ("The answer is below.\nWe have 9 boxes, 2 left over", 2.0),  # the number must be on the marker's line
        ("The answer is\n9 boxes, 2 left over", 9.0),  # the line starts after the marker's white space
        ("We get $\\boxed{1{,}000}$ and 3 later", 1000.0),
        ("\\boxed{4} at first, then \\boxed{6}; 2 is left", 6.0),
        ("\\boxed{x} and 7", 7.0),  # a box without a number does not decide
        ("\\fbox{7} and 3", 7.0),
        ("\\boxed{-\\$5} and 3", -5.0),
        ("\\boxed{1\\!000} and 3", 1000.0),
        ("#### 1\nA: 2\nthe answer is 3\n\\boxed{4}", 1.0),  # #### first, then A:, then "the answer is", then \boxed
        ("A: 2\nthe answer is 3\n\\boxed{4}", 2.0),
        ("the answer is 3\n\\boxed{4} 5", 3.0),
    ],
)
def test_gsm8k_answer_markers(response: str, expected: float) -> None:
    assert extract_number(response) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a $1,000.25 fee", 1000.25),
        ("x = -0.75.", -0.75),
        ("+4 degrees", 4.0),
        ("nothing", None),
        ("the numbers 32, 349", 349.0),  # a list: "32, 349" is not 32349
        ("#### 32, 349", 32.0),
        ("it is 1,2345 units", 2345.0),  # "1,2345" has no three-digit group
        ("it costs $ 12", 12.0),
        ("a - 3 b", -3.0),
        ("1 then 2 then 1", 1.0),  # the last number, though its digit occurs first
    ],
)
def test_gsm8k_number_forms(text: str, expected: float | None) -> None:
    assert extract_number(text) == expected


def test_gsm8k_calculator_annotations_keep_the_sign() -> None:
    # GPT-style solutions carry GSM8K's calculator annotations "<<expr=result>>" before the result
    assert extract_number("She is left with 4 - 16 = -<<4-16=-12>>12 dollars") == -12.0
    assert score("gsm8k", "4 - 16 = -<<4-16=-12>>12", "#### -12") == 1.0
    assert score("gsm8k", "4 - 16 = -<<4-16=-12>>12", "#### 12") == 0.0
    assert extract_number("2 * 3 = <<2*3=6>>6 eggs") == 6.0
    assert extract_number("She has 16 - 3 = <<16-3=13>>13 eggs\nA: 13") == 13.0
    assert gold_number("Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\n#### 9") == 9.0


@pytest.mark.parametrize(
    "response",
    [
        "It is not possible to determine how many apples are left, since only 12 are counted.",
        "The number of pens cannot be determined from 12 alone.",
        "We can't determine the total; it could be 12.",
        "There is not enough information to answer. She had 12.",
        "This problem has no solution with 12 people.",
        "It is impossible to tell how many, maybe 12?",
        "I am unable to determine the cost beyond 12.",
        "Insufficient information: 12.",
        "The answer is: it is not possible to determine with 12 given",  # the marker's words decline it
    ],
)
def test_gsm8k_a_declined_answer_is_not_accepted(response: str) -> None:
    assert extract_number(response) is None
    assert score("gsm8k", response, "#### 12") == 0.0


def test_gsm8k_an_explicit_answer_beats_a_hedge() -> None:
    hedge = "It is not possible to determine exactly, but assuming equal shares: "
    for marker in ("#### 12", "A: 12", "So the answer is 12.", "\\boxed{12}"):
        assert score("gsm8k", hedge + "\n" + marker, "#### 12") == 1.0, marker
    # "no" and "possible" alone are not a declined answer
    assert score("gsm8k", "There is no way around it: 3 * 4 = 12", "12") == 1.0
    assert score("gsm8k", "It is possible to determine: 12", "12") == 1.0


def test_gsm8k_details_carry_the_extracted_number() -> None:
    assert score_details("gsm8k", "the answer is 18.5", "#### 18.5") == {"acc": 1.0, "pred": 18.5}
    assert score_details("gsm8k", "it cannot be determined, 12", "12") == {"acc": 0.0, "pred": None}
    assert score_details("gsm8k", "nothing", "12") == {"acc": 0.0, "pred": None}


def test_gsm8k_gold_answers_score_one_against_themselves(shared_data: Path) -> None:
    rows = _jsonl(shared_data / "gsm8k" / "test.jsonl")
    answers = [r["answer"] for r in rows]
    assert len(answers) == 1319
    assert score_batch("gsm8k", answers, answers) == [1.0] * len(answers)
    golds = [extract_number(a) for a in answers]
    shifted = answers[1:] + answers[:1]
    different = [i for i in range(len(answers)) if golds[i] != golds[(i + 1) % len(answers)]]
    scores = score_batch("gsm8k", [shifted[i] for i in different], [answers[i] for i in different])
    assert len(different) > 1000 and not any(scores)


def test_gsm8k_agreement_with_model_solution_labels(shared_data: Path) -> None:
    """Four GPT-3 models' solutions to the 1,319 test problems, each labelled ``is_correct``: our scorer
    agrees with every label (measured 5,276 of 5,276), so any change in a single verdict fails."""
    rows = _jsonl(shared_data / "gsm8k" / "example_model_solutions.jsonl")
    responses, golds, labels = [], [], []
    for row in rows:
        for value in row.values():
            if isinstance(value, dict) and "solution" in value:
                responses.append(value["solution"])
                golds.append(row["ground_truth"])
                labels.append(bool(value["is_correct"]))
    scores = score_batch("gsm8k", responses, golds)
    disagree = [i for i, (s, label) in enumerate(zip(scores, labels, strict=True)) if (s == 1.0) != label]
    assert len(labels) == 5276
    assert disagree == []
    # the solutions are annotated like "= -<<4-16=-12>>12": one of them has a negative intermediate result
    assert sum("= -<<" in r for r in responses) == 1
