"""The route workflow as Python functions: each ``fusionbench route`` verb has its twin here, and the CLI only
parses arguments, calls them and prints (:mod:`fusionbench.cli.route`). The evaluation verbs are in :mod:`.runs`.

=========================  ===============================================================
``route train``            :func:`train` -> :class:`TrainedRouter` (``.save(folder)``)
``route predict``          :func:`predict` -> a choices table (query_id, task, candidate, utility)
``route calibrate``        :func:`calibrate` -> :class:`Calibration` (kept with the router)
``route eval``             :func:`evaluate_trained` (or :func:`evaluate_choices`) -> :class:`EvaluationRun`
``route benchmark``        :func:`benchmark` -> :class:`~fusionbench.fusion.report.BenchmarkResult`
``route report``           :func:`report` -> the files of the report folder
=========================  ===============================================================

Data is a :class:`~fusionbench.fusion.data.RoutingData` or a data spec (``None``: the embedded dataset, an export
folder, ``KIND=PATH``, a Hub id; :func:`load`). A trained router is a :class:`TrainedRouter` or its folder.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fusionbench._version import __version__
from fusionbench.fusion.data import RoutingData
from fusionbench.fusion.evaluation.calibration import Calibration
from fusionbench.fusion.evaluation.trained import RunContext, TrainedRouter, load_trained
from fusionbench.fusion.splits import SplitSpec

Step = Callable[[str], None]
PARTS = ("train", "val", "test", "all")


def load(
    data: RoutingData | str | None = None,
    *,
    incomplete: str = "error",
    tasks_from: str = "task",
    lenient: bool = False,
    candidates: Sequence[str] | None = None,
    score_column: str = "performance",
) -> RoutingData:
    """RoutingData of a data spec (:func:`~fusionbench.fusion.evaluation.inputs.load_data`), only ``candidates``
    when given; the spec and read options are kept in ``provenance["spec"]`` for :func:`train`'s context."""
    from fusionbench.fusion.evaluation.inputs import load_data

    if isinstance(data, RoutingData):
        return data.select_candidates(candidates) if candidates else data
    loaded = load_data(data, incomplete=incomplete, tasks_from=tasks_from, lenient=lenient, score_column=score_column)
    loaded = loaded.select_candidates(candidates) if candidates else loaded
    spec = {"data": data, "incomplete": incomplete, "tasks_from": tasks_from, "lenient": lenient}
    spec |= {"score_column": score_column, "candidates": None if candidates is None else tuple(candidates)}
    return dataclasses.replace(loaded, provenance={**loaded.provenance, "spec": spec})


def make_split(data: RoutingData, split: SplitSpec | str | None = None, *, seed: int = 0, **args: Any) -> SplitSpec:
    """``split`` itself, or the split of scheme ``split`` (default: release when shipped, else random)."""
    from fusionbench.fusion.evaluation.inputs import default_scheme
    from fusionbench.fusion.evaluation.inputs import make_split as by_scheme

    if isinstance(split, SplitSpec):
        return split
    return by_scheme(data, split or default_scheme(data), seed=seed, **args)


def part(data: RoutingData, split: SplitSpec, which: str) -> tuple[RoutingData, RoutingData]:
    """(train, the part asked for) of a split; ``all`` is every query of the data."""
    from fusionbench.fusion import splits

    if which not in PARTS:
        raise ValueError(f"part must be one of {list(PARTS)}, not {which!r}")
    train, val, test = splits.apply(data, split)
    chosen = {"train": train, "val": val, "test": test, "all": data}[which]
    if chosen.n_queries == 0:
        hint = (
            " (train with --scheme-arg val_size=0.1; in Python split_args={'val_size': 0.1})" if which == "val" else ""
        )
        raise ValueError(f"split {split.name!r} has no {which} queries{hint}")
    return train, chosen


