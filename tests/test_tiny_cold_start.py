"""Cold start (examples/cold_start.py): a held-out model enters a router fitted without it, from its answers on k
tiny-set anchors through the item model, nothing refitted. Small size: one held-out model, the embedded data."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from fusionbench.fusion.evaluation.inputs import load_data

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "cold_start.py"


@pytest.fixture(scope="module")
def cold_start():
    spec = importlib.util.spec_from_file_location("cold_start_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


@pytest.fixture(scope="module")
def data():
    return load_data(None)


def test_study_reports_auroc_task_error_share_and_paired_routing(cold_start, data) -> None:
    model = sorted({c.split("/")[0] for c in data.candidates})[0]
    rows = [cold_start.study(data, model, k, n_boot=50, seed=0) for k in (0, 50)]
    for row in rows:
        assert 0.5 < row["auroc"] <= 1.0  # the item model ranks the new model's right answers above its wrong ones
        assert 0.0 <= row["share"] <= 1.0 and 0.0 <= row["task_mae"] <= 1.0
        assert row["with"] - row["without"] == pytest.approx(row["delta"], abs=1e-9)
        assert "[" in row["auroc_ci"] and "[" in row["delta_ci"]
    assert rows[1]["task_mae"] < rows[0]["task_mae"]  # anchor answers move the per-task estimate towards the truth


def test_anchor_answers_move_the_prediction_the_right_way(cold_start, data) -> None:
    """A subject that answers every anchor right is predicted better everywhere than one that answers all wrong,
    and the router (not refitted) then routes more queries to it."""
    from fusionbench.fusion import splits
    from fusionbench.fusion.evaluation.inputs import fit_features, transform
    from fusionbench.fusion.routers import MFRouter
    from fusionbench.fusion.tiny import build_tiny

    model = sorted({c.split("/")[0] for c in data.candidates})[0]
    without, _, test = splits.apply(data, splits.lomo(data, model, k_shot=0, seed=0))
    featurizer, X = fit_features(cold_start.FEATURES, without)
    X_test = transform(featurizer, test)
    key_of = dict(zip(map(str, without.query_ids), map(str, without.keys), strict=True))
    anchors = [key_of[q] for q in build_tiny(without, total=30, method="stratified", seed=0).query_ids]
    strong = cold_start.cold_start_candidate(without, X, dict.fromkeys(anchors, 1.0))
    weak = cold_start.cold_start_candidate(without, X, dict.fromkeys(anchors, 0.0))
    p_strong, p_weak = strong(X_test, test.tasks), weak(X_test, test.tasks)
    assert np.all((p_strong >= 0) & (p_strong <= 1)) and np.all(p_strong > p_weak)
    base = MFRouter(**cold_start.PARAMS).fit(X, without.performance, candidates=list(without.candidates))
    picks = {name: cold_start.ColdStartRouter(base, {"new/direct": f}).choose(X_test, test.tasks)
             for name, f in (("strong", strong), ("weak", weak))}  # fmt: skip
    assert picks["strong"].count("new/direct") > picks["weak"].count("new/direct")
    unchanged = [str(c) for c in base.candidates_[np.argmax(base.predict_performance(X_test, tasks=test.tasks), 1)]]
    assert [p for p in picks["weak"] if p != "new/direct"] == [
        u for u, p in zip(unchanged, picks["weak"], strict=True) if p != "new/direct"
    ]
