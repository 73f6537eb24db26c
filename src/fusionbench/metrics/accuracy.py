"""Accuracy of response rows: overall, per task, per mode (direct vs cot), with unscorable rows counted.

A row's ``performance`` is its score in [0, 1] (1/0 for exact-match tasks, token F1 or pass@1 elsewhere).
``None`` or NaN means the row could not be scored: it is counted in ``n_unscorable`` and left out of
every mean, never treated as 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

#: Mode label used when no modes are given.
ALL_MODES = "all"


def is_unscorable(value: Any) -> bool:
    """True for None and NaN (a row without a usable score)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def _as_score(value: Any) -> float | None:
    if is_unscorable(value):
        return None
    if isinstance(value, str):
        raise TypeError(f"performance must be a number or None, got the string {value!r}")
    score = float(value)
    if math.isnan(score):
        return None
    if math.isinf(score):
        raise ValueError(f"performance must be finite, got {value!r}")
    return score


class _Tally:
    __slots__ = ("n", "n_scored", "total")

    def __init__(self) -> None:
        self.n = 0
        self.n_scored = 0
        self.total = 0.0

    def add(self, score: float | None) -> None:
        self.n += 1
        if score is not None:
            self.n_scored += 1
            self.total += score

    @property
    def mean(self) -> float | None:
        return self.total / self.n_scored if self.n_scored else None

    def as_dict(self) -> dict[str, Any]:
        return {"accuracy": self.mean, "n": self.n, "n_scored": self.n_scored, "n_unscorable": self.n - self.n_scored}


def _gain(by_mode: dict[str, _Tally], better: str = "cot", base: str = "direct") -> float | None:
    if better not in by_mode or base not in by_mode:
        return None
    high, low = by_mode[better].mean, by_mode[base].mean
    return None if high is None or low is None else high - low


def accuracy_summary(
    performance: Sequence[float | None],
    tasks: Sequence[str] | None = None,
    modes: Sequence[str | None] | None = None,
) -> dict[str, Any]:
    """Mean performance overall, per task, per mode and per (task, mode), with counts.

    Args:
        performance: one score per row; None/NaN rows are unscorable (counted, not averaged).
        tasks: task name per row (None: one task called ``"all"``).
        modes: ``"direct"``/``"cot"`` (or any label) per row; None: no mode breakdown (one mode ``"all"``).
            A row whose mode is None counts overall and in its task, not in any mode.

    Returns a dict with ``accuracy`` (micro mean over scorable rows), ``macro_accuracy`` (mean of the
    per-task accuracies), ``n``, ``n_scored``, ``n_unscorable``, ``by_task``, ``by_mode``,
    ``by_task_mode`` (each entry: accuracy, n, n_scored, n_unscorable) and ``cot_gain``
    (cot minus direct accuracy, overall and per task; None where a side has no scored row).
    """
    scores = [_as_score(value) for value in performance]
    n = len(scores)
    tasks = ["all"] * n if tasks is None else list(tasks)
    modes = [ALL_MODES] * n if modes is None else list(modes)
    if len(tasks) != n or len(modes) != n:
        raise ValueError(f"performance ({n}), tasks ({len(tasks)}) and modes ({len(modes)}) differ in length")
    overall = _Tally()
    by_task: dict[str, _Tally] = {}
    by_mode: dict[str, _Tally] = {}
    by_task_mode: dict[str, dict[str, _Tally]] = {}
    for score, task, mode in zip(scores, tasks, modes, strict=True):
        overall.add(score)
        by_task.setdefault(task, _Tally()).add(score)
        if mode is not None:
            by_mode.setdefault(mode, _Tally()).add(score)
            by_task_mode.setdefault(task, {}).setdefault(mode, _Tally()).add(score)
    task_means = [t.mean for t in by_task.values() if t.mean is not None]
    cot_gain: dict[str, float | None] = {"overall": _gain(by_mode)}
    cot_gain.update({task: _gain(per_mode) for task, per_mode in by_task_mode.items()})
    return {
        **overall.as_dict(),
        "macro_accuracy": sum(task_means) / len(task_means) if task_means else None,
        "by_task": {task: tally.as_dict() for task, tally in by_task.items()},
        "by_mode": {mode: tally.as_dict() for mode, tally in by_mode.items()},
        "by_task_mode": {
            task: {mode: tally.as_dict() for mode, tally in per_mode.items()} for task, per_mode in by_task_mode.items()
        },
        "cot_gain": cot_gain,
    }
