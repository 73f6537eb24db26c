"""``analyze(data)``: every analysis of the package on one RoutingData, as one JSON-ready report dict
(``format: fusionbench-analysis-report/1``), with what could not be computed listed once under ``skipped``."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from fusionbench.artifacts import ArtifactFormat
from fusionbench.fusion.analysis.answers import extract_answers
from fusionbench.fusion.analysis.bounds import fusion_bounds
from fusionbench.fusion.analysis.irt_items import MIN_CANDIDATES, irt_item_parameters
from fusionbench.fusion.analysis.judge import judge_agreement
from fusionbench.fusion.analysis.leaderboard import leaderboard
from fusionbench.fusion.analysis.similarity import Similarity, capa, error_consistency, oracle_at_k
from fusionbench.fusion.analysis.skills import item_statistics, leave_one_task_out, skill_pca
from fusionbench.fusion.blas import blas_threads
from fusionbench.fusion.data import RoutingData
from fusionbench.fusion.evaluation.core import describe
from fusionbench.fusion.report.write import jsonable

#: the analysis report folder's manifest is its ``report.json`` (:mod:`fusionbench.artifacts`)
ANALYSIS_ARTIFACT = ArtifactFormat(
    "fusionbench-analysis-report", 1, manifest="report.json", what="an analysis report (fusionbench analyze)"
)
FORMAT = ANALYSIS_ARTIFACT.tag
STEPS = ("leaderboard", "judge", "similarity", "oracle@k", "skills", "answers", "bounds")
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class AnalysisConfig:
    """The knobs of :func:`analyze`."""

    n_boot: int = 1000
    seed: int | None = 0
    confidence: float = 0.95
    threshold: float = 0.5
    min_kappa: float = 0.6
    zero_is_failure: bool | None = None
    k: int = 3
    ridge_alpha: float = 1.0


def rows(value: pa.Table | None) -> list[dict[str, Any]] | None:
    return None if value is None else value.to_pylist()


def _similarity(sim: Similarity) -> dict[str, Any]:
    return {
        "candidates": list(sim.candidates),
        "matrix": sim.matrix.tolist(),
        "order": list(sim.order),
        "pairs": rows(sim.pairs),
    }


#: IRT parameters (logits) are histogrammed on [-IRT_RANGE, IRT_RANGE], the tails clipped into the end bins.
IRT_RANGE = 6.0


def _histogram(values: list[float], low: float, high: float, bins: int = 10) -> dict[str, list[float]]:
    counts, edges = np.histogram(np.asarray(values, dtype=np.float64), bins=bins, range=(low, high))
    return {"counts": counts.tolist(), "edges": edges.tolist()}


def analyze(data: RoutingData, config: AnalysisConfig | None = None, *, progress: Progress | None = None) -> dict:
    """Run every analysis on ``data`` and return the report dict (strict-JSON-ready). One BLAS thread: the
    resamples are many small products, which spinning BLAS threads slow down on a busy machine."""
    with blas_threads(1):
        return _analyze(data, config or AnalysisConfig(), progress)


def _analyze(data: RoutingData, config: AnalysisConfig, progress: Progress | None) -> dict:
    boot = {"n_boot": config.n_boot, "seed": config.seed, "confidence": config.confidence}
    skipped: list[str] = []
    timings: dict[str, float] = {}
    report: dict[str, Any] = {"format": FORMAT, "synthetic": bool(data.synthetic), "data": describe(data)}
    report["config"] = {**config.__dict__}
    report["data"]["tasks"] = sorted({str(t) for t in data.tasks})
    report["data"]["provenance"] = {k: v for k, v in data.provenance.items() if isinstance(v, (str, int, float))}

    def step(i: int, name: str) -> float:
        if progress is not None:
            progress(name, i, len(STEPS))
        return time.perf_counter()

    start = step(0, "leaderboard")
    board = leaderboard(data, **boot)
    report["leaderboard"] = {"scores": rows(board.scores), "ranks": rows(board.ranks)}
    timings["leaderboard"] = time.perf_counter() - start

    start = step(1, "judge")
    agreement = judge_agreement(
        data, threshold=config.threshold, zero_is_failure=config.zero_is_failure, min_kappa=config.min_kappa, **boot
    )
    both = np.isfinite(data.judge) & np.isfinite(data.performance)
    if agreement is not None and both.any() and np.array_equal(data.judge[both], data.performance[both]):
        agreement = None  # e.g. RouteLLM's MT-Bench: the GPT-4 grades are the only score
        skipped.append("judge vs ground truth: the judge's scores are the ground truth here (identical)")
    elif agreement is None:
        skipped.append("judge vs ground truth, judge-picked best-of-n and their plot: the data has no judge scores")
    else:
        report["judge"] = {
            "cells": rows(agreement.cells),
            "ranking": rows(agreement.ranking),
            "threshold": agreement.threshold,
            "zero_is_failure": agreement.zero_is_failure,
            "min_kappa": agreement.min_kappa,
        }
    timings["judge"] = time.perf_counter() - start

    start = step(2, "similarity")
    report["similarity"] = {"error_consistency": _similarity(error_consistency(data, threshold=config.threshold))}
    timings["similarity"] = time.perf_counter() - start

    start = step(3, "oracle@k")
    report["oracle_at_k"] = rows(oracle_at_k(data, **boot))
    timings["oracle@k"] = time.perf_counter() - start

    start = step(4, "skills")
    factors = skill_pca(board.accuracy, board.tasks)
    loto = leave_one_task_out(board.accuracy, board.tasks, alpha=config.ridge_alpha, **boot)
    items = item_statistics(data, threshold=config.threshold)
    report["skills"] = {
        "accuracy": {
            "candidates": list(data.candidates),
            "tasks": list(board.tasks),
            "matrix": board.accuracy.tolist(),
        },
        "variance": rows(factors.variance) if factors else None,
        "loadings": rows(factors.loadings) if factors else None,
        "leave_one_task_out": rows(loto),
        "items": rows(items.summary),
        "difficulty_histograms": {t: _histogram(v, 0.0, 1.0) for t, v in items.difficulty.items()},
        "discrimination_histograms": {t: _histogram(v, -1.0, 1.0) for t, v in items.discrimination.items()},
    }
    if factors is None:
        skipped.append("skill PCA: needs at least 2 candidates and 2 tasks")
    if loto is None:
        skipped.append("leave-one-task-out prediction: needs at least 3 candidates and 2 tasks")
    irt = irt_item_parameters(data, seed=config.seed or 0)
    if irt is None:
        skipped.append(f"IRT item parameters: a 2PL fit needs at least {MIN_CANDIDATES} candidates")
    else:
        report["skills"]["irt_items"] = rows(irt.summary)
        report["skills"]["irt_difficulty_histograms"] = {
            t: _histogram(np.clip(v, -IRT_RANGE, IRT_RANGE), -IRT_RANGE, IRT_RANGE) for t, v in irt.difficulty.items()
        }
        report["skills"]["irt_discrimination_histograms"] = {
            t: _histogram(np.clip(v, -IRT_RANGE, IRT_RANGE), -IRT_RANGE, IRT_RANGE)
            for t, v in irt.discrimination.items()
        }
    timings["skills"] = time.perf_counter() - start

    start = step(5, "answers")
    answers = extract_answers(data)
    if answers is None:
        skipped.append("majority vote and CAPA: the data carries no response texts to extract answers from")
    else:
        if answers.unsupported_tasks:
            skipped.append(f"majority vote on {', '.join(answers.unsupported_tasks)}: no extractable answer")
        sim = capa(answers.answers, answers.gold, answers.n_options, data.candidates)
        if sim is None:
            skipped.append("CAPA: no multiple-choice queries with a gold label and extracted answers")
        else:
            report["similarity"]["capa"] = _similarity(sim)
    timings["answers"] = time.perf_counter() - start

    start = step(6, "bounds")
    report["bounds"] = rows(fusion_bounds(data, answers, k=config.k, **boot))
    timings["bounds"] = time.perf_counter() - start
    if progress is not None:
        progress("done", len(STEPS), len(STEPS))
    report["skipped"] = skipped
    report["timings_s"] = timings
    return jsonable(report)
