"""Scoring: one implementation of every task's rule, with the release's defects fixed.

``score(task, response, ground_truth, **fields)`` scores one row; ``score_details`` adds the parts
(token F1 for QA, the extracted answer, the sandbox status for code); ``score_batch`` scores many rows
with the code rows run in parallel. The extraction helpers and the sandbox are exported for reuse.
"""

from fusionbench.metrics.boxed import last_boxed
from fusionbench.metrics.code import (
    build_job,
    extract_code,
    humaneval_program,
    humaneval_tests,
    parse_test_list,
)
from fusionbench.metrics.math_answers import extract_math_answer, gold_answer, math_equivalent, normalize_math
from fusionbench.metrics.mc import extract_choice, gold_label, item_labels
from fusionbench.metrics.numeric import extract_number, gold_number
from fusionbench.metrics.qa import (
    contains_match,
    exact_match,
    extract_bool,
    f1_score,
    gold_aliases,
    normalize_answer,
)
from fusionbench.metrics.sandbox import DEFAULT_TIMEOUT, ExecResult, Program, run_program, run_programs
from fusionbench.metrics.scoring import QA_TASKS, score, score_batch, score_details

__all__ = [
    "DEFAULT_TIMEOUT",
    "QA_TASKS",
    "ExecResult",
    "Program",
    "build_job",
    "contains_match",
    "exact_match",
    "extract_bool",
    "extract_choice",
    "extract_code",
    "extract_math_answer",
    "extract_number",
    "f1_score",
    "gold_aliases",
    "gold_answer",
    "gold_label",
    "gold_number",
    "humaneval_program",
    "humaneval_tests",
    "item_labels",
    "last_boxed",
    "math_equivalent",
    "normalize_answer",
    "normalize_math",
    "parse_test_list",
    "run_program",
    "run_programs",
    "score",
    "score_batch",
    "score_details",
]
