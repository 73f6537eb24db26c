"""The evaluation verbs of the route workflow: :func:`evaluate_trained` (``route eval ROUTER``),
:func:`evaluate_choices` (``route eval --choices``), :func:`benchmark` (``route benchmark``) and :func:`report`
(``route report``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from fusionbench.artifacts import ArtifactFormat, new_manifest, write_manifest
from fusionbench.fusion.data import RoutingData
from fusionbench.fusion.evaluation.trained import TrainedRouter
from fusionbench.fusion.experiment.workflow import _parts, _trained, data_for, load, make_split, part
from fusionbench.fusion.splits import SplitSpec

#: ``route eval --json``: one JSON file, its own manifest (:mod:`fusionbench.artifacts`)
EVAL_ARTIFACT = ArtifactFormat("fusionbench-route-eval", 1, manifest="", what="a route eval JSON (route eval --json)")
EVAL_FORMAT = EVAL_ARTIFACT.tag


@dataclass
class EvaluationRun:
    """``route eval``'s result: one :class:`~fusionbench.fusion.evaluation.RoutingEvaluation` per setting on the
    evaluated queries, with the held-out AUROCs of a ``lomo`` split."""

    evaluations: dict[str, Any]
    test: RoutingData
    part: str = "test"
    protocol: str = "fusionbench"
    seed: int | None = 0
    held_out_auroc: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` payload: every number with its CI (format ``fusionbench-route-eval/1``)."""
        from fusionbench.fusion.evaluation.core import describe
        from fusionbench.fusion.report.write import jsonable

        payload = new_manifest(EVAL_ARTIFACT) | {
            "protocol": self.protocol, "split": self.part,
            "evaluations": {s: ev.to_dict() for s, ev in self.evaluations.items()}, "data": describe(self.test),
        } | ({"held_out_auroc": self.held_out_auroc} if self.held_out_auroc else {})  # fmt: skip
        return jsonable(payload)

    def save_json(self, path: str | Path) -> Path:
        """Write :meth:`to_dict` to ``path`` (atomically, never through a link)."""
        return write_manifest(path, EVAL_ARTIFACT, self.to_dict())

    def write_report(self, folder: str | Path) -> dict[str, Path]:
        """A report folder (Markdown, JSON, plots) of these evaluations."""
        from fusionbench.fusion.report.write import evaluation_report, write_report

        label = f"evaluation on the {self.part} split"
        return write_report(evaluation_report(self.evaluations, self.test, label=label, seed=self.seed), folder)


@dataclass(frozen=True)
class EvaluationOptions:
    """What ``route eval`` evaluates and how: the keywords :func:`evaluate_trained` and :func:`evaluate_choices`
    share. Either takes them as ``options=`` or one by one as keywords (a keyword overrides the options' field).

    ``part_name``: the part of the split evaluated (``train``, ``val``, ``test`` or ``all``); ``split`` and
    ``split_args``: a :class:`~fusionbench.fusion.splits.SplitSpec`, or a scheme and its arguments (a trained
    router's own split by default); ``setting``: one, several or ``"all"`` (default: the router's trade-off, or
    performance_first); ``protocol``, ``n_boot``, ``seed``: as :func:`~fusionbench.fusion.evaluation.evaluate`
    (``seed`` also seeds the split); ``allow_overlap``: evaluate despite a train/test overlap (the report says so);
    ``name``: the evaluated system's label.
    """

    part_name: str = "test"
    split: SplitSpec | str | None = None
    split_args: Mapping[str, Any] | None = None
    setting: str | Sequence[str] | None = None
    protocol: str = "fusionbench"
    n_boot: int = 1000
    seed: int = 0
    allow_overlap: bool = False
    name: str | None = None

    @classmethod
    def split_keywords(
        cls, options: EvaluationOptions | None, keywords: Mapping[str, Any]
    ) -> tuple[EvaluationOptions, dict[str, Any]]:
        """(``options``, or the defaults, with the keywords that name a field applied; the other keywords)."""
        names = {f.name for f in fields(cls)}
        ours = {k: v for k, v in keywords.items() if k in names}
        return replace(options or cls(), **ours), {k: v for k, v in keywords.items() if k not in names}

    def evaluate_keywords(self) -> dict[str, Any]:
        """The keywords of :func:`~fusionbench.fusion.evaluation.evaluate` these options set."""
        return {key: getattr(self, key) for key in ("protocol", "n_boot", "seed", "allow_overlap")}