def _require_cost(router: Any, tradeoff: Any, data: RoutingData) -> None:
    from fusionbench.fusion.evaluation.protocols import NO_COST, has_cost

    needs_cost = router.router_tags.needs_cost
    if (needs_cost or tradeoff.uses_cost) and not has_cost(data):
        what = type(router).__name__ if needs_cost else f"trade-off {tradeoff.name!r}"
        raise ValueError(f"{what} needs costs, and {data.source} has {NO_COST}")


def _router(router: Any, params: Mapping[str, Any]) -> tuple[Any, str, dict[str, Any]]:
    """(unfitted router, registry name, the parameters given) of a name or an instance."""
    from sklearn.base import clone

    from fusionbench.fusion.routers import make_router
    from fusionbench.fusion.routers.registry import router_name

    if isinstance(router, str):
        return make_router(router, **params), router, dict(params)
    built = clone(router).set_params(**params) if params else clone(router)
    return built, router_name(type(built)), dict(built.get_params(deep=False))


def train(
    data: RoutingData | str | None = None,
    router: Any = "auto",
    *,
    split: SplitSpec | str | None = None,
    split_args: Mapping[str, Any] | None = None,
    features: str | None = None,
    tradeoff: str = "performance_first",
    params: Mapping[str, Any] | None = None,
    seed: int = 0,
    out: str | Path | None = None,
    progress: Step | None = None,
    **read: Any,
) -> TrainedRouter:
    """Fit ``router`` (a registry name or an unfitted router) on the train part of ``split`` and return it with
    its featuriser, :class:`RunContext`, split and training record; saved to ``out`` when given (``route train``).

    ``read``: :func:`load`'s options for a data spec (``incomplete``, ``tasks_from``, ``lenient``, ``candidates``).
    """
    from fusionbench.fusion.evaluation.gate import TrainingRecord
    from fusionbench.fusion.evaluation.inputs import default_features, fit_features
    from fusionbench.fusion.evaluation.protocols import has_cost
    from fusionbench.fusion.routers import Tradeoff

    step = progress or (lambda _: None)
    data = load(data, **read)
    spec = make_split(data, split, seed=seed, **dict(split_args or {}))
    if spec.transductive:
        raise ValueError("a naive split (train = test) is only for `fusionbench route benchmark --scenario naive`")
    train_part, _ = part(data, spec, "train")
    model, name, given = _router(router, dict(params or {}))
    trade = Tradeoff.parse(tradeoff)
    if "tradeoff" in model.get_params(deep=False):
        model.set_params(tradeoff=trade)
    _require_cost(model, trade, train_part)
    features = features or default_features(data)
    step(f"featurising {train_part.n_queries:,} training queries ({features})")
    featurizer, X = fit_features(features, train_part)
    step(f"fitting {type(model).__name__}")
    model.fit(
        X, train_part.performance, cost=train_part.cost if has_cost(train_part) else None, tasks=train_part.tasks,
        judge=train_part.judge if trade.objective == "judge" else None, candidates=list(train_part.candidates),
    )  # fmt: skip
    how = data.provenance.get("spec") or {"data": f"<in memory: {data.source}>"}
    context = RunContext(
        data=how.get("data"), split_scheme=spec.scheme, split_args=dict(split_args or {}), seed=seed,
        features=features, router=name, router_params=given, tradeoff=trade.name,
        score_column=how.get("score_column", "performance"), incomplete=how.get("incomplete", "error"),
        tasks_from=how.get("tasks_from", "task"), lenient=bool(how.get("lenient")), candidates=how.get("candidates"),
        fusionbench_version=__version__, training_fingerprint=getattr(model, "training_fingerprint_", None),
    )  # fmt: skip
    record = TrainingRecord.from_data(train_part, {"name": spec.name})
    trained = TrainedRouter(model, featurizer, context, spec, record)
    if out is not None:
        trained.save(out)
    return trained


def _trained(trained: TrainedRouter | str | Path, trust: bool) -> TrainedRouter:
    return trained if isinstance(trained, TrainedRouter) else load_trained(trained, trust=trust)


