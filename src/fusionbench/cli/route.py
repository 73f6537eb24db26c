"""``fusionbench route``: train, predict, calibrate, evaluate and benchmark query-level routers.

``--data`` is an export folder, ``KIND=PATH`` of a public routing dataset (``routerbench=...``,
``llmrouter=...``, ``routellm-mmlu=...``, ...), a Hub id, or nothing: the embedded real dataset (LLMRouter's
9 models x 6,108 queries). Every evaluation runs the leakage check first and fails on overlap unless
``--allow-overlap``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from fusionbench.cli.common import console, csv_list, out, progress_display
from fusionbench.cli.route_tables import print_aurocs, print_evaluation
from fusionbench.files import atomic_write_text, atomic_writer


# ---------------------------------------------------------------- shared pieces
def _data(args: argparse.Namespace, context: dict[str, Any] | None = None) -> Any:
    from fusionbench.fusion.evaluation.inputs import load_data

    context = context or {}
    spec = args.data if args.data is not None else context.get("data")
    incomplete = args.incomplete or context.get("incomplete", "error")
    lenient = getattr(args, "lenient", False) or context.get("lenient", False)
    tasks_from = args.tasks_from or context.get("tasks_from", "task")
    data = load_data(spec, incomplete=incomplete, tasks_from=tasks_from, lenient=lenient)
    candidates = getattr(args, "candidates", None) or context.get("candidates")
    data = data.select_candidates(candidates) if candidates else data
    if data.synthetic:
        from fusionbench.fusion.report.tables import SYNTHETIC_BANNER

        console.print(SYNTHETIC_BANNER.replace("> ", "").replace("**", ""), style="yellow")
    if skipped := {k: v for k, v in data.provenance.get("skipped", {}).items() if isinstance(v, int | dict) and v}:
        console.print(f"[yellow]skipped while loading {data.source}: {skipped}")
    return data


def _split(args: argparse.Namespace, data: Any, saved: Any = None) -> Any:
    from fusionbench.fusion.evaluation.inputs import default_scheme, make_split, parse_pairs

    if args.split_scheme is None and saved is not None:
        return saved
    scheme = args.split_scheme or default_scheme(data)
    return make_split(data, scheme, seed=args.seed, **parse_pairs(args.scheme_arg))


def _part(data: Any, spec: Any, part: str) -> tuple[Any, Any]:
    """(train, the part asked for) of a split; ``all`` is every query of the data."""
    from fusionbench.fusion import splits

    train, val, test = splits.apply(data, spec)
    chosen = {"train": train, "val": val, "test": test, "all": data}[part]
    if chosen.n_queries == 0:
        hint = " (train with --scheme-arg val_size=0.1)" if part == "val" else ""
        raise ValueError(f"split {spec.name!r} has no {part} queries{hint}")
    return train, chosen


def _require_cost(router: Any, tradeoff: Any, data: Any) -> None:
    from fusionbench.fusion.evaluation.protocols import NO_COST, has_cost

    needs_cost = router.router_tags.needs_cost
    if (needs_cost or tradeoff.uses_cost) and not has_cost(data):
        what = type(router).__name__ if needs_cost else f"trade-off {tradeoff.name!r}"
        raise ValueError(f"{what} needs costs, and {data.source} has {NO_COST}")


# ---------------------------------------------------------------- train / predict
def cmd_train(args: argparse.Namespace) -> int:
    from fusionbench.fusion.evaluation.gate import TrainingRecord
    from fusionbench.fusion.evaluation.inputs import default_features, fit_features, parse_pairs
    from fusionbench.fusion.evaluation.protocols import has_cost
    from fusionbench.fusion.evaluation.trained import save_trained
    from fusionbench.fusion.routers import Tradeoff, make_router

    data = _data(args)
    spec = _split(args, data)
    if spec.transductive:
        raise ValueError("a naive split (train = test) is only for `fusionbench route benchmark --scenario naive`")
    train, _ = _part(data, spec, "train")
    params = parse_pairs(args.set)
    router = make_router(args.router, **params)
    tradeoff = Tradeoff.parse(args.tradeoff)
    if "tradeoff" in router.get_params(deep=False):
        router.set_params(tradeoff=tradeoff)
    _require_cost(router, tradeoff, train)
    features = args.features or default_features(data)
    with progress_display(args.quiet) as progress:
        progress.add_task(f"featurising {train.n_queries:,} training queries ({features})", total=None)
        featurizer, X = fit_features(features, train)
        progress.add_task(f"fitting {type(router).__name__}", total=None)
        router.fit(
            X, train.performance, cost=train.cost if has_cost(train) else None, tasks=train.tasks,
            judge=train.judge if tradeoff.objective == "judge" else None, candidates=list(train.candidates),
        )  # fmt: skip
    context = {
        "data": args.data, "incomplete": args.incomplete or "error", "tasks_from": args.tasks_from or "task",
        "lenient": args.lenient,
        "split_scheme": spec.scheme, "scheme_args": args.scheme_arg or [], "seed": args.seed, "features": features,
        "tradeoff": tradeoff.name, "router": args.router, "set": args.set or [], "candidates": args.candidates,
    }  # fmt: skip
    save_trained(args.out, router, featurizer, context, spec, TrainingRecord.from_data(train, {"name": spec.name}))
    dropped = getattr(router, "n_dropped_queries_", 0)
    console.print(
        f"[green]trained[/green] {type(router).__name__} on {train.n_queries:,} queries x {train.n_candidates} "
        f"candidates of {data.source} (split {spec.name}: {spec.counts()}; features {features}, {X.shape[1]:,} dims)"
        + (f"; {dropped} queries with missing values dropped" if dropped else "")
        + f" -> {args.out}"
    )
    return 0


def _trained_and_data(args: argparse.Namespace, part: str) -> tuple[Any, Any, Any, Any]:
    """(trained folder, data, train part, asked part) for predict / calibrate / eval of a router folder."""
    from fusionbench.fusion.evaluation.trained import load_trained

    trained = load_trained(args.router_dir, trust=args.trust)
    data = _data(args, trained.context)
    train, chosen = _part(data, _split(args, data, trained.split), part)
    return trained, data, train, chosen


def _features(trained: Any, data: Any) -> Any:
    from fusionbench.fusion.evaluation.inputs import transform

    if trained.featurizer is None:
        raise ValueError(f"{trained.folder} has no saved featuriser; train it with `fusionbench route train`")
    return transform(trained.featurizer, data)


def cmd_predict(args: argparse.Namespace) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    trained, _, _, chosen = _trained_and_data(args, args.split)
    X = _features(trained, chosen)
    picks = trained.predict(X, tasks=chosen.tasks)
    utility = trained.router.predict_utility(X, tasks=chosen.tasks)[np.arange(len(picks)), picks]
    table = pa.table({
        "query_id": [str(q) for q in chosen.query_ids], "task": [str(t) for t in chosen.tasks],
        "candidate": [str(c) for c in trained.router.candidates_[picks]], "utility": utility.astype(np.float64),
    })  # fmt: skip
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with atomic_writer(args.out) as handle:  # never through a link
        pq.write_table(table, handle)
    names, counts = np.unique(table["candidate"].to_numpy(zero_copy_only=False), return_counts=True)
    how = f" (calibrated {trained.calibration.knob} {trained.calibration.value:.4g})" if trained.calibration else ""
    shares = dict(zip(names, counts.tolist(), strict=True))
    console.print(f"[green]wrote[/green] {args.out}: {len(picks):,} choices{how}; {shares}")
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from fusionbench.fusion.evaluation.calibration import calibrate
    from fusionbench.fusion.evaluation.trained import save_calibration

    trained, data, _, val = _trained_and_data(args, args.split)
    _, test = _part(data, _split(args, data, trained.split), "test")
    result = calibrate(
        trained.router, val, X_val=_features(trained, val), target_cost=args.target_cost,
        strong_share=args.strong_share, target_accuracy=args.target_accuracy, test=test,
        X_test=_features(trained, test), strong=args.strong,
    )  # fmt: skip
    path = save_calibration(args.router_dir, result)
    ((kind, target),) = result.target.items()
    table = Table(title=f"calibrated {result.knob} = {result.value:.4g} for {kind} {target:g} ({args.split} split)")
    for name in ("", "accuracy", "mean cost (USD)", f"share to {result.strong}"):
        table.add_column(name, justify="right")
    for label, values in ((args.split, result.validation), ("test (realised)", result.test or {})):
        cost = values.get("cost")
        table.add_row(
            label, f"{values.get('accuracy', float('nan')):.4f}", "no cost data" if cost is None else f"{cost:.4g}",
            "—" if values.get("strong_share") is None else f"{values['strong_share']:.1%}",
        )  # fmt: skip
    out.print(table)
    for note in result.notes:
        console.print(f"[yellow]{note}")
    console.print(f"[green]wrote[/green] {path}")
    return 0


# ---------------------------------------------------------------- eval / benchmark / report
def _settings(args: argparse.Namespace, default: str, data: Any) -> list[str]:
    from fusionbench.fusion.evaluation.protocols import SETTINGS, unavailable_reason

    if args.setting == "all":
        return [s for s in SETTINGS if unavailable_reason(s, data) is None]
    setting = args.setting or (default if default in SETTINGS else "performance_first")
    reason = unavailable_reason(setting, data)
    if reason:
        raise ValueError(f"setting {setting!r} cannot be evaluated on {data.source}: {reason}")
    return [setting]


def _choices_file(path: str, test: Any) -> tuple[list[str], Any, list[str]]:
    """(choices, the evaluated queries that have one, notes) from a choices Parquet (query_id, candidate)."""
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=["query_id", "candidate"])
    chosen = dict(zip(table["query_id"].to_pylist(), table["candidate"].to_pylist(), strict=True))
    keep = np.array([str(q) in chosen for q in test.query_ids])
    if not keep.any():
        raise ValueError(f"{path}: no choice for any of the {test.n_queries:,} evaluated queries")
    notes = [f"{int((~keep).sum()):,} evaluated queries have no choice in {path}: left out"] if not keep.all() else []
    subset = test.take(keep)
    return [chosen[str(q)] for q in subset.query_ids], subset, notes


def cmd_eval(args: argparse.Namespace) -> int:
    from fusionbench.fusion.evaluation import check_before_evaluation, evaluate
    from fusionbench.fusion.evaluation.core import describe

    notes: list[str] = []
    aurocs: dict[str, Any] = {}
    if args.choices:
        if args.router_dir:
            raise ValueError("give a router folder or --choices, not both")
        data = _data(args)
        train, test = _part(data, _split(args, data), args.split)
        choices, test, notes = _choices_file(args.choices, test)
        systems: dict[str, Any] = {Path(args.choices).stem: choices}
        X, default = None, "performance_first"
    elif not args.router_dir:
        raise ValueError("give a router folder (from `route train`) or --choices FILE")
    else:
        trained, data, train, test = _trained_and_data(args, args.split)
        if trained.record is not None:  # the router's own training queries, whatever data it is evaluated on
            check_before_evaluation(trained.record, test, allow_overlap=args.allow_overlap)
        X = _features(trained, test)
        name = Path(args.router_dir).name or "router"
        if trained.calibration is not None:  # the calibrated knob's choices, under every setting
            systems = {name: trained.router.candidates_[trained.predict(X, tasks=test.tasks)]}
        else:  # the router itself: a score router routes under each setting asked for
            systems = {name: trained.router}
        default = trained.router.tradeoff_.name
        aurocs = _held_out_aurocs(args, trained, data, X, test)
    results = {}
    for setting in _settings(args, default, test):
        ev = evaluate(
            systems, test, train=train, X=X, setting=setting, protocol=args.protocol, n_boot=args.n_boot,
            seed=args.seed, allow_overlap=args.allow_overlap,
        )  # fmt: skip
        ev.notes += notes
        results[setting] = ev
        print_evaluation(ev)
    payload = {
        "format": "fusionbench-route-eval/1", "protocol": args.protocol, "split": args.split,
        "evaluations": {s: ev.to_dict() for s, ev in results.items()}, "data": describe(test),
    } | ({"held_out_auroc": aurocs} if aurocs else {})  # fmt: skip
    if args.json:
        from fusionbench.fusion.report.write import jsonable

        atomic_write_text(args.json, json.dumps(jsonable(payload), indent=1) + "\n")  # never through a link
        console.print(f"[green]wrote[/green] {args.json}")
    if args.report:
        _write_eval_report(args, results, test)
    return 0


def _held_out_aurocs(args: argparse.Namespace, trained: Any, data: Any, X: Any, test: Any) -> dict[str, Any]:
    """Under ``lomo``: how well the router's estimate for each held-out candidate predicts its correctness."""
    from fusionbench.fusion.evaluation import held_out_aurocs

    spec = _split(args, data, trained.split)
    if spec.scheme != "lomo":
        return {}
    aurocs = held_out_aurocs(trained.router, X, test, spec.meta["new_candidates"], n_boot=args.n_boot, seed=args.seed)
    print_aurocs(aurocs)
    return aurocs


