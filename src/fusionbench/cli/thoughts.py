"""Thought-level fusion: ``fusionbench thoughts build`` (templates from a train split) and ``thoughts apply``
(thought prompts for another split, for ``fusionbench generate --prompts`` and the ``*_thought`` lm-eval tasks)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from fusionbench.cli.common import console, csv_list, progress_display


def cmd_build(args: argparse.Namespace) -> int:
    from fusionbench.fusion.thoughts import build_templates
    from fusionbench.generation.thoughts import make_summarizer

    settings = {"tensor_parallel_size": args.tensor_parallel_size, "dtype": args.dtype}
    if args.max_model_len:
        settings["max_model_len"] = args.max_model_len
    base_url = args.base_url or os.environ.get("OPENAI_BASE_URL")
    summarizer = make_summarizer(
        args.summarizer_engine, args.summarizer_model, base_url=base_url,
        api_key=os.environ.get(args.api_key_env),  # from the environment only: never a flag, never printed
        concurrency=args.concurrency, max_retries=args.max_retries, timeout=args.timeout, max_tokens=args.max_tokens,
        temperature=args.temperature, **(settings if args.summarizer_engine in ("hf", "vllm") else {}),
    )  # fmt: skip
    try:
        with progress_display(args.quiet) as progress:
            bar = progress.add_task("summarising", total=None)
            report = build_templates(
                Path(args.data), Path(args.out), summarizer, split=args.split, tasks=args.tasks, pool=args.pool,
                selection=args.select, top_n=args.top_n, stage1=args.stage1, queries_per_task=args.queries_per_task,
                batch_size=args.batch_size, limit=args.limit,
                on_progress=lambda done, total: progress.update(bar, completed=done, total=total),
            )  # fmt: skip
    finally:
        close = getattr(summarizer, "close", None)
        if close is not None:
            close()
    console.print(
        f"{report.queries:,} queries: {report.no_correct:,} skipped (no correct response from the pool), "
        f"{report.selected:,} selected; {report.summarized:,} summarised now, {report.failed:,} failed and "
        f"{report.empty:,} blank (stored as null), {report.already_done:,} done before"
    )
    if report.absent_models:
        console.print(f"[yellow]models of the pool without rows here: {', '.join(report.absent_models)}")
    for error in report.errors:
        console.print(f"[yellow]summariser call failed: {error}")
    if report.complete:
        note = f"; rerun to retry the {report.null_templates:,} failed" if report.null_templates else ""
        console.print(f"[green]{args.out}[/green]: {report.templates:,} templates{note}")
    else:
        console.print(f"[yellow]{args.out}: not finished; rerun the same command to resume")
    return 0


def cmd_apply(args: argparse.Namespace) -> int:
    from fusionbench.fusion.thoughts import apply_templates

    report = apply_templates(
        Path(args.templates), Path(args.data), Path(args.out), split=args.split, k=args.k, same_task=args.same_task,
        answer_tags=args.answer_tags, featurizer=args.featurizer, prompt_mode=args.prompt_mode, tasks=args.tasks,
        overwrite=args.overwrite,
    )  # fmt: skip
    console.print(
        f"[green]{args.out}[/green]: {report.with_prompt:,} of {report.queries:,} {args.split} queries with a thought "
        f"prompt ({report.templates:,} templates; without a prompt: {report.no_template:,} no template, "
        f"{report.no_embedding:,} no embedding, {report.no_prompt_text:,} no base prompt; skipped the query itself "
        f"{report.excluded_self:,} times and same-text templates {report.excluded_same_text:,} times)"
    )
    console.print(f"Generate with: fusionbench generate --prompts {args.out} --split {args.split} ...")
    return 0


def _build_parser(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--data", required=True, help="export folder whose train responses the templates are built from")
    add("--out", required=True, help="templates folder; rerun the same command to resume it")
    add("--split", default="train", help="the split summarised (default train; never the one you evaluate)")
    add("--tasks", type=csv_list, help="only these tasks (comma-separated; default all)")
    add("--pool", default="small", help="small (the 10 models <= 12B), all, or model names (comma-separated)")
    add("--select", choices=["hybrid", "perf", "judge"], default="hybrid", help="ranking of the responses")
    add("--top-n", type=int, default=3, help="responses summarised per query (default 3)")
    add("--stage1", type=int, default=5, help="hybrid: kept by performance before the judge sort (default 5)")
    add("--queries-per-task", type=int, help="at most N queries per task, by query id (default: all)")
    add("--summarizer-engine", required=True, choices=["extractive", "openai", "vllm", "hf"],
        help="an LLM (openai: an OpenAI-compatible server; vllm/hf: a local model) or extractive (no LLM)")  # fmt: skip
    add("--summarizer-model", help="the summariser: model name (openai) or path/Hub id (vllm, hf)")
    add("--base-url", help="openai: base URL, e.g. http://127.0.0.1:8000/v1 (or OPENAI_BASE_URL)")
    add("--api-key-env", default="OPENAI_API_KEY", help="openai: environment variable holding the API key")
    add("--concurrency", type=int, default=8, help="openai: requests in flight")
    add("--max-retries", type=int, default=4, help="openai: retries with exponential backoff")
    add("--timeout", type=float, default=300.0, help="openai: seconds per request")
    add("--max-tokens", type=int, default=1024, help="template length (default 1024, as FusionFactory)")
    add("--temperature", type=float, default=0.2, help="summariser temperature (default 0.2, as FusionFactory)")
    add("--tensor-parallel-size", type=int, default=1, help="vllm: GPUs for the summariser")
    add("--dtype", default="auto", help="vllm/hf: model dtype")
    add("--max-model-len", type=int, help="vllm: context length")
    add("--batch-size", type=int, default=64, help="queries per request batch and per part written (default 64)")
    add("--limit", type=int, help="summarise at most N more queries now (resume later)")
    add("--quiet", action="store_true", help="no progress bar")


def _apply_parser(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--templates", required=True, help="templates folder of fusionbench thoughts build")
    add("--data", required=True, help="export folder whose queries get thought prompts")
    add("--out", required=True, help="prompts folder (for generate --prompts and the *_thought lm-eval tasks)")
    add("--split", default="test", help="the split augmented (default test)")
    add("--k", type=int, default=3, help="templates per prompt (default 3)")
    add("--same-task", action=argparse.BooleanOptionalAction, default=True, help="retrieve within the task")
    add("--answer-tags", action="store_true",
        help="end with FusionFactory's '<answer> tags' sentence (the scorers do not read the tags)")  # fmt: skip
    add("--featurizer", default="embedding", help="embedding (stored, default), tfidf, or st[:PATH]")
    add("--prompt-mode", choices=["direct", "cot"], default="direct", help="the prompt the templates precede")
    add("--tasks", type=csv_list, help="only these tasks (comma-separated; default all)")
    add("--overwrite", action="store_true", help="replace an existing prompts folder")


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``thoughts build`` and ``thoughts apply`` to the ``fusionbench`` parser."""
    thoughts = commands.add_parser("thoughts", help="thought templates: build them from train, apply them to a split")
    verbs = thoughts.add_subparsers(dest="thoughts_command", required=True)
    build = verbs.add_parser("build", help="thought templates from the top responses of a train split (resumable)")
    _build_parser(build)
    build.set_defaults(func=cmd_build)
    apply = verbs.add_parser("apply", help="each query's prompt with the templates of its nearest template queries")
    _apply_parser(apply)
    apply.set_defaults(func=cmd_apply)
