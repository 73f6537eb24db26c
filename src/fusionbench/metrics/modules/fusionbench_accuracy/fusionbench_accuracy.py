"""FusionBench accuracy: per task and overall, direct vs cot, with unscorable rows counted."""

import evaluate

from fusionbench.metrics.accuracy import accuracy_summary
from fusionbench.metrics.module_info import metric_info

_DESCRIPTION = """\
Mean performance of FusionBench response rows overall, per task, per mode (direct vs chain-of-thought) and per
(task, mode). A row whose performance is null or NaN is unscorable: it is counted (n_unscorable) and left out of
the means, never scored as 0.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of float or None): each row's performance in [0, 1] (the `performance` column).
    references (list of str): each row's task name (the `task` column).
    modes (list of str): each row's mode, "direct" or "cot" (the `mode` column).
Returns:
    accuracy (float or None): micro mean over scorable rows.
    macro_accuracy (float or None): mean of the per-task accuracies.
    n, n_scored, n_unscorable (int): row counts.
    by_task, by_mode (dict): name -> {accuracy, n, n_scored, n_unscorable}.
    by_task_mode (dict): task -> mode -> {accuracy, n, n_scored, n_unscorable}.
    cot_gain (dict): "overall" and each task -> cot accuracy minus direct accuracy (None if either is missing).
Examples:
    >>> import evaluate
    >>> from fusionbench.metrics import path
    >>> acc = evaluate.load(path("fusionbench_accuracy"))
    >>> r = acc.compute(predictions=[1.0, 0.0, None], references=["gsm8k"] * 3, modes=["direct", "cot", "cot"])
    >>> r["accuracy"], r["n_unscorable"]
    (0.5, 1)
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Accuracy(evaluate.Metric):
    """Accuracy of FusionBench rows per task and mode; see the module card."""

    def _info(self) -> evaluate.MetricInfo:
        return metric_info(
            _DESCRIPTION, _KWARGS_DESCRIPTION, {"predictions": "float64", "references": "string", "modes": "string"}
        )

    def _compute(self, predictions: list, references: list, modes: list) -> dict:
        return accuracy_summary(predictions, tasks=references, modes=modes)