def _write_eval_report(args: argparse.Namespace, results: dict[str, Any], test: Any) -> None:
    from fusionbench.fusion.report.write import evaluation_report, write_report

    report = evaluation_report(results, test, label=f"evaluation on the {args.split} split", seed=args.seed)
    files = write_report(report, args.report)
    console.print(f"[green]wrote[/green] {args.report}: {', '.join(p.name for p in files.values())}")


def _router_specs(names: list[str], sets: list[str]) -> list[Any]:
    from fusionbench.fusion.evaluation.inputs import parse_pairs
    from fusionbench.fusion.report import RouterSpec
    from fusionbench.fusion.routers import router_class

    params: dict[str, dict[str, Any]] = {}
    for key, value in parse_pairs(sets).items():
        name, dot, param = key.partition(".")
        if not dot:
            raise ValueError(f"--set {key}=...: name the router, e.g. --set knn.n_neighbors=10")
        params.setdefault(name, {})[param] = value
    specs = []
    for item in names:
        label, _, kind = item.partition("=") if "=" in item else (item, "", item)
        router_class(kind)  # the registry: in-tree, registered and installed (entry point) routers
        specs.append(RouterSpec(label, kind, params.pop(label, {})))
    if params:
        raise ValueError(f"--set names routers that are not benchmarked: {sorted(params)}")
    return specs


