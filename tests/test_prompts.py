"""The release's prompt templates render exactly and parse back, on made-up and real items."""

from __future__ import annotations

import json

import pytest

from fusionbench.prompts import QueryFields, parse, render
from fusionbench.schema import TASKS

CASES = {
    "natural_qa": QueryFields("who wrote hamlet?"),
    "trivia_qa": QueryFields("Which planet is called the red planet?"),
    "squad": QueryFields("When did it happen?", context="In 1990 things happened.\nThen more."),
    "boolq": QueryFields("is the sky blue", context="The sky is blue on clear days."),
    "mmlu": QueryFields("What is 2+2?", choices=["1", "2", "3", "4"], choice_labels=list("ABCD")),
    "gpqa": QueryFields("Which line?\nTwo lines.", choices=["a", "b\nc", "d", "e"], choice_labels=list("ABCD")),
    "gsm8k": QueryFields("Tom has 3 apples. How many?"),
    "math": QueryFields("Compute $\\frac{1}{2}$."),
    "commonsense_qa": QueryFields("Where?", choices=list("vwxyz"), choice_labels=list("ABCDE")),
    "openbook_qa": QueryFields("Where?", choices=list("wxyz"), choice_labels=list("ABCD")),
    "arc_challenge": QueryFields("Where?", choices=list("wxyz"), choice_labels=list("1234")),
    "hellaswag": QueryFields("Baking: a man mixes flour.", choices=list("abcd"), choice_labels=list("ABCD")),
    "mbpp": QueryFields("Write a function to add.", test_list=["assert add(1,2)==3", "assert add(0,0)==0"]),
    "human_eval": QueryFields("", function_stub='def f(x):\n    """Return x."""\n'),
}


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("mode", ["direct", "cot"])
def test_render_parse_round_trip(task: str, mode: str) -> None:
    fields = CASES[task]
    prompt = render(task, fields, mode)
    parsed = parse(task, prompt)
    assert parsed is not None
    assert parsed.question == (fields.function_stub if task == "human_eval" else fields.question)
    assert (parsed.context, parsed.choices, parsed.choice_labels) == (
        fields.context,
        fields.choices,
        fields.choice_labels,
    )
    assert parsed.test_list == fields.test_list
    parsed.question = fields.question
    assert render(task, parsed, mode) == prompt
    assert ("step by step" in prompt) == (mode == "cot")


def test_release_whitespace_quirks_are_reproduced() -> None:
    """The original triple-quoted templates left 8/16/24-space indentation in some prompts."""
    assert render("gsm8k", CASES["gsm8k"], "direct").startswith("\n        Answer the following question.")
    assert "\n                ## Context:" in render("boolq", CASES["boolq"], "direct")
    assert "\n                        ## Context:" in render("boolq", CASES["boolq"], "cot")
    assert render("commonsense_qa", CASES["commonsense_qa"], "cot").endswith("\n(E) z\n\nLet's think step by step")


def test_notes_style_prompts_without_indentation_parse() -> None:
    prompt = "Answer the following question.\n\nQuestion: What is 6 times 7?\nLet's think step by step"
    assert parse("gsm8k", prompt).question == "What is 6 times 7?"


def test_unknown_task_and_mode_and_missing_fields_are_errors() -> None:
    with pytest.raises(ValueError, match="unknown task"):
        render("quac", QueryFields("q"), "direct")
    with pytest.raises(ValueError, match="unknown mode"):
        render("gsm8k", QueryFields("q"), "think")
    with pytest.raises(ValueError, match="needs choices"):
        render("mmlu", QueryFields("q"), "direct")
    assert parse("gsm8k", "not a gsm8k prompt at all") is None


def test_real_humaneval_stubs_round_trip_and_give_the_entry_point(shared_data) -> None:
    problems = [json.loads(line) for line in (shared_data / "code" / "HumanEval.jsonl").open()]
    assert len(problems) == 164
    for problem in problems:
        for mode in ("direct", "cot"):
            parsed = parse("human_eval", render("human_eval", QueryFields("", function_stub=problem["prompt"]), mode))
            assert parsed.function_stub.strip() == problem["prompt"].strip()
            assert parsed.entry_point == problem["entry_point"], problem["task_id"]


def test_real_mbpp_prompts_parse(shared_data) -> None:
    problems = [json.loads(line) for line in (shared_data / "code" / "mbpp.jsonl").open()]
    for problem in problems:
        parsed = parse("mbpp", render("mbpp", QueryFields(problem["text"], test_list=problem["test_list"]), "cot"))
        assert parsed.question == problem["text"].strip()
        assert [t.strip() for t in parsed.test_list] == [t.strip() for t in problem["test_list"]]
