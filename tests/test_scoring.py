"""Scoring rules of the multiple-choice, QA, boolq and code tasks, on hand-made cases and on the real
HumanEval / MBPP data (GSM8K and MATH: test_scoring_gsm8k.py, test_scoring_math.py; the fields API:
test_scoring_fields.py; label, alias and keyword extraction: test_scoring_text.py)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest

from fusionbench.metrics import (
    extract_code,
    f1_score,
    gold_label,
    normalize_answer,
    parse_test_list,
    score,
    score_batch,
    score_details,
)
from fusionbench.schema import CODE_TASKS, TASKS


def _jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


# ---------------------------------------------------------------- API
def test_none_response_is_none_and_empty_is_zero() -> None:
    for task in TASKS:
        assert score(task, None, "x") is None
        assert score_details(task, None, "x") is None
    for task in set(TASKS) - CODE_TASKS:
        assert score(task, "", "A" if task != "gsm8k" else "#### 3") == 0.0
    assert score("mbpp", "", ["assert True"]) == 0.0
    assert score("human_eval", "   ", "def check(c): pass", entry_point="f") == 0.0


def test_unknown_task_raises() -> None:
    with pytest.raises(ValueError, match=f"^unknown task 'nope'; expected one of {', '.join(TASKS)}$"):
        score("nope", "x", "y")
    with pytest.raises(ValueError, match="unknown task 'nope'"):
        score_batch(["gsm8k", "nope"], ["1", "2"], ["1", "2"])
    with pytest.raises(ValueError, match="same length"):
        score_batch(["gsm8k"], ["1", "2"], ["1", "2"])


# ---------------------------------------------------------------- multiple choice
@pytest.mark.parametrize(
    ("response", "gold", "expected"),
    [
        ("(A) is tempting, but (C) is right.", "C", 1.0),
        ("(A) is tempting, but (C) is right.", "A", 0.0),
        ("The answer is B.", "B", 1.0),
        ("Answer: B", "B", 1.0),
        ("**Answer:** **D**", "D", 1.0),
        ("The correct option is D because ...", "D", 1.0),
        ("B", "B", 1.0),
        ("B. The mitochondria", "B", 1.0),
        ("the answer is a dog", "A", 0.0),  # an article, not a label
        ("The answer is A dog.", "A", 0.0),
        ("The answer is A because it is.", "A", 1.0),
        ("I cannot decide.", "A", 0.0),
        ("(B)", "(B)", 1.0),
        ("(b)", "B", 0.0),  # lower-case enumerations are not labels
    ],
)
def test_mc_rules(response: str, gold: str, expected: float) -> None:
    assert score("mmlu", response, gold, choices=["w", "x", "y", "z"], choice_labels=list("ABCD")) == expected


def test_mc_digit_labels_and_outside_labels() -> None:
    labels = ["1", "2", "3", "4"]
    choices = ["dog", "cat", "cow", "hen"]
    assert score("arc_challenge", "So the answer is (2).", "2", choices=choices, choice_labels=labels) == 1.0
    assert score("arc_challenge", "Answer: 3", "3", choices=choices, choice_labels=labels) == 1.0
    assert score("arc_challenge", "(2)", "3", choices=choices, choice_labels=labels) == 0.0
    assert score("arc_challenge", "(2)", "2") == 1.0  # ARC defaults admit digit labels
    # a label outside the item's labels never scores, even when the gold says so
    assert score("openbook_qa", "(E)", "E", choices=choices) == 0.0
    assert score("mmlu", "(E)", "E", choice_labels=list("ABCD")) == 0.0
    assert score("commonsense_qa", "(E)", "E") == 1.0  # five options by default
    assert score("hellaswag", "(E)", "A") == 0.0


def test_mc_gold_forms_and_option_text() -> None:
    assert gold_label("(C)") == "C"
    assert gold_label("answer: d") == "D"
    assert gold_label("cat", ("dog", "cat"), ("A", "B")) == "B"
    assert score("commonsense_qa", "cat", "B", choices=["dog", "cat", "cow"], choice_labels=list("ABC")) == 1.0


# ---------------------------------------------------------------- QA
def test_normalize_answer() -> None:
    assert normalize_answer("  The  Eiffel-Tower!  ") == "eiffeltower"
    assert normalize_answer("An apple, a pear") == "apple pear"


@pytest.mark.parametrize("task", ["natural_qa", "trivia_qa", "squad"])
def test_qa_contains_match_whole_words(task: str) -> None:
    assert score(task, "It was built in Paris, France.", "paris") == 1.0
    assert score(task, "It opened in 1990.", "1") == 0.0  # substring of a token does not count
    assert score(task, "The category is wrong", "cat") == 0.0
    assert score(task, "Barack Obama", "Obama") == 1.0
    assert score(task, "Obama", "Barack Obama") == 0.0


def test_qa_aliases_and_list_golds() -> None:
    assert score("trivia_qa", "It is the Big Apple.", "New York City", aliases=["NYC", "Big Apple"]) == 1.0
    assert score("trivia_qa", "It is the Big Apple.", "New York City") == 0.0
    assert score("natural_qa", "the big apple", "['New York City', 'the Big Apple']") == 1.0
    assert score("natural_qa", "big apple", ["New York City", "the Big Apple"]) == 1.0


def test_qa_f1_and_details() -> None:
    assert f1_score("the cat sat", "cat") == pytest.approx(2 / 3)
    assert f1_score("cat", ["dog", "the cat"]) == 1.0
    assert f1_score("dog", "cat") == 0.0
    details = score_details("squad", "He was born in Hawaii in 1961", "Hawaii", aliases=["Honolulu, Hawaii"])
    assert details is not None
    assert details["acc"] == 1.0 and details["em"] == 0.0
    # 7 prediction tokens; best alias "hawaii": precision 1/7, recall 1 -> F1 0.25 (the other alias gives 2/9)
    assert details["f1"] == pytest.approx(0.25)


def test_boolq_rules() -> None:
    assert score("boolq", "True.", "True") == 1.0
    assert score("boolq", "Yes, it is.", "true") == 1.0
    assert score("boolq", "False", "True") == 0.0
    assert score("boolq", "That claim is untrue.", "True") == 0.0  # the release counted "untrue"
    assert score("boolq", "That claim is untrue.", "False") == 0.0
    assert score("boolq", "It could be true or false.", "True") == 0.0  # both polarities
    assert score("boolq", "No; so true is wrong and it is false.", "False") == 0.0
    assert score("boolq", "There is no such rule, so the answer is True.", "True") == 1.0  # explicit answer
    assert score("boolq", "Answer: **False**", "False") == 1.0
    assert score_details("boolq", "yes", "True") == {"acc": 1.0, "pred": True}


# ---------------------------------------------------------------- code extraction
def test_extract_code_formats() -> None:
    code = "def f(x):\n    return x + 1"
    assert extract_code(f"[BEGIN]\n{code}\n[DONE]") == code
    assert extract_code(f"Sure! [begin]\n{code}\n[Done] Hope it helps") == code
    assert extract_code(f"[BEGIN]\n{code}\n") == code  # missing end tag
    assert extract_code(f"Here it is:\n```python\n{code}\n```\nUsage: f(1)") == code
    assert extract_code(f"```\n{code}") == code  # missing closing fence
    assert extract_code(f"[BEGIN]\n```python\n{code}\n```\n[DONE]") == code
    assert extract_code(f"Here is my solution:\n{code}") == code
    assert extract_code(code) == code
    assert extract_code("Format: [BEGIN] <Your Code> [Done]") == "Format:"  # only the placeholder
    example = "```python\nprint(f(1))\n```"
    assert extract_code(f"{example}\n```python\n{code}\n```") == code  # the block that defines a function


def test_parse_test_list_forms() -> None:
    tests = ["assert f(1) == 2", "assert f(2) == 3"]
    assert parse_test_list(tests) == tests
    assert parse_test_list(repr(tests)) == tests
    assert parse_test_list("\n".join(tests)) == tests
    assert parse_test_list(None) == []


# ---------------------------------------------------------------- code tasks on real data
def _humaneval_variants(row: dict) -> dict[str, str]:
    body, stub = row["canonical_solution"], row["prompt"]
    return {
        "begin_done": f"[BEGIN]\n{body}\n[DONE]",
        "fence_full": f"Here is the function:\n```python\n{stub}{body}```\nIt works.",
        "plain_body": body,
        "unindented_body": textwrap.dedent(body),
        "stripped_body": body.strip(),
    }


def test_humaneval_canonical_solutions_pass_in_every_format(shared_data: Path) -> None:
    rows = _jsonl(shared_data / "code" / "HumanEval.jsonl")[::5][:30]
    tasks, responses, golds, fields, names = [], [], [], [], []
    for row in rows:
        f = {"function_stub": row["prompt"], "entry_point": row["entry_point"]}
        for name, response in [*_humaneval_variants(row).items(), ("wrong", "    return None\n")]:
            tasks.append("human_eval")
            responses.append(response)
            golds.append(row["test"])
            fields.append(f)
            names.append((row["task_id"], name))
    scores = score_batch(tasks, responses, golds, fields, timeout=10.0)
    failed = [n for n, s in zip(names, scores, strict=True) if (s == 1.0) != (n[1] != "wrong")]
    assert not failed


def test_humaneval_single_row_details(shared_data: Path) -> None:
    row = _jsonl(shared_data / "code" / "HumanEval.jsonl")[0]
    details = score_details(
        "human_eval", row["canonical_solution"], row["test"], function_stub=row["prompt"], timeout=10.0
    )
    assert details is not None and details["acc"] == 1.0 and details["status"] == "passed"
    wrong = score_details("human_eval", "    return True", row["test"], function_stub=row["prompt"])
    assert wrong is not None and wrong["status"] == "failed" and "AssertionError" in wrong["stderr"]


def test_mbpp_reference_code_passes_its_tests(shared_data: Path) -> None:
    rows = [r for r in _jsonl(shared_data / "code" / "mbpp.jsonl") if r["task_id"] not in (123, 940)][
        :40
    ]  # 123 is slow, 940 broken
    tasks, responses, golds, fields = [], [], [], []
    for row in rows:
        f = {"test_setup_code": row["test_setup_code"]}
        for response, gold in (
            (f"[BEGIN]\n{row['code']}\n[DONE]", row["test_list"]),
            (row["code"], repr(row["test_list"])),
        ):
            tasks.append("mbpp")
            responses.append(response)
            golds.append(gold)
            fields.append(f)
    assert score_batch(tasks, responses, golds, fields, timeout=10.0) == [1.0] * len(tasks)
    wrong = rows[0]["code"].replace("return", "return None and", 1)
    assert score("mbpp", wrong, rows[0]["test_list"]) == 0.0
    # the tests may come as a field instead of the ground truth
    assert score("mbpp", rows[0]["code"], None, test_list=rows[0]["test_list"], timeout=10.0) == 1.0


def test_mbpp_setup_code_runs_after_the_program() -> None:
    code = "class Node:\n    def __init__(self, v):\n        self.v = v\n\ndef val(n):\n    return n.v\n"
    assert score("mbpp", code, ["assert val(root) == 3"], test_setup_code="root = Node(3)") == 1.0


SLOW = "import time\n\ndef f():\n    time.sleep(1.5)\n    return 1\n"


def test_code_timeouts_are_applied() -> None:
    # the limit, not the default of 3 s, stops a program that sleeps 1.5 s
    assert score("mbpp", SLOW, ["assert f() == 1"], timeout=0.3) == 0.0
    details = score_details("mbpp", SLOW, ["assert f() == 1"], timeout=0.3)
    assert details is not None and details["acc"] == 0.0 and details["status"] == "timeout"
    assert score_batch("mbpp", [SLOW], [["assert f() == 1"]], timeout=0.3) == [0.0]


def test_code_details_without_code_or_tests() -> None:
    expected = {"acc": 0.0, "status": "failed", "stderr": "no code or no tests", "duration": 0.0}
    assert score_details("mbpp", "", ["assert True"]) == expected
    assert score_details("mbpp", "def f():\n    return 1", []) == expected
    failed = score_details("mbpp", "def f():\n    return 2", ["assert f() == 1"])
    assert failed is not None and failed["acc"] == 0.0 and failed["status"] == "failed"
    assert isinstance(failed["duration"], float) and failed["duration"] > 0.0


def test_score_batch_code_rows() -> None:
    code = "class Node:\n    def __init__(self, v):\n        self.v = v\n\ndef val(n):\n    return n.v\n"
    rows = [
        ("mbpp", "", ["assert True"], {}),  # no code
        ("mbpp", code, ["assert val(root) == 3"], {"test_setup_code": "root = Node(3)"}),
        ("gsm8k", "#### 2", "2", {}),
        ("mbpp", "def f():\n    return 2", ["assert f() == 1"], None),
    ]
    tasks, responses, golds, fields = (list(x) for x in zip(*rows, strict=True))
    assert score_batch(tasks, responses, golds, fields) == [0.0, 1.0, 1.0, 0.0]
    same_length = r"^tasks, responses, ground_truths and fields_list must have the same length$"
    with pytest.raises(ValueError, match=same_length):
        score_batch(["gsm8k", "gsm8k"], ["1", "2"], ["1"])
    with pytest.raises(ValueError, match="same length"):
        score_batch(["gsm8k", "gsm8k"], ["1", "2"], ["1", "2"], [{}])


def test_human_eval_entry_point_field_picks_the_function_under_test() -> None:
    check = "def check(candidate):\n    assert candidate(1, 2) == 3\n"
    two = "def add(a, b):\n    return a + b\n\n\ndef helper():\n    return 0\n"
    assert score("human_eval", two, check, prompt=None, entry_point="add") == 1.0
    assert score("human_eval", two, check, prompt=None) == 0.0  # else the last function is checked


# ---------------------------------------------------------------- batch == single
def test_score_batch_matches_score() -> None:
    rows = [
        ("gsm8k", "so 12", "#### 12", {}),
        ("math", "\\boxed{\\dfrac{2}{4}}", "\\frac12", {}),
        ("mmlu", "(B)", "B", {"choice_labels": list("ABCD")}),
        ("boolq", "untrue", "True", {}),
        ("squad", "in Paris", "Paris", {}),
        ("trivia_qa", None, "x", {}),
        ("mbpp", "def f():\n    return 1", ["assert f() == 1"], {}),
        ("mbpp", "def f():\n    return 2", "['assert f() == 1']", {}),
    ]
    tasks, responses, golds, fields = (list(x) for x in zip(*rows, strict=True))
    expected = [score(t, r, g, **f) for t, r, g, f in rows]
    assert score_batch(tasks, responses, golds, fields) == expected == [1.0, 1.0, 1.0, 0.0, 1.0, None, 1.0, 0.0]


def test_array_fields_from_dataframes() -> None:
    labels, choices = np.array(list("ABCD")), np.array(["w", "x", "y", "z"])
    assert score("mmlu", "(C)", "C", choices=choices, choice_labels=labels) == 1.0
    assert score("trivia_qa", "the big apple", np.array(["NYC", "Big Apple"]), aliases=np.array([])) == 1.0
    assert score("mbpp", "def f():\n    return 1", None, test_list=np.array(["assert f() == 1"])) == 1.0


@pytest.mark.parametrize(
    ("completion", "expected_body"),
    [
        # a body whose first line lost its indentation (the release's ``response.strip()``)
        (
            "total = 0\n    for x in xs:\n        total += x\n    return total",
            "    total = 0\n    for x in xs:\n        total += x\n    return total",
        ),
        # the same when the first line opens a block: one level less than the rest would be 0, so 4 spaces
        (
            "if not xs:\n        return 0\n    return sum(xs)",
            "    if not xs:\n        return 0\n    return sum(xs)",
        ),
    ],
)
def test_humaneval_body_with_an_unindented_first_line_is_reindented(completion: str, expected_body: str) -> None:
    """Self-contained (no ../shared): the program joins the stub to the re-indented body and really runs."""
    from fusionbench.metrics.code import humaneval_program

    stub = 'def total_of(xs):\n    """Sum of xs."""\n'
    program = humaneval_program(stub, completion, "total_of")
    assert program == stub + expected_body
    namespace: dict = {}
    exec(compile(program, "<humaneval>", "exec"), namespace)  # our own fixed text, not model output
    assert namespace["total_of"]([1, 2, 3]) == 6 and namespace["total_of"]([]) == 0
