"""Tiny estimates stay sane at the extremes: an all-wrong model is estimated low on every task and an all-right one
high, estimates lie in [0, 1] and never fall when an anchor answer turns from wrong to right (the defect: on the
synthetic sample with 8 anchors, an all-wrong model was estimated at 89 % on commonsense_qa, a task with no anchor,
from the item model at the prior-shrunk ability alone)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_tiny import _simulated

from fusionbench.fusion.data import RoutingData
from fusionbench.fusion.irt.model import fit_ability, predict_items
from fusionbench.fusion.tiny import build_tiny


@pytest.fixture(scope="module")
def sample(sample_export: Path) -> RoutingData:
    """The synthetic sample's routing data (the 3 queries with a missing cell dropped, as `tiny build` does)."""
    return RoutingData.from_export(sample_export, incomplete="drop_queries")


def test_an_all_wrong_model_is_low_and_an_all_right_one_high_on_every_task(sample: RoutingData) -> None:
    tiny = build_tiny(sample, total=8)  # the default method; 8 anchors for 14 tasks: six tasks have none
    assert tiny.method == "anchors-gpirt" and "commonsense_qa" not in tiny.tasks
    wrong = tiny.estimate(dict.fromkeys(tiny.query_ids, 0.0), n_boot=20)
    right = tiny.estimate(dict.fromkeys(tiny.query_ids, 1.0), n_boot=20)
    assert set(wrong.per_task) == set(tiny.task_names) == set(right.per_task)
    assert wrong.per_task["commonsense_qa"] == 0.0 and max(wrong.per_task.values()) == 0.0 and wrong.overall == 0.0
    assert min(right.per_task.values()) == 1.0 and right.interval == (1.0, 1.0)
    for extreme, score in ((wrong, 0), (right, 1)):
        assert extreme.interpolation is False
        assert f"every answered anchor scored {score} and the ability lies beyond every source model's" in " ".join(
            extreme.flags
        )


def test_an_all_wrong_model_inside_the_sources_range_keeps_the_item_model_estimate() -> None:
    """With few anchors the prior keeps an all-wrong model's ability inside the source models' range: the item
    model's estimate stands there (leave one model out on the embedded data it beats 0 for weak real models)."""
    tiny = build_tiny(_simulated(), total=3, method="irt")
    estimate = tiny.estimate(dict.fromkeys(tiny.query_ids, 0.0), n_boot=0)
    assert estimate.ability > tiny.item_model.theta[:, 0].min()
    positions = tiny._anchor_positions()
    p = predict_items(tiny.item_model, fit_ability(tiny.item_model, positions, np.zeros(3), prior=tiny._prior()))
    tasks = np.asarray(tiny.population_tasks).astype(str)
    for task in tiny.task_names:  # irt: every item predicted, anchors included
        assert estimate.per_task[task] == pytest.approx(p[tasks == task].mean(), abs=1e-12)
    assert 0.0 < estimate.overall < tiny.estimate(dict.fromkeys(tiny.query_ids, 1.0), n_boot=0).overall
    assert not any("answers' own level" in flag for flag in estimate.flags)


def test_one_right_answer_leaves_the_item_model_in_charge(sample: RoutingData) -> None:
    """Only answers that no finite ability fits take the answers' own level: with one anchor right, each task is
    the gp-IRT blend of its anchors' mean and p-IRT (hand-computed), a task without anchors the item model's mean
    prediction at the fitted ability, and the estimate lies above the all-wrong one."""
    tiny = build_tiny(sample, total=8, method="gpirt", seed=1, calibration_models=2)
    scores = dict.fromkeys(tiny.query_ids, 0.0)
    scores[tiny.query_ids[0]] = 1.0
    estimate = tiny.estimate(scores, n_boot=0)
    positions = tiny._anchor_positions()
    y = np.array([scores[q] for q in tiny.query_ids])
    p = predict_items(tiny.item_model, fit_ability(tiny.item_model, positions, y, prior=tiny._prior()))
    filled = p.copy()
    filled[positions] = y
    tasks, anchor_tasks = np.asarray(tiny.population_tasks).astype(str), np.asarray(tiny.tasks)
    assert sum(t not in tiny.tasks for t in tiny.task_names) == 6
    for task in tiny.task_names:
        pirt = filled[tasks == task].mean()
        if task in tiny.tasks:
            lam = tiny.task_lambda[task]
            mean = np.average(y[anchor_tasks == task], weights=tiny.weights[anchor_tasks == task])
            assert estimate.per_task[task] == pytest.approx(lam * mean + (1 - lam) * pirt, abs=1e-12)
        else:
            assert estimate.per_task[task] == pytest.approx(p[tasks == task].mean(), abs=1e-12)
    assert estimate.overall > 0.0 and not any("no finite ability" in f for f in estimate.flags)


@pytest.mark.parametrize("method", ["anchors-gpirt", "gpirt", "irt", "pirt", "adaptive", "anchors", "stratified"])
@pytest.mark.parametrize("total", [8, 20])
def test_estimates_are_bounded_ordered_and_monotone_in_the_answers(
    sample: RoutingData, method: str, total: int
) -> None:
    """Properties over seeded random answer sets on the sample and on simulated 2PL data: every estimate lies in
    [0, 1] and between the all-wrong and the all-right estimate per task, and turning any one wrong anchor answer
    right never lowers the overall estimate."""
    rng = np.random.default_rng(total)
    for data in (sample, _simulated(n_per_task=30)):
        tiny = build_tiny(data, total=total, method=method, calibration_models=2)
        low = tiny.estimate(dict.fromkeys(tiny.query_ids, 0.0), n_boot=0).per_task
        high = tiny.estimate(dict.fromkeys(tiny.query_ids, 1.0), n_boot=0).per_task
        assert all(low[t] <= high[t] for t in low)
        for _ in range(12):
            y = (rng.random(len(tiny)) < rng.random()).astype(float)
            base = tiny.estimate(dict(zip(tiny.query_ids, y, strict=True)), n_boot=0)
            assert 0.0 <= base.overall <= 1.0
            assert all(low[t] - 1e-12 <= v <= high[t] + 1e-12 for t, v in base.per_task.items())
            for j in np.flatnonzero(y == 0):
                flipped = y.copy()
                flipped[j] = 1.0
                after = tiny.estimate(dict(zip(tiny.query_ids, flipped, strict=True)), n_boot=0)
                assert after.overall >= base.overall - 1e-12, (tiny.query_ids[j], base.overall, after.overall)


def test_a_task_whose_anchors_are_all_unanswered_is_estimated_from_the_others(sample: RoutingData) -> None:
    """A run that misses every anchor of a task (a failed task) still gets an estimate for it, in [0, 1], low
    when every other answer is wrong."""
    tiny = build_tiny(sample, total=20, seed=2)
    missing = "gsm8k"
    assert missing in tiny.tasks
    wrong = {q: 0.0 for q, t in zip(tiny.query_ids, tiny.tasks, strict=True) if t != missing}
    mixed = {q: float(i % 2) for i, q in enumerate(wrong)}
    assert tiny.estimate(wrong, n_boot=0).per_task[missing] == 0.0
    assert 0.0 <= tiny.estimate(mixed, n_boot=0).per_task[missing] <= 1.0
