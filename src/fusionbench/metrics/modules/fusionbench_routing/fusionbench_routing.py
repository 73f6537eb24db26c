"""FusionBench routing: a router's choices against oracle and baselines, frontier, AIQ, PGR, CostSave, APGR."""

import evaluate
import numpy as np

from fusionbench.metrics.module_info import metric_info
from fusionbench.metrics.routing import RoutingMatrices, evaluate_router, matrices_from_rows

_DESCRIPTION = """\
Evaluates a router over FusionBench candidates (one candidate = one model in one mode, named "<model>/<mode>")
from every candidate's per-query performance and cost: routed accuracy and cost; the oracle (best per query,
cheapest among ties), per-task oracle, best single candidate on these queries (best_single_oracle: chosen with
hindsight, not fitted on a training split) and random baselines; the cost-quality Pareto
frontier; AIQ (RouterBench), PGR (the performance gap recovered at the router's operating point), Gap@Oracle
and CostSave at matched accuracy (and LLMRouterBench's CostSave against best_single_oracle), each with a seeded
bootstrap confidence interval over queries; the release's three reward settings (performance first, balance,
cost first) with their labelled best candidates; and, given a pair router's strong-win-rates, RouteLLM's
threshold sweep (APGR, CPT at 20/50/80 %).
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of str): the router's chosen candidate per query, "<model>/<mode>".
    references (list of str): the query id of each choice.
    rows (table, optional): long rows with query_id, task, model, mode, performance, cost_usd (a pyarrow Table,
        datasets.Dataset, pandas DataFrame, dict of columns or list of dicts), pivoted to matrices.
    incomplete ("error", "drop_queries" or "drop_candidates", optional): with rows, what a missing cell does:
        raise (default), or drop (and count) the queries or the candidates that have one.
        The old "drop" warns (DeprecationWarning) and means "drop_queries"; "keep" is an error.
    price_sheet (optional): with rows, recompute cost from input_tokens/output_tokens under this sheet.
    performance, cost (array [n_queries, n_candidates], optional): instead of rows.
    candidates (list of str): with the arrays, the column names.
    query_ids (list of str, optional): with the arrays, the row ids (default: references, in order).
    tasks (list of str, optional): with the arrays, each row's task (default: one task).
    strong, weak (str, optional): the PGR pair (default: best and worst single candidate).
    strong_win_rates (list of float, optional): a pair router's score per choice; adds ``sweep``.
    n_boot (int, default 1000), seed (int, default 0), confidence (float, default 0.95): the bootstrap.
Returns:
    router_accuracy, router_cost, oracle_*, per_task_oracle_*, best_single_oracle_*, random_* (float);
    gap_at_oracle, pgr, cost_save, cost_save_vs_best_single_oracle, aiq, aiq_candidates (float or None);
    ci (metric -> [low, high]); candidates, best_single_oracle, strong, weak, frontier, tradeoffs, by_task,
    router_choice_counts; sweep (with strong_win_rates: apgr, auc, cpt, curve);
    n_queries, n_unmatched_choices, n_queries_without_choice, n_missing_cells, n_dropped_queries,
    n_dropped_candidates (int).
Examples:
    >>> import evaluate
    >>> from fusionbench.metrics import path
    >>> routing = evaluate.load(path("fusionbench_routing"))
    >>> r = routing.compute(predictions=["a/direct", "b/direct"], references=["q1", "q2"],
    ...     performance=[[1, 0], [0, 1]], cost=[[1, 2], [1, 2]], candidates=["a/direct", "b/direct"])
    >>> r["router_accuracy"], r["oracle_accuracy"], r["gap_at_oracle"]
    (1.0, 1.0, 0.0)
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Routing(evaluate.Metric):
    """A router's choices over FusionBench candidates against baselines; see the module card."""

    def _info(self) -> evaluate.MetricInfo:
        return metric_info(
            _DESCRIPTION,
            _KWARGS_DESCRIPTION,
            {"predictions": "string", "references": "string"},
            ["https://arxiv.org/abs/2403.12031", "https://arxiv.org/abs/2406.18665"],
        )

    def _compute(
        self,
        predictions: list,
        references: list,
        rows=None,
        incomplete: str = "error",
        price_sheet=None,
        score_column: str = "performance",
        performance=None,
        cost=None,
        candidates=None,
        query_ids=None,
        tasks=None,
        **options,
    ) -> dict:
        if rows is not None:
            matrices = matrices_from_rows(
                rows, incomplete=incomplete, price_sheet=price_sheet, score_column=score_column
            )
        elif performance is None or cost is None or candidates is None:
            raise ValueError("give rows=..., or performance=, cost= and candidates=")
        else:
            ids = list(references if query_ids is None else query_ids)
            task_list = ["all"] * len(ids) if tasks is None else list(tasks)
            matrices = RoutingMatrices(
                ids, task_list, list(candidates), np.asarray(performance, float), np.asarray(cost, float)
            )
        return evaluate_router(predictions, references, matrices, **options)
