"""``fusionbench tiny build``, ``fusionbench estimate`` and ``fusionbench audit``: tiny FusionBench sets, the estimate
of a new model's accuracy from a run on their anchors, and the label audit of the item model."""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from rich.table import Table

from fusionbench.cli.common import console, out
from fusionbench.files import atomic_write_text


def _load(args: argparse.Namespace) -> Any:
    """The data of ``--data`` exactly as the route verbs read it."""
    from fusionbench.cli.route import _data

    spec = argparse.Namespace(data=args.data, incomplete=args.incomplete, tasks_from="task", lenient=False)
    return _data(spec)


def cmd_build(args: argparse.Namespace) -> int:
    from fusionbench.fusion.tiny import build_tiny

    folder = Path(args.out)
    if folder.exists() and any(folder.iterdir()) and not args.overwrite:
        raise FileExistsError(f"{folder}: exists and is not empty (pass --overwrite to replace the tiny set)")
    data = _load(args)
    tiny = build_tiny(data, total=args.total, per_task=args.per_task, method=args.method, seed=args.seed,
                      split=args.split)  # fmt: skip
    tiny.save(folder)
    console.print(f"[green]wrote[/green] {folder}: {len(tiny)} anchors of {len(tiny.population_ids):,} queries "
                  f"({tiny.method}, {len(tiny.task_names)} tasks)")  # fmt: skip
    return 0


# ------------------------------------------------------------------------------------------------ estimate
def run_scores(run_dir: Path) -> dict[str, dict[str, float]]:
    """{"model/mode": {query_id: score}} of a ``generate`` run folder or an lm-eval ``--log_samples`` output (the
    per-sample ``acc`` our tasks log), read by the readers ``ingest`` uses."""
    from fusionbench.runs import run_kind

    scores: dict[str, dict[str, float]] = defaultdict(dict)
    if run_kind(run_dir) == "generate":
        from fusionbench.generation.store import read_run

        table = read_run(run_dir)
        columns = [table[c].to_pylist() for c in ("model", "mode", "query_id", "performance")]
        for model, mode, query, score in zip(*columns, strict=True):
            if score is not None:
                scores[f"{model}/{mode}"][str(query)] = float(score)
        return dict(scores)
    from fusionbench.errors import BadInputError
    from fusionbench.harness.logs import file_task_mode, read_samples, run_generator

    name = run_generator(run_dir) or Path(run_dir).name
    for path, line, _, sample in read_samples(run_dir):
        doc = sample.get("doc") if isinstance(sample, dict) else None
        if not isinstance(doc, dict) or not isinstance(doc.get("query_id"), str):
            raise BadInputError(str(path), "the sample has no doc.query_id: not a fusionbench task", line=line)
        value = sample.get("acc")
        if not isinstance(value, int | float):
            raise BadInputError(str(path), f"expected a numeric 'acc', found {value!r}", line=line, column="acc")
        scores[f"{name}/{file_task_mode(path)[1]}"][doc["query_id"]] = float(value)
    return dict(scores)


def cmd_estimate(args: argparse.Namespace) -> int:
    from fusionbench.fusion.tiny import load_tiny

    tiny = load_tiny(args.tiny or _recorded_tiny(Path(args.run)))
    runs = run_scores(Path(args.run))
    if not runs:
        raise ValueError(f"{args.run}: the run has no scored rows")
    results = {}
    for subject, scores in sorted(runs.items()):
        estimate = tiny.estimate(scores, n_boot=args.n_boot, seed=args.seed)
        results[subject] = estimate.to_dict()
        _print_estimate(subject, estimate, tiny)
    if args.json:
        text = json.dumps({"tiny": str(args.tiny), "run": str(args.run), "estimates": results}, indent=1) + "\n"
        if args.json == "-":
            sys.stdout.write(text)
        else:
            atomic_write_text(args.json, text)
    return 0


def _recorded_tiny(run_dir: Path) -> str:
    """The tiny set folder a ``generate --tiny`` run recorded (estimate's default for ``--tiny``)."""
    from fusionbench.runs import generate_manifest, run_kind

    recorded = (generate_manifest(run_dir).get("tiny") or {}).get("path") if run_kind(run_dir) == "generate" else None
    if not recorded:
        raise ValueError(f"{run_dir}: pass --tiny TINY (only a `generate --tiny` run records its tiny set)")
    return recorded


