"""The release's prompt templates: render a query's prompt for a mode, and parse a prompt back.

The templates reproduce the released text byte for byte, including the indentation that the
original code's triple-quoted strings left in some prompts. Parsing is whitespace-tolerant, so it
also accepts the templates as printed in the release notes (without that indentation).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from fusionbench.schema import MULTIPLE_CHOICE_TASKS, TASKS

COT_TRIGGER = "Let's think step by step"
_I8, _I16, _I24 = " " * 8, " " * 16, " " * 24
_MC4 = (
    "Answer the following multiple-choice question by selecting the correct option (A, B, C, or D). "
    "You Must put your final answer letter in a parenthesis."
)
_MC_OPEN = (
    "Answer the following multiple-choice question by selecting the correct option. "
    "You Must put your final answer letter in a parenthesis."
)
_HELLASWAG = (
    "Which of the following is the most likely continuation? You Must put your final answer letter in a parenthesis."
)
_MATH = "Answer the following question. Make sure to put the answer ( and only answer ) inside \\boxed{}."
_MBPP_TAIL = " Implement the function (no irrelevant words or comments) in this format: [BEGIN] <Your Code> [Done]\n"
_HE_BODY = "Implement the function body only. Do not repeat the function signature or docstring."
_HE_FORMAT = "Put the code in this format: [BEGIN] <Your Code - function body only> [Done]"
_CONTEXT_INTRO = " Use the following context to answer the question."
_BOOL_INTRO = " Your answer must be True or False."


@dataclass
class QueryFields:
    """The parts of a query that a template combines into a prompt."""

    question: str
    context: str | None = None
    choices: list[str] | None = None
    choice_labels: list[str] | None = None
    test_list: list[str] | None = None
    function_stub: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def entry_point(self) -> str | None:
        """HumanEval: the last top-level function defined in the stub."""
        if not self.function_stub:
            return None
        names = re.findall(r"(?m)^def\s+(\w+)\s*\(", self.function_stub)
        return names[-1] if names else None


def _options_parenthesised(fields: QueryFields) -> str:
    return "".join(f"\n({label}) {text}" for label, text in zip(fields.choice_labels, fields.choices, strict=True))


def _check(task: str, fields: QueryFields) -> None:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    if task in MULTIPLE_CHOICE_TASKS and not fields.choices:
        raise ValueError(f"{task}: a multiple-choice query needs choices")
    if task in MULTIPLE_CHOICE_TASKS and len(fields.choice_labels or ()) != len(fields.choices):
        raise ValueError(f"{task}: choices and choice_labels differ in length")
    if task in ("squad", "boolq") and fields.context is None:
        raise ValueError(f"{task}: a reading query needs a context")
    if task == "mbpp" and not fields.test_list:
        raise ValueError("mbpp: a query needs test_list")
    if task == "human_eval" and not fields.function_stub:
        raise ValueError("human_eval: a query needs function_stub")


def render(task: str, fields: QueryFields, mode: str) -> str:
    """The exact prompt the release sent for ``task`` in ``mode`` ('direct' or 'cot')."""
    if mode not in ("direct", "cot"):
        raise ValueError(f"unknown mode {mode!r}; expected 'direct' or 'cot'")
    _check(task, fields)
    cot = mode == "cot"
    q = fields.question
    if task in ("natural_qa", "trivia_qa"):
        return q + ("\nLet's think step by step." if cot else "")
    if task in ("squad", "boolq"):
        ind = (_I24 if cot else _I16) if task == "boolq" else _I8
        intro = _CONTEXT_INTRO + (_BOOL_INTRO if task == "boolq" else "")
        body = f"{intro}\n{ind}## Context:\n{ind}{fields.context}\n\n{ind}## Question:\n{ind}{q}\n{ind}"
        return body + (f"\nLet's think step by step.\n{ind}" if cot else "")
    if task in ("mmlu", "gpqa"):
        options = "".join(f"{lab}. {text}\n" for lab, text in zip(fields.choice_labels, fields.choices, strict=True))
        text = f"{_MC4}\n\n## Question:\n{q}\n\n## Options:\n{options}\n"
        return text + ("\nLet's think step by step." if cot else "")
    if task in ("gsm8k", "math"):
        intro = "Answer the following question." if task == "gsm8k" else _MATH
        text = f"\n{_I8}{intro}\n\n{_I8}Question: {q}\n{_I8}"
        return text + (f"{COT_TRIGGER}\n{_I8}" if cot else "")
    if task in ("commonsense_qa", "openbook_qa", "arc_challenge"):
        text = f"\n{_I8}{_MC_OPEN}\n\n{_I8}Question: {q} \n\n{_I8}" + _options_parenthesised(fields)
        return text + (f"\n\n{COT_TRIGGER}" if cot else "")
    if task == "hellaswag":
        text = f"\n{_I8}Context: {q} \n\n\n{_I8}{_HELLASWAG}\n{_I8}" + _options_parenthesised(fields)
        return text + (f"\n\n{COT_TRIGGER}" if cot else "")
    if task == "mbpp":
        tests = "\n".join(fields.test_list)
        text = (
            f"You are an expert Python programmer, and here is your task: {q} "
            f"Your code should pass these tests:\n\n{tests}\n{_MBPP_TAIL}"
        )
        return text + ("\nLet's think step by step." if cot else "")
    # human_eval
    text = (
        f"You are an expert Python programmer. Complete the following function:\n\n{_I16}"
        f"{fields.function_stub}\n\n{_I16}{_HE_BODY}\n{_I16}{_HE_FORMAT}\n{_I16}"
    )
    return text + ("\nLet's think step by step." if cot else "")


def _ws(text: str) -> str:
    """A regex for ``text`` in which every run of white space matches any run of white space."""
    return r"\s*".join(re.escape(part) for part in text.split())


_COT_TAIL = r"(?:\s*" + re.escape(COT_TRIGGER) + r"\.?)?\s*\Z"
_READING = (
    r"\A\s*" + _ws(_CONTEXT_INTRO) + r"(?:\s*" + _ws(_BOOL_INTRO) + r")?"
    r"\s*## Context:[ \t]*\n?(?P<context>.*?)\s*## Question:\s*(?P<question>.*?)" + _COT_TAIL
)
_PATTERNS: dict[str, re.Pattern[str]] = {
    "natural_qa": re.compile(r"\A\s*(?P<question>.*?)" + _COT_TAIL, re.S),
    "trivia_qa": re.compile(r"\A\s*(?P<question>.*?)" + _COT_TAIL, re.S),
    "squad": re.compile(_READING, re.S),
    "boolq": re.compile(_READING, re.S),
    "mmlu": re.compile(
        r"\A\s*" + _ws(_MC4) + r"\s*## Question:\s*(?P<question>.*?)\s*## Options:\s*?\n(?P<options>.*?)" + _COT_TAIL,
        re.S,
    ),
    "gsm8k": re.compile(
        r"\A\s*" + _ws("Answer the following question.") + r"\s*Question: (?P<question>.*?)" + _COT_TAIL, re.S
    ),
    "math": re.compile(r"\A\s*" + _ws(_MATH) + r"\s*Question: (?P<question>.*?)" + _COT_TAIL, re.S),
    "commonsense_qa": re.compile(
        r"\A\s*" + _ws(_MC_OPEN) + r"\s*Question: (?P<question>.*?)\s*?(?P<options>\n\(\w\) .*?)" + _COT_TAIL,
        re.S,
    ),
    "hellaswag": re.compile(
        r"\A\s*Context: (?P<question>.*?)\s*" + _ws(_HELLASWAG) + r"\s*?(?P<options>\n\(\w\) .*?)" + _COT_TAIL,
        re.S,
    ),
    "mbpp": re.compile(
        r"\A\s*You are an expert Python programmer, and here is your task: (?P<question>.*?)"
        r"\s*Your code should pass these tests:\s*(?P<tests>.*?)\s*" + _ws(_MBPP_TAIL) + _COT_TAIL,
        re.S,
    ),
    "human_eval": re.compile(
        r"\A\s*"
        + _ws("You are an expert Python programmer. Complete the following function:")
        + r"[ \t]*\n(?:[ \t]*\n)*[ \t]*(?P<stub>.*?)\s*"
        + _ws(_HE_BODY)
        + r"\s*"
        + _ws(_HE_FORMAT)
        + _COT_TAIL,
        re.S,
    ),
}
_PATTERNS["gpqa"] = _PATTERNS["mmlu"]
_PATTERNS["openbook_qa"] = _PATTERNS["arc_challenge"] = _PATTERNS["commonsense_qa"]

_LETTER_OPTION = re.compile(r"(?m)^([A-Z])\. ")
_PAREN_OPTION = re.compile(r"\n\((\w)\) ")


def _split_options(text: str, marker: re.Pattern[str]) -> tuple[list[str], list[str]]:
    if marker is _PAREN_OPTION and not text.startswith("\n"):
        text = "\n" + text
    hits = list(marker.finditer(text))
    labels = [m.group(1) for m in hits]
    ends = [m.start() for m in hits[1:]] + [len(text)]
    choices = [text[m.end() : end].strip() for m, end in zip(hits, ends, strict=True)]
    return labels, choices


def parse(task: str, prompt: str) -> QueryFields | None:
    """The fields of a released prompt (direct or cot), or None when it does not fit the template."""
    if task not in _PATTERNS:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    match = _PATTERNS[task].match(prompt)
    if match is None:
        return None
    groups = match.groupdict()
    fields = QueryFields(question=groups["question"].strip() if "question" in groups else "")
    if "context" in groups:
        fields.context = groups["context"].strip()
    if "options" in groups:
        marker = _LETTER_OPTION if task in ("mmlu", "gpqa") else _PAREN_OPTION
        fields.choice_labels, fields.choices = _split_options(groups["options"], marker)
        if not fields.choices:
            return None
    if "tests" in groups:
        fields.test_list = [line for line in groups["tests"].splitlines() if line.strip()]
    if "stub" in groups:
        fields.function_stub = groups["stub"].rstrip() + "\n"
        fields.question = fields.function_stub
    return fields
