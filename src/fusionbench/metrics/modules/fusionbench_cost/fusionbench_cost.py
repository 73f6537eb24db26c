"""FusionBench cost: USD from token counts and a versioned price sheet; re-pricing under other sheets."""

import evaluate

from fusionbench.catalog import DEFAULT_PRICE_SHEET
from fusionbench.metrics.cost import cost_summary, reprice
from fusionbench.metrics.module_info import metric_info

_DESCRIPTION = """\
Cost in USD of FusionBench response rows: input_tokens * input_price / 1e6 + output_tokens * output_price / 1e6,
with prices (USD per million tokens) from a versioned price sheet that carries its date and source. Reports the
total, the mean per query (row) and the cost per correct answer, and can re-price the same rows under other sheets.
A model without a price is an error (or, with on_missing_price="exclude", an excluded and counted row), never
free; a row with a missing token count is excluded and counted, never priced as 0.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of str): each row's model name (the `model` column, without the mode).
    references (list of float or None): each row's performance, for the cost per correct answer (None: unknown).
    input_tokens (list of int or None): prompt tokens per row.
    output_tokens (list of int or None): response tokens per row.
    price_sheet (str, path or PriceSheet, optional): the sheet to price with; default "fusionbench-release-2025".
    compare_sheets (list, optional): other sheets to re-price the same rows with.
    on_missing_price ("error" or "exclude", optional): what a model without a price does; default "error".
Returns:
    price_sheet, price_date, price_source (str): the sheet used.
    total_usd (float), mean_usd_per_query (float or None), cost_per_correct_usd (float or None), n_correct (float).
    n, n_priced, n_missing_tokens, n_missing_price (int), models_without_price (list), by_model (dict).
    repriced (dict): for each compare sheet, the same summary; and total_usd_ratio (its total / this total).
Examples:
    >>> import evaluate
    >>> from fusionbench.metrics import path
    >>> cost = evaluate.load(path("fusionbench_cost"))
    >>> r = cost.compute(predictions=["gemma-2-9b-it"], references=[1.0], input_tokens=[1000], output_tokens=[500])
    >>> round(r["total_usd"], 8)
    0.00015
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Cost(evaluate.Metric):
    """Cost of FusionBench rows under a price sheet; see the module card."""

    def _info(self) -> evaluate.MetricInfo:
        return metric_info(
            _DESCRIPTION,
            _KWARGS_DESCRIPTION,
            {"predictions": "string", "references": "float64", "input_tokens": "int64", "output_tokens": "int64"},
        )

    def _compute(
        self,
        predictions: list,
        references: list,
        input_tokens: list,
        output_tokens: list,
        price_sheet=DEFAULT_PRICE_SHEET,
        compare_sheets=(),
        on_missing_price: str = "error",
    ) -> dict:
        args = (predictions, input_tokens, output_tokens)
        out = cost_summary(*args, price_sheet, references, on_missing_price)
        others = reprice(*args, list(compare_sheets), references, on_missing_price)
        for summary in others.values():
            summary["total_usd_ratio"] = summary["total_usd"] / out["total_usd"] if out["total_usd"] else None
        out["repriced"] = others
        return out
