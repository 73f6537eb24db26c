"""The ``fusionbench`` command line: build and inspect exports, rescore, evaluate, add models, judge, publish."""

from __future__ import annotations

import os

# Before pyarrow loads: Arrow's allocator (mimalloc) without transparent huge pages, unless the user says
# otherwise. The build allocates from several threads at once; on huge pages it touched 2x the memory of a
# single-threaded reader and, on a VM where a fresh huge page is expensive, spent twice the system time
# (full-size build, interleaved A/B runs: median 1.46-1.48 s -> 1.32-1.35 s; a plain pyarrow read-and-write
# 0.69-0.74 s either way).
os.environ.setdefault("MIMALLOC_ALLOW_THP", "0")

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from fusionbench import __version__
from fusionbench.errors import BadInputError, ExportExistsError
from fusionbench.export.card import SYNTHETIC_NOTICE
from fusionbench.export.stats import fmt
from fusionbench.schema import MODES, TASKS

console = Console(stderr=True)
out = Console(width=None if sys.stdout.isatty() else 160)  # piped tables keep their columns


def _progress(quiet: bool) -> Progress:
    """The progress display every long command uses (on stderr; off with --quiet)."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    return Progress(*columns, console=console, disable=quiet)


def _csv_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def cmd_build(args: argparse.Namespace) -> int:
    from fusionbench.build import build_export

    if args.add_run:
        from fusionbench.generation import add_run

        for run_dir in args.add_run:
            _print_merge(add_run(Path(run_dir), Path(args.out)), args.out)
        return 0

    if args.modes and set(args.modes) - set(MODES):
        console.print(f"[red]unknown mode(s) {sorted(set(args.modes) - set(MODES))}; expected {MODES}")
        return 2
    if args.source is None:
        console.print(SYNTHETIC_NOTICE.replace("> ", "").replace("**", ""), style="yellow")
    with _progress(args.quiet) as progress:
        bars: dict[str, int] = {}

        def on_progress(stage: str, done: int, total: int) -> None:
            label = {"read": "reading release files (MiB)", "write": "writing slices"}[stage]
            if stage == "read":
                done, total = done / 2**20, total / 2**20
            if stage not in bars:
                bars[stage] = progress.add_task(label, total=total)
            progress.update(bars[stage], completed=done, total=total)

        result = build_export(
            args.source,
            Path(args.out),
            overwrite=args.overwrite,
            lenient=args.lenient,
            models=args.models,
            modes=args.modes,
            on_progress=on_progress,
        )
    table = Table(title="ingestion report", show_header=True)
    table.add_column("check")
    table.add_column("count", justify="right")
    for what, count in result.report.lines():
        table.add_row(what, count)
    console.print(table)
    console.print(
        f"[green]wrote {result.out}[/green]: {len(result.shards)} shards, {result.report.rows_written:,} rows. "
        f"Load it with: load_dataset({str(result.out)!r}, 'gsm8k')"
    )
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from fusionbench.export.stats import by, export_summary

    rows = export_summary(Path(args.export))
    keys = ["model"] if args.by == "model" else ["task", "model"]
    groups = by(rows, [*keys, "mode"])
    merged: dict[tuple, dict] = {}
    for group in groups:
        entry = merged.setdefault(tuple(group[k] for k in keys), {"rows": 0})
        entry["rows"] += group["rows"]
        entry[group["mode"]] = group
    table = Table(title=f"{args.export}: per {' and '.join(keys)}")
    for name in [*keys, "rows", "acc direct", "acc cot", "mean cost $", "mean judge"]:
        table.add_column(name, justify="left" if name in keys else "right", no_wrap=name in keys)
    order = {t: i for i, t in enumerate(TASKS)}
    for key in sorted(merged, key=lambda k: (order.get(k[0], -1), *k) if len(k) > 1 else k):
        entry = merged[key]
        both = [entry[m] for m in MODES if m in entry]
        cost = _mean_over(both, "cost_usd")
        judge = _mean_over(both, "judge_score")
        table.add_row(
            *key,
            f"{entry['rows']:,}",
            fmt(entry.get("direct", {}).get("performance_mean")),
            fmt(entry.get("cot", {}).get("performance_mean")),
            fmt(cost, 6),
            fmt(judge),
        )
    out.print(table)
    return 0


def _mean_over(groups: list[dict], column: str) -> float | None:
    total = sum(g[f"{column}_total"] or 0 for g in groups)
    count = sum(g[f"{column}_count"] or 0 for g in groups)
    return total / count if count else None


def cmd_push(args: argparse.Namespace) -> int:
    from fusionbench.export.push import push_export

    info = push_export(
        Path(args.export), args.repo_id, private=args.private, revision=args.revision, create_pr=args.create_pr
    )
    console.print(f"[green]pushed[/green] {args.export} to {args.repo_id}: {getattr(info, 'commit_url', info)}")
    return 0


def cmd_rescore(args: argparse.Namespace) -> int:
    from fusionbench.export.rescore import CAUSES, rescore_export

    with _progress(args.quiet) as progress:
        bar = progress.add_task("rescoring", total=None)

        def on_progress(shard: str, done: int, total: int) -> None:
            progress.update(bar, description=f"rescoring {shard}", completed=done, total=total)

        results = rescore_export(
            Path(args.export), tasks=args.tasks, write=args.write, workers=args.workers, timeout=args.timeout,
            on_progress=on_progress,
        )  # fmt: skip
    table = Table(title=f"{args.export}: our scores vs the released performance")
    for name in ["task", "rows", "both scored", "agreement", "released", "rescored", "disagreements by cause"]:
        table.add_column(name, justify="left" if name in ("task", "disagreements by cause") else "right")
    for task, r in results.items():
        causes = "\n".join(f"{n} {reason}" for reason, n in r.reasons.most_common()) or "—"
        table.add_row(
            task, f"{r.rows:,}", f"{r.scored_both:,}", "—" if r.agreement is None else f"{r.agreement:.1%}",
            fmt(r.released_mean), fmt(r.rescored_mean), causes,
        )  # fmt: skip
    out.print(table)
    seen = {reason for r in results.values() for reason in r.reasons}
    for code in (c for c in CAUSES if c in seen):
        out.print(f"  {code}: {CAUSES[code]}")
    if args.write:
        console.print(f"[green]wrote[/green] rescored_performance into {args.export} and updated its card")
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from fusionbench.harness.logs import ingest_lm_eval_run

    report = ingest_lm_eval_run(
        Path(args.run_dir), Path(args.into), args.model, tokenizer=args.tokenizer, prices=args.prices,
        workers=args.workers,
    )  # fmt: skip
    _print_merge(report, args.into)
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from fusionbench.generation import run_from_args

    return run_from_args(args)


def cmd_tasks_path(args: argparse.Namespace) -> int:
    from fusionbench.harness import tasks_path

    out.print(str(tasks_path()), soft_wrap=True)
    return 0


def cmd_judge(args: argparse.Namespace) -> int:
    import os

    from fusionbench.generation.judge import LocalJudge, OpenAIJudge, judge_target

    if args.engine != "openai":  # hf / vllm: a local model as the judge
        judge = LocalJudge(args.engine, args.judge_model, max_new_tokens=args.max_tokens)
    else:
        base_url = args.base_url or os.environ.get("OPENAI_BASE_URL")
        if not base_url:
            console.print("[red]error:[/red] --engine openai needs --base-url or OPENAI_BASE_URL")
            return 2
        api_key = os.environ.get(args.api_key_env)  # read from the environment only: never a flag, never printed
        judge = OpenAIJudge(
            args.judge_model, base_url, api_key, concurrency=args.concurrency, max_retries=args.max_retries,
            max_tokens=args.max_tokens,
        )  # fmt: skip
    with _progress(args.quiet) as progress:
        bar = progress.add_task("judging", total=None)
        report = judge_target(
            Path(args.target), judge, work=Path(args.work) if args.work else None, limit=args.limit,
            on_progress=lambda done, total: progress.update(bar, completed=done, total=total),
        )  # fmt: skip
    console.print(
        f"{report.rows:,} rows: {report.judged:,} judged, {report.unparseable:,} unparseable and {report.failed:,} "
        f"failed (stored as null), {report.already_judged:,} already judged, {report.no_response:,} without response"
    )
    for error in report.errors:
        console.print(f"[yellow]judge call failed: {error}")
    return 0


def _print_merge(report, export: str) -> None:
    console.print(
        f"[green]{export}[/green]: {report.rows_added:,} rows added, {report.rows_replaced:,} replaced "
        f"({', '.join(report.models)}; tasks: {', '.join(f'{t} {n}' for t, n in report.tasks.items())})"
    )
    if report.unknown_queries:
        console.print(f"[yellow]skipped {report.unknown_queries:,} rows whose query is not in {export}")
    if report.dropped_columns:
        console.print(f"[yellow]dropped now-stale column(s) {', '.join(sorted(report.dropped_columns))}; rerun rescore")


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="fusionbench", description=__doc__)
    main.add_argument("--version", action="version", version=f"fusionbench {__version__}")
    commands = main.add_subparsers(dest="command", required=True)

    build = commands.add_parser("build", help="ingest release files into a Hub-ready export folder")
    build.add_argument(
        "--source",
        nargs="+",
        help="release files, globs, folders, split=path pairs, or a Hub id (default: the embedded synthetic sample)",
    )
    build.add_argument("--out", default="fusionbench", help="export folder (default: ./fusionbench)")
    build.add_argument("--overwrite", action="store_true", help="replace an existing export folder")
    build.add_argument("--lenient", action="store_true", help="unparseable values become null and are counted")
    build.add_argument("--models", type=_csv_list, help="keep only these models (comma-separated)")
    build.add_argument("--modes", type=_csv_list, help="keep only these modes: direct, cot")
    build.add_argument("--quiet", action="store_true", help="no progress bars")
    build.add_argument(
        "--add-run",
        nargs="+",
        metavar="RUN_DIR",
        help="merge fusionbench generate run folder(s) into the export at --out",
    )
    build.set_defaults(func=cmd_build)

    info = commands.add_parser("info", help="per-task, per-model table of an export")
    info.add_argument("export", help="export folder")
    info.add_argument("--by", choices=["task", "model"], default="task", help="rows per task and model, or per model")
    info.set_defaults(func=cmd_info)

    rescore = commands.add_parser("rescore", help="rescore every response and compare with the release")
    rescore.add_argument("export", help="export folder")
    rescore.add_argument("--tasks", type=_csv_list, help="only these tasks (comma-separated)")
    rescore.add_argument("--write", action="store_true", help="add rescored_performance to the export and its card")
    rescore.add_argument("--workers", type=int, help="parallel code sandboxes (default: CPU count)")
    rescore.add_argument("--timeout", type=float, default=3.0, help="seconds per code program (default 3)")
    rescore.add_argument("--quiet", action="store_true", help="no progress bar")
    rescore.set_defaults(func=cmd_rescore)

    ingest = commands.add_parser("ingest", help="add an lm-eval run of fusionbench_* tasks to an export")
    ingest.add_argument("run_dir", help="lm-eval --output_path of a run made with --log_samples")
    ingest.add_argument("--model", required=True, help="name of the model in the export")
    ingest.add_argument("--tokenizer", help="tokenizer path or id for token counts (default: the run's pretrained=)")
    ingest.add_argument("--prices", help="price sheet name or JSON path (default: none, cost stays null)")
    ingest.add_argument("--into", required=True, help="export folder to add the rows to")
    ingest.add_argument("--workers", type=int, help="parallel code sandboxes for scoring")
    ingest.set_defaults(func=cmd_ingest)

    from fusionbench.generation.command import DESCRIPTION, add_generate_arguments

    generate = commands.add_parser(
        "generate", help="generate a model's responses to the queries into a resumable run folder",
        description=DESCRIPTION,
    )  # fmt: skip
    add_generate_arguments(generate)
    generate.set_defaults(func=cmd_generate)

    judge = commands.add_parser("judge", help="score responses of an export or run with an LLM judge")
    judge.add_argument("target", help="export folder or generation run folder")
    judge.add_argument("--engine", choices=["openai", "hf", "vllm"], default="openai")
    judge.add_argument("--judge-model", required=True, help="judge model name (openai) or path/id (hf, vllm)")
    judge.add_argument(
        "--base-url", help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1 (or OPENAI_BASE_URL)"
    )
    judge.add_argument("--api-key-env", default="OPENAI_API_KEY", help="environment variable holding the API key")
    judge.add_argument("--concurrency", type=int, default=8, help="requests in flight (openai)")
    judge.add_argument("--max-retries", type=int, default=4, help="retries with exponential backoff (openai)")
    judge.add_argument("--max-tokens", type=int, default=512, help="judge reply length")
    judge.add_argument("--work", help="folder for resumable partial results (default: beside the target)")
    judge.add_argument("--limit", type=int, help="judge at most N more rows now (resume later)")
    judge.add_argument("--quiet", action="store_true", help="no progress bar")
    judge.set_defaults(func=cmd_judge)

    evaluate = commands.add_parser("eval", help="run lm-eval with the fusionbench_* tasks (any lm_eval arguments)")
    evaluate.add_argument("lm_eval_args", nargs=argparse.REMAINDER, help="passed to lm_eval unchanged")
    tasks = commands.add_parser("tasks-path", help="print the folder of the fusionbench_* lm-eval tasks")
    tasks.set_defaults(func=cmd_tasks_path)

    push = commands.add_parser("push", help="upload an export to the Hugging Face Hub")
    push.add_argument("export", help="export folder")
    push.add_argument("--repo-id", required=True, help="ORG/NAME of the dataset repository")
    push.add_argument("--private", action="store_true", help="create the repository as private")
    push.add_argument("--revision", help="branch to push to")
    push.add_argument("--create-pr", action="store_true", help="open a pull request instead of pushing to the branch")
    push.set_defaults(func=cmd_push)
    return main


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["eval"]:  # everything after `eval` belongs to lm-eval, unparsed
        from fusionbench.harness import run_lm_eval

        return run_lm_eval(argv[1:])
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (BadInputError, ExportExistsError, OSError, ValueError) as err:
        console.print(f"[red]error:[/red] {err}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
