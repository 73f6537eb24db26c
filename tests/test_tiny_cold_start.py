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


def test_study_reports_every_method_with_auroc_task_error_share_and_paired_routing(cold_start, data) -> None:
    model = "mistral-7b-instruct-v0.3"
    rows = cold_start.study(data, model, [0, 50], n_boot=50, seed=0)
    assert [(r["k"], r["method"]) for r in rows] == [(k, m) for k in (0, 50) for m in cold_start.METHODS]
    for row in rows:
        assert 0.5 < row["auroc"] <= 1.0  # each estimate ranks the new model's right answers above its wrong ones
        assert 0.0 <= row["share"] <= 1.0 and 0.0 <= row["task_mae"] <= 1.0
        assert row["with"] - row["without"] == pytest.approx(row["delta"], abs=1e-9)
        assert "[" in row["auroc_ci"] and "[" in row["delta_ci"]
    by = {(r["k"], r["method"]): r for r in rows}
    assert by[50, "calibrated"]["task_mae"] < by[0, "calibrated"]["task_mae"]  # anchors move the estimate to the truth
    assert by[0, "calibrated"]["share"] <= 0.01 and by[0, "task prior"]["share"] <= 0.01  # nothing known: not routed
    assert by[50, "calibrated"]["margin"] > 0 and by[50, "uncalibrated"]["margin"] is None


def test_anchor_answers_move_the_prediction_the_right_way(cold_start, data) -> None:
    """A subject that answers every anchor right is predicted better everywhere than one that answers all wrong,
    and the router (not refitted) then routes more queries to it."""
    import warnings

    from fusionbench.fusion import splits
    from fusionbench.fusion.evaluation.inputs import fit_features, transform
    from fusionbench.fusion.routers import MFRouter
    from fusionbench.fusion.tiny import build_tiny
    from fusionbench.fusion.tiny.cold_start import ColdStartRouter

    model = sorted({c.split("/")[0] for c in data.candidates})[0]
    without, _, test = splits.apply(data, splits.lomo(data, model, k_shot=0, seed=0))
    featurizer, X = fit_features(cold_start.FEATURES, without)
    X_test = transform(featurizer, test)
    anchors = [str(q) for q in build_tiny(without, total=30, method="stratified", seed=0).query_ids]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = MFRouter(**cold_start.PARAMS).fit(X, without.performance, candidates=list(without.candidates))
    router = ColdStartRouter(base, margin=0.0).fit(X, without.performance, tasks=without.tasks,
                                                   keys=without.query_ids)  # fmt: skip
    router.add_candidate("strong", dict.fromkeys(anchors, 1.0))
    router.add_candidate("weak", dict.fromkeys(anchors, 0.0))
    p = router.predict_correctness(X_test)
    assert np.all((p >= 0) & (p <= 1)) and np.all(p[:, 0] > p[:, 1])
    picks = router.predict_labels(X_test).tolist()
    assert picks.count("strong") > picks.count("weak")
    unchanged = base.predict_labels(X_test).tolist()
    assert [u for u, q in zip(unchanged, picks, strict=True) if q not in ("strong", "weak")] == [
        q for q in picks if q not in ("strong", "weak")
    ]
