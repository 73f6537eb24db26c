"""``evaluate``: routers (or their choices) on a test split, beside best_single_train, per task, random and oracle.

Every call first runs the leakage check and the transductive guard (:mod:`.gate`). The values of the chosen
candidates come from the setting and protocol (:mod:`.protocols`); the baselines are fitted on ``train``
under the same setting (``best_single_train``: :class:`~fusionbench.fusion.routers.BestSingleRouter`, the best
single candidate *on train*, unlike the metrics' ``best_single_oracle``, the best on the evaluated queries; per
task:
:class:`~fusionbench.fusion.routers.PerTaskRouter`, an unseen task falling back to the best single, counted);
``random`` is the expectation of a uniform choice and ``oracle`` the per-query best by true reward. Every
system is then bootstrapped on the same resamples (:mod:`fusionbench.metrics.routing_bootstrap`), so
``router - best_single_train`` and
``router - per task`` come with paired CIs.

The work is in two steps so that the benchmark can pool folds and seeds: :func:`collect` computes the
per-query values of every system (a :class:`Collected`), :func:`finalize` resamples them into a
:class:`~fusionbench.fusion.evaluation.result.RoutingEvaluation`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fusionbench.fusion.data import RoutingData
from fusionbench.fusion.evaluation.bootstrap import Column, resample
from fusionbench.fusion.evaluation.gate import TrainingRecord, check_before_evaluation
from fusionbench.fusion.evaluation.protocols import (
    SettingView,
    check_protocol,
    expected_columns,
    fitting_tradeoff,
    has_cost,
    outcome_columns,
    routing_tradeoff,
    setting_view,
)
from fusionbench.fusion.evaluation.result import BASELINES, RoutingEvaluation, sum_choice_counts

#: the largest candidate set whose single candidates get their own bootstrapped rows (frontier, tables)
MAX_CANDIDATE_ROWS = 64


@dataclass
class Collected:
    """Per-query values ``{(system, metric): [n]}`` of one evaluation, before resampling."""

    setting: str
    protocol: str
    values: dict[Column, np.ndarray]
    tasks: np.ndarray
    routers: list[str]
    baselines: list[str]
    candidates: list[str]
    columns: tuple[str, ...]
    choice_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    leakage: list[dict[str, Any]] = field(default_factory=list)
    transductive: bool = False
    #: per query, the held-out group (fold) it was evaluated in, when several folds were pooled (task_ood)
    folds: np.ndarray | None = None

    @property
    def n_queries(self) -> int:
        return len(self.tasks)


def concat(parts: list[Collected]) -> Collected:
    """Pool the queries of several evaluations with the same systems (the folds of an OOD scenario)."""
    if not parts:
        raise ValueError("nothing to pool")
    first = parts[0]
    keys = list(first.values)
    for part in parts[1:]:
        if list(part.values) != keys:
            missing = sorted(set(keys) ^ set(part.values))[:3]
            raise ValueError(f"cannot pool evaluations with different systems or metrics: {missing}")
    counts = sum_choice_counts(p.choice_counts for p in parts)
    folds = None
    if len(parts) > 1:  # each fold named by its held-out tasks
        folds = np.concatenate(
            [np.full(p.n_queries, "+".join(sorted(set(p.tasks.tolist()))), dtype=object) for p in parts]
        )
    return Collected(
        setting=first.setting,
        protocol=first.protocol,
        values={k: np.concatenate([p.values[k] for p in parts]) for k in keys},
        tasks=np.concatenate([p.tasks for p in parts]),
        routers=first.routers,
        baselines=first.baselines,
        candidates=first.candidates,
        columns=first.columns,
        choice_counts=counts,
        notes=[n for p in parts for n in p.notes],
        leakage=[item for p in parts for item in p.leakage],
        transductive=any(p.transductive for p in parts),
        folds=folds,
    )


def by_group(collected: Collected, systems: list[str], *, n_boot: int, seed: int | None, confidence: float) -> dict:
    """Per held-out group (fold) of a pooled evaluation: each system's Perf and each router's paired difference to
    best_single_train, with CIs (the bootstrap over the pooled queries, per group)."""
    from fusionbench.metrics.routing_bootstrap import group_differences, group_estimates

    if collected.folds is None:
        return {}
    columns = [(s, "perf") for s in systems if (s, "perf") in collected.values]
    reps = resample({c: collected.values[c] for c in columns}, n_boot=n_boot, seed=seed, groups=collected.folds,
                    group_columns=columns)  # fmt: skip
    values = {s: group_estimates(reps, (s, "perf"), confidence) for s, _ in columns}
    out: dict[str, Any] = {}
    for group in reps.groups:
        entry: dict[str, Any] = {"n_queries": reps.group_sizes[group]}
        entry["rows"] = {s: {k: v[group][k] for k in ("value", "ci")} for s, v in values.items()}
        if ("best_single_train", "perf") in columns:
            entry["vs_best_single_train"] = {
                r: group_differences(reps, (r, "perf"), ("best_single_train", "perf"), confidence)[group]
                for r in collected.routers
                if (r, "perf") in columns
            }
        out[group] = entry
    return out


# ---------------------------------------------------------------- choices
def _router_and_features(router: Any, X: Any) -> tuple[Any, Any]:
    """A fitted fusionbench router and its features (a Pipeline's featuriser steps applied)."""
    if hasattr(router, "steps"):
        from sklearn.pipeline import Pipeline

        head, last = router.steps[:-1], router.steps[-1][1]
        return last, Pipeline(head).transform(X) if head else X
    return router, X


def _default_features(router: Any, test: RoutingData) -> Any:
    if hasattr(router, "steps"):
        return list(test.texts)
    spec = getattr(router, "featurizer_spec_", None) or {}
    if spec.get("kind") == "stored" and test.embeddings is not None:
        return test.embeddings
    raise ValueError(
        f"{type(router).__name__}: pass X= (the test features, from the featuriser it was trained with), or a "
        "text-in Pipeline"
    )


def route_setting(router: Any, features: Any, test: RoutingData, setting: str, protocol: str) -> np.ndarray:
    """Indices into ``test.candidates`` of a fitted router's choices under ``setting`` (and protocol)."""
    from fusionbench.fusion.routers import OracleRouter

    if isinstance(router, OracleRouter):
        raise ValueError("the oracle row is computed by evaluate itself: do not pass an OracleRouter")
    fitted = router.tradeoff_
    label_router = getattr(router, "_label_target", False) or not getattr(router, "_applies_tradeoff", True)
    if label_router:
        if getattr(router, "_label_target", False) and fitted.name != setting:
            raise ValueError(
                f"{type(router).__name__}(target='labels') learned labels under {fitted.name!r}: fit it with "
                f"tradeoff={setting!r} to evaluate that setting"
            )
        picks = router.predict(features, tasks=test.tasks)
    else:
        wanted = routing_tradeoff(setting, protocol)
        if wanted.objective != fitted.objective:
            raise ValueError(
                f"{type(router).__name__} estimates {fitted.objective}; setting {setting!r} routes on "
                f"{wanted.objective}: fit it with tradeoff={setting!r}"
            )
        picks = router.route(features, tradeoff=wanted, tasks=test.tasks)
    return map_choices(router.candidates_[np.asarray(picks)], test)


def map_choices(choices: Any, test: RoutingData) -> np.ndarray:
    """Candidate names (or indices into ``test.candidates``) as indices into ``test.candidates``."""
    values = np.asarray(list(choices), dtype=object)
    if len(values) != test.n_queries:
        raise ValueError(f"{len(values)} choices for {test.n_queries} test queries")
    if len(values) and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        out = values.astype(np.int64)
        if out.min() < 0 or out.max() >= test.n_candidates:
            raise ValueError(f"choice indices must lie in [0, {test.n_candidates})")
        return out
    index = {name: j for j, name in enumerate(test.candidates)}
    unknown = sorted({str(v) for v in values if str(v) not in index})
    if unknown:
        raise ValueError(f"choices name candidates not in the test data: {unknown[:5]}; it has {list(test.candidates)}")
    return np.array([index[str(v)] for v in values], dtype=np.int64)


def _complete_candidates(train: RoutingData, setting: str) -> tuple[RoutingData, list[str]]:
    """Train restricted to the candidates with complete training values (lomo hides a model's labels)."""
    matrices = [train.performance, *([train.cost] if has_cost(train) else [])]
    if setting == "llm_judge":
        matrices.append(train.judge)
    bad = np.zeros(train.n_candidates, dtype=bool)
    for matrix in matrices:
        bad |= np.isnan(matrix).any(axis=0)
    if not bad.any() or bad.all():
        return train, []
    dropped = [c for c, b in zip(train.candidates, bad, strict=True) if b]
    return train.without_candidates(dropped), dropped


def baseline_choices(
    train: RoutingData, test: RoutingData, setting: str, protocol: str
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Best single and per-task choices fitted on ``train`` (indices into ``test.candidates``), and notes."""
    from fusionbench.fusion.routers import BestSingleRouter, PerTaskRouter

    notes: list[str] = []
    fit_on, dropped = _complete_candidates(train, setting)
    if dropped:
        notes.append(f"baselines choose among candidates with complete training values (left out: {dropped})")
    tradeoff = fitting_tradeoff(setting, protocol)
    fit = {
        "cost": fit_on.cost if has_cost(fit_on) else None,
        "tasks": fit_on.tasks,
        "judge": fit_on.judge if setting == "llm_judge" else None,
        "candidates": list(fit_on.candidates),
    }
    x_train, x_test = np.zeros((fit_on.n_queries, 1)), np.zeros((test.n_queries, 1))
    out = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for name, cls in (("best_single_train", BestSingleRouter), ("per_task", PerTaskRouter)):
            router = cls(tradeoff=tradeoff, missing="drop").fit(x_train, fit_on.performance, **fit)
            out[name] = route_setting(router, x_test, test, setting, protocol)
    dropped_rows = [str(w.message) for w in caught if "dropped" in str(w.message)]
    notes += dropped_rows
    unseen = ~np.isin(test.tasks.astype(str), np.unique(fit_on.tasks.astype(str)))
    if unseen.any():
        names = sorted(set(test.tasks[unseen].astype(str).tolist()))
        notes.append(
            f"per task: {int(unseen.sum()):,} test queries have tasks unseen in training ({', '.join(names[:6])}"
            f"{', ...' if len(names) > 6 else ''}); they get the best single candidate"
        )
    return out, notes


def _counts(test: RoutingData, picks: np.ndarray) -> dict[str, int]:
    values, counts = np.unique(picks, return_counts=True)
    return {test.candidates[int(v)]: int(c) for v, c in zip(values, counts, strict=True)}


# ---------------------------------------------------------------- the two steps
def collect(
    systems: Mapping[str, Any],
    test: RoutingData,
    *,
    train: RoutingData | TrainingRecord | None = None,
    X: Any = None,
    setting: str = "performance_first",
    protocol: str = "fusionbench",
    baselines: bool = True,
    candidates: bool | None = None,
    allow_overlap: bool = False,
    transductive: bool = False,
) -> Collected:
    """The per-query values of ``systems`` ({name: fitted router, Pipeline, or choices}) and the baselines."""
    leakage = check_before_evaluation(train, test, allow_overlap=allow_overlap, transductive=transductive)
    protocol = check_protocol(protocol)
    missing = np.isnan(test.performance)
    if missing.any():
        raise ValueError(
            f"{test.source}: {int(missing.sum()):,} test cells have no performance; load the data with "
            "incomplete='drop_queries' or 'drop_candidates' (--incomplete): a missing score is never 0"
        )
    train_data = train if isinstance(train, RoutingData) else None
    view: SettingView = setting_view(setting, protocol, test, train_data)
    chosen: dict[str, np.ndarray] = {}
    for name, item in systems.items():
        if name in BASELINES:
            raise ValueError(f"{name!r} is a baseline row of every evaluation; name the router otherwise")
        if hasattr(item, "tradeoff_") or hasattr(item, "steps"):
            features = X.get(name) if isinstance(X, Mapping) else X
            router, feats = _router_and_features(item, _default_features(item, test) if features is None else features)
            chosen[name] = route_setting(router, feats, test, setting, protocol)
        else:
            chosen[name] = map_choices(item, test)
    notes: list[str] = []
    baseline_names: list[str] = []
    if baselines and train_data is not None:
        fitted, notes = baseline_choices(train_data, test, setting, protocol)
        chosen |= fitted
        baseline_names = list(fitted)
    elif baselines:
        notes.append("no training data: best_single_train and per_task are not shown (they are chosen on train)")
    chosen["oracle"] = view.oracle
    values: dict[Column, np.ndarray] = {}
    for name, picks in chosen.items():
        values |= {(name, col): v for col, v in outcome_columns(view, picks).items()}
    values |= {("random", col): v for col, v in expected_columns(view).items()}
    show_candidates = test.n_candidates <= MAX_CANDIDATE_ROWS if candidates is None else candidates
    names = list(test.candidates) if show_candidates else []
    for j, cand in enumerate(names):
        fixed = np.full(test.n_queries, j)
        values |= {(f"candidate:{cand}", col): v for col, v in outcome_columns(view, fixed).items()}
    return Collected(
        setting=setting,
        protocol=protocol,
        values=values,
        tasks=np.asarray(test.tasks.astype(str)),
        routers=[n for n in systems],
        baselines=[*baseline_names, "random", "oracle"],
        candidates=names,
        columns=view.columns if view.cost is not None else tuple(c for c in view.columns if c != "cost"),
        choice_counts={name: _counts(test, picks) for name, picks in chosen.items()},
        notes=notes,
        leakage=[leakage],
        transductive=transductive,
    )


def finalize(
    collected: Collected,
    *,
    n_boot: int = 1000,
    seed: int | None = 0,
    confidence: float = 0.95,
    data: Mapping[str, Any] | None = None,
) -> RoutingEvaluation:
    """Resample ``collected`` into a :class:`RoutingEvaluation` (per-task means of every system's Perf)."""
    systems = [*collected.routers, *collected.baselines]
    reps = resample(
        collected.values,
        n_boot=n_boot,
        seed=seed,
        groups=collected.tasks,
        group_columns=[(s, "perf") for s in systems],
    )
    return RoutingEvaluation(
        setting=collected.setting,
        protocol=collected.protocol,
        routers=list(collected.routers),
        baselines=list(collected.baselines),
        candidates=list(collected.candidates),
        columns=collected.columns,
        replicates=reps,
        confidence=confidence,
        n_boot=n_boot,
        seeds=[seed],
        leakage=collected.leakage,
        transductive=collected.transductive,
        notes=list(dict.fromkeys(collected.notes)),
        choice_counts=collected.choice_counts,
        data=dict(data or {}),
        by_group=[{"seed": seed, "groups": groups}]
        if (groups := by_group(collected, systems, n_boot=n_boot, seed=seed, confidence=confidence))
        else [],
    )


def describe(data: RoutingData) -> dict[str, Any]:
    """What a report says about the evaluated data: source, size, flags, skips."""
    return {
        "source": data.source,
        "synthetic": bool(data.synthetic),
        "n_queries": data.n_queries,
        "candidates": list(data.candidates),
        "has_cost": has_cost(data),
        "has_judge": bool(data.n_queries) and not np.isnan(data.judge).any(),
        "skipped": dict(data.provenance.get("skipped", {})),
    }


def evaluate(
    router_or_choices: Any,
    test: RoutingData,
    *,
    train: RoutingData | TrainingRecord | None = None,
    X: Any = None,
    setting: str = "performance_first",
    protocol: str = "fusionbench",
    baselines: bool = True,
    candidates: bool | None = None,
    n_boot: int = 1000,
    seed: int | None = 0,
    confidence: float = 0.95,
    allow_overlap: bool = False,
    transductive: bool = False,
    name: str = "router",
) -> RoutingEvaluation:
    """Evaluate a fitted router (or its choices, or a ``{name: router or choices}`` mapping) on ``test``.

    ``train``: the data the router was fitted on (leakage check, baselines, fusionbench normalisation), or a
    :class:`~fusionbench.fusion.evaluation.gate.TrainingRecord`; ``X``: the test features (or ``{name: X}``;
    a text-in Pipeline takes the test texts by default). ``setting``: one of
    :data:`~fusionbench.fusion.evaluation.protocols.SETTINGS`; ``protocol``: ``"fusionbench"`` or
    ``"fusionfactory"``. Overlap between train and test raises unless ``allow_overlap``; a naive split raises
    unless ``transductive``. Returns a :class:`RoutingEvaluation` (``.rows()``, ``.paired()``,
    ``.by_task()``, ``.to_dict()``).
    """
    systems = dict(router_or_choices) if isinstance(router_or_choices, Mapping) else {name: router_or_choices}
    collected = collect(
        systems,
        test,
        train=train,
        X=X,
        setting=setting,
        protocol=protocol,
        baselines=baselines,
        candidates=candidates,
        allow_overlap=allow_overlap,
        transductive=transductive,
    )
    return finalize(collected, n_boot=n_boot, seed=seed, confidence=confidence, data=describe(test))