def _print_estimate(subject: str, estimate: Any, tiny: Any) -> None:
    table = Table(title=f"{subject}: {estimate.n_answered} of {estimate.n_anchors} anchors answered ({tiny.method})")
    for column in ("task", "estimate", "95% interval"):
        table.add_column(column, justify="left" if column == "task" else "right")

    def interval(pair: Any) -> str:
        return "-" if pair is None else f"[{100 * pair[0]:.1f}, {100 * pair[1]:.1f}]"

    for task, value in estimate.per_task.items():
        table.add_row(task, f"{100 * value:.1f}", interval(estimate.per_task_interval.get(task)))
    table.add_row("[bold]overall (mean of tasks)", f"[bold]{100 * estimate.overall:.1f}", interval(estimate.interval))
    out.print(table)
    if estimate.interpolation is None:
        out.print("interpolation: not judged (this method keeps no item model)")
    elif estimate.interpolation:
        out.print("interpolation: the model lies within the source models' range and fits the item model")
    else:
        out.print("[yellow]extrapolation:[/yellow] " + "; ".join(estimate.flags))
    if estimate.ignored:
        out.print(f"{estimate.ignored} scores of queries that are not anchors were ignored")


# ------------------------------------------------------------------------------------------------ audit
def cmd_audit(args: argparse.Namespace) -> int:
    from fusionbench.cli.analyze import load
    from fusionbench.fusion.irt.audit import audit, audit_markdown

    data = load(args.data, incomplete=args.incomplete, tasks_from="task", score_column=args.score_column)
    report = audit(data, strong_share=args.strong_share, seed=args.seed)
    out.print(audit_markdown(report), markup=False, highlight=False)
    if args.json:
        text = json.dumps(report, indent=1, default=str) + "\n"
        if args.json == "-":
            sys.stdout.write(text)
        else:
            atomic_write_text(args.json, text)
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``fusionbench tiny build``, ``fusionbench estimate`` and ``fusionbench audit``."""
    from fusionbench.fusion.tiny import DEFAULT_METHOD, METHODS

    tiny = commands.add_parser("tiny", help="tiny FusionBench: anchor queries that stand for the whole benchmark")
    verbs = tiny.add_subparsers(dest="tiny_command", required=True)
    build = verbs.add_parser("build", help="choose anchors from the train logs into a tiny set folder")
    build.add_argument("--data", help="export folder, KIND=PATH, Hub id, or nothing: the embedded LLMRouter data")
    size = build.add_mutually_exclusive_group()
    size.add_argument("--total", type=int, help="at most this many anchors in all (default 100)")
    size.add_argument("--per-task", type=int, help="this many anchors per task")
    build.add_argument("--method", choices=sorted(METHODS), default=DEFAULT_METHOD, help="default: %(default)s")
    build.add_argument("--split", help="the split anchors come from (default train; test is refused)")
    build.add_argument("--seed", type=int, default=0)
    hint = "a missing cell: error (default), or drop (and count) the queries or the candidates"
    build.add_argument("--incomplete", choices=["error", "drop_queries", "drop_candidates"], help=hint)
    build.add_argument("--out", required=True, help="the tiny set folder to write")
    build.add_argument("--overwrite", action="store_true", help="replace a tiny set folder that is there")
    build.set_defaults(func=cmd_build)

    estimate = commands.add_parser("estimate", help="a model's per-task and overall accuracy from its anchor answers")
    estimate.add_argument("run", help="a `fusionbench generate` run folder or an lm-eval --log_samples output folder")
    estimate.add_argument("--tiny", help="the tiny set folder (fusionbench tiny build; default: the one a "
                          "`generate --tiny` run recorded)")  # fmt: skip
    estimate.add_argument("--n-boot", type=int, default=200, help="bootstrap resamples of the anchors (default 200)")
    estimate.add_argument("--seed", type=int, default=0)
    estimate.add_argument("--json", help="also write the estimates as JSON to this file ('-': stdout)")
    estimate.set_defaults(func=cmd_estimate)

    audit = commands.add_parser("audit", help="items the item model flags: suspicious labels, with the evidence")
    audit.add_argument("data", help="export folder, 'embedded', or KIND=PATH")
    audit.add_argument("--strong-share", type=float, default=1 / 3, help="the top share of subjects called strong")
    audit.add_argument("--score-column", choices=["performance", "rescored_performance"], default="performance")
    hint = "a missing cell: drop (and count) the queries (default) or the candidates, or stop with an error"
    audit.add_argument("--incomplete", choices=["error", "drop_queries", "drop_candidates"], default="drop_queries",
                       help=hint)  # fmt: skip
    audit.add_argument("--seed", type=int, default=0)
    audit.add_argument("--json", help="also write the report as JSON to this file ('-': stdout)")
    audit.set_defaults(func=cmd_audit)