def settings_for(setting: str | Sequence[str] | None, default: str, data: RoutingData) -> list[str]:
    """The settings to evaluate: ``all`` (every setting the data allows), the ones named, or ``default``."""
    from fusionbench.fusion.evaluation.protocols import SETTINGS, unavailable_reason

    if setting == "all" or (not isinstance(setting, str) and setting is not None and "all" in setting):
        return [s for s in SETTINGS if unavailable_reason(s, data) is None]
    asked = [setting] if isinstance(setting, str) else list(setting or [])
    asked = asked or [default if default in SETTINGS else "performance_first"]
    for name in asked:
        if reason := unavailable_reason(name, data):
            raise ValueError(f"setting {name!r} cannot be evaluated on {data.source}: {reason}")
    return asked


def _run(
    systems: dict[str, Any],
    test: RoutingData,
    train: Any,
    X: Any,
    settings: list[str],
    options: EvaluationOptions,
    notes: Sequence[str] = (),
    held_out_auroc: dict[str, Any] | None = None,
) -> EvaluationRun:
    from fusionbench.fusion.evaluation import evaluate

    results = {}
    for setting in settings:
        ev = evaluate(systems, test, train=train, X=X, setting=setting, **options.evaluate_keywords())
        ev.notes += notes
        results[setting] = ev
    return EvaluationRun(results, test, options.part_name, options.protocol, options.seed, held_out_auroc or {})


def evaluate_trained(
    trained: TrainedRouter | str | Path,
    data: RoutingData | str | None = None,
    *,
    options: EvaluationOptions | None = None,
    trust: bool = False,
    **keywords: Any,
) -> EvaluationRun:
    """Evaluate a trained router on a part of its split (default test) beside the baselines, with CIs, after the
    leakage check against its own training record; ``setting="all"`` evaluates every setting the data allows
    (``route eval ROUTER``). A calibrated router is evaluated by its calibrated choices. ``keywords``: the fields of
    :class:`EvaluationOptions` (over ``options``) and the read options of the data (:func:`data_for`)."""
    from fusionbench.fusion.evaluation import check_before_evaluation, held_out_aurocs

    options, read = EvaluationOptions.split_keywords(options, keywords)
    trained = _trained(trained, trust)
    data = data_for(trained, data, **read)
    spec, train, test = _parts(trained, data, options.split, options.seed, options.split_args, options.part_name)
    if trained.record is not None:  # the router's own training queries, whatever data it is evaluated on
        check_before_evaluation(trained.record, test, allow_overlap=options.allow_overlap)
    X = trained.features(test)
    folder_name = trained.folder.name if trained.folder is not None else ""
    label = options.name or folder_name or "router"
    if trained.calibration is not None:  # the calibrated knob's choices, under every setting
        systems: dict[str, Any] = {label: trained.router.candidates_[trained.predict(X, tasks=test.tasks)]}
    else:  # the router itself: a score router routes under each setting asked for
        systems = {label: trained.router}
    aurocs = {}
    if spec.scheme == "lomo":  # how well the router's estimate for each held-out candidate predicts correctness
        new = spec.meta["new_candidates"]
        aurocs = held_out_aurocs(trained.router, X, test, new, n_boot=options.n_boot, seed=options.seed)
    settings = settings_for(options.setting, trained.router.tradeoff_.name, test)
    return _run(systems, test, train, X, settings, options, held_out_auroc=aurocs)


