"""Commands that run or add models: ``ingest``, ``generate``, ``judge``, ``eval``, ``tasks-path``."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from fusionbench.cli.common import console, out, print_merge, progress_display


def cmd_ingest(args: argparse.Namespace) -> int:
    from fusionbench.runs import ingest_run, left_out_tasks, tiny_sets

    report = ingest_run(
        Path(args.run_dir), Path(args.into), model=args.model, tokenizer=args.tokenizer, prices=args.prices,
        workers=args.workers,
    )  # fmt: skip
    print_merge(report, args.into)
    if left := left_out_tasks(Path(args.run_dir)):
        console.print(f"[yellow]left out the samples of {', '.join(left)}: not fusionbench tasks")
    if tiny := tiny_sets(Path(args.run_dir)):
        note = f"`fusionbench estimate {args.run_dir} --tiny DIR` estimates the full benchmark"
        console.print(
            f"[yellow]these rows are the anchors of {', '.join(tiny)} (their source says so): "
            f"not a full evaluation; {note}"
        )
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from fusionbench.generation import run_from_args

    return run_from_args(args)


def cmd_tasks_path(args: argparse.Namespace) -> int:
    from fusionbench.harness import tasks_path

    out.print(str(tasks_path()), soft_wrap=True)
    return 0


def cmd_judge(args: argparse.Namespace) -> int:
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
    with progress_display(args.quiet) as progress:
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


def register(commands: argparse._SubParsersAction) -> None:
    """Add the run commands to the ``fusionbench`` parser."""
    ingest = commands.add_parser(
        "ingest", help="add a run's rows to an export: an lm-eval --log_samples run or a fusionbench generate run"
    )
    ingest.add_argument("run_dir", help="lm-eval --output_path made with --log_samples, or a generate run folder")
    ingest.add_argument("--into", required=True, help="export folder to add the rows to")
    ingest.add_argument("--model", help="lm-eval runs: the model's name in the export (generate runs carry theirs)")
    ingest.add_argument("--tokenizer", help="lm-eval runs: tokenizer for token counts (default: the run's pretrained=)")
    ingest.add_argument("--prices", help="lm-eval runs: price sheet name or JSON path (default: none, cost stays null)")
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
