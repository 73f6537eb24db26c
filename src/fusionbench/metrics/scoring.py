"""One entry point for every task's scoring rule: :func:`score`, :func:`score_details`, :func:`score_batch`."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from fusionbench.metrics.code import build_job, is_missing
from fusionbench.metrics.math_answers import extract_math_answer, math_score
from fusionbench.metrics.mc import mc_details, mc_score
from fusionbench.metrics.numeric import extract_number, gsm8k_score
from fusionbench.metrics.qa import boolq_score, contains_match, extract_bool, gold_aliases, qa_details
from fusionbench.metrics.sandbox import DEFAULT_TIMEOUT, ExecResult, Program, run_programs
from fusionbench.metrics.sandbox_isolation import SandboxUnavailableError, SandboxUnscoredWarning
from fusionbench.schema import CODE_TASKS, MULTIPLE_CHOICE_TASKS, SCORER_FIELDS, TASKS

QA_TASKS: frozenset[str] = frozenset({"natural_qa", "trivia_qa", "squad"})
#: The keyword fields every task accepts: the query columns the scorers read, QA ``aliases`` and the
#: sandbox ``timeout`` (seconds). A field the task does not use is ignored, so a query row's fields can
#: be passed whole; any other name raises TypeError.
ACCEPTED_FIELDS: tuple[str, ...] = (*SCORER_FIELDS, "aliases", "timeout")
#: HumanEval's own column names, accepted for human_eval: ``prompt`` is the stub (``function_stub``) and
#: ``test`` the check code (the ground truth, when that is missing).
HUMANEVAL_COLUMNS: dict[str, str] = {"prompt": "function_stub", "test": "ground_truth"}
_ACCEPTED = frozenset(ACCEPTED_FIELDS)


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")


def _resolve_fields(
    task: str, ground_truth: Any, fields: Mapping[str, Any], where: str = ""
) -> tuple[Any, Mapping[str, Any]]:
    """``(ground_truth, fields)`` with ``fields`` checked against :data:`ACCEPTED_FIELDS` (TypeError naming
    them) and, for human_eval, HumanEval's ``prompt`` / ``test`` moved to ``function_stub`` / the ground
    truth (ValueError when both names of one value are given and differ)."""
    unknown = [k for k in fields if k not in _ACCEPTED]
    if not unknown:
        return ground_truth, fields
    bad = [k for k in unknown if task != "human_eval" or k not in HUMANEVAL_COLUMNS]
    if bad:
        hint = ""
        if any(k in HUMANEVAL_COLUMNS for k in bad):
            hint = " ('prompt' and 'test' are HumanEval's column names, accepted for human_eval only)"
        raise TypeError(
            f"{where}unknown field{'s' if len(bad) > 1 else ''} {', '.join(map(repr, bad))} for task {task!r}"
            f"{hint}; accepted fields: {', '.join(ACCEPTED_FIELDS)}"
        )
    resolved = {k: v for k, v in fields.items() if k not in HUMANEVAL_COLUMNS}
    if not is_missing(fields.get("prompt")):  # a null column does not hide the other name's value
        stub = fields.get("function_stub")
        if not is_missing(stub) and str(stub) != str(fields["prompt"]):
            raise ValueError(
                f"{where}human_eval got 'prompt' and 'function_stub' that differ; 'prompt' is HumanEval's "
                "name for the function stub: pass one of them"
            )
        resolved["function_stub"] = fields["prompt"]
    if not is_missing(fields.get("test")):
        if not is_missing(ground_truth) and str(ground_truth) != str(fields["test"]):
            raise ValueError(
                f"{where}human_eval got a ground truth and a 'test' field that differ; 'test' is HumanEval's "
                "name for the check code, which is the ground truth: pass one of them"
            )
        ground_truth = fields["test"]
    return ground_truth, resolved


def _score_text(task: str, response: str, ground_truth: Any, fields: Mapping[str, Any]) -> float:
    """Score a non-code row (``response`` is a string)."""
    if task in MULTIPLE_CHOICE_TASKS:
        return mc_score(task, response, ground_truth, fields.get("choices"), fields.get("choice_labels"))
    if task == "gsm8k":
        return gsm8k_score(response, ground_truth)
    if task == "math":
        return math_score(response, ground_truth)
    if task == "boolq":
        return boolq_score(response, ground_truth)
    return contains_match(response, gold_aliases(ground_truth, fields.get("aliases")))


def _unscored(count: int, error: SandboxUnavailableError) -> None:
    """Say that ``count`` code responses were left unscored (null), and why."""
    warnings.warn(
        f"{count} code response{'s' if count != 1 else ''} left unscored (null, neither 0 nor 1): {error}",
        SandboxUnscoredWarning,
        stacklevel=3,
    )


def _code_result(
    task: str, response: str, ground_truth: Any, fields: Mapping[str, Any]
) -> ExecResult | SandboxUnavailableError | None:
    """The sandbox's result, None without code or tests, or the refusal when the sandbox is not full here."""
    job = build_job(task, response, ground_truth, dict(fields))
    if job is None:
        return None
    timeout = float(fields.get("timeout", DEFAULT_TIMEOUT))
    try:
        return run_programs([Program(job.program, job.tests, job.setup)], timeout=timeout, workers=1)[0]
    except SandboxUnavailableError as error:
        _unscored(1, error)
        return error


