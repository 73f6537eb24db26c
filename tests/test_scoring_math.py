"""MATH scoring: boxed answers (one or several), normalisation, and equivalence through math-verify."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from fusionbench.metrics import (
    extract_math_answer,
    gold_answer,
    last_boxed,
    math_equivalent,
    normalize_math,
    score,
    score_details,
)
from fusionbench.metrics.boxed import boxed_answers


# ---------------------------------------------------------------- boxes
def test_last_boxed_nested_and_fbox() -> None:
    assert last_boxed("\\boxed{1} then \\boxed{\\frac{1}{\\sqrt{2}}}") == "\\frac{1}{\\sqrt{2}}"
    assert last_boxed("\\fbox{x^{2}}") == "x^{2}"
    assert last_boxed("\\boxed 5 and more") == "5"
    assert last_boxed("\\boxed \t7$ done") == "7"
    assert last_boxed("\\boxed{ 3 }") == "3"
    assert last_boxed("\\boxed{unclosed") is None
    assert last_boxed("\\boxed{2} and \\boxed{unclosed") == "2"  # an unclosed last box falls back to the one before
    assert last_boxed("\\boxed") is None
    assert last_boxed("\\boxeds{3}") is None  # not the \boxed command
    assert last_boxed("no box") is None


def test_boxed_answers_every_outermost_box() -> None:
    assert boxed_answers("\\boxed{1}, \\fbox{2} and \\boxed 3 then") == ["1", "2", "3"]
    assert boxed_answers("\\boxed{\\boxed{1} + 2} and \\boxed{4}") == ["\\boxed{1} + 2", "4"]
    assert boxed_answers("\\boxed{unclosed and \\boxed{5}") == ["5"]
    assert boxed_answers("\\boxed{a}{b}") == ["a"]
    assert boxed_answers("\\boxed") == []
    assert boxed_answers("\\boxed{1}\\boxed{2}") == ["1", "2"]
    assert boxed_answers("\\boxed, then \\boxed{3}") == ["3"]  # the brace-less form needs white space
    assert boxed_answers("\\boxed X") == ["X"]
    assert boxed_answers("nothing") == []


# ---------------------------------------------------------------- single answers
@pytest.mark.parametrize(
    ("response", "gold", "expected"),
    [
        ("$\\boxed{\\dfrac{1}{2}}$", "\\frac{1}{2}", 1.0),
        ("$\\boxed{0.5}$", "The answer is $\\boxed{\\frac12}$.", 1.0),
        ("\\boxed{\\frac{\\sqrt{3}}{2}}", "\\sqrt{3}/2", 1.0),
        ("\\boxed{\\frac{\\sqrt{2}}{2}}", "\\frac{\\sqrt{3}}{2}", 0.0),
        ("\\boxed{(1,2]}", "(1, 2]", 1.0),
        ("\\boxed{[1,2]}", "(1,2]", 0.0),
        ("\\boxed{5}", "5\\text{ cm}", 1.0),
        ("\\boxed{x = 3}", "3", 1.0),
        ("\\boxed{\\{1,2\\}}", "\\{2,1\\}", 1.0),
        ("\\boxed{10^\\circ}", "10", 1.0),
        ("\\boxed{1,000}", "1000", 1.0),
        ("\\boxed{1{,}000}", "1000", 1.0),
        ("\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}", "\\left( 3, \\frac{\\pi}{2} \\right)", 1.0),
        ("The answer is 1/2.", "\\frac{1}{2}", 0.0),  # no \boxed: nothing to compare
        ("\\boxed{}", "1", 0.0),
        ("\\boxed{\\$}", "5", 0.0),  # nothing left after normalisation
        ("\\boxed{3}", "4", 0.0),
        ("\\boxed{3}", "", 0.0),
        ("\\boxed{12.0}", "12", 1.0),
        ("\\boxed{12.00001}", "12", 0.0),
        ("\\boxed{12.0000001}", "12", 1.0),  # within 1e-6
        ("\\boxed{10000001}", "10000000", 0.0),  # no relative tolerance hides a wrong digit
        ("\\boxed{.5}", "0.5", 1.0),
        ("\\boxed{50\\%}", "50", 1.0),
        ("\\boxed{\\$18.50}", "18.5", 1.0),
        ("\\boxed{\\text{(B)}}", "(B)", 1.0),
        ("\\boxed{\\tfrac34}", "\\frac{3}{4}", 1.0),
    ],
)
def test_math_rules(response: str, gold: str, expected: float) -> None:
    assert score("math", response, gold) == expected


# ---------------------------------------------------------------- thousands separators and lists
@pytest.mark.parametrize(
    ("gold", "pred", "expected"),
    [
        ("32349", "32, 349", False),  # the false accept: a list of two numbers read as 32349
        ("32, 349", "32349", False),
        ("32,349", "32, 349", False),
        ("32,349", "32349", True),  # a bare comma before exactly three digits is a thousands separator
        ("1,000,000", "1000000", True),
        ("1,000.5", "1000.5", True),
        ("1,2345", "12345", False),  # a four-digit group is no thousands group
        ("1, 2, 3", "3, 2, 1", True),
        ("2,3", "3, 2", True),
        ("(1,000, 2)", "(1000, 2)", True),
    ],
)
def test_thousands_separators_need_three_digits_and_no_space(gold: str, pred: str, expected: bool) -> None:
    assert math_equivalent(gold, pred) is expected


def test_normalize_math_drops_thousands_commas_but_keeps_lists() -> None:
    assert normalize_math("1,000") == "1000"
    assert normalize_math("1{,}000") == "1000"
    assert normalize_math("32, 349") == "32,349"
    assert normalize_math("2,500,3") == "2,500,3"  # "2,500" followed by ",3": a list, not thousands
    assert normalize_math("\\dfrac{1}{2}") == "\\frac{1}{2}"
    assert normalize_math("x = \\frac 12") == "\\frac{1}{2}"
    assert normalize_math("0.5") == "\\frac{1}{2}"
    assert normalize_math("3/4") == "\\frac{3}{4}"
    assert normalize_math("\\sqrt2") == "\\sqrt{2}"
    assert normalize_math(" 5.") == "5"
    assert normalize_math(".25") == "0.25"
    assert normalize_math("\\left(1, 2\\right)") == "(1,2)"
    assert normalize_math("90^{\\circ}") == "90"
    assert normalize_math("4\\text{ inches}") == "4"
    assert normalize_math("\\text{odd}") == "odd"
    assert normalize_math("5\\%") == "5"
    # Hendrycks' brace repair of \frac: each fraction of the answer, one- and two-brace forms
    assert normalize_math("1+\\frac12") == "1+\\frac{1}{2}"
    assert normalize_math("\\frac{1}{2}+\\frac34") == "\\frac{1}{2}+\\frac{3}{4}"
    assert normalize_math("\\frac12x") == "\\frac{1}{2}x"
    assert normalize_math("\\frac1{23}") == "\\frac{1}{23}"


# ---------------------------------------------------------------- several boxes
@pytest.mark.parametrize(
    ("response", "gold", "expected"),
    [
        ("the solutions are \\boxed{2} and \\boxed{3}", "2, 3", 1.0),
        ("the solutions are \\boxed{3} and \\boxed{2}", "2,3", 1.0),  # order-insensitive
        ("the solutions are \\boxed{2} and \\boxed{3}", "\\{2,3\\}", 1.0),
        ("so \\boxed{3, 2}", "2, 3", 1.0),
        ("so \\boxed{2}", "2, 3", 0.0),  # a subset
        ("\\boxed{2}, \\boxed{3}, \\boxed{4}", "2, 3", 0.0),  # a superset
        ("\\boxed{2} ... actually \\boxed{3}", "3", 0.0),  # two different answers never match one gold
        ("\\boxed{2} ... actually \\boxed{3}", "2", 0.0),
        ("\\boxed{2} or \\boxed{3}", "3", 0.0),
        ("\\boxed{3} as shown; the answer is \\boxed{3}", "3", 1.0),  # a restated answer counts once
        ("\\boxed{\\frac12} so \\boxed{0.5}", "\\frac{1}{2}", 1.0),
        ("\\boxed{3}", "We find $\\boxed{1}$ and $\\boxed{3}$.", 0.0),
        ("\\boxed{3} and \\boxed{1}", "We find $\\boxed{1}$ and $\\boxed{3}$.", 1.0),  # a gold solution's boxes
        ("\\boxed{3}", "We find $\\boxed{3}$, so the answer is $\\boxed{3}$.", 1.0),
    ],
)
def test_math_several_boxes_are_one_set_answer(response: str, gold: str, expected: float) -> None:
    assert score("math", response, gold) == expected


def test_math_answer_and_gold_extraction() -> None:
    assert extract_math_answer("\\boxed{2} and \\boxed{3}") == "2, 3"
    assert extract_math_answer("\\boxed{3}. Again: \\boxed{3}") == "3"
    assert extract_math_answer("\\boxed{} and \\boxed{4}") == "4"
    assert extract_math_answer("no box") is None
    assert gold_answer("We find $\\boxed{1}$ and $\\boxed{-2}$.") == "1, -2"
    assert gold_answer("  $\\frac{1}{2}$ ") == "\\frac{1}{2}"
    assert score_details("math", "\\boxed{2} and \\boxed{3}", "3, 2") == {"acc": 1.0, "pred": "2, 3"}
    assert score_details("math", "no box", "3") == {"acc": 0.0, "pred": None}


# Real model outputs with several boxes and their labels, from the tests of huggingface/Math-Verify
# (tests/test_open_thoughts.py, tests/test_numina_cases.py, tests/test_boxed.py; Apache-2.0): each
# pair is (the text with the boxes, the other side, whether they match). The scorer before the
# multi-box rule rejected 14 of these 16.
MATH_VERIFY_CASES = [
    (r"$$\boxed{2}, \boxed{3}, \boxed{5}, \boxed{7}, \boxed{13}$$", r"{2, 3, 5, 7, 13}"),
    (r"$$\boxed{(2, 2)} \quad \text{and} \quad \boxed{(6, 2)}$$", r"(2, 2), (6, 2)"),
    (r"$$\boxed{(98, 2)} \quad \text{and} \quad \boxed{(99, 503)}$$", r"(98, 2), (99, 503)"),
    (r"$$\boxed{(3, 3)} \text{ for part (a) and } \boxed{(1, 1)}$$", r"(3, 3), (1, 1)"),
    (r"$$\boxed{k = 45} \quad \text{and} \quad \boxed{n = 2}$$", r"k = 45, n = 2"),
    (r"\boxed{1} and \boxed{2} and \boxed{3}", r"{1,2,3}"),
    (r"\boxed{1},\boxed{2},\boxed{3}", r"{1,2,3}"),
    (
        r"$\boxed{10^{\frac{\sqrt{13} - 5}{6}}} \quad \text{and} \quad \boxed{10^{-\frac{5 + \sqrt{13}}{6}}}$",
        r"x_{1}=10^{\frac{-5+\sqrt{13}}{6}},\quadx_{2}=10^{\frac{-5-\sqrt{13}}{6}}",
    ),
    (
        r"\($y_1 = \boxed{-2(x - 1)^2 + 5} \) and \( y_2 = \boxed{3(x + 2)^2 - 2} \) ",
        r"y_{1}=-2 x^{2}+4 x+3, y_{2}=3 x^{2}+12 x+10",
    ),
    (
        r"$\boxed{\dfrac{108 + 31\sqrt{5}}{216}} \quad \text{and} \quad \boxed{\dfrac{108 - 31\sqrt{5}}{216}}$",
        r"x_{1}=\frac{1}{2}+\frac{31\sqrt{5}}{216},\quadx_{2}=\frac{1}{2}-\frac{31\sqrt{5}}{216}",
    ),
    (r"\boxed{1} papers and \boxed{2} bins", r"$\boxed{1,2}$"),
    (
        "solutions are:\n\n\\[\n\\boxed{(1, 2)}, \\boxed{(2, 1)}, \\boxed{(-1, -20)}, \\boxed{(-20, -1)}\n\\]",
        r"(2,1),(1,2),(-1,-20),(-20,-1)",
    ),
    (r"\(\boxed{1}\) and \(\boxed{-2}\).", r"$\boxed{-2,1}$."),
    (r"$\boxed{35 cm} ++++++ \boxed{4}$", r"{35 cm,4}"),
    (
        " the answer should be \\boxed{004}.\n\nBut let me check again: the sum is 2,552,004. So, \\boxed{004} is "
        "the correct answer.\n\n**Final Answer**\n\\boxed{004}",
        r"004",
    ),
    (r"could answer therefore\boxed{840}.,but let me put this after explain.\n\n**Final Answer**\n\boxed{840}", "840"),
]


@pytest.mark.parametrize(("boxes", "other"), MATH_VERIFY_CASES)
def test_math_verify_labelled_multi_box_cases(boxes: str, other: str) -> None:
    assert score("math", boxes, other) == 1.0  # the boxes as the response
    other_boxed = other if "\\boxed" in other else f"\\boxed{{{other}}}"
    assert score("math", other_boxed, boxes) == 1.0  # the boxes as a gold solution


def test_math_multi_box_cases_reject_a_wrong_set() -> None:
    for boxes, other in MATH_VERIFY_CASES[:7]:
        assert score("math", boxes + " and \\boxed{999}", other) == 0.0, boxes


def test_math_verify_works_in_worker_threads() -> None:
    pairs = [("\\frac{\\sqrt{3}}{2}", "\\sqrt{3}/2"), ("x^2+1", "1+x^2"), ("(1,2]", "[1,2]")]
    expected = [True, True, False]
    with ThreadPoolExecutor(2) as pool:
        assert list(pool.map(lambda p: math_equivalent(*p), pairs)) == expected
        # a huge power is not handed to sympy without a timeout; the string comparison decides
        assert pool.submit(math_equivalent, "9^{9^{9^{9}}}", "9^{9^{9^{9}}}+0").result() is False
        assert pool.submit(math_equivalent, "x" * 300, "x" * 299 + "y").result() is False
        # answers up to 200 characters go to math-verify untimed, longer ones do not
        assert pool.submit(math_equivalent, "1+x" + " " * 197, "x+1").result() is True
        assert pool.submit(math_equivalent, "1+x" + " " * 198, "x+1").result() is False


def test_long_answers_are_verified_in_the_main_thread() -> None:
    terms = [f"x_{{{i}}}" for i in range(40)]
    gold, pred = "+".join(terms), "+".join(reversed(terms))
    assert len(gold) > 200
    assert math_equivalent(gold, pred) is True
    assert math_equivalent(gold, pred + "+1") is False
