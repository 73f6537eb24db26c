"""A library-level route workflow: the Python twin of each ``fusionbench route`` verb.

==================  ==================================================================================
CLI verb            Python
==================  ==================================================================================
``route train``     ``trained = train(data, "knn", split="random", features="tfidf:512", out=folder)``
``route predict``   ``table = predict(trained_or_folder, out="choices.parquet")``
``route calibrate`` ``calibration = calibrate(trained_or_folder, target_cost=5e-5)``
``route eval``      ``run = evaluate_trained(trained_or_folder, setting="all")`` (``evaluate_choices`` for
                    ``--choices``; both take :class:`EvaluationOptions` as ``options=`` or as keywords);
                    ``run.save_json(path)``, ``run.write_report(folder)``
``route benchmark`` ``result = benchmark(data, ["knn", "linear"], settings="all", report_folder=folder)``
``route report``    ``report("old/report.json", "new_folder")``
==================  ==================================================================================

A trained router is a :class:`TrainedRouter` (router, featuriser, typed :class:`RunContext`, split, training record,
calibration), saved as a router folder (``.save``) and loaded with :func:`load_trained`.
"""

from __future__ import annotations

from fusionbench.fusion.evaluation.trained import RouterFolderError, RunContext, TrainedRouter, load_trained
from fusionbench.fusion.experiment.runs import (
    EvaluationOptions,
    EvaluationRun,
    benchmark,
    evaluate_choices,
    evaluate_trained,
    report,
    settings_for,
)
from fusionbench.fusion.experiment.workflow import calibrate, data_for, load, make_split, part, predict, train

__all__ = [
    "EvaluationOptions",
    "EvaluationRun",
    "RouterFolderError",
    "RunContext",
    "TrainedRouter",
    "benchmark",
    "calibrate",
    "data_for",
    "evaluate_choices",
    "evaluate_trained",
    "load",
    "load_trained",
    "make_split",
    "part",
    "predict",
    "report",
    "settings_for",
    "train",
]