def score(task: str, response: str | None, ground_truth: Any, **fields: Any) -> float | None:
    """The score in [0, 1] of one response, or None when there is no response to score.

    ``fields`` are the query's task-specific fields (:data:`ACCEPTED_FIELDS`): ``choices``/``choice_labels``
    (multiple choice), ``aliases`` (QA), ``function_stub``/``entry_point`` (human_eval),
    ``test_setup_code``/``test_list`` (mbpp), ``context``, and ``timeout`` (code, seconds). A field the task
    does not use is ignored; an unknown name raises TypeError. For human_eval, HumanEval's own columns
    ``prompt`` (the stub) and ``test`` (the check code) are accepted too.
    For code tasks ``ground_truth`` is the tests: HumanEval's ``check`` code, MBPP's assert list (or
    its Python repr); MBPP's ``test_list`` field is used when the ground truth is missing. An empty or
    unparseable answer scores 0.0. Where the code sandbox refuses to run model code (no full isolation
    here and weak isolation not allowed, see :func:`~fusionbench.metrics.run_programs`) a code response
    is unscored: None, with a :class:`~fusionbench.metrics.sandbox_isolation.SandboxUnscoredWarning`.
    """
    _check_task(task)
    ground_truth, fields = _resolve_fields(task, ground_truth, fields)
    if response is None:
        return None
    if task in CODE_TASKS:
        result = _code_result(task, response, ground_truth, fields)
        if isinstance(result, SandboxUnavailableError):
            return None
        return 1.0 if result is not None and result.passed else 0.0
    return _score_text(task, response, ground_truth, fields)


def score_details(task: str, response: str | None, ground_truth: Any, **fields: Any) -> dict[str, Any] | None:
    """:func:`score` with its parts: always ``acc``; ``em`` and ``f1`` for natural_qa/trivia_qa/squad;
    ``pred`` (the extracted answer: a label, a number, a boxed answer, a truth value) for the other
    non-code tasks; ``status``, ``stderr`` and ``duration``
    for code tasks. None when ``response`` is None. ``fields`` as for :func:`score`."""
    _check_task(task)
    ground_truth, fields = _resolve_fields(task, ground_truth, fields)
    if response is None:
        return None
    if task in QA_TASKS:
        return qa_details(response, ground_truth, fields.get("aliases"))
    if task in CODE_TASKS:
        result = _code_result(task, response, ground_truth, fields)
        if result is None:
            return {"acc": 0.0, "status": "failed", "stderr": "no code or no tests", "duration": 0.0}
        if isinstance(result, SandboxUnavailableError):
            return {"acc": None, "status": "unscored", "stderr": str(result), "duration": 0.0}
        return {
            "acc": 1.0 if result.passed else 0.0,
            "status": result.status,
            "stderr": result.stderr,
            "duration": result.duration,
        }
    if task in MULTIPLE_CHOICE_TASKS:
        return mc_details(task, response, ground_truth, fields.get("choices"), fields.get("choice_labels"))
    details: dict[str, Any] = {"acc": _score_text(task, response, ground_truth, fields)}
    if task == "gsm8k":
        details["pred"] = extract_number(response)
    elif task == "math":
        details["pred"] = extract_math_answer(response)
    elif task == "boolq":
        details["pred"] = extract_bool(response)
    return details


def score_batch(
    tasks: str | Sequence[str],
    responses: Sequence[str | None],
    ground_truths: Sequence[Any],
    fields_list: Sequence[Mapping[str, Any] | None] | None = None,
    workers: int | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> list[float | None]:
    """Scores of many rows at once, in order; the same rules as :func:`score`.

    ``tasks`` is one task name per row or a single name for all rows; ``fields_list`` one fields mapping
    (or None) per row, checked as :func:`score` checks its keywords, except that the sandbox time limit
    is this function's ``timeout``, not a per-row field. Non-code rows are scored in this process (gold
    parsing is cached); code rows all go through the sandbox together, ``workers`` programs at a time
    (default: the number of CPUs). Where the sandbox refuses to run model code, the code rows are None
    and one :class:`~fusionbench.metrics.sandbox_isolation.SandboxUnscoredWarning` says how many and why.
    """
    n = len(responses)
    task_list = [tasks] * n if isinstance(tasks, str) else list(tasks)
    if len(task_list) != n or len(ground_truths) != n or (fields_list is not None and len(fields_list) != n):
        raise ValueError("tasks, responses, ground_truths and fields_list must have the same length")
    for task in set(task_list):
        _check_task(task)
    empty: Mapping[str, Any] = {}
    out: list[float | None] = [None] * n
    code_rows: list[int] = []
    jobs: list[Program] = []
    for i, (task, response, gold) in enumerate(zip(task_list, responses, ground_truths, strict=True)):
        fields = (fields_list[i] if fields_list is not None else None) or empty
        if fields:
            if "timeout" in fields:
                raise TypeError(f"fields_list[{i}]: 'timeout' is score_batch's timeout= argument, not a row field")
            gold, fields = _resolve_fields(task, gold, fields, where=f"fields_list[{i}]: ")
        if response is None:
            continue
        if task in CODE_TASKS:
            job = build_job(task, response, gold, dict(fields))
            if job is None:
                out[i] = 0.0
            else:
                code_rows.append(i)
                jobs.append(Program(job.program, job.tests, job.setup))
        else:
            out[i] = _score_text(task, response, gold, fields)
    if jobs:
        try:
            results = run_programs(jobs, timeout=timeout, workers=workers)
        except SandboxUnavailableError as error:  # the rows stay None: unscored, counted
            _unscored(len(jobs), error)
            return out
        for i, result in zip(code_rows, results, strict=True):
            out[i] = 1.0 if result.passed else 0.0
    return out
