"""The benchmark runner: routers x seeds x scenarios x protocols x settings, one result for one report folder.

Scenarios (Bench-CoE's three, on query-level splits):

* ``naive``: train = test = every query (:func:`~fusionbench.fusion.splits.naive`); every number is
  **transductive** and labelled so;
* ``id`` (in-distribution): the ``release`` split (shipped train/test minus leaked queries) when the data ships
  both and its test split is not small, else a seeded ``random`` split by query stratified by task, one per seed
  (:func:`~fusionbench.fusion.evaluation.inputs.default_id_scheme`; ``id_scheme`` overrides);
* ``ood`` (out-of-distribution): held-out groups of tasks: the domains (or, with a single domain, the tasks)
  are dealt into up to ``ood_folds`` folds per seed; each fold's test set is its tasks, which the routers
  never see (:func:`~fusionbench.fusion.splits.task_ood`), and the folds' test queries are pooled.

For each (scenario, seed, fold) the featuriser is fitted on train, each router is fitted once per objective
(performance, or the judge score for ``llm_judge``; a label router once per setting and protocol), and
:func:`~fusionbench.fusion.evaluation.collect` evaluates it beside the baselines under each protocol and
setting. Seeds are averaged replicate by replicate. A router that needs data the set lacks (CARROT without
cost) is skipped and reported; a router whose fit fails is reported with its error and left out of that
scenario.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fusionbench.fusion import splits
from fusionbench.fusion.data import RoutingData
from fusionbench.fusion.evaluation.core import Collected, collect, concat, describe, finalize
from fusionbench.fusion.evaluation.inputs import (
    default_features,
    default_id_scheme,
    fit_features,
    make_split,
    transform,
)
from fusionbench.fusion.evaluation.protocols import (
    NO_COST,
    PROTOCOLS,
    SETTINGS,
    fitting_tradeoff,
    has_cost,
    unavailable_reason,
)
from fusionbench.fusion.evaluation.result import RoutingEvaluation
from fusionbench.fusion.report import curves
from fusionbench.fusion.report.search import search_record

SCENARIOS: tuple[str, ...] = ("naive", "id", "ood")
SCENARIO_LABELS = {
    "naive": "naive (transductive: train = test)",
    "id": "in-distribution",
    "ood": "out-of-distribution (held-out tasks)",
}
DEFAULT_ROUTERS: tuple[str, ...] = ("auto", "knn", "linear", "mlp", "mf", "carrot")
#: router names that are baseline rows of every table, not routers to fit
BASELINE_NAMES = {"best_single", "per_task", "random", "oracle"}
Progress = Callable[[str, int, int], None]
REPORT_FORMAT = "fusionbench-route-report/1"


@dataclass(frozen=True)
class RouterSpec:
    """A router to benchmark: its report name, registry name (:mod:`fusionbench.fusion.routers.registry`, an
    installed package's entry point included) and constructor parameters."""

    name: str
    router: str
    params: dict[str, Any] = field(default_factory=dict)

    def build(self) -> Any:
        """A fresh, unfitted router from the registry with these parameters."""
        from fusionbench.fusion.routers import make_router

        return make_router(self.router, **self.params)


@dataclass
class BenchmarkConfig:
    """What to run (see the module docstring)."""

    routers: Sequence[RouterSpec] = tuple(RouterSpec(r, r) for r in DEFAULT_ROUTERS)
    seeds: Sequence[int] = (0, 1, 2)
    scenarios: Sequence[str] = SCENARIOS
    protocols: Sequence[str] = PROTOCOLS
    settings: Sequence[str] = SETTINGS
    features: str | None = None
    n_boot: int = 1000
    confidence: float = 0.95
    id_scheme: str | None = None
    id_args: dict[str, Any] = field(default_factory=dict)
    ood_folds: int = 5

    def to_dict(self) -> dict[str, Any]:
        """The configuration as JSON-ready data (written into the report)."""
        return {
            "routers": [{"name": r.name, "router": r.router, "params": r.params} for r in self.routers],
            "seeds": list(self.seeds),
            "scenarios": list(self.scenarios),
            "protocols": list(self.protocols),
            "settings": list(self.settings),
            "features": self.features,
            "n_boot": self.n_boot,
            "confidence": self.confidence,
            "id_scheme": self.id_scheme,
            "id_args": self.id_args,
            "ood_folds": self.ood_folds,
        }


@dataclass
class BenchmarkResult:
    """Everything a report shows; :meth:`to_dict` is the report's JSON."""

    config: BenchmarkConfig
    data: dict[str, Any]
    evaluations: dict[str, dict[str, dict[str, RoutingEvaluation | str]]]
    splits: dict[str, list[dict[str, Any]]]
    skipped: list[dict[str, Any]]
    curves: dict[str, Any]
    timings: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        """The whole result as JSON-ready data (the report's JSON)."""
        scenarios: dict[str, Any] = {}
        for scenario, by_protocol in self.evaluations.items():
            protocols = {
                protocol: {
                    setting: {"available": False, "reason": ev} if isinstance(ev, str) else ev.to_dict()
                    for setting, ev in by_setting.items()
                }
                for protocol, by_setting in by_protocol.items()
            }
            scenarios[scenario] = {
                "label": SCENARIO_LABELS[scenario],
                "transductive": scenario == "naive",
                "splits": self.splits.get(scenario, []),
                "protocols": protocols,
            }
        return {
            "format": REPORT_FORMAT,
            "synthetic": bool(self.data.get("synthetic")),
            "config": self.config.to_dict(),
            "data": self.data,
            "scenarios": scenarios,
            "skipped": self.skipped,
            "curves": self.curves,
            "timings_s": self.timings,
        }


# ---------------------------------------------------------------- splits
def fold_specs(data: RoutingData, scenario: str, seed: int, config: BenchmarkConfig) -> list[splits.SplitSpec]:
    """The splits of one scenario and seed (one, or the folds of ``ood``)."""
    if scenario == "naive":
        return [splits.naive(data)]
    if scenario == "id":
        scheme = config.id_scheme or default_id_scheme(data)
        return [make_split(data, scheme, seed=seed, **config.id_args)]
    domains = sorted(set(data.domains.astype(str).tolist()))
    by_domain = len(domains) >= 2
    groups = domains if by_domain else sorted(set(data.tasks.astype(str).tolist()))
    if len(groups) < 2:
        raise splits.SplitError("out-of-distribution needs at least two tasks to hold out in turn")
    order = np.random.default_rng(seed).permutation(len(groups))
    specs = []
    for number, fold in enumerate(np.array_split(order, min(config.ood_folds, len(groups)))):
        held = {groups[i] for i in fold}
        pairs = zip(data.tasks.astype(str), data.domains.astype(str), strict=True)
        tasks = sorted({str(t) for t, d in pairs if (d if by_domain else t) in held})
        specs.append(splits.task_ood(data, holdout_tasks=tasks, val_size=0.0, seed=seed, name=f"ood-{seed}-{number}"))
    return specs


def _split_summary(spec: splits.SplitSpec, seed: int) -> dict[str, Any]:
    meta = {k: v for k, v in spec.meta.items() if k not in ("removed_ids", "k_shot_ids")}
    return {"seed": seed, "name": spec.name, "scheme": spec.scheme, "counts": spec.counts(), "meta": meta}


# ---------------------------------------------------------------- fitting
def _fit(spec: RouterSpec, seed: int, tradeoff: Any, X: Any, train: RoutingData, judge: bool) -> Any:
    router = spec.build()
    params = router.get_params(deep=False)
    router.set_params(**{k: v for k, v in (("random_state", seed), ("tradeoff", tradeoff)) if k in params})
    fit = {"cost": train.cost if has_cost(train) else None, "tasks": train.tasks, "candidates": list(train.candidates)}
    if judge:
        fit["judge"] = train.judge
    return router.fit(X, train.performance, **fit)


def _fits(spec: RouterSpec, settings: Sequence[str], protocols: Sequence[str]) -> list[tuple[str, Any, bool]]:
    """(key, fitting trade-off, judge objective) of every fit a router needs: one per objective for a score
    router (it routes under any setting), one per setting and protocol for a label router."""
    if spec.build()._label_target:
        return [(f"{s}|{p}", fitting_tradeoff(s, p), s == "llm_judge") for s in settings for p in protocols]
    objectives = dict.fromkeys("judge" if s == "llm_judge" else "performance" for s in settings)
    if not _judges(spec):
        objectives.pop("judge", None)
    return [
        (o, fitting_tradeoff("llm_judge" if o == "judge" else "performance_first", "fusionbench"), o == "judge")
        for o in objectives
    ]


def _fitted_for(fitted: dict[tuple[str, str], Any], name: str, setting: str, protocol: str) -> Any:
    objective = "judge" if setting == "llm_judge" else "performance"
    by_setting = fitted.get((name, f"{setting}|{protocol}"))
    return by_setting if by_setting is not None else fitted.get((name, objective))


def _judges(spec: RouterSpec) -> bool:
    """Whether a router can be fitted on the judge objective (it has a ``tradeoff`` parameter)."""
    return "tradeoff" in spec.build().get_params(deep=False)


def _needs_cost(spec: RouterSpec) -> bool:
    return spec.build().router_tags.needs_cost


def _restrict(collected: Collected, drop: set[str]) -> Collected:
    if not drop:
        return collected
    values = {k: v for k, v in collected.values.items() if k[0] not in drop}
    counts = {k: v for k, v in collected.choice_counts.items() if k not in drop}
    routers = [r for r in collected.routers if r not in drop]
    return dataclasses.replace(collected, values=values, routers=routers, choice_counts=counts)


# ---------------------------------------------------------------- running
@dataclass
class _Scenario:
    collected: dict[int, dict[tuple[str, str], list[Collected]]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    splits: list[dict[str, Any]] = field(default_factory=list)
    frontier: dict[str, Any] = field(default_factory=dict)


def _run_fold(
    state: _Scenario,
    data: RoutingData,
    scenario: str,
    seed: int,
    spec: splits.SplitSpec,
    routers: Sequence[RouterSpec],
    settings: Sequence[str],
    config: BenchmarkConfig,
    features: str,
    step: Callable[[str], None],
) -> None:
    state.splits.append(_split_summary(spec, seed))
    train, _, test = splits.apply(data, spec)
    featurizer, X_train = fit_features(features, train)
    X_test = X_train if scenario == "naive" else transform(featurizer, test)
    fitted: dict[tuple[str, str], Any] = {}
    for router_spec in routers:
        if router_spec.name in state.failed:
            continue
        step(f"{scenario}, seed {seed}, {spec.name}: {router_spec.name}")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # dropped queries: counted by the router
                for key, tradeoff, judge in _fits(router_spec, settings, config.protocols):
                    fitted[(router_spec.name, key)] = _fit(router_spec, seed, tradeoff, X_train, train, judge)
        except Exception as error:  # reported in the report; the other routers go on
            state.failed[router_spec.name] = f"{type(error).__name__}: {error}"
    searches = {
        r.name: record
        for r in routers
        if (record := search_record(fitted.get((r.name, "performance")), X_test)) is not None
    }
    if searches:
        state.splits[-1]["searches"] = searches
    folds = state.collected.setdefault(seed, {})
    for protocol in config.protocols:
        for setting in settings:
            systems = {
                r.name: router
                for r in routers
                if r.name not in state.failed and (router := _fitted_for(fitted, r.name, setting, protocol)) is not None
            }
            part = collect(
                systems, test, train=train, X=X_test, setting=setting, protocol=protocol,
                transductive=scenario == "naive",
            )  # fmt: skip
            folds.setdefault((protocol, setting), []).append(part)
    if scenario == "id" and not state.frontier and has_cost(test):
        lines = {}
        for r in routers:
            router = fitted.get((r.name, "performance"))
            if router is not None and (line := curves.router_curve(router, X_test, test)) is not None:
                lines[r.name] = line
        state.frontier = {
            "scenario": scenario,
            "seed": seed,
            "candidates": curves.candidate_points(test),
            "oracle": curves.oracle_curve(test),
            "routers": lines,
        }


def run_benchmark(
    data: RoutingData, config: BenchmarkConfig | None = None, progress: Progress | None = None
) -> BenchmarkResult:
    """Run ``config`` on ``data`` (see the module docstring); ``progress(step, done, total)`` reports fits."""
    config = config or BenchmarkConfig()
    if "all" in config.settings:  # every setting; those the data cannot evaluate are listed under "Skipped"
        config = dataclasses.replace(config, settings=SETTINGS)
    unknown = [s for s in config.scenarios if s not in SCENARIOS]
    if unknown:
        raise ValueError(f"unknown scenario(s) {unknown}; scenarios are {list(SCENARIOS)}")
    features = config.features or default_features(data)
    skipped: list[dict[str, Any]] = _loading_skips(data)
    routers: list[RouterSpec] = []
    for spec in config.routers:
        if spec.router in BASELINE_NAMES and spec.name == spec.router and not spec.params:
            row = "best_single_train" if spec.router == "best_single" else spec.router
            skipped.append({"router": spec.name, "reason": f"a baseline: the row {row!r} of every table"})
            continue  # a variant (another label or parameters) is benchmarked as a router
        try:
            spec.build()
        except Exception as error:  # listed under "Skipped", never dropped in silence
            skipped.append({"router": spec.name, "reason": f"cannot build {spec.router!r}: {error}"})
            continue
        if _needs_cost(spec) and not has_cost(data):
            skipped.append({"router": spec.name, "reason": f"needs cost: {data.source} has {NO_COST}"})
            continue
        routers.append(spec)
        if "llm_judge" in config.settings and not _judges(spec) and unavailable_reason("llm_judge", data) is None:
            name = type(spec.build()).__name__
            skipped.append(
                {"router": spec.name, "setting": "llm_judge", "reason": f"{name} routes on performance only"}
            )
    settings = [s for s in config.settings if unavailable_reason(s, data) is None]
    skipped += [{"setting": s, "reason": r} for s in config.settings if (r := unavailable_reason(s, data))]
    plans: dict[str, dict[int, list[splits.SplitSpec]]] = {}
    for scenario in config.scenarios:
        try:
            plans[scenario] = {seed: fold_specs(data, scenario, seed, config) for seed in config.seeds}
        except splits.SplitError as error:
            skipped.append({"scenario": scenario, "reason": str(error)})
    total = sum(len(specs) for plan in plans.values() for specs in plan.values()) * max(len(routers), 1)
    counter = {"done": 0}

    def step(label: str) -> None:
        if progress:
            progress(label, counter["done"], total)
        counter["done"] += 1

    evaluations: dict[str, dict[str, dict[str, RoutingEvaluation | str]]] = {}
    split_rows: dict[str, list[dict[str, Any]]] = {}
    timings: dict[str, float] = {}
    frontier: dict[str, Any] = {}
    about = describe(data)
    for scenario, plan in plans.items():
        started = time.perf_counter()
        state = _Scenario()
        for seed, specs in plan.items():
            for spec in specs:
                _run_fold(state, data, scenario, seed, spec, routers, settings, config, features, step)
        evaluations[scenario] = {p: {} for p in config.protocols}
        for protocol in config.protocols:
            for setting in config.settings:
                reason = unavailable_reason(setting, data)
                if reason:
                    evaluations[scenario][protocol][setting] = reason
                    continue
                drop = set(state.failed)
                pooled = {
                    seed: concat([_restrict(part, drop) for part in f[(protocol, setting)]])
                    for seed, f in state.collected.items()
                }
                per_seed = [
                    finalize(part, n_boot=config.n_boot, seed=seed, confidence=config.confidence, data=about)
                    for seed, part in pooled.items()
                ]
                evaluations[scenario][protocol][setting] = RoutingEvaluation.average(per_seed)
        skipped += [{"scenario": scenario, "router": n, "reason": f"fit failed: {e}"} for n, e in state.failed.items()]
        split_rows[scenario] = state.splits
        frontier = frontier or state.frontier
        timings[scenario] = round(time.perf_counter() - started, 2)
    if progress:
        progress("done", total, total)
    description = about | {"provenance": _provenance(data), "features": features}
    return BenchmarkResult(config, description, evaluations, split_rows, skipped, frontier, timings)


def _loading_skips(data: RoutingData) -> list[dict[str, Any]]:
    """What loading dropped (incomplete queries or candidates), as "Skipped" items of the report."""
    skipped = data.provenance.get("skipped", {})
    out = []
    if skipped.get("queries_incomplete"):
        out.append({"queries": skipped["queries_incomplete"], "reason": "incomplete (a missing cell): dropped"})
    if skipped.get("candidates_incomplete"):
        dropped = ", ".join(map(str, skipped.get("dropped_candidates", [])))
        out.append({"candidates": dropped, "reason": "incomplete (a missing cell): dropped"})
    return out


def _provenance(data: RoutingData) -> dict[str, Any]:
    keep = ("kind", "note", "upstream", "embedded", "path", "export", "decontaminated", "skipped")
    return {k: v for k, v in data.provenance.items() if k in keep}