def cmd_benchmark(args: argparse.Namespace) -> int:
    from fusionbench.fusion.evaluation.inputs import parse_pairs
    from fusionbench.fusion.evaluation.protocols import PROTOCOLS
    from fusionbench.fusion.report import BenchmarkConfig, run_benchmark, write_report

    data = _data(args)
    config = BenchmarkConfig(
        routers=_router_specs(args.routers, args.set or []), seeds=[int(s) for s in args.seeds],
        scenarios=args.scenarios, protocols=list(PROTOCOLS) if args.protocol == "both" else [args.protocol],
        settings=args.settings, features=args.features, n_boot=args.n_boot, id_scheme=args.split_scheme,
        id_args=parse_pairs(args.scheme_arg), ood_folds=args.ood_folds,
    )  # fmt: skip
    with progress_display(args.quiet) as progress:
        bar = progress.add_task("benchmark", total=None)

        def on_progress(step: str, done: int, total: int) -> None:
            progress.update(bar, description=step, completed=done, total=total)

        result = run_benchmark(data, config, progress=on_progress)
    files = write_report(result, args.report)
    for item in result.skipped:
        console.print(f"[yellow]skipped: {item}")
    console.print(f"[green]wrote[/green] {args.report}: {', '.join(p.name for p in files.values())}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from fusionbench.fusion.report import read_report, write_report

    files = write_report(read_report(args.results), args.out)
    console.print(f"[green]wrote[/green] {args.out}: {', '.join(p.name for p in files.values())}")
    return 0


# ---------------------------------------------------------------- parsers
def _data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", help="export folder, KIND=PATH (routerbench, llmrouter, routellm-mmlu, ...), Hub id "
                        "(default: the embedded LLMRouter dataset, or the data the router was trained on)")  # fmt: skip
    hint = "a missing cell: error (default), or drop (and count) the queries or the candidates"
    parser.add_argument("--incomplete", choices=["error", "drop_queries", "drop_candidates"], help=hint)
    hint = "KIND=PATH data: a value outside its valid range becomes null and is counted, as `build --lenient` does"
    parser.add_argument("--lenient", action="store_true", help=hint)
    parser.add_argument("--tasks-from", choices=["task", "subject"], help="route per task (default) or per subject")
    schemes = ["release", "random", "task_ood", "lomo", "naive"]
    hint = "default: the router's split, or release when the data ships train/test, else random"
    parser.add_argument("--split-scheme", choices=schemes, help=hint)
    hint = "split argument, e.g. test_size=0.2, val_size=0.1, holdout_tasks=gsm8k+math, model=M, k_shot=50"
    parser.add_argument("--scheme-arg", action="append", metavar="K=V", help=hint)
    parser.add_argument("--seed", type=int, default=0, help="split and bootstrap seed (default 0)")


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``fusionbench route`` and its verbs."""
    route = commands.add_parser("route", help="train, calibrate, evaluate and benchmark query-level routers")
    verbs = route.add_subparsers(dest="route_command", required=True)

    train = verbs.add_parser("train", help="fit a router on the training part of a split and save it")
    _data_arguments(train)
    train.add_argument("--router", default="auto", help="a registered router (default auto: chosen by CV on train; "
                       "knn, linear, mlp, mf, cluster, task_prior, carrot, pair, per_task, best_single, or an "
                       "installed package's fusionbench.routers entry point)")  # fmt: skip
    train.add_argument("--set", action="append", metavar="K=V", help="router parameter, e.g. n_neighbors=10")
    train.add_argument("--features", help="embedding, tfidf, tfidf:N, st[:PATH] (default: embedding if stored)")
    hint = "performance_first (default), balance, cost_first, llm_judge, carrot:LAMBDA, fusionfactory:PRESET"
    train.add_argument("--tradeoff", default="performance_first", help=hint)
    train.add_argument("--candidates", type=csv_list, help="only these candidates or models (comma-separated)")
    train.add_argument("--out", required=True, help="router folder to write")
    train.add_argument("--quiet", action="store_true", help="no progress display")
    train.set_defaults(func=cmd_train)

    for name, text in (("predict", "route queries with a saved router"), ("calibrate", "pick λ / threshold on val"),
                       ("eval", "evaluate a router (or its choices) with CIs beside the baselines")):  # fmt: skip
        verb = verbs.add_parser(name, help=text)
        if name == "eval":
            verb.add_argument("router_dir", nargs="?", help="router folder (or --choices)")
            verb.add_argument("--choices", help="choices Parquet (query_id, candidate) instead of a router")
        else:
            verb.add_argument("router_dir", help="router folder written by `route train`")
        _data_arguments(verb)
        default = "val" if name == "calibrate" else "test"
        verb.add_argument("--split", choices=["train", "val", "test", "all"], default=default, help="the part to use")
        verb.add_argument("--trust", action="store_true", help="trust the folder: any estimator, pickles (runs code)")
        verb.set_defaults(func={"predict": cmd_predict, "calibrate": cmd_calibrate, "eval": cmd_eval}[name])
    verbs.choices["predict"].add_argument("--out", required=True, help="choices Parquet to write")
    calibrate = verbs.choices["calibrate"]
    target = calibrate.add_mutually_exclusive_group(required=True)
    target.add_argument("--target-cost", type=float, help="mean USD per query")
    target.add_argument("--strong-share", type=float, help="share of calls to the strong candidate")
    target.add_argument("--target-accuracy", type=float, help="mean performance")
    calibrate.add_argument("--strong", help="the strong candidate (default: the dearest; a pair router's own)")
    evaluation = verbs.choices["eval"]
    evaluation.add_argument("--setting", help="performance_first, balance, cost_first, llm_judge or all")
    evaluation.add_argument("--protocol", choices=["fusionbench", "fusionfactory"], default="fusionbench")
    evaluation.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples (default 1000)")
    evaluation.add_argument("--allow-overlap", action="store_true", help="evaluate despite train/test overlap")
    evaluation.add_argument("--json", help="write every number with its CI to this JSON file")
    evaluation.add_argument("--report", help="write a report folder (Markdown, JSON, plots)")

    bench = verbs.add_parser("benchmark", help="routers x seeds x scenarios into one report folder")
    _data_arguments(bench)
    bench.add_argument("--routers", type=csv_list, default=["auto", "knn", "linear", "mlp", "mf", "carrot"],
                       help="routers (LABEL=ROUTER for variants; default auto,knn,linear,mlp,mf,carrot)")  # fmt: skip
    bench.add_argument("--set", action="append", metavar="ROUTER.K=V", help="e.g. knn.n_neighbors=10")
    bench.add_argument("--seeds", type=csv_list, default=["0", "1", "2"], help="default 0,1,2")
    bench.add_argument("--scenarios", "--scenario", type=csv_list, default=["naive", "id", "ood"])
    bench.add_argument("--settings", type=csv_list, default=["performance_first", "balance", "cost_first", "llm_judge"])
    bench.add_argument("--protocol", choices=["both", "fusionbench", "fusionfactory"], default="both")
    bench.add_argument("--features", help="embedding, tfidf, tfidf:N, st[:PATH] (default: embedding if stored)")
    bench.add_argument("--ood-folds", type=int, default=5, help="held-out task groups per seed (default 5)")
    bench.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples (default 1000)")
    bench.add_argument("--report", required=True, help="report folder to write")
    bench.add_argument("--quiet", action="store_true", help="no progress display")
    bench.set_defaults(func=cmd_benchmark)

    report = verbs.add_parser("report", help="render a report folder again from its report.json")
    report.add_argument("results", help="report.json (or its folder)")
    report.add_argument("--out", required=True, help="report folder to write")
    report.set_defaults(func=cmd_report)
