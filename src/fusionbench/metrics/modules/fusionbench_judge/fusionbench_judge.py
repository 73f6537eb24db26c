"""FusionBench LLM judge: parse judge outputs; mean, coverage, and calibration against correctness."""

import evaluate

from fusionbench.metrics.judge import judge_summary
from fusionbench.metrics.module_info import metric_info

_DESCRIPTION = """\
Reads LLM-judge outputs written for the FusionBench rubric (correctness, thought process, training-data quality;
anchors 0 / 0.3 / 0.6 / 0.8 / 1.0; the score inside <answer>..</answer>) into scores in [0, 1]. An output that
cannot be read is a failure: counted, and left out of the mean (the release stored such failures as 0.0).
Reports the mean, the coverage and, against each row's performance, Spearman's rho and the AUROC of the judge
score for telling correct rows from incorrect ones.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of str, float or None): the judge's raw output per row, or an already-parsed score.
        Numbers are checked the same way as text; None or "" is a failed judge call.
    references (list of float or None): each row's performance (None: unknown, left out of calibration).
    threshold (float, optional): performance at or above which a row counts as correct for AUROC; default 0.5.
Returns:
    mean (float or None), coverage (float or None), n, n_parsed, n_failed (int), anchor_rate (float or None),
    spearman, spearman_p, auroc (float or None), n_calibration (int),
    mean_when_correct, mean_when_incorrect (float or None).
Examples:
    >>> import evaluate
    >>> from fusionbench.metrics import path
    >>> judge = evaluate.load(path("fusionbench_judge"))
    >>> r = judge.compute(predictions=["<answer>0.8</answer>", "0", "no idea"], references=[1.0, 0.0, 1.0])
    >>> r["mean"], r["n_failed"], r["auroc"]
    (0.4, 1, 1.0)
"""


def _as_text(value: object) -> str:
    """Judge output as text: numbers by repr (parsed back exactly), None as "" (a failed call)."""
    if value is None:
        return ""
    return value if isinstance(value, str) else repr(float(value))


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Judge(evaluate.Metric):
    """LLM-judge scores of FusionBench rows: parsing, coverage, calibration; see the module card."""

    def _info(self) -> evaluate.MetricInfo:
        return metric_info(
            _DESCRIPTION,
            _KWARGS_DESCRIPTION,
            {"predictions": "string", "references": "float64"},
            ["https://github.com/ulab-uiuc/FusionFactory"],
        )

    def add_batch(self, *, predictions=None, references=None, **kwargs) -> None:
        """Add a batch of judge outputs (text, numbers or None) and performances."""
        if predictions is not None:
            predictions = [_as_text(p) for p in predictions]
        super().add_batch(predictions=predictions, references=references, **kwargs)

    def add(self, *, prediction=None, reference=None, **kwargs) -> None:
        """Add one judge output (text, number or None) and its performance."""
        super().add(prediction=_as_text(prediction), reference=reference, **kwargs)

    def _compute(self, predictions: list, references: list, threshold: float = 0.5) -> dict:
        return judge_summary(predictions, references, threshold)
