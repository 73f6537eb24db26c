"""Evaluating routers: the leakage check before every evaluation, Table-4 settings under two protocols,
paired bootstrap CIs against the train-fitted baselines (``best_single_train``, ``per_task``), and calibration of a
trade-off knob. The math (bootstrap, trade-off reward, tie rule, AIQ/PGR/CostSave) is the routing metrics'
(:mod:`fusionbench.metrics.routing`); this package adds settings, protocols and the baselines fitted on train.

``evaluate(router, test, train=train, X=X_test)`` -> :class:`RoutingEvaluation`;
``routing_metrics(choices, test)`` -> the metrics' AIQ, PGR, CostSave, frontier on ``test``;
``calibrate(router, val, X_val=..., target_cost=...)`` -> :class:`Calibration`.
"""

from __future__ import annotations

from fusionbench.fusion.evaluation.calibration import Calibration, calibrate
from fusionbench.fusion.evaluation.core import collect, concat, evaluate, finalize, map_choices, route_setting
from fusionbench.fusion.evaluation.correctness import correctness_auroc, held_out_aurocs
from fusionbench.fusion.evaluation.gate import TrainingRecord, TransductiveError, check_before_evaluation
from fusionbench.fusion.evaluation.matrices import as_matrices, routing_metrics
from fusionbench.fusion.evaluation.protocols import (
    NO_COST,
    NO_JUDGE,
    PROTOCOLS,
    SETTINGS,
    SettingUnavailable,
    setting_view,
    unavailable_reason,
)
from fusionbench.fusion.evaluation.result import BASELINES, RoutingEvaluation

__all__ = [
    "BASELINES",
    "NO_COST",
    "NO_JUDGE",
    "PROTOCOLS",
    "SETTINGS",
    "Calibration",
    "RoutingEvaluation",
    "SettingUnavailable",
    "TrainingRecord",
    "TransductiveError",
    "as_matrices",
    "calibrate",
    "check_before_evaluation",
    "collect",
    "concat",
    "correctness_auroc",
    "evaluate",
    "finalize",
    "held_out_aurocs",
    "map_choices",
    "route_setting",
    "routing_metrics",
    "setting_view",
    "unavailable_reason",
]
