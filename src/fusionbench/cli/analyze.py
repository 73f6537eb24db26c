"""``fusionbench analyze DATA --report DIR``: the analyses of :mod:`fusionbench.fusion.analysis` on any routing
data (an export folder, ``embedded``, or ``KIND=PATH`` as the route verbs take it) into report.md, report.json
and PNG plots."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from fusionbench.cli.common import console, progress_display


def load(spec: str, *, incomplete: str, tasks_from: str, score_column: str) -> Any:
    """The data of ``spec`` through the route verbs' loader; an export folder is read with its response texts
    (for the majority vote and CAPA)."""
    from fusionbench.fusion.data import IncompleteDataError, RoutingData
    from fusionbench.fusion.evaluation.inputs import load_data

    if Path(spec).is_dir():
        try:
            data = RoutingData.from_export(spec, incomplete=incomplete, score_column=score_column, with_responses=True)
        except IncompleteDataError as error:
            raise IncompleteDataError(
                f"{error} (on the command line: --incomplete drop_queries or --incomplete drop_candidates)"
            ) from None
        return data.subjects_as_tasks() if tasks_from == "subject" else data
    return load_data(spec, incomplete=incomplete, tasks_from=tasks_from, score_column=score_column)


def cmd_analyze(args: argparse.Namespace) -> int:
    from fusionbench.fusion.analysis import AnalysisConfig, analyze, write_analysis

    data = load(args.data, incomplete=args.incomplete, tasks_from=args.tasks_from, score_column=args.score_column)
    if data.synthetic:
        console.print("synthetic data: do not report these numbers", style="yellow")
    zero = {"failure": True, "score": False, "auto": None}[args.judge_zero]
    config = AnalysisConfig(
        n_boot=args.n_boot,
        seed=args.seed,
        confidence=args.confidence,
        threshold=args.threshold,
        min_kappa=args.min_kappa,
        zero_is_failure=zero,
        k=args.k,
    )
    with progress_display(args.quiet) as progress:
        bar = progress.add_task("analyze", total=None)

        def on_progress(step: str, done: int, total: int) -> None:
            progress.update(bar, description=step, completed=done, total=total)

        report = analyze(data, config, progress=on_progress)
    files = write_analysis(report, args.report)
    for item in report["skipped"]:
        console.print(f"[yellow]skipped: {item}")
    console.print(f"[green]wrote[/green] {args.report}: {', '.join(p.name for p in files.values())}")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``fusionbench analyze``."""
    verb = commands.add_parser("analyze", help="leaderboard, judge vs truth, similarity, skills, fusion bounds")
    verb.add_argument("data", help="export folder, 'embedded', or KIND=PATH (routellm-mmlu=..., gsm8k-solutions=...)")
    verb.add_argument("--report", required=True, help="report folder to write (report.md, report.json, PNGs)")
    hint = "a missing cell: error (default), or drop (and count) the queries or the candidates"
    verb.add_argument("--incomplete", choices=["error", "drop_queries", "drop_candidates"], default="error", help=hint)
    verb.add_argument("--tasks-from", choices=["task", "subject"], default="task", help="per task or per subject")
    verb.add_argument("--score-column", choices=["performance", "rescored_performance"], default="performance")
    verb.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples (default 1000)")
    verb.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    verb.add_argument("--confidence", type=float, default=0.95, help="interval level (default 0.95)")
    verb.add_argument("--threshold", type=float, default=0.5, help="a score >= this is correct (default 0.5)")
    verb.add_argument("--min-kappa", type=float, default=0.6, help="flag tasks whose judge kappa is below this")
    hint = "judge 0.0: a possible failure (the release's), a score, or auto (a failure unless the data names its judge)"
    verb.add_argument("--judge-zero", choices=["auto", "failure", "score"], default="auto", help=hint)
    verb.add_argument("--k", type=int, default=3, help="pool size of the oracle@k bound (default 3)")
    verb.add_argument("--quiet", action="store_true", help="no progress display")
    verb.set_defaults(func=cmd_analyze)
