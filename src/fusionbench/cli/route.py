"""``fusionbench route``: train, predict, calibrate, evaluate and benchmark query-level routers.

``--data`` is an export folder, ``KIND=PATH`` of a public routing dataset (``routerbench=...``,
``llmrouter=...``, ``routellm-mmlu=...``, ...), a Hub id, or nothing: the embedded real dataset (LLMRouter's
9 models x 6,108 queries). Every evaluation runs the leakage check first and fails on overlap unless
``--allow-overlap``. Each verb is a Python function of :mod:`fusionbench.fusion.experiment`; this module only parses
arguments, calls it and prints.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from fusionbench.cli.common import console, csv_list, out, progress_display
from fusionbench.cli.route_tables import print_aurocs, print_evaluation


# ---------------------------------------------------------------- shared pieces
def _read(args: argparse.Namespace) -> dict[str, Any]:
    """The data options given on the command line (None: the router's context, or the default)."""
    lenient = getattr(args, "lenient", False) or None
    return {"incomplete": args.incomplete, "tasks_from": args.tasks_from, "lenient": lenient,
            "candidates": getattr(args, "candidates", None)}  # fmt: skip


def _split(args: argparse.Namespace) -> dict[str, Any]:
    from fusionbench.fusion.evaluation.inputs import parse_pairs

    return {"split": args.split_scheme, "split_args": parse_pairs(args.scheme_arg), "seed": args.seed}


def _announce(data: Any) -> Any:
    if data.synthetic:
        from fusionbench.fusion.report.tables import SYNTHETIC_BANNER

        console.print(SYNTHETIC_BANNER.replace("> ", "").replace("**", ""), style="yellow")
    if skipped := {k: v for k, v in data.provenance.get("skipped", {}).items() if isinstance(v, int | dict) and v}:
        console.print(f"[yellow]skipped while loading {data.source}: {skipped}")
    return data


def _given(read: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in read.items() if v is not None}


def _data(args: argparse.Namespace, trained: Any = None, **default: Any) -> Any:
    from fusionbench.fusion import experiment

    read = default | _given(_read(args))
    if trained is not None:
        return _announce(experiment.data_for(trained, args.data, **read))
    return _announce(experiment.load(args.data, **read))


# ---------------------------------------------------------------- the verbs: parse, call fusion.experiment, print
def cmd_train(args: argparse.Namespace) -> int:
    from fusionbench.fusion import experiment
    from fusionbench.fusion.evaluation.inputs import parse_pairs

    data = _data(args)
    with progress_display(args.quiet) as progress:
        trained = experiment.train(
            data, args.router, params=parse_pairs(args.set), features=args.features, tradeoff=args.tradeoff,
            out=args.out, progress=lambda step: progress.add_task(step, total=None), **_split(args),
        )  # fmt: skip
    router, spec, context = trained.router, trained.split, trained.context
    dropped = getattr(router, "n_dropped_queries_", 0)
    console.print(
        f"[green]trained[/green] {type(router).__name__} on {len(spec.train_ids):,} queries x "
        f"{len(router.candidates_)} candidates of {data.source} (split {spec.name}: {spec.counts()}; features "
        f"{context.features}, {router.n_features_in_:,} dims)"
        + (f"; {dropped} queries with missing values dropped" if dropped else "")
        + f" -> {args.out}"
    )
    return 0


def _loaded(args: argparse.Namespace) -> tuple[Any, Any]:
    """(trained router, data) of a router folder and the data options given."""
    from fusionbench.fusion import experiment

    trained = experiment.load_trained(args.router_dir, trust=args.trust)
    return trained, _data(args, trained)


def _saved_split(args: argparse.Namespace) -> dict[str, Any]:
    return _split(args) if args.split_scheme is not None else {"seed": args.seed}


def cmd_predict(args: argparse.Namespace) -> int:
    from fusionbench.fusion import experiment

    trained, data = _loaded(args)
    table = experiment.predict(trained, data, part_name=args.split, out=args.out, **_saved_split(args))
    names, counts = np.unique(table["candidate"].to_numpy(zero_copy_only=False), return_counts=True)
    how = f" (calibrated {trained.calibration.knob} {trained.calibration.value:.4g})" if trained.calibration else ""
    shares = dict(zip(names, counts.tolist(), strict=True))
    console.print(f"[green]wrote[/green] {args.out}: {table.num_rows:,} choices{how}; {shares}")
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from fusionbench.fusion import experiment
    from fusionbench.fusion.evaluation.trained import CALIBRATION

    trained, data = _loaded(args)
    result = experiment.calibrate(
        trained, data, target_cost=args.target_cost, strong_share=args.strong_share,
        target_accuracy=args.target_accuracy, strong=args.strong, tolerance=getattr(args, "tolerance", 0.0),
        part_name=args.split, **_saved_split(args),
    )  # fmt: skip
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
    console.print(f"[green]wrote[/green] {Path(args.router_dir) / CALIBRATION}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from fusionbench.fusion import experiment

    how = {"part_name": args.split, "setting": args.setting, "protocol": args.protocol, "n_boot": args.n_boot}
    how |= {"allow_overlap": args.allow_overlap}
    if args.choices:
        if args.router_dir:
            raise ValueError("give a router folder or --choices, not both")
        run = experiment.evaluate_choices(args.choices, _data(args), **how, **_split(args))
    elif not args.router_dir:
        raise ValueError("give a router folder (from `route train`) or --choices FILE")
    else:
        trained, data = _loaded(args)
        name = Path(args.router_dir).name or "router"
        run = experiment.evaluate_trained(trained, data, name=name, **how, **_saved_split(args))
    if run.held_out_auroc:
        print_aurocs(run.held_out_auroc)
    for ev in run.evaluations.values():
        print_evaluation(ev)
    if args.json:
        run.save_json(args.json)
        console.print(f"[green]wrote[/green] {args.json}")
    if args.report:
        files = run.write_report(args.report)
        console.print(f"[green]wrote[/green] {args.report}: {', '.join(p.name for p in files.values())}")
    return 0


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
    from fusionbench.fusion import experiment
    from fusionbench.fusion.evaluation.inputs import parse_pairs
    from fusionbench.fusion.evaluation.protocols import PROTOCOLS

    data = _data(args, incomplete="drop_queries")  # a benchmark drops incomplete queries unless told otherwise
    with progress_display(args.quiet) as progress:
        bar = progress.add_task("benchmark", total=None)

        def on_progress(step: str, done: int, total: int) -> None:
            progress.update(bar, description=step, completed=done, total=total)

        result = experiment.benchmark(
            data, _router_specs(args.routers, args.set or []), seeds=[int(s) for s in args.seeds],
            scenarios=args.scenarios, protocols=list(PROTOCOLS) if args.protocol == "both" else [args.protocol],
            settings=args.settings, features=args.features, n_boot=args.n_boot, id_scheme=args.split_scheme,
            id_args=parse_pairs(args.scheme_arg), ood_folds=args.ood_folds, progress=on_progress,
        )  # fmt: skip
    files = experiment.report(result.to_dict(), args.report)
    for item in result.skipped:
        console.print(f"[yellow]skipped: {item}")
    console.print(f"[green]wrote[/green] {args.report}: {', '.join(p.name for p in files.values())}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from fusionbench.fusion import experiment

    files = experiment.report(args.results, args.out)
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
                       "knn, linear, mlp, mf, cluster, cascade, task_prior, carrot, pair, per_task, best_single, or an "
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
    target.add_argument(
        "--target-accuracy", type=lambda v: v if v == "best_single" else float(v),
        help="mean performance, or best_single: the best single candidate's validation accuracy (minus --tolerance)",
    )  # fmt: skip
    calibrate.add_argument("--tolerance", type=float, default=0.0, help="with --target-accuracy best_single")
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