def _choices(choices: Any, test: RoutingData, where: str) -> tuple[list[str], RoutingData, list[str]]:
    """(choices, the evaluated queries that have one, notes) from {query_id: candidate}."""
    keep = np.array([str(q) in choices for q in test.query_ids])
    if not keep.any():
        raise ValueError(f"{where}: no choice for any of the {test.n_queries:,} evaluated queries")
    notes = [f"{int((~keep).sum()):,} evaluated queries have no choice in {where}: left out"] if not keep.all() else []
    subset = test.take(keep)
    return [choices[str(q)] for q in subset.query_ids], subset, notes


def evaluate_choices(
    choices: str | Path | Mapping[str, str],
    data: RoutingData | str | None = None,
    *,
    options: EvaluationOptions | None = None,
    **keywords: Any,
) -> EvaluationRun:
    """Evaluate fixed choices (a Parquet of query_id, candidate, as :func:`predict` writes, or a mapping) on a
    part of a split of ``data`` (``route eval --choices``). ``keywords``: the fields of :class:`EvaluationOptions`
    (over ``options``) and the read options of the data (:func:`load`)."""
    options, read = EvaluationOptions.split_keywords(options, keywords)
    where = str(choices) if not isinstance(choices, Mapping) else "the choices given"
    name = options.name
    if not isinstance(choices, Mapping):
        import pyarrow.parquet as pq

        table = pq.read_table(choices, columns=["query_id", "candidate"])
        choices = dict(zip(table["query_id"].to_pylist(), table["candidate"].to_pylist(), strict=True))
        name = name or Path(where).stem
    data = load(data, **read)
    spec = make_split(data, options.split, seed=options.seed, **dict(options.split_args or {}))
    train, test = part(data, spec, options.part_name)
    picked, test, notes = _choices({str(k): v for k, v in choices.items()}, test, where)
    settings = settings_for(options.setting, "", test)
    return _run({name or "choices": picked}, test, train, None, settings, options, notes)


def benchmark(
    data: RoutingData | str | None = None,
    routers: Sequence[Any] | None = None,
    *,
    incomplete: str = "drop_queries",
    report_folder: str | Path | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    read: Mapping[str, Any] | None = None,
    **config: Any,
) -> Any:
    """Run routers x seeds x scenarios x protocols x settings (``route benchmark``) and return the
    :class:`~fusionbench.fusion.report.BenchmarkResult`; the report folder is written when ``report_folder``.

    ``routers``: registry names, ``LABEL=NAME`` strings or :class:`~fusionbench.fusion.report.RouterSpec`s;
    ``config``: :class:`~fusionbench.fusion.report.BenchmarkConfig`'s fields (``settings="all"`` included). A data
    spec's incomplete queries are dropped by default, counted, and listed under the report's "Skipped".
    """
    from fusionbench.fusion.report import BenchmarkConfig, RouterSpec, run_benchmark, write_report

    data = load(data, incomplete=incomplete, **dict(read or {}))
    if routers is not None:
        specs = []
        for item in routers:
            if isinstance(item, str):
                label, _, kind = item.partition("=") if "=" in item else (item, "", item)
                item = RouterSpec(label, kind)
            specs.append(item)
        config["routers"] = specs
    if isinstance(config.get("settings"), str):
        config["settings"] = [config["settings"]]
    result = run_benchmark(data, BenchmarkConfig(**config), progress=progress)
    if report_folder is not None:
        write_report(result, report_folder)
    return result


def report(results: str | Path | Mapping[str, Any], out: str | Path) -> dict[str, Path]:
    """Render a report folder again from a ``report.json`` (or its folder, or the report dict) (``route report``)."""
    from fusionbench.fusion.report import read_report, write_report

    return write_report(results if isinstance(results, Mapping) else read_report(results), out)


__all__ = [
    "EVAL_FORMAT",
    "EvaluationOptions",
    "EvaluationRun",
    "benchmark",
    "evaluate_choices",
    "evaluate_trained",
    "report",
    "settings_for",
]
