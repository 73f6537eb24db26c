"""Code tasks (mbpp, human_eval): pull the code out of a response and assemble the test program.

Code is taken from ``[BEGIN] ... [DONE]`` (any case, ``[Done]``/``[END]`` too, a missing end tag
tolerated), else from markdown fences (a missing closing fence tolerated), else the plain text. A
HumanEval completion may be a function body, indented or not, or the full function: the stub is
then kept only for its imports and helpers and is not joined to the completion a second time.
"""

from __future__ import annotations

import ast
import re
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

_BEGIN_DONE = re.compile(r"\[BEGIN\](.*?)(?:\[(?:DONE|END)\]|\Z)", re.S | re.I)
_FENCE = re.compile(r"```[ \t]*(?:python3?|py|Python)?[ \t]*\n(.*?)(?:```|\Z)", re.S)
_PLACEHOLDER = re.compile(r"<\s*Your Code[^>]*>", re.I)
_CODE_START = re.compile(r"(?m)^(?:def |class |import |from \S+ import |@|[A-Za-z_]\w* = )")


def _compiles(code: str) -> bool:
    try:
        compile(code, "<candidate>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError, MemoryError, RecursionError, OverflowError):
        return False
    return True


def _from_fences(text: str, prefer: str | None) -> str | None:
    blocks = [b for b in _FENCE.findall(text) if b.strip()]
    if not blocks:
        return None
    for needle in (f"def {prefer}" if prefer else None, "def "):
        if needle:
            for block in blocks:
                if needle in block:
                    return block
    return blocks[0]


def extract_code(response: str, entry_point: str | None = None) -> str:
    """The code in a model response ('' when there is none); see the module doc for the rules."""
    text = response.replace("\r\n", "\n")
    blocks = [b for b in _BEGIN_DONE.findall(text) if _PLACEHOLDER.sub("", b).strip()]
    if blocks:
        block = max(blocks, key=len)
        code = _from_fences(block, entry_point) or block
    else:
        code = _from_fences(text, entry_point)
        if code is None:
            code = text
            if not _compiles(textwrap.dedent(code)):
                start = _CODE_START.search(code)
                if start and start.start() > 0 and _compiles(code[start.start() :]):
                    code = code[start.start() :]
    code = _PLACEHOLDER.sub("", code)
    code = re.sub(r"(?i)\[/?(?:BEGIN|DONE|END)\]", "", code)
    return code.strip("\n").rstrip()


# ---------------------------------------------------------------- HumanEval
def entry_point_of(function_stub: str) -> str | None:
    """The last top-level function defined in a HumanEval stub."""
    names = re.findall(r"(?m)^def\s+(\w+)\s*\(", function_stub)
    return names[-1] if names else None


def _indent_body(body: str) -> list[str]:
    """Candidate indentations of a function body, best first.

    A body whose first line lost its indentation (``body.strip()``) gets that line re-indented to
    match the rest: one level less when it opens a block, else the same level, else 4 spaces.
    """
    lines = body.split("\n")
    candidates = [textwrap.indent(textwrap.dedent(body), "    "), body]
    first, rest = lines[0], [ln for ln in lines[1:] if ln.strip()]
    if first.strip() and not first[:1].isspace() and rest:
        rest_indent = min(len(ln) - len(ln.lstrip()) for ln in rest)
        opens_block = first.rstrip().endswith(":")
        for indent in dict.fromkeys((rest_indent - 4 if opens_block else rest_indent, 4, rest_indent)):
            if indent > 0:
                fixed = " " * indent + first + "\n" + "\n".join(lines[1:])
                candidates.insert(-1, textwrap.indent(textwrap.dedent(fixed), "    "))
    return candidates


def humaneval_program(function_stub: str, completion: str, entry_point: str | None = None) -> str:
    """The program under test: the stub joined to a body, or the stub's preamble plus a full function."""
    stub = function_stub.rstrip() + "\n"
    entry_point = entry_point or entry_point_of(stub)
    code = extract_code(completion, entry_point)
    if not code.strip():
        return ""
    name = re.escape(entry_point) if entry_point else r"\w+"
    candidates = [stub + body for body in _indent_body(code)]
    if re.search(rf"(?m)^[ \t]*(?:async\s+)?def\s+{name}\s*\(", code):
        dedented = textwrap.dedent(code)
        candidates = [stub + "\n\n" + dedented, dedented, *candidates]
    for candidate in candidates:
        if _compiles(candidate):
            return candidate
    return candidates[0]


def humaneval_tests(test: str, entry_point: str | None) -> str:
    """HumanEval's ``check`` code followed by ``check(entry_point)`` (unless it already calls it)."""
    if entry_point and not re.search(r"(?m)^check\s*\(", test):
        return test.rstrip() + f"\n\ncheck({entry_point})\n"
    return test


# ---------------------------------------------------------------- MBPP
@lru_cache(maxsize=4096)
def _parse_test_list(text: str) -> tuple[str, ...]:
    stripped = text.strip()
    if stripped.startswith(("[", "(")):
        try:
            value = ast.literal_eval(stripped)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            value = None
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return tuple(value)
    return tuple(line for line in text.splitlines() if line.strip())


def parse_test_list(tests: str | Sequence[str] | None) -> list[str]:
    """MBPP's asserts from a list, its Python repr (as the release stores it), or newline-separated text."""
    if tests is None:
        return []
    if isinstance(tests, str):
        return list(_parse_test_list(tests))
    return [str(t) for t in tests]


@dataclass(frozen=True)
class CodeJob:
    """One program to run: ``program`` first, then ``setup``, then ``tests`` (all in one namespace)."""

    program: str
    tests: str
    setup: str = ""


def is_missing(value: object) -> bool:
    """None, an empty string or an empty list/array (without truth-testing arrays)."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    try:
        return len(value) == 0  # type: ignore[arg-type]
    except TypeError:
        return False


def build_job(task: str, response: str, ground_truth: object, fields: Mapping[str, Any]) -> CodeJob | None:
    """The program and tests for one code row, or None when the response holds no code or no tests.

    ``ground_truth`` is the tests (HumanEval's check code, MBPP's asserts); MBPP's ``test_list`` field
    stands in when it is missing. ``fields`` also gives ``function_stub``/``entry_point`` (human_eval) and
    ``test_setup_code`` (mbpp); other keys are not read here (:func:`fusionbench.metrics.score` checks them).
    """
    if task == "human_eval":
        stub = fields.get("function_stub") or ""
        entry_point = fields.get("entry_point") or entry_point_of(stub)
        program = humaneval_program(stub, response, entry_point) if stub else extract_code(response, entry_point)
        if entry_point is None:
            names = re.findall(r"(?m)^def\s+(\w+)\s*\(", program)
            entry_point = names[-1] if names else None
        if not program.strip() or is_missing(ground_truth):
            return None
        return CodeJob(program=program, tests=humaneval_tests(str(ground_truth), entry_point))
    tests = fields.get("test_list") if is_missing(ground_truth) else ground_truth
    test_list = parse_test_list(tests)  # type: ignore[arg-type]
    program = extract_code(response)
    if not program.strip() or not test_list:
        return None
    return CodeJob(program=program, tests="\n".join(test_list) + "\n", setup=fields.get("test_setup_code") or "")
