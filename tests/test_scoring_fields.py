"""The keyword fields of score / score_details / score_batch: known ones accepted, unknown ones refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fusionbench.metrics import score, score_batch, score_details
from fusionbench.metrics.scoring import ACCEPTED_FIELDS
from fusionbench.schema import SCORER_FIELDS, TASKS

STUB = 'def add(a, b):\n    """Add two numbers."""\n'
BODY = "    return a + b\n"
CHECK = "def check(candidate):\n    assert candidate(1, 2) == 3\n"


def test_every_task_accepts_every_query_field() -> None:
    # a query row's fields are passed whole; the ones a task does not read are ignored
    fields = dict.fromkeys(SCORER_FIELDS)
    assert score("gsm8k", "#### 4", "#### 4", context="unused", choices=None) == 1.0
    for task in TASKS:
        assert score(task, None, "x", **fields, aliases=None, timeout=1.0) is None
        assert score_details(task, None, "x", **fields) is None


@pytest.mark.parametrize("call", ["score", "score_details"])
def test_an_unknown_field_raises_naming_the_accepted_ones(call: str) -> None:
    fn = {"score": score, "score_details": score_details}[call]
    with pytest.raises(TypeError, match=r"unknown field 'choice' for task 'mmlu'; accepted fields: choices, ") as info:
        fn("mmlu", "(A)", "A", choice=["w", "x"])
    for name in ACCEPTED_FIELDS:
        assert name in str(info.value)
    with pytest.raises(TypeError, match=r"unknown fields 'alias', 'tests'"):
        fn("trivia_qa", "x", "x", alias=["y"], tests="t")
    with pytest.raises(TypeError, match="unknown field"):  # checked before the None short cut
        fn("gsm8k", None, "1", answer="1")


def test_humaneval_prompt_is_the_function_stub() -> None:
    """HumanEval's own column: ``prompt`` holds the stub. The release's bug: it was ignored and a
    correct body scored 0.0."""
    assert score("human_eval", BODY, CHECK, prompt=STUB) == 1.0
    assert score("human_eval", BODY, CHECK, function_stub=STUB) == 1.0
    assert score("human_eval", BODY, CHECK, prompt=STUB, function_stub=STUB) == 1.0  # both, equal
    assert score("human_eval", BODY, CHECK, prompt=STUB, function_stub=None) == 1.0  # the query row's null
    assert score("human_eval", BODY, CHECK, prompt=None, function_stub=STUB) == 1.0  # a null prompt column
    assert score("human_eval", "    return a - b\n", CHECK, prompt=STUB) == 0.0
    details = score_details("human_eval", BODY, CHECK, prompt=STUB, entry_point="add")
    assert details is not None and details["acc"] == 1.0 and details["status"] == "passed"
    message = (
        r"^human_eval got 'prompt' and 'function_stub' that differ; 'prompt' is HumanEval's name for the "
        r"function stub: pass one of them$"
    )
    with pytest.raises(ValueError, match=message):
        score("human_eval", BODY, CHECK, prompt=STUB, function_stub="def other():\n")


def test_humaneval_test_column_is_the_ground_truth() -> None:
    assert score("human_eval", BODY, None, prompt=STUB, test=CHECK) == 1.0
    assert score("human_eval", BODY, "", prompt=STUB, test=CHECK) == 1.0
    assert score("human_eval", BODY, CHECK, prompt=STUB, test=CHECK) == 1.0
    assert score("human_eval", BODY, CHECK, prompt=STUB, test=None) == 1.0  # a null test column
    assert score("human_eval", BODY, None, prompt=STUB) == 0.0  # no tests: nothing passes
    message = (
        r"^human_eval got a ground truth and a 'test' field that differ; 'test' is HumanEval's name for the "
        r"check code, which is the ground truth: pass one of them$"
    )
    with pytest.raises(ValueError, match=message):
        score("human_eval", BODY, CHECK, prompt=STUB, test="def check(c):\n    assert False\n")


def test_humaneval_columns_are_refused_elsewhere_with_a_hint() -> None:
    for name in ("prompt", "test"):
        with pytest.raises(TypeError, match=f"unknown field '{name}' for task 'mbpp'.*accepted for human_eval only"):
            score("mbpp", "def f():\n    return 1", ["assert f() == 1"], **{name: "x"})
    hint = (
        r"^unknown field 'prompt' for task 'gsm8k' \('prompt' and 'test' are HumanEval's column names, "
        r"accepted for human_eval only\); accepted fields: "
    )
    with pytest.raises(TypeError, match=hint):
        score("gsm8k", "4", "4", prompt="x")
    with pytest.raises(TypeError, match=r"^unknown field 'stub' for task 'human_eval'; accepted"):
        score("human_eval", BODY, CHECK, stub=STUB)


def test_score_batch_checks_every_row_fields() -> None:
    assert score_batch(["gsm8k", "mmlu"], ["#### 4", "(B)"], ["4", "B"], [None, {"choice_labels": list("AB")}]) == [
        1.0,
        1.0,
    ]
    with pytest.raises(TypeError, match=r"fields_list\[1\]: unknown field 'label' for task 'mmlu'"):
        score_batch(["gsm8k", "mmlu"], ["#### 4", "(B)"], ["4", "B"], [{}, {"label": "B"}])
    with pytest.raises(TypeError, match=r"fields_list\[0\]: unknown field"):  # a None response does not hide it
        score_batch("gsm8k", [None], ["4"], [{"answer": "4"}])
    with pytest.raises(TypeError, match=r"fields_list\[0\]: 'timeout' is score_batch's timeout= argument"):
        score_batch("mbpp", ["def f():\n    return 1"], [["assert f() == 1"]], [{"timeout": 5.0}])
    with pytest.raises(ValueError, match=r"fields_list\[0\]: human_eval got 'prompt' and 'function_stub'"):
        score_batch("human_eval", [BODY], [CHECK], [{"prompt": STUB, "function_stub": "def g():\n"}])
    assert score_batch(
        ["human_eval"] * 2, [BODY, BODY], [CHECK, None], [{"prompt": STUB}, {"prompt": STUB, "test": CHECK}]
    ) == [
        1.0,
        1.0,
    ]


def test_humaneval_rows_score_with_their_own_columns(shared_data: Path) -> None:
    with (shared_data / "code" / "HumanEval.jsonl").open(encoding="utf-8") as f:
        rows = [json.loads(line) for line in f][:10]
    columns = [{"prompt": r["prompt"], "test": r["test"], "entry_point": r["entry_point"]} for r in rows]
    solutions = [r["canonical_solution"] for r in rows]
    assert score_batch("human_eval", solutions, [None] * len(rows), columns, timeout=10.0) == [1.0] * len(rows)