def data_for(trained: TrainedRouter, data: RoutingData | str | None = None, **read: Any) -> RoutingData:
    """``data``, or the data the router was trained on (its context's spec and read options; ``read`` overrides)."""
    if isinstance(data, RoutingData):
        return data
    context = trained.context or RunContext()
    spec = data if data is not None else context.data
    if isinstance(spec, str) and spec.startswith("<in memory"):
        raise ValueError(f"{trained.folder or 'the router'} was trained on data given in memory ({spec}): pass data=")
    options = {"incomplete": context.incomplete, "tasks_from": context.tasks_from, "lenient": context.lenient}
    options |= {"candidates": context.candidates, "score_column": context.score_column}
    return load(spec, **(options | {k: v for k, v in read.items() if v is not None}))


def _parts(
    trained: TrainedRouter, data: RoutingData, split: SplitSpec | str | None, seed: int, split_args: Any, which: str
) -> tuple[SplitSpec, RoutingData, RoutingData]:
    spec = trained.split if split is None and trained.split is not None else None
    spec = spec or make_split(data, split, seed=seed, **dict(split_args or {}))
    return (spec, *part(data, spec, which))


def predict(
    trained: TrainedRouter | str | Path,
    data: RoutingData | str | None = None,
    *,
    part_name: str = "test",
    split: SplitSpec | str | None = None,
    split_args: Mapping[str, Any] | None = None,
    seed: int = 0,
    out: str | Path | None = None,
    trust: bool = False,
    **read: Any,
) -> Any:
    """The router's choices on a part of the data as a pyarrow Table (query_id, task, candidate, utility), the
    calibrated knob's when there is one; written as Parquet to ``out`` when given (``route predict``)."""
    import pyarrow as pa

    trained = _trained(trained, trust)
    data = data_for(trained, data, **read)
    _, _, chosen = _parts(trained, data, split, seed, split_args, part_name)
    X = trained.features(chosen)
    picks = trained.predict(X, tasks=chosen.tasks)
    utility = trained.router.predict_utility(X, tasks=chosen.tasks)[np.arange(len(picks)), picks]
    table = pa.table({
        "query_id": [str(q) for q in chosen.query_ids], "task": [str(t) for t in chosen.tasks],
        "candidate": [str(c) for c in trained.router.candidates_[picks]], "utility": utility.astype(np.float64),
    })  # fmt: skip
    if out is not None:
        import pyarrow.parquet as pq

        from fusionbench.files import atomic_writer

        Path(out).parent.mkdir(parents=True, exist_ok=True)
        with atomic_writer(out) as handle:  # never through a link
            pq.write_table(table, handle)
    return table


def calibrate(
    trained: TrainedRouter | str | Path,
    data: RoutingData | str | None = None,
    *,
    target_cost: float | None = None,
    strong_share: float | None = None,
    target_accuracy: float | str | None = None,
    strong: str | None = None,
    tolerance: float = 0.0,
    part_name: str = "val",
    split: SplitSpec | str | None = None,
    split_args: Mapping[str, Any] | None = None,
    seed: int = 0,
    save: bool = True,
    trust: bool = False,
    **read: Any,
) -> Calibration:
    """Pick the router's knob on ``part_name`` (default val) for one target (``target_accuracy="best_single"``: the
    best single candidate's accuracy less ``tolerance``), realised on test; kept with the router
    (``trained.calibration``, and ``calibration.json`` in its folder when ``save``) (``route calibrate``)."""
    from fusionbench.fusion.evaluation.calibration import calibrate as pick

    trained = _trained(trained, trust)
    data = data_for(trained, data, **read)
    spec, _, val = _parts(trained, data, split, seed, split_args, part_name)
    _, test = part(data, spec, "test")
    result = pick(
        trained.router, val, X_val=trained.features(val), target_cost=target_cost, strong_share=strong_share,
        target_accuracy=target_accuracy, test=test, X_test=trained.features(test), strong=strong, tolerance=tolerance,
    )  # fmt: skip
    trained.calibration = result
    if save and trained.folder is not None:
        from fusionbench.fusion.evaluation.trained import save_calibration

        save_calibration(trained.folder, result)
    return result


__all__ = ["calibrate", "data_for", "load", "make_split", "part", "predict", "train"]
