"""Scoring: one implementation of every task's rule, with the release's defects fixed.

``score(task, response, ground_truth, **fields)`` scores one row; ``score_details`` adds the parts
(token F1 for QA, the extracted answer, the sandbox status for code); ``score_batch`` scores many rows
with the code rows run in parallel. The extraction helpers and the sandbox are exported for reuse.

Aggregate metrics: ``accuracy_summary``, ``cost_summary``/``reprice``, ``judge_prompt``/``judge_summary`` and
``evaluate_routing``/``threshold_sweep`` (pure numpy), and the ``evaluate`` modules ``Accuracy``, ``Cost``,
``Judge`` and ``Routing`` (imported lazily, they need ``evaluate``); ``path(name)`` gives a module's folder for
``evaluate.load``.
"""

from fusionbench._lazy import lazy_exports
from fusionbench.metrics.accuracy import accuracy_summary
from fusionbench.metrics.boxed import boxed_answers, last_boxed
from fusionbench.metrics.code import (
    build_job,
    extract_code,
    humaneval_program,
    humaneval_tests,
    parse_test_list,
)
from fusionbench.metrics.cost import MissingPriceError, cost_summary, reprice, row_costs
from fusionbench.metrics.judge import JUDGE_ANCHORS, auroc, judge_prompt, judge_summary, parse_judge_output, spearman
from fusionbench.metrics.math_answers import extract_math_answer, gold_answer, math_equivalent, normalize_math
from fusionbench.metrics.mc import extract_choice, gold_label, item_labels
from fusionbench.metrics.numeric import extract_number, gold_number
from fusionbench.metrics.paths import MODULE_NAMES, path
from fusionbench.metrics.qa import (
    contains_match,
    exact_match,
    extract_bool,
    f1_score,
    gold_aliases,
    normalize_answer,
)
from fusionbench.metrics.routing import (
    INCOMPLETE,
    TRADEOFFS,
    RoutingMatrices,
    aiq,
    cost_save_vs_best_single_oracle,
    evaluate_router,
    evaluate_routing,
    matrices_from_rows,
    oracle_choices,
    pareto_frontier,
    per_task_oracle_choices,
    pgr,
    tradeoff_choices,
)
from fusionbench.metrics.sandbox import DEFAULT_TIMEOUT, ExecResult, Program, run_program, run_programs
from fusionbench.metrics.sandbox_isolation import (
    WEAK_SANDBOX_VARIABLE,
    SandboxIsolation,
    SandboxIsolationWarning,
    SandboxUnavailableError,
    SandboxUnscoredWarning,
    sandbox_isolation,
)
from fusionbench.metrics.scoring import ACCEPTED_FIELDS, QA_TASKS, score, score_batch, score_details
from fusionbench.metrics.sweep import threshold_sweep

#: The evaluate modules' ``evaluate.Metric`` classes, imported on first use (they need ``evaluate``):
#: attribute name -> module script.
_MODULE_CLASSES = {
    "Accuracy": ".modules.fusionbench_accuracy.fusionbench_accuracy",
    "Cost": ".modules.fusionbench_cost.fusionbench_cost",
    "Judge": ".modules.fusionbench_judge.fusionbench_judge",
    "Routing": ".modules.fusionbench_routing.fusionbench_routing",
}
__getattr__, __dir__ = lazy_exports(__name__, _MODULE_CLASSES)


__all__ = [
    "ACCEPTED_FIELDS",
    "DEFAULT_TIMEOUT",
    "INCOMPLETE",
    "JUDGE_ANCHORS",
    "MODULE_NAMES",
    "QA_TASKS",
    "TRADEOFFS",
    "WEAK_SANDBOX_VARIABLE",
    "ExecResult",
    "MissingPriceError",
    "Program",
    "RoutingMatrices",
    "SandboxIsolation",
    "SandboxIsolationWarning",
    "SandboxUnavailableError",
    "SandboxUnscoredWarning",
    "accuracy_summary",
    "aiq",
    "auroc",
    "boxed_answers",
    "build_job",
    "contains_match",
    "cost_save_vs_best_single_oracle",
    "cost_summary",
    "evaluate_router",
    "evaluate_routing",
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
    "judge_prompt",
    "judge_summary",
    "last_boxed",
    "math_equivalent",
    "matrices_from_rows",
    "normalize_answer",
    "normalize_math",
    "oracle_choices",
    "pareto_frontier",
    "parse_judge_output",
    "parse_test_list",
    "path",
    "per_task_oracle_choices",
    "pgr",
    "reprice",
    "row_costs",
    "run_program",
    "run_programs",
    "sandbox_isolation",
    "score",
    "score_batch",
    "score_details",
    "spearman",
    "threshold_sweep",
    "tradeoff_choices",
]
